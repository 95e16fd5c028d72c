//! The subject-share figure: one lane per relation, each a histogram of its texts' subject
//! shares on a fixed 0-1 axis (0: among the object's images, 1: among the subject's), with the
//! quartile range and median under it and chosen texts (the paper's Figure 4 pair) marked.
//! It is drawn from the per-relation histograms, so its size does not grow with the number of
//! texts.

use std::path::{Path, PathBuf};

use plotters::prelude::*;

use super::canvas::{measure, render, Anchor, Canvas, DrawResult, Figure, Text};
use super::error::Result;
use super::palette::{series_color, FRAME, GRID, INK, MUTED};

/// One relation's lane.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ShareLane {
    /// The relation's name.
    pub name: String,
    /// Texts per bin of equal width over [0, 1] (the last bin holds 1).
    pub histogram: Vec<usize>,
    /// Texts whose share is undefined (shown as a count).
    pub undefined: usize,
    /// First quartile, median and third quartile, when any share is defined.
    pub quartiles: Option<[f64; 3]>,
    /// Texts to mark at their share: (label, share in [0, 1]).
    pub marks: Vec<(String, f64)>,
}

/// The figure. `Default` gives an empty 1200x800 figure; [`SubjectShareFigure::height_for`]
/// is a height that fits a number of lanes.
#[derive(Clone, Debug)]
pub struct SubjectShareFigure<'a> {
    /// Heading drawn across the top.
    pub title: String,
    /// Smaller second line under the title; `None` leaves no gap.
    pub subtitle: Option<String>,
    /// The lanes, top to bottom.
    pub lanes: &'a [ShareLane],
    /// Canvas size in pixels (SVG user units; the PNG has the same size).
    pub size: (u32, u32),
}

impl Default for SubjectShareFigure<'_> {
    fn default() -> Self {
        SubjectShareFigure {
            title: String::new(),
            subtitle: None,
            lanes: &[],
            size: (1200, 800),
        }
    }
}

impl SubjectShareFigure<'_> {
    /// A canvas height that gives each of `lanes` lanes the room it is drawn in.
    pub fn height_for(lanes: usize) -> u32 {
        (HEADER + FOOTER + LANE * lanes.max(1) as f64).min(8000.0) as u32
    }
}

/// Draw the figure to `STEM.png` and `STEM.svg` (written atomically); returns both paths.
pub fn draw_subject_share(fig: &SubjectShareFigure, out_stem: &Path) -> Result<Vec<PathBuf>> {
    render(fig, out_stem)
}

const MARGIN: f64 = 32.0;
const TITLE: f64 = 26.0;
const SUBTITLE: f64 = 17.0;
const LABEL: f64 = 17.0;
const SMALL: f64 = 14.0;
/// Room above the first lane (title and subtitle).
const HEADER: f64 = 110.0;
/// Room under the last lane (axis ticks and the axis caption).
const FOOTER: f64 = 90.0;
/// Height of one lane: bars, the quartile line, and up to three mark labels.
const LANE: f64 = 225.0;
const BARS: f64 = 100.0;
/// Room in a lane above its tallest bar, for the bar's count.
const BAR_TOP: f64 = 28.0;
const LEFT: f64 = 200.0;

impl Figure for SubjectShareFigure<'_> {
    fn size(&self) -> (u32, u32) {
        self.size
    }

    fn validate(&self) -> std::result::Result<(), String> {
        for lane in self.lanes {
            if lane.histogram.is_empty() {
                return Err(format!("lane {:?} has no histogram bins", lane.name));
            }
            let in_range = |v: f64| (0.0..=1.0).contains(&v);
            if let Some(q) = lane.quartiles {
                if !q.iter().all(|&v| in_range(v)) || q[0] > q[1] || q[1] > q[2] {
                    return Err(format!(
                        "lane {:?}: quartiles {q:?} are not ordered shares in 0..=1",
                        lane.name
                    ));
                }
            }
            if let Some((label, v)) = lane.marks.iter().find(|(_, v)| !in_range(*v)) {
                return Err(format!(
                    "lane {:?}: mark {label:?} at {v} is not a share in 0..=1",
                    lane.name
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
        if let Some(sub) = &self.subtitle {
            c.text(
                sub,
                w / 2.0,
                MARGIN + TITLE * 1.4,
                Text::new(SUBTITLE, MUTED, Anchor::CenterTop),
            )?;
        }
        let x0 = MARGIN + LEFT;
        let x1 = w - MARGIN - 20.0;
        let x_of = |share: f64| x0 + (x1 - x0) * share;
        let top = HEADER;
        let bottom = (top + LANE * self.lanes.len() as f64).min(h - FOOTER);

        // Grid and axis, shared by every lane.
        for tick in 0..=10 {
            let x = x_of(f64::from(tick) / 10.0);
            c.polyline(&[(x, top), (x, bottom)], GRID, 1.0)?;
            c.text(
                &format!("{:.1}", f64::from(tick) / 10.0),
                x,
                bottom + 8.0,
                Text::new(SMALL, INK, Anchor::CenterTop),
            )?;
        }
        c.polyline(&[(x0, bottom), (x1, bottom)], INK, 1.2)?;
        c.text(
            "subject share = share(x) / (share(x) + share(y)) among the k nearest images",
            (x0 + x1) / 2.0,
            bottom + 34.0,
            Text::new(LABEL, INK, Anchor::CenterTop).bold(),
        )?;
        c.text(
            "0: among y's images",
            x0,
            bottom + 60.0,
            Text::new(SMALL, MUTED, Anchor::LeftTop),
        )?;
        let right = "1: among x's images";
        c.text(
            right,
            x1 - measure(right, SMALL, false).0,
            bottom + 60.0,
            Text::new(SMALL, MUTED, Anchor::LeftTop),
        )?;
        if self.lanes.is_empty() {
            c.text(
                "no soft texts",
                (x0 + x1) / 2.0,
                (top + bottom) / 2.0,
                Text::new(LABEL, MUTED, Anchor::Center),
            )?;
        }

        for (index, lane) in self.lanes.iter().enumerate() {
            let lane_top = top + LANE * index as f64;
            if lane_top + LANE > h - FOOTER + 1.0 {
                break;
            }
            self.draw_lane(c, lane, index, lane_top, x0, x1)?;
        }
        Ok(())
    }
}

impl SubjectShareFigure<'_> {
    fn draw_lane<DB: DrawingBackend>(
        &self,
        c: &Canvas<DB>,
        lane: &ShareLane,
        index: usize,
        lane_top: f64,
        x0: f64,
        x1: f64,
    ) -> DrawResult<DB> {
        let x_of = |share: f64| x0 + (x1 - x0) * share;
        let base = lane_top + BAR_TOP + BARS;
        let defined: usize = lane.histogram.iter().sum();
        c.text(
            &lane.name,
            MARGIN,
            lane_top + 24.0,
            Text::new(LABEL, INK, Anchor::LeftTop).bold(),
        )?;
        let mut lines = vec![format!("{defined} defined")];
        if lane.undefined > 0 {
            lines.push(format!("{} undefined", lane.undefined));
        }
        if let Some([_, median, _]) = lane.quartiles {
            lines.push(format!("median {median:.2}"));
        }
        for (i, line) in lines.iter().enumerate() {
            c.text(
                line,
                MARGIN,
                lane_top + 50.0 + 20.0 * i as f64,
                Text::new(SMALL, MUTED, Anchor::LeftTop),
            )?;
        }

        // Bars on the lane's own scale: the tallest bin fills the lane.
        let tallest = lane.histogram.iter().copied().max().unwrap_or(0).max(1) as f64;
        let bins = lane.histogram.len() as f64;
        let color = series_color(index);
        for (bin, &count) in lane.histogram.iter().enumerate() {
            let (left, right) = (x_of(bin as f64 / bins), x_of((bin + 1) as f64 / bins));
            if count > 0 {
                let y = base - BARS * count as f64 / tallest;
                c.rect(left + 1.0, y, right - 1.0, base, color.filled())?;
                c.text(
                    &count.to_string(),
                    (left + right) / 2.0,
                    y - 2.0,
                    Text::new(SMALL, INK, Anchor::CenterBottom),
                )?;
            }
        }
        c.polyline(&[(x0, base), (x1, base)], FRAME, 1.0)?;

        // The quartile range as a bar, the median as a tick.
        let spread = base + 14.0;
        if let Some([q1, median, q3]) = lane.quartiles {
            c.rect(
                x_of(q1),
                spread - 3.0,
                x_of(q3).max(x_of(q1) + 1.0),
                spread + 3.0,
                INK.filled(),
            )?;
            c.rect(
                x_of(median) - 1.5,
                spread - 8.0,
                x_of(median) + 1.5,
                spread + 8.0,
                INK.filled(),
            )?;
        }

        // Marked texts: a triangle under the axis pointing up at the share, and the label.
        for (i, (label, share)) in lane.marks.iter().take(3).enumerate() {
            let x = x_of(*share);
            let y = spread + 14.0;
            c.polygon(
                &[(x, y), (x - 6.0, y + 10.0), (x + 6.0, y + 10.0)],
                INK.filled(),
            )?;
            let text = format!("{label} ({share:.2})");
            let width = measure(&text, SMALL, false).0;
            // Labels stay on the canvas: near the right end they grow leftwards.
            let left = (x - width / 2.0).clamp(x0 - 40.0, x1 + 20.0 - width);
            c.text(
                &text,
                left,
                y + 12.0 + 17.0 * i as f64,
                Text::new(SMALL, INK, Anchor::LeftTop),
            )?;
        }
        Ok(())
    }
}
