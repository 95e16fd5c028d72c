//! `report.html`: one self-contained file (figures embedded, CSS inline, no external links),
//! so it can be mailed or archived and still show everything. The only script is the inline
//! one behind the interactive UMAP figures (`interactive.rs`), and a page without
//! such a figure has none.

use std::fmt::Write;

use super::document::{Block, FigureRef, Report};
use super::interactive;

/// Escape text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(ch),
        }
    }
    out
}

/// A figure ready to embed: either a `data:` URI for an `<img>` or inline SVG markup.
pub(crate) enum Embedded {
    DataUri(String),
    Svg(String),
}

const STYLE: &str = "
body { font-family: 'DejaVu Sans', 'Segoe UI', Helvetica, Arial, sans-serif; color: #222;
       max-width: 1180px; margin: 2em auto; padding: 0 1.5em; line-height: 1.5; }
h1 { font-size: 1.8em; margin-bottom: 0.3em; }
h2 { font-size: 1.3em; margin-top: 2em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
.warning { background: #fdecea; border: 2px solid #c62828; border-left-width: 10px;
           color: #7f1212; padding: 0.8em 1em; margin: 1em 0; font-size: 1.1em; }
.warning strong { text-transform: uppercase; letter-spacing: 0.04em; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border: 1px solid #d0d0d0; padding: 0.3em 0.7em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
tbody tr:nth-child(even) { background: #fafafa; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1.5em 0; }
figure img, figure svg { max-width: 100%; height: auto; border: 1px solid #e4e4e4; }
figcaption { color: #555; margin-top: 0.4em; }
pre { background: #f6f8fa; border: 1px solid #e1e4e8; padding: 0.8em 1em; overflow-x: auto;
      font-size: 0.9em; }
";

pub(crate) fn render(report: &Report, figures: &[Embedded]) -> String {
    let mut h = String::new();
    let title = escape(&report.title);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<style>{STYLE}{}</style>\n</head>\n<body>\n<h1>{title}</h1>\n",
        if report.interactive.is_empty() {
            ""
        } else {
            interactive::STYLE
        }
    );
    if let Some(w) = &report.warning {
        let _ = writeln!(
            h,
            "<div class=\"warning\" role=\"alert\"><strong>\u{26a0} Warning:</strong> {}</div>",
            escape(w)
        );
    }

    if !report.provenance.is_empty() {
        h.push_str("<h2>Provenance</h2>\n");
        h.push_str(&report.provenance_table().to_html());
    }
    if !report.table.is_empty() {
        h.push_str("<h2>Results</h2>\n");
        h.push_str(&report.table.to_html());
    }
    // `figures` holds one entry per figure in numbering order (`Report::all_figures`).
    let mut numbered = figures.iter().enumerate();
    if !report.figures.is_empty() {
        h.push_str("<h2>Figures</h2>\n");
        for (fig, (i, emb)) in report.figures.iter().zip(&mut numbered) {
            figure(&mut h, fig, i + 1, emb);
        }
    }
    for section in &report.sections {
        let _ = writeln!(h, "<h2>{}</h2>", escape(&section.heading));
        for block in &section.blocks {
            match block {
                Block::Text(text) => {
                    let _ = writeln!(h, "<p>{}</p>", escape(text));
                }
                Block::Table(table) => h.push_str(&table.to_html()),
                Block::Figure(fig) => {
                    if let Some((i, emb)) = numbered.next() {
                        figure(&mut h, fig, i + 1, emb);
                    }
                }
            }
        }
    }
    if !report.interactive.is_empty() {
        h.push_str("<h2>Interactive UMAP figures</h2>\n");
        for (i, fig) in report.interactive.iter().enumerate() {
            h.push_str(&interactive::render(fig, figures.len() + i + 1));
        }
    }
    if !report.config_text.trim().is_empty() {
        h.push_str("<h2>Configuration</h2>\n");
        let _ = writeln!(h, "<pre><code>{}</code></pre>", escape(&report.config_text));
    }
    if !report.timings.is_empty() {
        h.push_str("<h2>Stage timings</h2>\n");
        h.push_str(&report.timings_table().to_html());
    }
    if !report.interactive.is_empty() {
        let _ = writeln!(h, "<script>\n{}\n</script>", interactive::SCRIPT);
    }
    h.push_str("</body>\n</html>\n");
    h
}

/// A `<figure>` with its numbered caption.
fn figure(h: &mut String, fig: &FigureRef, number: usize, emb: &Embedded) {
    let caption = escape(&fig.caption);
    h.push_str("<figure>\n");
    match emb {
        Embedded::DataUri(uri) => {
            let _ = writeln!(h, "<img src=\"{uri}\" alt=\"{caption}\">");
        }
        Embedded::Svg(svg) => {
            h.push_str(svg);
            h.push('\n');
        }
    }
    let _ = writeln!(
        h,
        "<figcaption><strong>Figure {number}.</strong> {caption}</figcaption>\n</figure>"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_all_special_characters() {
        assert_eq!(
            escape(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
