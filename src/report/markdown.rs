//! `report.md`: GitHub-flavoured Markdown that links to the figures by relative path, so it
//! reads well both on a code host and in a local viewer.

use std::fmt::Write;
use std::path::Path;

use super::document::{Block, FigureRef, Report};

/// Escape text so it renders literally inline and inside a table cell: ASCII punctuation
/// with a Markdown meaning gets a backslash, and line breaks (which would end a table row)
/// become spaces.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '&' | '~' | '#' => {
                out.push('\\');
                out.push(ch);
            }
            '\r' => {}
            '\n' => out.push(' '),
            _ => out.push(ch),
        }
    }
    out
}

/// A relative link target: '/'-separated, with anything outside the URL-safe set
/// percent-encoded (spaces would otherwise end the link).
pub fn link_target(path: &Path) -> String {
    let mut out = String::new();
    for (i, part) in path.iter().enumerate() {
        if i > 0 {
            out.push('/');
        }
        for b in part.to_string_lossy().bytes() {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                out.push(b as char);
            } else {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// A fenced code block whose fence is longer than any backtick run in `body`.
fn code_block(lang: &str, body: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for ch in body.chars() {
        run = if ch == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat((longest + 1).max(3));
    let lang: String = lang.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    let nl = if body.ends_with('\n') { "" } else { "\n" };
    format!("{fence}{lang}\n{body}{nl}{fence}\n")
}

pub(crate) fn render(report: &Report, svg_siblings: &[Option<String>]) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# {}\n", escape(&report.title));
    if let Some(w) = &report.warning {
        let _ = writeln!(md, "> **\u{26a0} WARNING:** {}\n", escape(w));
    }

    if !report.provenance.is_empty() {
        md.push_str("## Provenance\n\n");
        md.push_str(&report.provenance_table().to_markdown());
        md.push('\n');
    }

    if !report.table.is_empty() {
        md.push_str("## Results\n\n");
        md.push_str(&report.table.to_markdown());
        md.push('\n');
    }

    // `svg_siblings` holds one entry per figure in numbering order (`Report::all_figures`).
    let mut numbered = svg_siblings.iter().enumerate();
    if !report.figures.is_empty() {
        md.push_str("## Figures\n\n");
        for (fig, (i, svg)) in report.figures.iter().zip(&mut numbered) {
            figure(&mut md, fig, i + 1, svg.as_deref());
        }
    }

    for section in &report.sections {
        let _ = writeln!(md, "## {}\n", escape(&section.heading));
        for block in &section.blocks {
            match block {
                Block::Text(text) => {
                    let _ = writeln!(md, "{}\n", escape(text));
                }
                Block::Table(table) => {
                    md.push_str(&table.to_markdown());
                    md.push('\n');
                }
                Block::Figure(fig) => {
                    if let Some((i, svg)) = numbered.next() {
                        figure(&mut md, fig, i + 1, svg.as_deref());
                    }
                }
            }
        }
    }

    if !report.config_text.trim().is_empty() {
        md.push_str("## Configuration\n\n");
        md.push_str(&code_block(&report.config_lang, &report.config_text));
        md.push('\n');
    }

    if !report.timings.is_empty() {
        md.push_str("## Stage timings\n\n");
        md.push_str(&report.timings_table().to_markdown());
        md.push('\n');
    }
    md
}

/// A figure's image, then its numbered caption with a link to its SVG sibling.
fn figure(md: &mut String, fig: &FigureRef, number: usize, svg: Option<&str>) {
    let target = link_target(&fig.path);
    let _ = writeln!(md, "![{}]({target})\n", escape(&fig.caption));
    let _ = write!(md, "*Figure {number}.* {}", escape(&fig.caption));
    if let Some(svg) = svg {
        let _ = write!(md, " ([SVG]({svg}))");
    }
    md.push_str("\n\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markdown_punctuation() {
        assert_eq!(escape("a|b *c* <d>\nx"), "a\\|b \\*c\\* \\<d\\> x");
    }

    #[test]
    fn fences_outgrow_backticks_in_the_body() {
        let block = code_block("toml", "a = \"```\"");
        assert!(block.starts_with("````toml\n"), "{block}");
        assert!(block.ends_with("\n````\n"), "{block}");
    }

    #[test]
    fn link_targets_are_encoded() {
        assert_eq!(
            link_target(Path::new("figures/joint hard.png")),
            "figures/joint%20hard.png"
        );
    }
}
