//! The joint layout figure (the paper's Figures 3 and 4): image features as small
//! translucent circles coloured by true class, text features as large outlined stars, a
//! class legend outside the plot, and labels for chosen texts.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use plotters::prelude::*;

use super::canvas::{measure, render, Anchor, Canvas, DrawResult, Figure, Text};
use super::error::Result;
use super::labels::{place_labels, LabelRequest, Rect};
use super::palette::{class_color, mix, FRAME, INK, MUTED};

/// One image feature in 2-D (e.g. UMAP) coordinates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScatterImage {
    /// Horizontal coordinate (layout units; the axes are fitted to the data).
    pub x: f32,
    /// Vertical coordinate.
    pub y: f32,
    /// True class, an index into [`JointFigure::classes`].
    pub class: usize,
}

/// One text feature in the same coordinates as the images.
#[derive(Clone, Debug, PartialEq)]
pub struct ScatterText {
    /// Horizontal coordinate, in the images' units.
    pub x: f32,
    /// Vertical coordinate.
    pub y: f32,
    /// Fill colour: the prompt's class, or the subject class x of "x look like a y".
    pub class: usize,
    /// For soft texts, the object class y, drawn as the star's centre.
    pub object_class: Option<usize>,
    /// The prompt text, e.g. `a photo of a cat.` or `dog look like a cat`.
    pub text: String,
    /// Write `text` next to the star. Texts repeated verbatim are labelled once.
    pub label: bool,
}

/// Everything the joint figure shows. `Default` gives an empty 1600x1200 figure.
#[derive(Clone, Debug)]
pub struct JointFigure<'a> {
    /// Heading drawn across the top of the figure.
    pub title: String,
    /// Smaller second line under the title (e.g. model and split); `None` leaves no gap.
    pub subtitle: Option<String>,
    /// Class names in label order, shown in the legend; every `class` index must name one.
    pub classes: &'a [String],
    /// The image points, drawn first (underneath the texts).
    pub images: &'a [ScatterImage],
    /// The text stars, drawn on top of the images.
    pub texts: &'a [ScatterText],
    /// Canvas size in pixels (SVG user units; the PNG has the same size).
    pub size: (u32, u32),
}

impl Default for JointFigure<'_> {
    fn default() -> Self {
        JointFigure {
            title: String::new(),
            subtitle: None,
            classes: &[],
            images: &[],
            texts: &[],
            size: (1600, 1200),
        }
    }
}

/// Set `label` on the texts whose string is in `wanted` (exact match), clear it elsewhere.
pub fn mark_labels(texts: &mut [ScatterText], wanted: &[String]) {
    let wanted: HashSet<&str> = wanted.iter().map(String::as_str).collect();
    for t in texts {
        t.label = wanted.contains(t.text.as_str());
    }
}

/// Draw the figure to `STEM.png` and `STEM.svg` (written atomically); returns both paths.
/// Non-finite coordinates and class indices without a name are errors.
pub fn draw_joint(fig: &JointFigure, out_stem: &Path) -> Result<Vec<PathBuf>> {
    render(fig, out_stem)
}

const MARGIN: f64 = 36.0;
const TITLE: f64 = 30.0;
const SUBTITLE: f64 = 19.0;
const LEGEND: f64 = 18.0;
const LABEL: f64 = 16.0;
const STAR_R: f64 = 18.0;
const STAR_INNER: f64 = 0.45;
const SOFT_KEY: &str = "soft text \u{201c}x look like a y\u{201d}";

struct Layout {
    plot: Rect,
    legend: Rect,
    /// Data-to-layout mapping per axis: layout = offset + scale * data (y flipped).
    scale: (f64, f64),
    offset: (f64, f64),
}

impl JointFigure<'_> {
    fn layout(&self) -> Layout {
        let (w, h) = (self.size.0 as f64, self.size.1 as f64);
        let header =
            MARGIN + TITLE * 1.25 + self.subtitle.as_ref().map_or(0.0, |_| SUBTITLE * 1.5) + 16.0;
        let longest = self
            .classes
            .iter()
            .map(|c| measure(c, LEGEND, false).0)
            .fold(measure(SOFT_KEY, LEGEND * 0.85, false).0, f64::max);
        // Not clamp(): on small canvases the cap can fall below the floor.
        let legend_w = (longest + 70.0).max(220.0).min(w * 0.3);
        let legend = Rect {
            x0: w - MARGIN - legend_w,
            y0: header,
            x1: w - MARGIN,
            y1: h - MARGIN - 24.0,
        };
        let plot = Rect {
            x0: MARGIN + 28.0,
            y0: header,
            x1: legend.x0 - 24.0,
            y1: h - MARGIN - 24.0,
        };

        let pts = self
            .images
            .iter()
            .map(|p| (p.x as f64, p.y as f64))
            .chain(self.texts.iter().map(|t| (t.x as f64, t.y as f64)));
        let (mut lo, mut hi) = ((f64::MAX, f64::MAX), (f64::MIN, f64::MIN));
        for (x, y) in pts {
            lo = (lo.0.min(x), lo.1.min(y));
            hi = (hi.0.max(x), hi.1.max(y));
        }
        if lo.0 > hi.0 {
            (lo, hi) = ((0.0, 0.0), (1.0, 1.0));
        }
        // Fill the frame, but distort the aspect by at most MAX_STRETCH: UMAP axes have no
        // units, yet a strongly squashed layout misleads about which clusters are close.
        const MAX_STRETCH: f64 = 1.4;
        let pad = 2.0 * (STAR_R + 10.0);
        let sx = (plot.x1 - plot.x0 - pad).max(1.0) / (hi.0 - lo.0).max(1e-6);
        let sy = (plot.y1 - plot.y0 - pad).max(1.0) / (hi.1 - lo.1).max(1e-6);
        let scale = (sx.min(sy * MAX_STRETCH), sy.min(sx * MAX_STRETCH));
        let cx = (plot.x0 + plot.x1) / 2.0 - scale.0 * (lo.0 + hi.0) / 2.0;
        let cy = (plot.y0 + plot.y1) / 2.0 + scale.1 * (lo.1 + hi.1) / 2.0;
        Layout {
            plot,
            legend,
            scale,
            offset: (cx, cy),
        }
    }
}

impl Layout {
    fn map(&self, x: f32, y: f32) -> (f64, f64) {
        (
            self.offset.0 + self.scale.0 * x as f64,
            self.offset.1 - self.scale.1 * y as f64,
        )
    }
}

impl Figure for JointFigure<'_> {
    fn size(&self) -> (u32, u32) {
        self.size
    }

    fn validate(&self) -> std::result::Result<(), String> {
        let n = self.classes.len();
        for (i, p) in self.images.iter().enumerate() {
            if !(p.x.is_finite() && p.y.is_finite()) {
                return Err(format!(
                    "image {i} has non-finite coordinates ({}, {})",
                    p.x, p.y
                ));
            }
            if p.class >= n {
                return Err(format!(
                    "image {i} has class {} but {n} classes are named",
                    p.class
                ));
            }
        }
        for (i, t) in self.texts.iter().enumerate() {
            if !(t.x.is_finite() && t.y.is_finite()) {
                return Err(format!(
                    "text {i} ({:?}) has non-finite coordinates ({}, {})",
                    t.text, t.x, t.y
                ));
            }
            for c in std::iter::once(t.class).chain(t.object_class) {
                if c >= n {
                    return Err(format!(
                        "text {i} ({:?}) has class {c} but {n} classes are named",
                        t.text
                    ));
                }
            }
        }
        Ok(())
    }

    fn draw<DB: DrawingBackend>(&self, c: &Canvas<DB>) -> DrawResult<DB> {
        let lay = self.layout();
        c.fill(WHITE)?;
        self.draw_header(c)?;

        let plot = lay.plot;
        c.rect(plot.x0, plot.y0, plot.x1, plot.y1, FRAME.stroke_width(1))?;
        let axis = Text::new(15.0, MUTED, Anchor::CenterTop);
        c.text("UMAP 1", (plot.x0 + plot.x1) / 2.0, plot.y1 + 8.0, axis)?;
        c.text(
            "UMAP 2",
            plot.x0 - 8.0,
            (plot.y0 + plot.y1) / 2.0,
            Text {
                anchor: Anchor::CenterBottom,
                ..axis
            }
            .vertical(),
        )?;

        if self.images.is_empty() && self.texts.is_empty() {
            let t = Text::new(LEGEND, MUTED, Anchor::Center);
            c.text(
                "no points to draw",
                (plot.x0 + plot.x1) / 2.0,
                (plot.y0 + plot.y1) / 2.0,
                t,
            )?;
        }
        self.draw_images(c, &lay)?;
        for t in self.texts {
            let (x, y) = lay.map(t.x, t.y);
            star(
                c,
                x,
                y,
                STAR_R,
                class_color(t.class),
                t.object_class.map(class_color),
            )?;
        }
        self.draw_labels(c, &lay)?;
        self.draw_legend(c, &lay)
    }
}

impl JointFigure<'_> {
    fn draw_header<DB: DrawingBackend>(&self, c: &Canvas<DB>) -> DrawResult<DB> {
        let w = self.size.0 as f64;
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
                MARGIN + TITLE * 1.35,
                Text::new(SUBTITLE, MUTED, Anchor::CenterTop),
            )?;
        }
        Ok(())
    }

    fn draw_images<DB: DrawingBackend>(&self, c: &Canvas<DB>, lay: &Layout) -> DrawResult<DB> {
        let n = self.images.len();
        // Dense plots need smaller, fainter dots or the clusters turn into solid blobs.
        let (r, alpha) = match n {
            0..=2_000 => (5.0, 0.6),
            2_001..=20_000 => (4.0, 0.45),
            _ => (3.0, 0.3),
        };
        // Input is usually grouped by class; drawing it in that order would paint the last
        // class over all the others where clusters overlap. A fixed stride permutation
        // interleaves classes and stays deterministic.
        let stride = [7919usize, 104_729, 1_299_709]
            .into_iter()
            .find(|p| n % p != 0)
            .unwrap_or(1);
        for k in 0..n {
            let p = &self.images[(k * stride) % n];
            let (x, y) = lay.map(p.x, p.y);
            c.circle(x, y, r, class_color(p.class).mix(alpha).filled())?;
        }
        Ok(())
    }

    fn draw_labels<DB: DrawingBackend>(&self, c: &Canvas<DB>, lay: &Layout) -> DrawResult<DB> {
        let mut seen = HashSet::new();
        let chosen: Vec<&ScatterText> = self
            .texts
            .iter()
            .filter(|t| t.label && !t.text.is_empty() && seen.insert(t.text.as_str()))
            .collect();
        if chosen.is_empty() {
            return Ok(());
        }
        const PAD: f64 = 5.0;
        let requests: Vec<LabelRequest> = chosen
            .iter()
            .map(|t| {
                let (w, h) = measure(&t.text, LABEL, false);
                LabelRequest {
                    anchor: lay.map(t.x, t.y),
                    clearance: STAR_R,
                    size: (w + 2.0 * PAD, h + 2.0 * PAD),
                }
            })
            .collect();
        let stars: Vec<Rect> = self
            .texts
            .iter()
            .map(|t| {
                let (x, y) = lay.map(t.x, t.y);
                Rect::around(x, y, STAR_R)
            })
            .collect();
        let grid = Density::new(self.images.iter().map(|p| lay.map(p.x, p.y)), lay.plot);
        let inner = Rect {
            x0: lay.plot.x0 + 4.0,
            y0: lay.plot.y0 + 4.0,
            x1: lay.plot.x1 - 4.0,
            y1: lay.plot.y1 - 4.0,
        };
        let placed = place_labels(&requests, inner, &stars, &|r| grid.cost(r));

        for ((t, req), r) in chosen.iter().zip(&requests).zip(&placed) {
            let (ax, ay) = req.anchor;
            let (nx, ny) = r.nearest(ax, ay);
            let dist = ((nx - ax).powi(2) + (ny - ay).powi(2)).sqrt();
            if dist > STAR_R + 6.0 {
                // Leader from the star's rim, so it never crosses the star itself.
                let k = STAR_R / dist;
                c.polyline(
                    &[(ax + (nx - ax) * k, ay + (ny - ay) * k), (nx, ny)],
                    MUTED,
                    1.2,
                )?;
            }
            let color = class_color(t.class);
            c.rect(r.x0, r.y0, r.x1, r.y1, WHITE.mix(0.88).filled())?;
            c.rect(
                r.x0,
                r.y0,
                r.x1,
                r.y1,
                mix(color, INK, 0.25).stroke_width(2),
            )?;
            c.text(
                &t.text,
                r.x0 + PAD,
                (r.y0 + r.y1) / 2.0,
                Text::new(LABEL, INK, Anchor::LeftCenter),
            )?;
        }
        Ok(())
    }

    fn draw_legend<DB: DrawingBackend>(&self, c: &Canvas<DB>, lay: &Layout) -> DrawResult<DB> {
        let l = lay.legend;
        let soft = self.texts.iter().any(|t| t.object_class.is_some());
        let markers_h = 40.0 + 34.0 * if soft { 3.6 } else { 2.0 } + 40.0;
        let n = self.classes.len().max(1) as f64;
        // Long class lists shrink to fit rather than run off the canvas.
        let row = ((l.y1 - l.y0 - markers_h - 50.0) / n).clamp(8.0, 30.0);
        let font = (row * 0.65).min(LEGEND);
        let x = l.x0 + 18.0;
        let mut y = l.y0 + 16.0;

        let used = 16.0 + 34.0 + row * n + 18.0 + markers_h;
        c.rect(
            l.x0,
            l.y0,
            l.x1,
            (l.y0 + used).min(l.y1),
            FRAME.stroke_width(1),
        )?;

        let heading = Text::new(LEGEND, INK, Anchor::LeftTop).bold();
        c.text("Classes", x, y, heading)?;
        y += 34.0;
        let entry = Text::new(font, INK, Anchor::LeftCenter);
        for (i, name) in self.classes.iter().enumerate() {
            let cy = y + row / 2.0;
            c.circle(x + 8.0, cy, (row * 0.3).min(8.0), class_color(i).filled())?;
            c.text(name, x + 26.0, cy, entry)?;
            y += row;
        }

        y += 18.0;
        c.text("Markers", x, y, heading)?;
        y += 40.0;
        let small = Text::new(LEGEND * 0.85, INK, Anchor::LeftCenter);
        let grey = RGBColor(0x8C, 0x8C, 0x8C);
        c.circle(x + 8.0, y, 5.0, grey.mix(0.6).filled())?;
        c.text("image feature", x + 26.0, y, small)?;
        y += 34.0;
        star(c, x + 8.0, y, 11.0, grey, None)?;
        c.text("text feature", x + 26.0, y, small)?;
        if soft {
            y += 34.0;
            star(c, x + 8.0, y, 11.0, class_color(0), Some(class_color(1)))?;
            c.text(SOFT_KEY, x + 26.0, y, small)?;
            y += 22.0;
            c.text(
                "fill: class x, centre: class y",
                x + 26.0,
                y,
                Text::new(LEGEND * 0.8, MUTED, Anchor::LeftCenter),
            )?;
        }
        y += 40.0;
        let counts = format!("{} images, {} texts", self.images.len(), self.texts.len());
        c.text(
            &counts,
            x,
            y,
            Text::new(LEGEND * 0.8, MUTED, Anchor::LeftCenter),
        )
    }
}

/// A five-pointed star with a dark outline; `centre` fills its inner pentagon.
fn star<DB: DrawingBackend>(
    c: &Canvas<DB>,
    x: f64,
    y: f64,
    r: f64,
    fill: RGBColor,
    centre: Option<RGBColor>,
) -> DrawResult<DB> {
    let pts: Vec<(f64, f64)> = (0..10)
        .map(|k| {
            let a = -std::f64::consts::FRAC_PI_2 + k as f64 * std::f64::consts::PI / 5.0;
            let rr = if k % 2 == 0 { r } else { r * STAR_INNER };
            (x + rr * a.cos(), y + rr * a.sin())
        })
        .collect();
    c.polygon(&pts, fill.filled())?;
    if let Some(inner) = centre {
        let penta: Vec<(f64, f64)> = pts.iter().skip(1).step_by(2).copied().collect();
        c.polygon(&penta, inner.filled())?;
    }
    let mut ring = pts;
    ring.push(ring[0]);
    c.polyline(&ring, INK, 1.6)
}

/// Image points binned on a coarse grid, so label placement can avoid hiding clusters.
struct Density {
    plot: Rect,
    cell: f64,
    cols: usize,
    counts: Vec<u32>,
}

impl Density {
    fn new(points: impl Iterator<Item = (f64, f64)>, plot: Rect) -> Self {
        let cell = 20.0;
        let cols = ((plot.x1 - plot.x0) / cell).ceil().max(1.0) as usize;
        let rows = ((plot.y1 - plot.y0) / cell).ceil().max(1.0) as usize;
        let mut counts = vec![0u32; cols * rows];
        for (x, y) in points {
            let cx = ((x - plot.x0) / cell).floor();
            let cy = ((y - plot.y0) / cell).floor();
            if cx >= 0.0 && cy >= 0.0 && (cx as usize) < cols && (cy as usize) < rows {
                counts[cy as usize * cols + cx as usize] += 1;
            }
        }
        Density {
            plot,
            cell,
            cols,
            counts,
        }
    }

    /// Roughly the number of points under `r`, damped so that a label over a dense cluster
    /// costs about as much as moving it a few steps further out.
    fn cost(&self, r: &Rect) -> f64 {
        let rows = self.counts.len() / self.cols;
        let c0 = ((r.x0 - self.plot.x0) / self.cell).floor().max(0.0) as usize;
        let r0 = ((r.y0 - self.plot.y0) / self.cell).floor().max(0.0) as usize;
        let c1 = (((r.x1 - self.plot.x0) / self.cell).ceil().max(0.0) as usize).min(self.cols);
        let r1 = (((r.y1 - self.plot.y0) / self.cell).ceil().max(0.0) as usize).min(rows);
        let mut covered = 0u32;
        for row in r0..r1 {
            for col in c0..c1 {
                covered += self.counts[row * self.cols + col];
            }
        }
        (covered as f64).sqrt() * 3.0
    }
}
