//! Writers for the results table. Each returns the document as a `String`; writing it to a
//! file (atomically) is the caller's job.
//!
//! * [`to_markdown`]: a readable summary: accuracies and interval bounds as percentages with
//!   two decimals, p-values in short scientific form; no per-class detail.
//! * [`to_csv`]: one line per row, full precision (shortest round-trip floats), fractions in
//!   [0, 1], empty fields for absent values. Columns: [`CSV_COLUMNS`].
//! * [`to_json`]: the whole [`EvalReport`], pretty-printed, including per-class accuracies
//!   and confusion matrices; absent values are `null`.

use std::fmt::Write as _;

use crate::auxiliary::predictions::csv_field;
use crate::zeroshot::report::{EvalReport, ResultRow};

/// The CSV header.
pub const CSV_COLUMNS: [&str; 15] = [
    "prompt_set",
    "protocol",
    "k",
    "lambda",
    "accuracy",
    "correct",
    "n",
    "ci_low",
    "ci_high",
    "mcnemar_b",
    "mcnemar_c",
    "mcnemar_p",
    "paper",
    "reads_aux_order",
    "aux_source",
];

/// The Markdown table with a short header of the run's settings.
pub fn to_markdown(report: &EvalReport) -> String {
    let mut text: String = String::new();
    let _ = writeln!(
        text,
        "Zero-shot results: {} images, {} classes{}; auxiliary source `{}` (k = {}, top-1 {}, top-2 {}).",
        report.images,
        report.classes.len(),
        if report.dataset_is_cifar10 { " (CIFAR-10)" } else { "" },
        report.aux.source,
        report.aux.k,
        percent(report.aux.top1_accuracy),
        percent(report.aux.top2_accuracy),
    );
    let _ = writeln!(
        text,
        "Interval: {:.0} % bootstrap percentile, {} resamples, seed {}. McNemar b = `hard` right and row wrong, c = the reverse.",
        report.bootstrap.confidence * 100.0,
        report.bootstrap.resamples,
        report.bootstrap.seed
    );
    text.push('\n');
    let _ = writeln!(
        text,
        "| prompt set | protocol | accuracy % | {:.0}% CI | McNemar b / c | p vs hard | paper % |",
        report.bootstrap.confidence * 100.0
    );
    text.push_str("|---|---|---:|---:|---:|---:|---:|\n");
    for row in &report.rows {
        let interval: String = match (row.ci_low, row.ci_high) {
            (Some(low), Some(high)) => format!("{} – {}", percent(low), percent(high)),
            _ => "–".to_string(),
        };
        let _ = writeln!(
            text,
            "| {} | {} | {} | {} | {} / {} | {} | {} |",
            markdown_cell(&row.prompt_set),
            markdown_cell(&row.protocol_label()),
            percent(row.accuracy),
            interval,
            row.mcnemar.b,
            row.mcnemar.c,
            p_value(row.mcnemar.p_value),
            row.paper.map_or_else(|| "–".to_string(), percent),
        );
    }
    text
}

/// The CSV table (header + one line per row, LF line ends).
pub fn to_csv(report: &EvalReport) -> String {
    let mut text: String = CSV_COLUMNS.join(",");
    text.push('\n');
    for row in &report.rows {
        let fields: [String; 15] = csv_fields(row, &report.aux.source);
        let quoted: Vec<String> = fields.iter().map(|field| csv_field(field)).collect();
        text.push_str(&quoted.join(","));
        text.push('\n');
    }
    text
}

/// The full report as pretty JSON.
pub fn to_json(report: &EvalReport) -> String {
    let mut text: String = serde_json::to_string_pretty(report).expect("reports serialise");
    text.push('\n');
    text
}

fn csv_fields(row: &ResultRow, aux_source: &str) -> [String; 15] {
    let optional = |value: Option<f64>| value.map_or_else(String::new, |v| v.to_string());
    [
        row.prompt_set.clone(),
        row.protocol.clone(),
        row.k.map_or_else(String::new, |k| k.to_string()),
        optional(row.lambda),
        row.accuracy.to_string(),
        row.correct.to_string(),
        row.n.to_string(),
        optional(row.ci_low),
        optional(row.ci_high),
        row.mcnemar.b.to_string(),
        row.mcnemar.c.to_string(),
        row.mcnemar.p_value.to_string(),
        optional(row.paper),
        row.reads_aux_order.to_string(),
        aux_source.to_string(),
    ]
}

fn percent(fraction: f64) -> String {
    format!("{:.2}", fraction * 100.0)
}

/// A p-value as the tables print it: three decimals, or scientific notation below 0.001.
pub fn p_value(p: f64) -> String {
    if p >= 0.001 {
        format!("{p:.3}")
    } else {
        format!("{p:.1e}")
    }
}

/// Escapes the pipe, the one character that breaks a Markdown table cell.
fn markdown_cell(text: &str) -> String {
    text.replace('|', "\\|")
}
