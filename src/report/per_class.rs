//! Per-class accuracy: one group of vertical bars per class, one bar per series (protocol or
//! prompt set), on a fixed 0-100% axis so charts from different runs compare by eye.

use std::path::{Path, PathBuf};

use plotters::prelude::*;

use super::canvas::{measure, render, Anchor, Canvas, DrawResult, Figure, Text};
use super::error::Result;
use super::palette::{series_color, FRAME, GRID, INK, MUTED};

/// A grouped bar chart. `Default` gives an empty 1600x900 figure.
#[derive(Clone, Debug)]
pub struct PerClassFigure<'a> {
    /// Heading drawn across the top of the figure.
    pub title: String,
    /// Smaller second line under the title (e.g. model and split); `None` leaves no gap.
    pub subtitle: Option<String>,
    /// Class names in label order, one bar group each.
    pub classes: &'a [String],
    /// (series name, accuracy in percent per class). NaN means "no images of this class"
    /// and draws no bar.
    pub series: &'a [(String, Vec<f64>)],
    /// Canvas size in pixels (SVG user units; the PNG has the same size).
    pub size: (u32, u32),
}

impl Default for PerClassFigure<'_> {
    fn default() -> Self {
        PerClassFigure {
            title: String::new(),
            subtitle: None,
            classes: &[],
            series: &[],
            size: (1600, 900),
        }
    }
}

/// Draw the chart to `STEM.png` and `STEM.svg` (written atomically); returns both paths.
/// Values must lie in 0..=100 (percent) or be NaN.
pub fn draw_per_class(fig: &PerClassFigure, out_stem: &Path) -> Result<Vec<PathBuf>> {
    render(fig, out_stem)
}

const MARGIN: f64 = 36.0;
const TITLE: f64 = 28.0;
const SUBTITLE: f64 = 18.0;
const LEGEND: f64 = 17.0;
const LABEL: f64 = 17.0;
const TICK: f64 = 15.0;

impl Figure for PerClassFigure<'_> {
    fn size(&self) -> (u32, u32) {
        self.size
    }

    fn validate(&self) -> std::result::Result<(), String> {
        let n = self.classes.len();
        if n == 0 {
            return Err("per-class chart has no classes".into());
        }
        for (name, values) in self.series {
            if values.len() != n {
                return Err(format!(
                    "series {name:?} has {} values for {n} classes",
                    values.len()
                ));
            }
            if let Some((i, v)) = values
                .iter()
                .enumerate()
                .find(|(_, v)| !v.is_nan() && !(0.0..=100.0).contains(*v))
            {
                return Err(format!(
                    "series {name:?} class {i}: {v} is not a percentage in 0..=100"
                ));
            }
        }
        Ok(())
    }

    fn draw<DB: DrawingBackend>(&self, c: &Canvas<DB>) -> DrawResult<DB> {
        let (w, h) = (self.size.0 as f64, self.size.1 as f64);
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
        top = self.draw_legend(c, top + 18.0)? + 24.0;

        let n = self.classes.len() as f64;
        let m = self.series.len().max(1) as f64;
        let tick_w = measure("100%", TICK, false).0;
        let x0 = MARGIN + LABEL * 1.6 + tick_w + 10.0;
        let x1 = w - MARGIN;
        let group = (x1 - x0) / n;
        let label_w = self
            .classes
            .iter()
            .map(|s| measure(s, LABEL, false).0)
            .fold(0.0, f64::max);
        let label_h = measure("Xg", LABEL, false).1;
        let vertical = label_w > group - 8.0;
        let y1 = h - MARGIN - 10.0 - if vertical { label_w } else { label_h };
        let y0 = top;
        let y_of = |pct: f64| y1 - (y1 - y0) * pct / 100.0;

        for pct in (0..=100).step_by(10) {
            let y = y_of(pct as f64);
            c.polyline(&[(x0, y), (x1, y)], GRID, 1.0)?;
            if pct % 20 == 0 {
                c.text(
                    &format!("{pct}%"),
                    x0 - 8.0,
                    y,
                    Text::new(TICK, INK, Anchor::RightCenter),
                )?;
            }
        }
        c.text(
            "Accuracy",
            MARGIN,
            (y0 + y1) / 2.0,
            Text::new(LABEL, INK, Anchor::CenterTop).bold().vertical(),
        )?;

        let bar = group * 0.8 / m;
        let value_size = (bar * 0.42).clamp(9.0, 14.0);
        let show_values = measure("100.0", value_size, false).0 <= bar + 2.0;
        for (k, name) in self.classes.iter().enumerate() {
            let gx = x0 + k as f64 * group + group * 0.1;
            for (s, (_, values)) in self.series.iter().enumerate() {
                let v = values[k];
                let bx = gx + s as f64 * bar;
                if v.is_nan() {
                    c.text(
                        "n/a",
                        bx + bar / 2.0,
                        y1 - 4.0,
                        Text::new(value_size, MUTED, Anchor::CenterBottom),
                    )?;
                    continue;
                }
                // A one-pixel gap between neighbours keeps equal-coloured edges apart.
                c.rect(
                    bx + 0.5,
                    y_of(v),
                    bx + bar - 0.5,
                    y1,
                    series_color(s).filled(),
                )?;
                if show_values {
                    c.text(
                        &format!("{v:.1}"),
                        bx + bar / 2.0,
                        y_of(v) - 3.0,
                        Text::new(value_size, INK, Anchor::CenterBottom),
                    )?;
                }
            }
            let mid = x0 + k as f64 * group + group / 2.0;
            let label = Text::new(LABEL, INK, Anchor::CenterTop);
            if vertical {
                c.text(
                    name,
                    mid,
                    y1 + 8.0,
                    Text {
                        anchor: Anchor::RightCenter,
                        ..label
                    }
                    .vertical(),
                )?;
            } else {
                c.text(name, mid, y1 + 8.0, label)?;
            }
        }
        c.polyline(&[(x0, y1), (x1, y1)], INK, 1.2)?;
        c.polyline(&[(x0, y0), (x0, y1)], FRAME, 1.0)?;
        if self.series.is_empty() {
            c.text(
                "no series to draw",
                (x0 + x1) / 2.0,
                (y0 + y1) / 2.0,
                Text::new(LABEL, MUTED, Anchor::Center),
            )?;
        }
        Ok(())
    }
}

impl PerClassFigure<'_> {
    /// Legend entries in rows under the title, wrapped to the canvas; returns the y below it.
    fn draw_legend<DB: DrawingBackend>(
        &self,
        c: &Canvas<DB>,
        top: f64,
    ) -> std::result::Result<f64, plotters::drawing::DrawingAreaErrorKind<DB::ErrorType>> {
        let w = self.size.0 as f64;
        let entries: Vec<(f64, &str)> = self
            .series
            .iter()
            .map(|(name, _)| (18.0 + 8.0 + measure(name, LEGEND, false).0, name.as_str()))
            .collect();
        const GAP: f64 = 32.0;
        const ROW: f64 = 28.0;
        // Split into rows first so each row can be centred.
        let mut rows: Vec<Vec<(usize, f64)>> = vec![vec![]];
        let mut used = 0.0;
        for (i, (ew, _)) in entries.iter().enumerate() {
            let row = rows.last_mut().expect("rows starts non-empty");
            if !row.is_empty() && used + GAP + ew > w - 2.0 * MARGIN {
                rows.push(vec![]);
                used = 0.0;
            }
            let row = rows.last_mut().expect("rows is non-empty");
            if !row.is_empty() {
                used += GAP;
            }
            row.push((i, *ew));
            used += ew;
        }
        let mut y = top;
        for row in rows.iter().filter(|r| !r.is_empty()) {
            let total: f64 =
                row.iter().map(|(_, ew)| ew).sum::<f64>() + GAP * (row.len() - 1) as f64;
            let mut x = (w - total) / 2.0;
            for &(i, ew) in row {
                c.rect(
                    x,
                    y + ROW / 2.0 - 9.0,
                    x + 18.0,
                    y + ROW / 2.0 + 9.0,
                    series_color(i).filled(),
                )?;
                c.text(
                    entries[i].1,
                    x + 26.0,
                    y + ROW / 2.0,
                    Text::new(LEGEND, INK, Anchor::LeftCenter),
                )?;
                x += ew + GAP;
            }
            y += ROW;
        }
        Ok(y)
    }
}
