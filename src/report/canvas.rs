//! Drawing once, writing twice: each figure is drawn in layout units (1 unit = 1 SVG pixel)
//! through [`Canvas`], which scales to the backend. The PNG is drawn at [`SUPERSAMPLE`]x and
//! box-filtered down, because plotters' bitmap backend does not anti-alias shapes.

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontDesc, FontStyle, FontTransform};

use super::atomic::write_atomic;
use super::error::{ReportError, Result};
use super::fonts;

const SUPERSAMPLE: u32 = 2;

pub(crate) type DrawResult<DB> =
    std::result::Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// A figure that can be drawn on any plotters backend.
pub(crate) trait Figure {
    /// Canvas size in layout units.
    fn size(&self) -> (u32, u32);
    /// Reject input that cannot be drawn; the message is prefixed with the output file.
    fn validate(&self) -> std::result::Result<(), String>;
    fn draw<DB: DrawingBackend>(&self, c: &Canvas<DB>) -> DrawResult<DB>;
}

/// `STEM.png` and `STEM.svg`; the extension is appended, so dots in the stem survive.
pub(crate) fn output_paths(stem: &Path) -> (PathBuf, PathBuf) {
    let with = |ext: &str| {
        let mut s = stem.as_os_str().to_owned();
        s.push(ext);
        PathBuf::from(s)
    };
    (with(".png"), with(".svg"))
}

/// Validate, draw and atomically write `STEM.png` and `STEM.svg`; returns both paths.
pub(crate) fn render(fig: &impl Figure, stem: &Path) -> Result<Vec<PathBuf>> {
    let (png_path, svg_path) = output_paths(stem);
    fonts::ensure_registered()?;
    fig.validate()
        .map_err(|m| ReportError::input(&png_path, m))?;
    let (w, h) = fig.size();
    if w < 200 || h < 200 || w > 8000 || h > 8000 {
        return Err(ReportError::input(
            &png_path,
            format!("figure size {w}x{h} is outside 200..=8000 px"),
        ));
    }

    let png = render_png(fig, &png_path)?;
    let svg = render_svg(fig, &svg_path)?;
    write_atomic(&png_path, &png)?;
    write_atomic(&svg_path, svg.as_bytes())?;
    Ok(vec![png_path, svg_path])
}

fn render_png(fig: &impl Figure, path: &Path) -> Result<Vec<u8>> {
    let (w, h) = fig.size();
    let (bw, bh) = (w * SUPERSAMPLE, h * SUPERSAMPLE);
    let mut big = vec![255u8; (bw * bh * 3) as usize];
    {
        let backend = BitMapBackend::with_buffer(&mut big, (bw, bh));
        let area = backend.into_drawing_area();
        let canvas = Canvas::new(&area, SUPERSAMPLE as f64, true);
        fig.draw(&canvas).map_err(|e| draw_error(path, e))?;
        area.present().map_err(|e| draw_error(path, e))?;
    }
    let small = downsample(&big, bw as usize, bh as usize, SUPERSAMPLE as usize);
    let mut bytes = Vec::new();
    let encoder = image::codecs::png::PngEncoder::new_with_quality(
        &mut bytes,
        image::codecs::png::CompressionType::Default,
        image::codecs::png::FilterType::Adaptive,
    );
    image::ImageEncoder::write_image(encoder, &small, w, h, image::ExtendedColorType::Rgb8)
        .map_err(|source| ReportError::Encode {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(bytes)
}

fn render_svg(fig: &impl Figure, path: &Path) -> Result<String> {
    let mut svg = String::new();
    {
        let backend = SVGBackend::with_string(&mut svg, fig.size());
        let area = backend.into_drawing_area();
        let canvas = Canvas::new(&area, 1.0, false);
        fig.draw(&canvas).map_err(|e| draw_error(path, e))?;
        area.present().map_err(|e| draw_error(path, e))?;
    }
    Ok(svg)
}

fn draw_error<E: std::error::Error + Send + Sync>(
    path: &Path,
    e: DrawingAreaErrorKind<E>,
) -> ReportError {
    ReportError::Draw {
        path: path.to_path_buf(),
        message: e.to_string().replace('\n', " "),
    }
}

/// Average `f`x`f` blocks of an RGB buffer.
fn downsample(src: &[u8], w: usize, h: usize, f: usize) -> Vec<u8> {
    let (ow, oh) = (w / f, h / f);
    let n = (f * f) as u32;
    let mut out = vec![0u8; ow * oh * 3];
    for oy in 0..oh {
        for ox in 0..ow {
            for ch in 0..3 {
                let mut sum = 0u32;
                for dy in 0..f {
                    let row = (oy * f + dy) * w;
                    for dx in 0..f {
                        sum += src[(row + ox * f + dx) * 3 + ch] as u32;
                    }
                }
                out[(oy * ow + ox) * 3 + ch] = ((sum + n / 2) / n) as u8;
            }
        }
    }
    out
}

/// Width and height of `text` in layout units. Measured at a fixed size independent of the
/// backend scale so PNG and SVG get the same layout decisions.
pub(crate) fn measure(text: &str, size: f64, bold: bool) -> (f64, f64) {
    const REF: f64 = 100.0;
    match font(REF, bold).box_size(text) {
        Ok((w, h)) => (w as f64 * size / REF, h as f64 * size / REF),
        // Only reachable if the font is unregistered; a rough estimate keeps layout sane.
        Err(_) => (0.6 * size * text.chars().count() as f64, size / 1.24),
    }
}

fn font(size: f64, bold: bool) -> FontDesc<'static> {
    let style = if bold {
        FontStyle::Bold
    } else {
        FontStyle::Normal
    };
    FontDesc::new(FontFamily::Name(fonts::FAMILY), size, style)
}

/// Where a text's anchor point sits on the text box.
#[derive(Clone, Copy)]
pub(crate) enum Anchor {
    LeftTop,
    LeftCenter,
    CenterTop,
    Center,
    CenterBottom,
    RightCenter,
}

impl Anchor {
    fn pos(self) -> Pos {
        let (h, v) = match self {
            Anchor::LeftTop => (HPos::Left, VPos::Top),
            Anchor::LeftCenter => (HPos::Left, VPos::Center),
            Anchor::CenterTop => (HPos::Center, VPos::Top),
            Anchor::Center => (HPos::Center, VPos::Center),
            Anchor::CenterBottom => (HPos::Center, VPos::Bottom),
            Anchor::RightCenter => (HPos::Right, VPos::Center),
        };
        Pos::new(h, v)
    }
}

/// Text appearance in layout units.
#[derive(Clone, Copy)]
pub(crate) struct Text {
    pub size: f64,
    pub bold: bool,
    pub color: RGBColor,
    pub anchor: Anchor,
    /// Rotated a quarter turn counter-clockwise (reads bottom to top).
    pub vertical: bool,
}

impl Text {
    pub fn new(size: f64, color: RGBColor, anchor: Anchor) -> Self {
        Text {
            size,
            bold: false,
            color,
            anchor,
            vertical: false,
        }
    }
    pub fn bold(mut self) -> Self {
        self.bold = true;
        self
    }
    pub fn vertical(mut self) -> Self {
        self.vertical = true;
        self
    }
}

/// A drawing area plus the factor from layout units to backend pixels.
pub(crate) struct Canvas<'a, DB: DrawingBackend> {
    area: &'a DrawingArea<DB, Shift>,
    s: f64,
    /// plotters places and sizes text differently on the bitmap (ab_glyph) and SVG
    /// backends; [`Canvas::text`] evens this out.
    bitmap: bool,
}

impl<'a, DB: DrawingBackend> Canvas<'a, DB> {
    fn new(area: &'a DrawingArea<DB, Shift>, s: f64, bitmap: bool) -> Self {
        Canvas { area, s, bitmap }
    }

    fn p(&self, x: f64, y: f64) -> (i32, i32) {
        ((x * self.s).round() as i32, (y * self.s).round() as i32)
    }

    fn px(&self, v: f64) -> u32 {
        (v * self.s).round().max(1.0) as u32
    }

    pub fn fill(&self, color: RGBColor) -> DrawResult<DB> {
        self.area.fill(&color)
    }

    /// Draw `text` with the same em size and, near enough, the same placement on both
    /// backends. ab_glyph scales a font so ascent + descent = size, while plotters' SVG
    /// writes font-size = size / 1.24 (DejaVu: ascent + descent = 1.164 em); and the bitmap
    /// backend puts the baseline about 0.07-0.15 size higher than the SVG `dy` rules do.
    pub fn text(&self, text: &str, x: f64, y: f64, t: Text) -> DrawResult<DB> {
        let (size, nudge) = if self.bitmap {
            let k = match t.anchor.pos().v_pos {
                VPos::Top => 0.153,
                VPos::Center => 0.135,
                VPos::Bottom => 0.074,
            };
            (t.size, k * t.size)
        } else {
            (t.size * 1.24 / 1.164, 0.0)
        };
        // A quarter turn counter-clockwise maps the text's "down" to the canvas' +x.
        let (x, y) = if t.vertical {
            (x + nudge, y)
        } else {
            (x, y + nudge)
        };
        let mut style = font(size * self.s, t.bold)
            .color(&t.color)
            .pos(t.anchor.pos());
        if t.vertical {
            style = style.transform(FontTransform::Rotate270);
        }
        self.area.draw_text(text, &style, self.p(x, y))
    }

    pub fn rect(&self, x0: f64, y0: f64, x1: f64, y1: f64, style: ShapeStyle) -> DrawResult<DB> {
        let style = self.scale_style(style);
        self.area
            .draw(&Rectangle::new([self.p(x0, y0), self.p(x1, y1)], style))
    }

    pub fn circle(&self, x: f64, y: f64, r: f64, style: ShapeStyle) -> DrawResult<DB> {
        let style = self.scale_style(style);
        self.area
            .draw(&Circle::new(self.p(x, y), self.px(r), style))
    }

    pub fn polygon(&self, pts: &[(f64, f64)], style: ShapeStyle) -> DrawResult<DB> {
        let pts: Vec<_> = pts.iter().map(|&(x, y)| self.p(x, y)).collect();
        self.area.draw(&Polygon::new(pts, style))
    }

    pub fn polyline(&self, pts: &[(f64, f64)], color: RGBColor, width: f64) -> DrawResult<DB> {
        let pts: Vec<_> = pts.iter().map(|&(x, y)| self.p(x, y)).collect();
        self.area
            .draw(&PathElement::new(pts, color.stroke_width(self.px(width))))
    }

    fn scale_style(&self, style: ShapeStyle) -> ShapeStyle {
        ShapeStyle {
            stroke_width: if style.filled {
                style.stroke_width
            } else {
                self.px(style.stroke_width as f64)
            },
            ..style
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downsample_averages_blocks() {
        // 2x2 RGB: black, white / white, black -> mid grey.
        let src = [0, 0, 0, 255, 255, 255, 255, 255, 255, 0, 0, 0];
        assert_eq!(downsample(&src, 2, 2, 2), vec![128, 128, 128]);
    }

    #[test]
    fn stems_keep_their_dots() {
        let (png, svg) = output_paths(Path::new("out/joint.v1"));
        assert_eq!(png, Path::new("out/joint.v1.png"));
        assert_eq!(svg, Path::new("out/joint.v1.svg"));
    }
}
