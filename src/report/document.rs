//! The run report: what it holds, and writing `report.md` plus `report.html` next to a
//! `figures/` folder.

use std::path::{Path, PathBuf};

use base64::Engine as _;

use super::atomic::write_atomic;
use super::error::{ReportError, Result};
use super::html::{self, Embedded};
use super::interactive::InteractiveUmap;
use super::markdown;
use super::table::Table;

/// Figures go in this subfolder of the report folder.
pub const FIGURES_DIR: &str = "figures";

/// The stem to pass to a `draw_*` function so its files land where the report expects:
/// `OUT_DIR/figures/NAME` (the draw function appends `.png` / `.svg`).
pub fn figure_stem(out_dir: &Path, name: &str) -> PathBuf {
    out_dir.join(FIGURES_DIR).join(name)
}

/// A figure in the report.
#[derive(Clone, Debug, PartialEq)]
pub struct FigureRef {
    /// Relative to the report folder, ending in `.png` (embedded as base64 in the HTML) or
    /// `.svg` (inlined), e.g. `figures/joint_hard.png`. A PNG's `.svg` sibling, when
    /// present, is linked from the Markdown.
    pub path: PathBuf,
    /// Plain text under the figure (escaped for each format).
    pub caption: String,
}

/// One piece of a [`Section`].
#[derive(Clone, Debug, PartialEq)]
pub enum Block {
    /// A paragraph of plain text (escaped for each format).
    Text(String),
    /// A table.
    Table(Table),
    /// A figure, numbered after the report's [`Report::figures`] and the figures of the
    /// sections before it.
    Figure(FigureRef),
}

/// A titled section of its own (e.g. an analysis with its tables and figure), after the
/// figures.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Section {
    /// The section's heading.
    pub heading: String,
    /// Its paragraphs, tables and figures, in display order.
    pub blocks: Vec<Block>,
}

/// Everything in a run report. Empty sections are left out.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    /// The document's top-level heading.
    pub title: String,
    /// (field, value) pairs, e.g. softtext version, model id, data id, split, images.
    pub provenance: Vec<(String, String)>,
    /// Shown in a red banner under the title, e.g. when the model is a random-weight
    /// fixture and the numbers mean nothing.
    pub warning: Option<String>,
    /// The results table, rendered by [`Table::to_markdown`] and [`Table::to_html`].
    pub table: Table,
    /// Figures in display order.
    pub figures: Vec<FigureRef>,
    /// Sections of their own after the figures, in display order.
    pub sections: Vec<Section>,
    /// Interactive UMAP figures (`report.html` only), after the figures.
    pub interactive: Vec<InteractiveUmap>,
    /// The run's configuration as written (TOML or JSON), shown verbatim.
    pub config_text: String,
    /// Code-block language for `config_text`: "toml", "json" or "".
    pub config_lang: String,
    /// (stage, seconds) in run order.
    pub timings: Vec<(String, f64)>,
}

impl Report {
    /// Every figure in numbering order: [`Report::figures`], then those of the sections.
    pub(crate) fn all_figures(&self) -> impl Iterator<Item = &FigureRef> {
        self.figures
            .iter()
            .chain(self.sections.iter().flat_map(|section| {
                section.blocks.iter().filter_map(|block| match block {
                    Block::Figure(figure) => Some(figure),
                    _ => None,
                })
            }))
    }

    pub(crate) fn provenance_table(&self) -> Table {
        let mut t = Table::new(["Field", "Value"]);
        for (k, v) in &self.provenance {
            t.push_row([k.as_str(), v.as_str()]);
        }
        t
    }

    pub(crate) fn timings_table(&self) -> Table {
        let total: f64 = self
            .timings
            .iter()
            .map(|(_, s)| s)
            .filter(|s| s.is_finite())
            .sum();
        let fmt = |s: f64| {
            if s.is_finite() {
                format!("{s:.2}")
            } else {
                "n/a".into()
            }
        };
        let share = |s: f64| {
            if s.is_finite() && total > 0.0 {
                format!("{:.1}%", 100.0 * s / total)
            } else {
                String::new()
            }
        };
        let mut t = Table::new(["Stage", "Seconds", "Share"]);
        for (name, s) in &self.timings {
            t.push_row([name.clone(), fmt(*s), share(*s)]);
        }
        t.push_row(["Total".to_string(), fmt(total), String::new()]);
        t
    }
}

/// Write `OUT_DIR/report.md` and `OUT_DIR/report.html` (atomically) and return their paths.
/// The figures must already exist under `out_dir`.
pub fn write_report(report: &Report, out_dir: &Path) -> Result<(PathBuf, PathBuf)> {
    let md_path = out_dir.join("report.md");
    let html_path = out_dir.join("report.html");

    let mut embedded = Vec::new();
    let mut svg_links = Vec::new();
    for fig in report.all_figures() {
        if fig.path.is_absolute() {
            return Err(ReportError::input(
                &html_path,
                format!(
                    "figure path {} must be relative to the report folder",
                    fig.path.display()
                ),
            ));
        }
        let file = out_dir.join(&fig.path);
        embedded.push(embed(&file)?);
        let svg = fig.path.with_extension("svg");
        let is_png = fig
            .path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("png"));
        svg_links
            .push((is_png && out_dir.join(&svg).is_file()).then(|| markdown::link_target(&svg)));
    }

    let md = markdown::render(report, &svg_links);
    let page = html::render(report, &embedded);
    write_atomic(&md_path, md.as_bytes())?;
    write_atomic(&html_path, page.as_bytes())?;
    Ok((md_path, html_path))
}

fn embed(file: &Path) -> Result<Embedded> {
    let ext = file
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "png" => {
            let bytes = std::fs::read(file).map_err(|e| ReportError::io(file, e))?;
            if !bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
                return Err(ReportError::input(file, "not a PNG file"));
            }
            let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
            Ok(Embedded::DataUri(format!("data:image/png;base64,{b64}")))
        }
        "svg" => {
            let text = std::fs::read_to_string(file).map_err(|e| ReportError::io(file, e))?;
            // An XML prolog or doctype is not allowed inside HTML; the <svg> element is.
            let start = text
                .find("<svg")
                .ok_or_else(|| ReportError::input(file, "no <svg> element"))?;
            Ok(Embedded::Svg(text[start..].trim_end().to_string()))
        }
        _ => Err(ReportError::input(
            file,
            "figures must be .png or .svg files",
        )),
    }
}
