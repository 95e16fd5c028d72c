//! Confusion-matrix heatmap: rows are true classes, columns predicted classes. Cells are
//! shaded by the row-normalised share (recall per true class), so classes with different
//! support compare directly; each cell states the count and that share.

use std::path::{Path, PathBuf};

use plotters::prelude::*;

use super::canvas::{measure, render, Anchor, Canvas, DrawResult, Figure, Text};
use super::error::Result;
use super::palette::{sequential, text_on, FRAME, INK, MUTED};

/// A confusion matrix to draw. `Default` gives an empty 1300x1150 figure.
#[derive(Clone, Debug)]
pub struct ConfusionFigure<'a> {
    /// Heading drawn across the top of the figure.
    pub title: String,
    /// Smaller second line under the title (e.g. model and split); `None` leaves no gap.
    pub subtitle: Option<String>,
    /// Class names in label order: the row and column labels.
    pub classes: &'a [String],
    /// `matrix[true_class][predicted_class]` = number of images.
    pub matrix: &'a [Vec<u64>],
    /// Canvas size in pixels (SVG user units; the PNG has the same size).
    pub size: (u32, u32),
}

impl Default for ConfusionFigure<'_> {
    fn default() -> Self {
        ConfusionFigure {
            title: String::new(),
            subtitle: None,
            classes: &[],
            matrix: &[],
            size: (1300, 1150),
        }
    }
}

/// Draw the heatmap to `STEM.png` and `STEM.svg` (written atomically); returns both paths.
/// The matrix must be square with one row per class; all-zero rows are allowed.
pub fn draw_confusion(fig: &ConfusionFigure, out_stem: &Path) -> Result<Vec<PathBuf>> {
    render(fig, out_stem)
}

const MARGIN: f64 = 36.0;
const TITLE: f64 = 28.0;
const SUBTITLE: f64 = 18.0;
const LABEL: f64 = 17.0;
const AXIS: f64 = 18.0;
const BAR_W: f64 = 26.0;

impl Figure for ConfusionFigure<'_> {
    fn size(&self) -> (u32, u32) {
        self.size
    }

    fn validate(&self) -> std::result::Result<(), String> {
        let n = self.classes.len();
        if n == 0 {
            return Err("confusion matrix has no classes".into());
        }
        if self.matrix.len() != n {
            return Err(format!(
                "confusion matrix has {} rows for {n} classes",
                self.matrix.len()
            ));
        }
        if let Some((i, row)) = self.matrix.iter().enumerate().find(|(_, r)| r.len() != n) {
            return Err(format!(
                "confusion matrix row {i} has {} columns for {n} classes",
                row.len()
            ));
        }
        Ok(())
    }

    fn draw<DB: DrawingBackend>(&self, c: &Canvas<DB>) -> DrawResult<DB> {
        let (w, h) = (self.size.0 as f64, self.size.1 as f64);
        let n = self.classes.len();
        c.fill(WHITE)?;
        c.text(
            &self.title,
            w / 2.0,
            MARGIN,
            Text::new(TITLE, INK, Anchor::CenterTop).bold(),
        )?;
        let mut top = MARGIN + TITLE * 1.3;
        if let Some(sub) = &self.subtitle {
            c.text(
                sub,
                w / 2.0,
                top + 4.0,
                Text::new(SUBTITLE, MUTED, Anchor::CenterTop),
            )?;
            top += SUBTITLE * 1.5;
        }
        top += 24.0;

        let label_w = self
            .classes
            .iter()
            .map(|s| measure(s, LABEL, false).0)
            .fold(0.0, f64::max);
        let label_h = measure("Xg", LABEL, false).1;
        let left_block = AXIS * 1.6 + label_w + 12.0;
        let right_block = 36.0 + BAR_W + 10.0 + measure("100%", 15.0, false).0 + 10.0;
        let avail_w = w - 2.0 * MARGIN - left_block - right_block;
        // Column labels go vertical when they would not fit under their cell.
        let guess = (avail_w / n as f64).min((h - top - MARGIN - AXIS * 2.0 - label_h) / n as f64);
        let vertical = label_w > guess - 6.0;
        let bottom_block = 10.0 + if vertical { label_w } else { label_h } + 14.0 + AXIS * 1.4;
        let cell = (avail_w / n as f64)
            .min((h - top - MARGIN - bottom_block) / n as f64)
            .max(1.0);
        let side = cell * n as f64;
        let x0 = ((w - left_block - side - right_block) / 2.0).max(MARGIN) + left_block;
        let y0 = top;

        // Two lines (count over share) while both stay legible, then the count alone in a
        // larger font, then nothing: colour still carries the information.
        let two_line = (cell * 0.24).min(20.0);
        let show_share = two_line * 0.75 >= 10.0 && self.max_count_width(two_line) <= cell - 6.0;
        let count_size = if show_share {
            two_line
        } else {
            (cell * 0.34).min(20.0)
        };
        let share_size = count_size * 0.75;
        let show_count = count_size >= 9.0 && self.max_count_width(count_size) <= cell - 4.0;
        for (i, row) in self.matrix.iter().enumerate() {
            let total: u64 = row.iter().sum();
            for (j, &v) in row.iter().enumerate() {
                let share = if total == 0 {
                    f64::NAN
                } else {
                    v as f64 / total as f64
                };
                let bg = sequential(share);
                let (cx0, cy0) = (x0 + j as f64 * cell, y0 + i as f64 * cell);
                c.rect(cx0, cy0, cx0 + cell, cy0 + cell, bg.filled())?;
                if !show_count {
                    continue;
                }
                let fg = text_on(bg);
                let (mx, my) = (cx0 + cell / 2.0, cy0 + cell / 2.0);
                if show_share {
                    let share_txt = if share.is_nan() {
                        "–".to_string()
                    } else {
                        format!("{:.1}%", 100.0 * share)
                    };
                    c.text(
                        &v.to_string(),
                        mx,
                        my - 1.0,
                        Text::new(count_size, fg, Anchor::CenterBottom).bold(),
                    )?;
                    c.text(
                        &share_txt,
                        mx,
                        my + 3.0,
                        Text::new(share_size, fg, Anchor::CenterTop),
                    )?;
                } else {
                    c.text(
                        &v.to_string(),
                        mx,
                        my,
                        Text::new(count_size, fg, Anchor::Center),
                    )?;
                }
            }
        }
        c.rect(x0, y0, x0 + side, y0 + side, FRAME.stroke_width(1))?;

        let label = Text::new(LABEL, INK, Anchor::RightCenter);
        for (i, name) in self.classes.iter().enumerate() {
            let mid = i as f64 * cell + cell / 2.0;
            c.text(name, x0 - 10.0, y0 + mid, label)?;
            if vertical {
                c.text(
                    name,
                    x0 + mid,
                    y0 + side + 10.0,
                    Text {
                        anchor: Anchor::RightCenter,
                        ..label
                    }
                    .vertical(),
                )?;
            } else {
                c.text(
                    name,
                    x0 + mid,
                    y0 + side + 10.0,
                    Text {
                        anchor: Anchor::CenterTop,
                        ..label
                    },
                )?;
            }
        }
        let axis = Text::new(AXIS, INK, Anchor::CenterTop).bold();
        let below = y0 + side + bottom_block - AXIS * 1.4;
        c.text("Predicted class", x0 + side / 2.0, below, axis)?;
        c.text(
            "True class",
            x0 - left_block,
            y0 + side / 2.0,
            Text {
                anchor: Anchor::CenterTop,
                ..axis
            }
            .vertical(),
        )?;

        self.draw_colour_bar(c, x0 + side + 36.0, y0, side)
    }
}

impl ConfusionFigure<'_> {
    fn max_count_width(&self, size: f64) -> f64 {
        let max = self.matrix.iter().flatten().copied().max().unwrap_or(0);
        measure(&max.to_string(), size, true).0
    }

    fn draw_colour_bar<DB: DrawingBackend>(
        &self,
        c: &Canvas<DB>,
        x: f64,
        y: f64,
        h: f64,
    ) -> DrawResult<DB> {
        let steps = 100;
        for k in 0..steps {
            let t0 = k as f64 / steps as f64;
            let t1 = (k + 1) as f64 / steps as f64;
            // Top is 100%, like the heat it stands for.
            c.rect(
                x,
                y + h * (1.0 - t1),
                x + BAR_W,
                y + h * (1.0 - t0),
                sequential((t0 + t1) / 2.0).filled(),
            )?;
        }
        c.rect(x, y, x + BAR_W, y + h, FRAME.stroke_width(1))?;
        let tick = Text::new(15.0, INK, Anchor::LeftCenter);
        for pct in [0, 25, 50, 75, 100] {
            let ty = y + h * (1.0 - pct as f64 / 100.0);
            c.polyline(&[(x + BAR_W, ty), (x + BAR_W + 5.0, ty)], INK, 1.0)?;
            c.text(&format!("{pct}%"), x + BAR_W + 8.0, ty, tick)?;
        }
        c.text(
            "share of true class",
            x - 8.0,
            y + h / 2.0,
            Text::new(15.0, MUTED, Anchor::CenterBottom).vertical(),
        )
    }
}
