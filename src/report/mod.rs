//! Figures and the run report.
//!
//! Figures (`draw_joint`, `draw_confusion`, `draw_per_class`, `draw_subject_share`,
//! `draw_training_curve`) are drawn with plotters and an embedded DejaVu Sans font, so nothing
//! outside the binary is needed, and written as both `STEM.png` and `STEM.svg`.
//! `write_report` then writes `report.md` (linking the figures) and a self-contained
//! `report.html` (embedding them, plus interactive UMAP figures drawn from the coordinates
//! files); sections of their own ([`Section`]) follow the figures.
//! Every file is replaced atomically, and the same input always gives byte-identical output.

mod atomic;
mod canvas;
mod confusion;
mod document;
mod error;
mod fonts;
mod html;
mod interactive;
mod joint;
mod labels;
mod markdown;
mod palette;
mod per_class;
mod subject_share;
mod table;
mod training_curve;

pub use confusion::{draw_confusion, ConfusionFigure};
pub use document::{figure_stem, write_report, Block, FigureRef, Report, Section, FIGURES_DIR};
pub use error::{ReportError, Result};
pub use interactive::{read_umap_csv, InteractiveUmap, PointKind, UmapPoint};
pub use joint::{draw_joint, mark_labels, JointFigure, ScatterImage, ScatterText};
pub use per_class::{draw_per_class, PerClassFigure};
pub use subject_share::{draw_subject_share, ShareLane, SubjectShareFigure};
pub use table::Table;
pub use training_curve::{draw_training_curve, CurvePoint, TrainingCurveFigure};

#[cfg(test)]
mod tests;
