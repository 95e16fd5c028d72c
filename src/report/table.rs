//! A results table that renders to both Markdown and HTML, so the two reports can never
//! disagree. Cells are plain text; each renderer escapes them for its format.

use super::html::escape as html_escape;
use super::markdown::escape as md_escape;

/// Plain-text cells under plain-text headers. Rows may be ragged: missing cells render
/// empty, and extra cells get an empty header.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    /// Column headers, plain text.
    pub headers: Vec<String>,
    /// Rows of plain-text cells, in display order.
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these headers and no rows.
    pub fn new<S: Into<String>>(headers: impl IntoIterator<Item = S>) -> Self {
        Table {
            headers: headers.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row; it may be shorter or longer than the header.
    pub fn push_row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) {
        self.rows.push(cells.into_iter().map(Into::into).collect());
    }

    /// True with neither headers nor rows; the report then leaves the table out.
    pub fn is_empty(&self) -> bool {
        self.headers.is_empty() && self.rows.is_empty()
    }

    fn columns(&self) -> usize {
        self.rows
            .iter()
            .map(Vec::len)
            .chain(std::iter::once(self.headers.len()))
            .max()
            .unwrap_or(0)
    }

    fn cell(row: &[String], j: usize) -> &str {
        row.get(j).map_or("", String::as_str)
    }

    /// Columns whose every non-empty cell is a number (optionally with %, ± or a unit-less
    /// suffix like "x") are right-aligned so digits line up.
    fn numeric(&self) -> Vec<bool> {
        (0..self.columns())
            .map(|j| {
                let mut any = false;
                let all = self.rows.iter().all(|r| {
                    let c = Self::cell(r, j).trim();
                    if c.is_empty() {
                        return true;
                    }
                    any = true;
                    let core = c.trim_end_matches(['%', 'x', 's']).trim();
                    core.parse::<f64>().is_ok()
                        || core.split('±').all(|p| p.trim().parse::<f64>().is_ok())
                });
                all && any
            })
            .collect()
    }

    /// A GitHub-flavoured Markdown pipe table (empty string for an empty table).
    pub fn to_markdown(&self) -> String {
        let n = self.columns();
        if n == 0 {
            return String::new();
        }
        let numeric = self.numeric();
        let line = |cells: &[String]| {
            let mut s = String::from("|");
            for j in 0..n {
                s.push(' ');
                s.push_str(&md_escape(Self::cell(cells, j)));
                s.push_str(" |");
            }
            s.push('\n');
            s
        };
        let mut out = line(&self.headers);
        out.push('|');
        for &num in &numeric {
            out.push_str(if num { " ---: |" } else { " --- |" });
        }
        out.push('\n');
        for row in &self.rows {
            out.push_str(&line(row));
        }
        out
    }

    /// An HTML `<table>` (empty string for an empty table).
    pub fn to_html(&self) -> String {
        let n = self.columns();
        if n == 0 {
            return String::new();
        }
        let numeric = self.numeric();
        let mut out = String::from("<table>\n<thead><tr>");
        for (j, &num) in numeric.iter().enumerate() {
            let class = if num { " class=\"num\"" } else { "" };
            out.push_str(&format!(
                "<th{class}>{}</th>",
                html_escape(Self::cell(&self.headers, j))
            ));
        }
        out.push_str("</tr></thead>\n<tbody>\n");
        for row in &self.rows {
            out.push_str("<tr>");
            for (j, &num) in numeric.iter().enumerate() {
                let class = if num { " class=\"num\"" } else { "" };
                out.push_str(&format!(
                    "<td{class}>{}</td>",
                    html_escape(Self::cell(row, j))
                ));
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</tbody>\n</table>\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Table {
        let mut t = Table::new(["prompt set", "accuracy (%)"]);
        t.push_row(["a | b", "88.3"]);
        t.push_row(["<script>&", "90.1%"]);
        t
    }

    #[test]
    fn markdown_escapes_pipes_and_aligns_numbers() {
        let md = sample().to_markdown();
        assert!(md.contains("a \\| b"), "{md}");
        assert!(md.contains("\\<script\\>\\&"), "{md}");
        assert!(md.contains("| --- | ---: |"), "{md}");
        // Every line has the same number of unescaped pipes.
        for line in md.lines() {
            assert_eq!(line.replace("\\|", "").matches('|').count(), 3, "{line}");
        }
    }

    #[test]
    fn html_escapes_cells() {
        let html = sample().to_html();
        assert!(html.contains("<td>&lt;script&gt;&amp;</td>"), "{html}");
        assert!(!html.contains("<script>"));
        assert!(html.contains("<td class=\"num\">90.1%</td>"));
    }

    #[test]
    fn ragged_and_empty_tables() {
        let mut t = Table::new(["a"]);
        t.push_row(["1", "2", "3"]);
        t.push_row(Vec::<String>::new());
        let md = t.to_markdown();
        assert_eq!(md.lines().count(), 4);
        assert!(md.lines().all(|l| l.matches('|').count() == 4), "{md}");
        assert_eq!(Table::default().to_markdown(), "");
        assert_eq!(Table::default().to_html(), "");
    }

    #[test]
    fn newlines_do_not_break_rows() {
        let mut t = Table::new(["x"]);
        t.push_row(["two\nlines"]);
        assert_eq!(t.to_markdown().lines().count(), 3);
    }
}
