//! Training curves: the training loss in one panel and the training and test accuracy in
//! another, both against the epoch. Accuracy uses a fixed 0-100% axis, as in the per-class
//! chart, so curves from different runs compare by eye; the loss axis has no natural top and
//! is rounded up to a 1-2-5 step instead.

use std::path::{Path, PathBuf};

use plotters::prelude::*;

use super::canvas::{measure, render, Anchor, Canvas, DrawResult, Figure, Text};
use super::error::Result;
use super::palette::{series_color, FRAME, GRID, INK, MUTED};

/// One epoch of a training log.
#[derive(Clone, Debug, PartialEq)]
pub struct CurvePoint {
    /// 1-based; strictly increasing along the log, gaps allowed.
    pub epoch: usize,
    /// Mean cross-entropy over the epoch's training batches.
    pub train_loss: f64,
    /// Fraction in 0..=1.
    pub train_accuracy: f64,
    /// Fraction in 0..=1, only on the epochs the test set was evaluated.
    pub test_accuracy: Option<f64>,
    /// Learning rate of the epoch. Kept with the log for tables; the figure does not draw it.
    pub lr: f64,
}

/// Loss and accuracy against the epoch. `Default` gives an empty 1600x700 figure.
#[derive(Clone, Debug)]
pub struct TrainingCurveFigure<'a> {
    /// Heading drawn across the top of the figure.
    pub title: String,
    /// Smaller second line under the title (e.g. model and split); `None` leaves no gap.
    pub subtitle: Option<String>,
    /// One point per logged epoch, in epoch order.
    pub points: &'a [CurvePoint],
    /// Canvas size in pixels (SVG user units; the PNG has the same size).
    pub size: (u32, u32),
    /// What the held-out accuracy is called in the legend: `Test` for the classifier,
    /// `Validation` for fine-tuning, which never looks at the test set.
    pub held_out: &'static str,
}

impl Default for TrainingCurveFigure<'_> {
    fn default() -> Self {
        TrainingCurveFigure {
            title: String::new(),
            subtitle: None,
            points: &[],
            size: (1600, 700),
            held_out: "Test",
        }
    }
}

/// Draw the curves to `STEM.png` and `STEM.svg` (written atomically); returns both paths.
/// Needs at least one point, epochs strictly increasing from 1 or later, finite
/// non-negative losses and accuracies in 0..=1.
pub fn draw_training_curve(fig: &TrainingCurveFigure, out_stem: &Path) -> Result<Vec<PathBuf>> {
    render(fig, out_stem)
}

const MARGIN: f64 = 36.0;
const TITLE: f64 = 28.0;
const SUBTITLE: f64 = 18.0;
const HEADING: f64 = 19.0;
const LEGEND: f64 = 17.0;
const LABEL: f64 = 17.0;
const TICK: f64 = 15.0;
/// Between the left plot's right edge and the right panel's axis title.
const PANEL_GAP: f64 = 56.0;
const LINE: f64 = 2.2;
const MARKER: f64 = 4.5;
/// Least distance between value-axis tick labels, in label heights.
const TICK_GAP: f64 = 1.8;
const LOSS_HEADING: &str = "Training loss";
const LOSS_TITLE: &str = "Cross-entropy";
const ACC_TITLE: &str = "Accuracy";
const TRAIN: usize = 0;
const TEST: usize = 1;

/// A value axis: the top of the range and its labelled ticks, bottom to top.
struct ValueAxis {
    max: f64,
    ticks: Vec<(f64, String)>,
}

/// One panel's plot frame in layout units.
struct Panel {
    /// Left edge of the panel (where its vertical axis title starts).
    left: f64,
    x0: f64,
    x1: f64,
}

struct Layout {
    y0: f64,
    y1: f64,
    loss: Panel,
    acc: Panel,
    loss_axis: ValueAxis,
    /// Epoch range shown, padded so that end markers clear the frame.
    x_lo: f64,
    x_hi: f64,
    x_step: u64,
    last: u64,
    /// Height of a tick label.
    tick_h: f64,
    /// Both vertical axis titles share one size, and both headings another, so the panels
    /// match.
    title_size: f64,
    heading_size: f64,
}

impl Layout {
    fn x_of(&self, p: &Panel, epoch: f64) -> f64 {
        p.x0 + (p.x1 - p.x0) * ((epoch - self.x_lo) / (self.x_hi - self.x_lo))
    }
}

impl Figure for TrainingCurveFigure<'_> {
    fn size(&self) -> (u32, u32) {
        self.size
    }

    fn validate(&self) -> std::result::Result<(), String> {
        if self.points.is_empty() {
            return Err("training curve has no points".into());
        }
        let mut previous: Option<usize> = None;
        for p in self.points {
            let e = p.epoch;
            if e == 0 {
                return Err("epoch 0: epochs are numbered from 1".into());
            }
            if let Some(prev) = previous.filter(|&prev| e <= prev) {
                return Err(format!(
                    "epoch {e} follows epoch {prev}: epochs must be strictly increasing"
                ));
            }
            previous = Some(e);
            if !(p.train_loss.is_finite() && p.train_loss >= 0.0) {
                return Err(format!(
                    "epoch {e}: training loss {} is not a finite value >= 0",
                    p.train_loss
                ));
            }
            let fraction = |name: &str, v: f64| {
                if (0.0..=1.0).contains(&v) {
                    Ok(())
                } else {
                    Err(format!(
                        "epoch {e}: {name} accuracy {v} is not a fraction in 0..=1"
                    ))
                }
            };
            fraction("training", p.train_accuracy)?;
            if let Some(t) = p.test_accuracy {
                fraction("test", t)?;
            }
        }
        Ok(())
    }

    fn draw<DB: DrawingBackend>(&self, c: &Canvas<DB>) -> DrawResult<DB> {
        c.fill(WHITE)?;
        let top = self.draw_header(c)?;
        let lay = self.layout(top);
        let heading = Text::new(lay.heading_size, INK, Anchor::CenterBottom).bold();
        let heading_y = lay.y0 - 12.0;

        let p = &lay.loss;
        // Dividing first keeps losses near f64::MAX from overflowing to an infinite y.
        let loss_y = |v: f64| lay.y1 - (lay.y1 - lay.y0) * (v / lay.loss_axis.max);
        self.draw_epoch_axis(c, &lay, p)?;
        for (v, label) in &lay.loss_axis.ticks {
            let y = loss_y(*v);
            c.polyline(&[(p.x0, y), (p.x1, y)], GRID, 1.0)?;
            c.text(
                label,
                p.x0 - 8.0,
                y,
                Text::new(TICK, INK, Anchor::RightCenter),
            )?;
        }
        self.draw_frame(c, &lay, p, LOSS_TITLE)?;
        c.text(LOSS_HEADING, (p.x0 + p.x1) / 2.0, heading_y, heading)?;
        let loss: Vec<(f64, f64)> = self
            .points
            .iter()
            .map(|q| (lay.x_of(p, q.epoch as f64), loss_y(q.train_loss)))
            .collect();
        draw_line(c, &loss, series_color(TRAIN))?;

        let p = &lay.acc;
        let acc_y = |v: f64| lay.y1 - (lay.y1 - lay.y0) * v;
        self.draw_epoch_axis(c, &lay, p)?;
        // Every 20% as in the per-class chart, coarser when the labels would collide.
        let plot_h = lay.y1 - lay.y0;
        let label_step = [20, 50, 100]
            .into_iter()
            .find(|&s| plot_h * s as f64 / 100.0 >= lay.tick_h * TICK_GAP)
            .unwrap_or(100);
        let grid_step = if plot_h / 10.0 >= 10.0 {
            10
        } else {
            label_step
        };
        for pct in (0..=100).step_by(grid_step) {
            let y = acc_y(pct as f64 / 100.0);
            c.polyline(&[(p.x0, y), (p.x1, y)], GRID, 1.0)?;
            if pct % label_step == 0 {
                c.text(
                    &format!("{pct}%"),
                    p.x0 - 8.0,
                    y,
                    Text::new(TICK, INK, Anchor::RightCenter),
                )?;
            }
        }
        self.draw_frame(c, &lay, p, ACC_TITLE)?;
        c.text(&self.acc_heading(), (p.x0 + p.x1) / 2.0, heading_y, heading)?;
        let train: Vec<(f64, f64)> = self
            .points
            .iter()
            .map(|q| (lay.x_of(p, q.epoch as f64), acc_y(q.train_accuracy)))
            .collect();
        draw_line(c, &train, series_color(TRAIN))?;
        let test: Vec<(f64, f64)> = self
            .points
            .iter()
            .filter_map(|q| {
                q.test_accuracy
                    .map(|t| (lay.x_of(p, q.epoch as f64), acc_y(t)))
            })
            .collect();
        if test.len() > 1 {
            c.polyline(&test, series_color(TEST), LINE)?;
        }
        // Markers shrink when evaluations are dense, so they stay separate dots rather
        // than merging into a thick band.
        let closest = test
            .windows(2)
            .map(|w| w[1].0 - w[0].0)
            .fold(f64::INFINITY, f64::min);
        let r = (closest * 0.4).clamp(LINE * 0.75, MARKER);
        for &(x, y) in &test {
            c.circle(x, y, r, series_color(TEST).filled())?;
        }
        Ok(())
    }
}

impl TrainingCurveFigure<'_> {
    fn has_test(&self) -> bool {
        self.points.iter().any(|p| p.test_accuracy.is_some())
    }

    fn acc_heading(&self) -> String {
        if self.has_test() {
            format!("Training and {} accuracy", self.held_out.to_lowercase())
        } else {
            "Training accuracy".to_string()
        }
    }

    /// Title, subtitle and legend; returns the y below them.
    fn draw_header<DB: DrawingBackend>(
        &self,
        c: &Canvas<DB>,
    ) -> std::result::Result<f64, plotters::drawing::DrawingAreaErrorKind<DB::ErrorType>> {
        let w = self.size.0 as f64;
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

        // Without a test evaluation a "Test" key would describe nothing on the chart.
        let held_out = format!("{} (evaluated epochs)", self.held_out);
        let mut entries = vec![("Training", TRAIN, false)];
        if self.has_test() {
            entries.push((held_out.as_str(), TEST, true));
        }
        const SWATCH: f64 = 30.0;
        const GAP: f64 = 36.0;
        const ROW: f64 = 28.0;
        let widths: Vec<f64> = entries
            .iter()
            .map(|(name, _, _)| SWATCH + 8.0 + measure(name, LEGEND, false).0)
            .collect();
        let total = widths.iter().sum::<f64>() + GAP * (widths.len() - 1) as f64;
        let mut x = (w - total) / 2.0;
        let y = top + 18.0 + ROW / 2.0;
        for ((name, series, marker), ew) in entries.iter().zip(&widths) {
            let color = series_color(*series);
            c.polyline(&[(x, y), (x + SWATCH, y)], color, LINE)?;
            if *marker {
                c.circle(x + SWATCH / 2.0, y, MARKER, color.filled())?;
            }
            c.text(
                name,
                x + SWATCH + 8.0,
                y,
                Text::new(LEGEND, INK, Anchor::LeftCenter),
            )?;
            x += ew + GAP;
        }
        Ok(top + 18.0 + ROW)
    }

    fn layout(&self, top: f64) -> Layout {
        let (w, h) = (self.size.0 as f64, self.size.1 as f64);
        let tick_h = measure("0123456789", TICK, false).1;
        let label_h = measure("Epoch", LABEL, true).1;
        let y0 = top + 24.0 + HEADING * 1.3;
        // Below the plot: tick marks, tick labels, the axis title.
        let y1 = (h - MARGIN - label_h - 10.0 - tick_h - 10.0).max(y0 + 1.0);

        let max_loss = self.points.iter().map(|p| p.train_loss).fold(0.0, f64::max);
        let loss_axis = loss_axis(max_loss, y1 - y0, tick_h * TICK_GAP);

        let axis_w = |labels: &mut dyn Iterator<Item = &str>| {
            let widest = labels
                .map(|l| measure(l, TICK, false).0)
                .fold(0.0, f64::max);
            LABEL * 1.6 + widest + 10.0
        };
        let loss_w = axis_w(&mut loss_axis.ticks.iter().map(|(_, l)| l.as_str()));
        let acc_w = axis_w(&mut std::iter::once("100%"));
        let plot_w = ((w - 2.0 * MARGIN - loss_w - acc_w - PANEL_GAP) / 2.0).max(1.0);
        let loss = Panel {
            left: MARGIN,
            x0: MARGIN + loss_w,
            x1: MARGIN + loss_w + plot_w,
        };
        let acc_left = loss.x1 + PANEL_GAP;
        let acc = Panel {
            left: acc_left,
            x0: acc_left + acc_w,
            x1: acc_left + acc_w + plot_w,
        };

        let last = self.points.last().map_or(1, |p| p.epoch) as f64;
        // Half an epoch at least, so a single epoch gets a range; 2% on long runs, so the
        // end points do not sit on the frame.
        let pad = (0.02 * (last - 1.0)).max(0.5);
        let (x_lo, x_hi) = (1.0 - pad, last + pad);
        let widest = measure(&format!("{}", last as u64), TICK, false).0;
        // Labels one label-width plus a gap apart never overlap; past ten ticks the axis
        // only gets busier.
        let per_epoch = plot_w / (x_hi - x_lo);
        let x_step = nice_ceil(((widest + 24.0) / per_epoch).max(last / 10.0)).max(1.0) as u64;

        // Shrunk to fit a short plot, but dropped (size 0) rather than made unreadably small.
        let longest = [LOSS_TITLE, ACC_TITLE]
            .map(|t| measure(t, LABEL, true).0)
            .into_iter()
            .fold(1.0, f64::max);
        let title_size = LABEL * ((y1 - y0) / longest).min(1.0);
        let title_size = if title_size < 11.0 { 0.0 } else { title_size };
        let widest_heading = [LOSS_HEADING, self.acc_heading().as_str()]
            .map(|t| measure(t, HEADING, true).0)
            .into_iter()
            .fold(1.0, f64::max);
        let heading_size = HEADING * (plot_w / widest_heading).min(1.0);

        Layout {
            y0,
            y1,
            loss,
            acc,
            loss_axis,
            x_lo,
            x_hi,
            x_step,
            last: last as u64,
            tick_h,
            title_size,
            heading_size,
        }
    }

    /// Vertical gridlines, tick marks, tick labels and the "Epoch" title of one panel.
    fn draw_epoch_axis<DB: DrawingBackend>(
        &self,
        c: &Canvas<DB>,
        lay: &Layout,
        p: &Panel,
    ) -> DrawResult<DB> {
        let tick = Text::new(TICK, INK, Anchor::CenterTop);
        let mut epoch = lay.x_step;
        // x_step >= last / 10 bounds this loop to about ten ticks.
        while epoch <= lay.last {
            let x = lay.x_of(p, epoch as f64);
            c.polyline(&[(x, lay.y0), (x, lay.y1)], GRID, 1.0)?;
            c.polyline(&[(x, lay.y1), (x, lay.y1 + 5.0)], INK, 1.0)?;
            let label = epoch.to_string();
            // Very large epoch numbers would otherwise run off the right edge.
            let half = measure(&label, TICK, false).0 / 2.0;
            let tx = x.min(self.size.0 as f64 - 4.0 - half);
            c.text(&label, tx, lay.y1 + 8.0, tick)?;
            epoch = match epoch.checked_add(lay.x_step) {
                Some(e) => e,
                None => break,
            };
        }
        c.text(
            "Epoch",
            (p.x0 + p.x1) / 2.0,
            lay.y1 + 8.0 + lay.tick_h + 10.0,
            Text::new(LABEL, INK, Anchor::CenterTop).bold(),
        )
    }

    /// Axis lines and the vertical axis title.
    fn draw_frame<DB: DrawingBackend>(
        &self,
        c: &Canvas<DB>,
        lay: &Layout,
        p: &Panel,
        title: &str,
    ) -> DrawResult<DB> {
        c.polyline(&[(p.x0, lay.y1), (p.x1, lay.y1)], INK, 1.2)?;
        c.polyline(&[(p.x0, lay.y0), (p.x0, lay.y1)], FRAME, 1.0)?;
        if lay.title_size == 0.0 {
            return Ok(());
        }
        c.text(
            title,
            p.left,
            (lay.y0 + lay.y1) / 2.0,
            Text::new(lay.title_size, INK, Anchor::CenterTop)
                .bold()
                .vertical(),
        )
    }
}

/// A polyline, or a dot when there is a single point (a one-point line draws nothing).
fn draw_line<DB: DrawingBackend>(
    c: &Canvas<DB>,
    pts: &[(f64, f64)],
    color: RGBColor,
) -> DrawResult<DB> {
    match pts {
        [] => Ok(()),
        [(x, y)] => c.circle(*x, *y, MARKER, color.filled()),
        _ => c.polyline(pts, color, LINE),
    }
}

/// The smallest of 1, 2, 5 times a power of ten that is >= `x` (1 for non-positive `x`).
fn nice_ceil(x: f64) -> f64 {
    if !(x > 0.0 && x.is_finite()) {
        return 1.0;
    }
    let (unit, m) = nice_step(x);
    m as f64 * unit
}

/// `x` rounded up to `m * unit`, m in {1, 2, 5} and unit a power of ten.
fn nice_step(x: f64) -> (f64, u64) {
    let unit = 10f64.powf(x.log10().floor());
    // The tolerance absorbs log10/powf rounding so that e.g. 0.2 is not bumped to 0.5.
    match [1, 2, 5]
        .into_iter()
        .find(|&m| m as f64 * unit >= x * (1.0 - 1e-9))
    {
        Some(m) => (unit, m),
        None => (unit * 10.0, 1),
    }
}

/// Loss axis from 0 to the maximum loss rounded up to a 1-2-5 step: at most five intervals,
/// and fewer, coarser ones when `plot_h` would put labels closer than `min_gap`.
fn loss_axis(max_loss: f64, plot_h: f64, min_gap: f64) -> ValueAxis {
    // All-zero losses still need a scale.
    let max = if max_loss > 0.0 { max_loss } else { 1.0 };
    let (mut unit, mut m) = nice_step(max / 5.0);
    let mut n = (max / (m as f64 * unit) * (1.0 - 1e-9)).ceil().max(1.0);
    // Each round at least doubles the step, and one interval always fits, so this ends
    // within a few rounds.
    while n > 1.0 && plot_h / n < min_gap {
        (unit, m) = match m {
            1 => (unit, 2),
            2 => (unit, 5),
            _ => (unit * 10.0, 1),
        };
        n = (max / (m as f64 * unit) * (1.0 - 1e-9)).ceil().max(1.0);
    }
    let mut top = n * m as f64 * unit;
    // Rounding up can overflow for losses near f64::MAX; the data maximum still works.
    if !top.is_finite() {
        top = max;
    }
    let exp = unit.log10().round() as i32;
    // The tolerance keeps the top tick when n * step and (n * m) * unit differ in the last
    // bit; only the overflow case above drops ticks.
    let ticks = (0..=n as u64)
        .map(|i| {
            let q = i * m;
            (q as f64 * unit, tick_label(q, exp))
        })
        .filter(|(v, _)| v.is_finite() && *v <= top * (1.0 + 1e-9))
        .collect();
    ValueAxis { max: top, ticks }
}

/// `q * 10^exp` written exactly, in scientific notation when plain digits would be long.
fn tick_label(q: u64, exp: i32) -> String {
    if (-4..=5).contains(&exp) {
        let v = q as f64 * 10f64.powi(exp);
        let decimals = (-exp).max(0) as usize;
        return format!("{v:.decimals$}");
    }
    if q == 0 {
        return "0".into();
    }
    // Trailing zeros of q move into the exponent: 20e-7 is written 2e-6.
    let (mut q, mut exp) = (q, exp);
    while q % 10 == 0 {
        q /= 10;
        exp += 1;
    }
    let digits = q.to_string();
    let (head, tail) = digits.split_at(1);
    let exp = exp + tail.len() as i32;
    if tail.is_empty() {
        format!("{head}e{exp}")
    } else {
        format!("{head}.{tail}e{exp}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_steps_round_up_to_1_2_5() {
        assert_eq!(nice_ceil(0.46), 0.5);
        assert_eq!(nice_ceil(0.2), 0.2);
        assert_eq!(nice_ceil(3.0), 5.0);
        assert_eq!(nice_ceil(7.0), 10.0);
        assert_eq!(nice_ceil(0.0), 1.0);
        assert_eq!(nice_ceil(f64::NAN), 1.0);
    }

    #[test]
    fn loss_axis_tops_out_at_a_nice_value() {
        let a = loss_axis(2.303, 400.0, 28.0);
        assert_eq!(a.max, 2.5);
        let labels: Vec<_> = a.ticks.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels, ["0.0", "0.5", "1.0", "1.5", "2.0", "2.5"]);
        let zero = loss_axis(0.0, 400.0, 28.0);
        assert_eq!(zero.max, 1.0);
        let huge = loss_axis(f64::MAX, 400.0, 28.0);
        assert!(huge.max.is_finite() && huge.ticks.len() >= 2);
        // A short plot gets fewer, coarser ticks.
        let short = loss_axis(2.303, 90.0, 28.0);
        assert_eq!(short.max, 3.0);
        assert_eq!(short.ticks.len(), 4);
        let tiny = loss_axis(3e-7, 90.0, 28.0);
        let labels: Vec<_> = tiny.ticks.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels, ["0", "1e-7", "2e-7", "3e-7"]);
    }

    #[test]
    fn tick_labels_are_exact() {
        assert_eq!(tick_label(3, -1), "0.3");
        assert_eq!(tick_label(15, -5), "1.5e-4");
        assert_eq!(tick_label(20, -7), "2e-6");
        assert_eq!(tick_label(5, 6), "5e6");
        assert_eq!(tick_label(10, 0), "10");
    }
}
