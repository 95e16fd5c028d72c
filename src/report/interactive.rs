//! Interactive UMAP figures for `report.html`: one inline SVG per prompt set, drawn from the
//! coordinates `softtext umap` writes (`umap/umap-SET.csv`), with a tooltip on hover (an
//! image's id and class, a text and its class) and a legend whose entries hide and show a
//! class. Inline SVG, CSS and a short script only: no network, no library, works from
//! `file://`.
//!
//! Every text reaches the page through [`super::html::escape`] in element content or a
//! double-quoted attribute (`data-t`, the legend); the script never has data spliced into it,
//! it reads the attributes back with `getAttribute` and shows them with `textContent`.
//! Coordinates are mapped to a 1000-unit-wide view box and written with one decimal, so a
//! point costs about 60 bytes (10,000 images: roughly 0.6 MB of markup).

use std::fmt::Write;
use std::path::Path;

use super::error::{ReportError, Result};
use super::html::escape;
use super::palette::class_color;

/// What a point of a UMAP coordinates file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PointKind {
    /// An image feature (a circle); its id is the image id.
    Image,
    /// A text feature (a star); its id is the text itself.
    Text,
}

/// One row of `umap/umap-SET.csv`.
#[derive(Clone, Debug, PartialEq)]
pub struct UmapPoint {
    /// Image or text.
    pub kind: PointKind,
    /// The image id, or the text.
    pub id: String,
    /// Index into the class names (an image's true class, a text's subject).
    pub class: usize,
    /// UMAP coordinates.
    pub x: f64,
    /// UMAP coordinates.
    pub y: f64,
}

/// An interactive UMAP figure in `report.html`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InteractiveUmap {
    /// The prompt set, e.g. `hard` (shown, and kept in a `data-set` attribute).
    pub set: String,
    /// Plain text under the figure.
    pub caption: String,
    /// Class names; every point's `class` indexes into them.
    pub classes: Vec<String>,
    /// Points in file order (images are drawn first, then texts on top).
    pub points: Vec<UmapPoint>,
}

/// Reads a UMAP coordinates file (header `kind,id,class,x,y`, RFC 4180 quoting: fields may be
/// quoted, with `""` for a quote inside, and may then hold commas and line breaks). Every
/// class must be below `classes` and every coordinate finite.
pub fn read_umap_csv(path: &Path, classes: usize) -> Result<Vec<UmapPoint>> {
    let text = std::fs::read_to_string(path).map_err(|e| ReportError::io(path, e))?;
    parse_umap_csv(&text, classes).map_err(|msg| ReportError::input(path, msg))
}

pub(crate) fn parse_umap_csv(
    text: &str,
    classes: usize,
) -> std::result::Result<Vec<UmapPoint>, String> {
    let records = parse_csv(text)?;
    let Some((header, rows)) = records.split_first() else {
        return Err("empty file (expected the header kind,id,class,x,y)".into());
    };
    let column = |name: &str| {
        header.fields.iter().position(|h| h == name).ok_or_else(|| {
            format!("the header has no column {name:?} (expected kind,id,class,x,y)")
        })
    };
    let (kind, id, class, x, y) = (
        column("kind")?,
        column("id")?,
        column("class")?,
        column("x")?,
        column("y")?,
    );
    let mut points = Vec::with_capacity(rows.len());
    for rec in rows {
        let line = rec.line;
        if rec.fields.len() != header.fields.len() {
            return Err(format!(
                "line {line}: {} fields, the header has {}",
                rec.fields.len(),
                header.fields.len()
            ));
        }
        let f = &rec.fields;
        let kind = match f[kind].as_str() {
            "image" => PointKind::Image,
            "text" => PointKind::Text,
            other => {
                return Err(format!(
                    "line {line}: kind {other:?} is neither image nor text"
                ))
            }
        };
        let class = f[class]
            .parse::<usize>()
            .map_err(|_| format!("line {line}: class {:?} is not a class index", f[class]))?;
        if class >= classes {
            return Err(format!(
                "line {line}: class {class} but {classes} classes are named"
            ));
        }
        let coord = |i: usize, axis: &str| match f[i].parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => Err(format!(
                "line {line}: {axis} {:?} is not a finite number",
                f[i]
            )),
        };
        points.push(UmapPoint {
            kind,
            id: f[id].clone(),
            class,
            x: coord(x, "x")?,
            y: coord(y, "y")?,
        });
    }
    Ok(points)
}

struct Record {
    /// The line the record starts on (1-based).
    line: usize,
    fields: Vec<String>,
}

/// RFC 4180 records; `\n` or `\r\n` ends a record outside quotes; blank lines are skipped.
fn parse_csv(text: &str) -> std::result::Result<Vec<Record>, String> {
    let mut records = Vec::new();
    let mut fields = Vec::new();
    let mut field = String::new();
    // Whether the current field was opened by a quote, and whether that quote is still open.
    let (mut quoted, mut in_quotes) = (false, false);
    let (mut line, mut start) = (1usize, 1usize);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if in_quotes {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => in_quotes = false,
                _ => {
                    if c == '\n' {
                        line += 1;
                    }
                    field.push(c);
                }
            }
            continue;
        }
        match c {
            '"' if field.is_empty() && !quoted => (quoted, in_quotes) = (true, true),
            '"' => return Err(format!("line {line}: a quote inside an unquoted field")),
            ',' => {
                fields.push(std::mem::take(&mut field));
                quoted = false;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                fields.push(std::mem::take(&mut field));
                let blank = fields.len() == 1 && fields[0].is_empty() && !quoted;
                let done = std::mem::take(&mut fields);
                if !blank {
                    records.push(Record {
                        line: start,
                        fields: done,
                    });
                }
                quoted = false;
                line += 1;
                start = line;
            }
            _ if quoted => return Err(format!("line {line}: text after a field's closing quote")),
            _ => field.push(c),
        }
    }
    if in_quotes {
        return Err(format!("line {start}: a quoted field is never closed"));
    }
    if quoted || !field.is_empty() || !fields.is_empty() {
        fields.push(field);
        records.push(Record {
            line: start,
            fields,
        });
    }
    Ok(records)
}

/// View box width and height; the SVG scales down to the page width.
const VIEW: (f64, f64) = (1000.0, 640.0);
const MARGIN: f64 = 14.0;
/// A five-pointed star of outer radius 6.5 around (0, 0), used once per text.
const STAR: &str = "M0 -6.5L1.65 -2.27L6.18 -2.01L2.66 0.87L3.82 5.26L0 2.8L-3.82 5.26\
                    L-2.66 0.87L-6.18 -2.01L-1.65 -2.27Z";

/// CSS for the interactive figures (added to the page only when it has one).
pub(crate) const STYLE: &str = "
.iu-wrap { position: relative; }
.iu svg { display: block; background: #fff; }
.iu g.off { display: none; }
.iu circle:hover, .iu use:hover { stroke: #000; stroke-width: 1.5; }
.iu-tip { position: absolute; pointer-events: none; background: rgba(255,255,255,0.96);
          border: 1px solid #999; border-radius: 3px; padding: 0.25em 0.5em; font-size: 0.85em;
          max-width: 28em; box-shadow: 0 1px 4px rgba(0,0,0,0.2); overflow-wrap: anywhere; }
.iu-tc { color: #555; }
.iu-legend { display: flex; flex-wrap: wrap; gap: 0.2em 0.4em; margin: 0.5em 0; font-size: 0.85em; }
.iu-legend button { font: inherit; background: #fff; border: 1px solid #ccc; border-radius: 3px;
                    padding: 0.05em 0.45em; cursor: pointer; }
.iu-legend button i { display: inline-block; width: 0.8em; height: 0.8em; margin-right: 0.3em;
                      border-radius: 50%; vertical-align: -0.05em; }
.iu-legend button.off { opacity: 0.45; text-decoration: line-through; background: #f0f0f0; }
.iu-legend button.off i { background: transparent !important; border: 1px solid #888; }
.iu-legend small { color: #777; }
";

/// The script behind every `figure.iu` (added once, at the end of the page). It takes no data
/// from the page except through the DOM: `data-t` (a point's id or text), the `data-k` of its
/// group (its class) and the legend's class names.
pub(crate) const SCRIPT: &str = r#"(function () {
  'use strict';
  document.querySelectorAll('figure.iu').forEach(function (fig) {
    var svg = fig.querySelector('svg');
    var wrap = fig.querySelector('.iu-wrap');
    var tip = fig.querySelector('.iu-tip');
    var line1 = tip.querySelector('.iu-tt');
    var line2 = tip.querySelector('.iu-tc');
    var entries = fig.querySelectorAll('.iu-legend button[data-k]');
    var names = {};
    var groups = {};
    entries.forEach(function (b) {
      names[b.getAttribute('data-k')] = b.querySelector('span').textContent;
    });
    svg.querySelectorAll('g[data-k]').forEach(function (g) {
      var k = g.getAttribute('data-k');
      (groups[k] = groups[k] || []).push(g);
    });
    function hideTip() { tip.hidden = true; }
    svg.addEventListener('mousemove', function (e) {
      var el = e.target.closest('[data-t]');
      if (!el) { hideTip(); return; }
      var name = names[el.parentNode.getAttribute('data-k')];
      line1.textContent = el.getAttribute('data-t');
      line2.textContent = (el.localName === 'use' ? 'text \u00b7 class ' : 'image \u00b7 class ') + name;
      tip.hidden = false;
      var box = wrap.getBoundingClientRect();
      var x = e.clientX - box.left + 14;
      var y = e.clientY - box.top + 14;
      if (x + tip.offsetWidth > box.width) { x = Math.max(0, e.clientX - box.left - 14 - tip.offsetWidth); }
      if (y + tip.offsetHeight > box.height) { y = Math.max(0, e.clientY - box.top - 14 - tip.offsetHeight); }
      tip.style.left = x + 'px';
      tip.style.top = y + 'px';
    });
    svg.addEventListener('mouseleave', hideTip);
    function show(b, on) {
      b.classList.toggle('off', !on);
      b.setAttribute('aria-pressed', on ? 'true' : 'false');
      (groups[b.getAttribute('data-k')] || []).forEach(function (g) { g.classList.toggle('off', !on); });
    }
    entries.forEach(function (b) {
      b.addEventListener('click', function () {
        show(b, b.getAttribute('aria-pressed') !== 'true');
        hideTip();
      });
    });
    fig.querySelectorAll('.iu-legend button[data-all]').forEach(function (all) {
      all.addEventListener('click', function () {
        var on = all.getAttribute('data-all') === 'show';
        entries.forEach(function (b) { show(b, on); });
        hideTip();
      });
    });
  });
})();"#;

fn hex(class: usize) -> String {
    let c = class_color(class);
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

/// Data-to-view-box mapping: fill the box, distorting the aspect by at most 1.4 (as the
/// static figure does), y pointing up.
struct Mapping {
    scale: (f64, f64),
    offset: (f64, f64),
}

impl Mapping {
    fn new(points: &[UmapPoint]) -> Self {
        let (mut lo, mut hi) = ((f64::MAX, f64::MAX), (f64::MIN, f64::MIN));
        for p in points {
            lo = (lo.0.min(p.x), lo.1.min(p.y));
            hi = (hi.0.max(p.x), hi.1.max(p.y));
        }
        if lo.0 > hi.0 {
            (lo, hi) = ((0.0, 0.0), (1.0, 1.0));
        }
        const MAX_STRETCH: f64 = 1.4;
        let sx = (VIEW.0 - 2.0 * MARGIN) / (hi.0 - lo.0).max(1e-9);
        let sy = (VIEW.1 - 2.0 * MARGIN) / (hi.1 - lo.1).max(1e-9);
        let scale = (sx.min(sy * MAX_STRETCH), sy.min(sx * MAX_STRETCH));
        let offset = (
            VIEW.0 / 2.0 - scale.0 * (lo.0 + hi.0) / 2.0,
            VIEW.1 / 2.0 + scale.1 * (lo.1 + hi.1) / 2.0,
        );
        Self { scale, offset }
    }

    /// View-box coordinates with one decimal (a tenth of a unit: far below a screen pixel).
    fn map(&self, p: &UmapPoint) -> (String, String) {
        let f = |v: f64| {
            let s = format!("{v:.1}");
            // "-0.0" and "12.0" cost bytes and say nothing.
            let s = if s == "-0.0" { "0.0".to_string() } else { s };
            s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
        };
        (
            f(self.offset.0 + self.scale.0 * p.x),
            f(self.offset.1 - self.scale.1 * p.y),
        )
    }
}

/// The `<figure>` of one interactive UMAP, numbered `number`. `fig.points` must index
/// `fig.classes` (as [`read_umap_csv`] guarantees).
pub(crate) fn render(fig: &InteractiveUmap, number: usize) -> String {
    let mut h = String::new();
    let map = Mapping::new(&fig.points);
    let n = fig.classes.len();
    let mut images = vec![Vec::new(); n];
    let mut texts = vec![Vec::new(); n];
    for p in fig.points.iter().filter(|p| p.class < n) {
        match p.kind {
            PointKind::Image => images[p.class].push(p),
            PointKind::Text => texts[p.class].push(p),
        }
    }
    let image_count = fig
        .points
        .iter()
        .filter(|p| p.kind == PointKind::Image)
        .count();
    let r = if image_count > 2000 { "2.5" } else { "3.5" };
    let set = escape(&fig.set);
    let star_id = format!("iu{number}s");
    let _ = write!(
        h,
        "<figure class=\"iu\" data-set=\"{set}\">\n<div class=\"iu-wrap\">\n\
         <svg viewBox=\"0 0 {w} {hh}\" width=\"{w}\" height=\"{hh}\" role=\"img\" \
         aria-label=\"Interactive UMAP of the images and the {set} texts\">\n\
         <defs><path id=\"{star_id}\" d=\"{STAR}\"/></defs>\n\
         <rect x=\"0.5\" y=\"0.5\" width=\"{w1}\" height=\"{h1}\" fill=\"none\" stroke=\"#ddd\"/>\n",
        w = VIEW.0,
        hh = VIEW.1,
        w1 = VIEW.0 - 1.0,
        h1 = VIEW.1 - 1.0,
    );
    for (k, pts) in images.iter().enumerate().filter(|(_, p)| !p.is_empty()) {
        let _ = write!(
            h,
            "<g data-k=\"{k}\" fill=\"{}\" fill-opacity=\"0.75\">",
            hex(k)
        );
        for p in pts {
            let (x, y) = map.map(p);
            let _ = write!(
                h,
                "<circle cx=\"{x}\" cy=\"{y}\" r=\"{r}\" data-t=\"{}\"/>",
                escape(&p.id)
            );
        }
        h.push_str("</g>\n");
    }
    for (k, pts) in texts.iter().enumerate().filter(|(_, p)| !p.is_empty()) {
        let _ = write!(
            h,
            "<g data-k=\"{k}\" fill=\"{}\" stroke=\"#222\" stroke-width=\"0.8\">",
            hex(k)
        );
        for p in pts {
            let (x, y) = map.map(p);
            let _ = write!(
                h,
                "<use href=\"#{star_id}\" x=\"{x}\" y=\"{y}\" data-t=\"{}\"/>",
                escape(&p.id)
            );
        }
        h.push_str("</g>\n");
    }
    h.push_str(
        "</svg>\n<div class=\"iu-tip\" role=\"tooltip\" hidden><div class=\"iu-tt\"></div>\
         <div class=\"iu-tc\"></div></div>\n</div>\n<div class=\"iu-legend\">",
    );
    for (k, name) in fig.classes.iter().enumerate() {
        let _ = write!(
            h,
            "<button type=\"button\" data-k=\"{k}\" aria-pressed=\"true\" \
             title=\"hide or show this class\"><i style=\"background:{}\"></i><span>{}</span> \
             <small>{}</small></button>",
            hex(k),
            escape(name),
            images[k].len()
        );
    }
    h.push_str(
        "<button type=\"button\" data-all=\"show\">show all</button>\
         <button type=\"button\" data-all=\"hide\">hide all</button></div>\n",
    );
    let _ = writeln!(
        h,
        "<figcaption><strong>Figure {number}.</strong> {} ({image_count} images as circles, \
         {} texts as stars; hover a point for its id or text, click a class to hide or show \
         it)</figcaption>\n</figure>",
        escape(&fig.caption),
        fig.points.len() - image_count
    );
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(kind: PointKind, id: &str, class: usize, x: f64, y: f64) -> UmapPoint {
        UmapPoint {
            kind,
            id: id.into(),
            class,
            x,
            y,
        }
    }

    /// Three classes (one named with markup), four images, two texts (one with `<&"`).
    pub(crate) fn tiny() -> InteractiveUmap {
        InteractiveUmap {
            set: "hard".into(),
            caption: "UMAP <tiny>".into(),
            classes: vec!["cat".into(), "dog & <wolf>".into(), "bird".into()],
            points: vec![
                point(PointKind::Image, "test/cat/1.png", 0, 0.0, 0.0),
                point(PointKind::Image, "test/dog/2.png", 1, 1.0, 2.0),
                point(PointKind::Image, "test/dog/\"3\".png", 1, -1.5, 0.25),
                point(PointKind::Image, "test/bird/4.png", 2, 3.0, -1.0),
                point(PointKind::Text, "a photo of a cat.", 0, 0.1, 0.2),
                point(PointKind::Text, "a <b> & \"c\" 'd'", 1, 1.1, 1.9),
            ],
        }
    }

    #[test]
    fn markup_has_one_element_per_point_and_one_legend_entry_per_class() {
        let h = render(&tiny(), 7);
        assert_eq!(h.matches("<circle ").count(), 4, "{h}");
        assert_eq!(h.matches("<use ").count(), 2, "{h}");
        assert_eq!(
            h.matches("<button type=\"button\" data-k=").count(),
            3,
            "{h}"
        );
        for k in 0..3 {
            assert!(h.contains(&format!("<button type=\"button\" data-k=\"{k}\"")));
        }
        // Class 2 has an image but no text: one image group, no text group.
        assert_eq!(h.matches("<g data-k=\"2\"").count(), 1);
        assert_eq!(h.matches("<g data-k=\"1\"").count(), 2);
        assert!(h.contains("<strong>Figure 7.</strong> UMAP &lt;tiny&gt; (4 images"));
        assert!(h.contains("data-set=\"hard\""));
        assert!(h.contains("<use href=\"#iu7s\""), "star ids are per figure");
        // Legend counts images per class.
        assert!(h.contains("<span>dog &amp; &lt;wolf&gt;</span> <small>2</small>"));
    }

    #[test]
    fn texts_ids_and_class_names_are_escaped() {
        let h = render(&tiny(), 1);
        assert!(
            h.contains("data-t=\"a &lt;b&gt; &amp; &quot;c&quot; &#39;d&#39;\""),
            "{h}"
        );
        assert!(h.contains("data-t=\"test/dog/&quot;3&quot;.png\""));
        assert!(!h.contains("<b>") && !h.contains("<wolf>") && !h.contains("\"c\""));
        // Nothing but markup we wrote opens a tag: every '<' starts a known element.
        for tag in h.split('<').skip(1) {
            let name: String = tag
                .trim_start_matches('/')
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            assert!(
                [
                    "figure",
                    "div",
                    "svg",
                    "defs",
                    "path",
                    "rect",
                    "g",
                    "circle",
                    "use",
                    "button",
                    "i",
                    "span",
                    "small",
                    "figcaption",
                    "strong"
                ]
                .contains(&name.as_str()),
                "unexpected tag {name:?} in {h}"
            );
        }
    }

    #[test]
    fn rendering_is_deterministic_and_coordinates_are_short() {
        let a = render(&tiny(), 1);
        assert_eq!(a, render(&tiny(), 1));
        // Every coordinate inside the view box, at most one decimal.
        for attr in ["cx=\"", "cy=\"", " x=\"", " y=\""] {
            for rest in a.split(attr).skip(1) {
                let v = &rest[..rest.find('"').unwrap()];
                let f: f64 = v.parse().unwrap();
                assert!((0.0..=1000.0).contains(&f), "{attr}{v}");
                assert!(v.split('.').nth(1).is_none_or(|d| d.len() == 1), "{v}");
            }
        }
        // y points up: the highest image (y = 2) has the smallest cy.
        let cy = |id: &str| -> f64 {
            let at = a.find(&format!("data-t=\"{id}\"")).unwrap();
            let before = &a[..at];
            let c = before.rfind("cy=\"").unwrap() + 4;
            before[c..c + before[c..].find('"').unwrap()]
                .parse()
                .unwrap()
        };
        assert!(cy("test/dog/2.png") < cy("test/cat/1.png"));
        assert!(cy("test/bird/4.png") > cy("test/cat/1.png"));
    }

    #[test]
    fn csv_reads_what_umap_writes() {
        use crate::auxiliary::predictions::csv_field;
        let texts = [
            "plain",
            "with, comma",
            "with \"quotes\"",
            "line\nbreak",
            "<&\"'>",
            "",
        ];
        let mut csv = String::from("kind,id,class,x,y\n");
        for (i, t) in texts.iter().enumerate() {
            csv.push_str(&format!("text,{},{},{},{}\n", csv_field(t), i % 2, i, -0.5));
        }
        csv.push_str("image,img/1.png,1,1e-3,-2.5\r\n");
        let points = parse_umap_csv(&csv, 2).unwrap();
        assert_eq!(points.len(), texts.len() + 1);
        for (p, t) in points.iter().zip(texts) {
            assert_eq!((p.kind, p.id.as_str()), (PointKind::Text, t));
        }
        let last = points.last().unwrap();
        assert_eq!(last, &point(PointKind::Image, "img/1.png", 1, 0.001, -2.5));
        // Columns are found by name, and a file without a trailing newline is fine.
        let points = parse_umap_csv("x,y,class,id,kind\n1,2,0,\"a,b\",image", 1).unwrap();
        assert_eq!(points, [point(PointKind::Image, "a,b", 0, 1.0, 2.0)]);
    }

    #[test]
    fn bad_csv_is_an_error_naming_the_line() {
        let head = "kind,id,class,x,y\n";
        for (body, classes, want) in [
            (
                "image,a,3,0,0\n",
                3,
                "line 2: class 3 but 3 classes are named",
            ),
            (
                "image,a,x,0,0\n",
                3,
                "line 2: class \"x\" is not a class index",
            ),
            (
                "image,a,0,NaN,0\n",
                3,
                "line 2: x \"NaN\" is not a finite number",
            ),
            (
                "image,a,0,0,inf\n",
                3,
                "line 2: y \"inf\" is not a finite number",
            ),
            (
                "star,a,0,0,0\n",
                3,
                "line 2: kind \"star\" is neither image nor text",
            ),
            ("image,a,0,0\n", 3, "line 2: 4 fields, the header has 5"),
            (
                "text,\"a\nb,0,0,0\n",
                3,
                "line 2: a quoted field is never closed",
            ),
            (
                "text,a\"b,0,0,0\n",
                3,
                "line 2: a quote inside an unquoted field",
            ),
            (
                "text,\"a\"b,0,0,0\n",
                3,
                "line 2: text after a field's closing quote",
            ),
            ("text,\"a\nb\",0,0,0\nimage,a,0,0\n", 3, "line 4: 4 fields"),
        ] {
            let err = parse_umap_csv(&format!("{head}{body}"), classes).unwrap_err();
            assert!(err.contains(want), "{body:?}: {err}");
        }
        assert!(parse_umap_csv("", 1).unwrap_err().contains("empty file"));
        assert!(parse_umap_csv("kind,id,x,y\n", 1)
            .unwrap_err()
            .contains("no column \"class\""));
    }
}
