//! `softtext report`.

use std::path::PathBuf;

use clap::Args;
use softtext::observe::Observer;
use softtext::study::{report, ReportParams, ReportProtocol, StudyError};
use softtext::Result;

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Output folder of `softtext eval` (table.json, texts.json, run.json).
    #[arg(long, value_name = "DIR")]
    pub eval: PathBuf,
    /// Where report.md, report.html and figures/ go; default: the eval folder.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// The soft protocol whose per-class accuracies are charted beside `hard`: pair, all,
    /// vocab, or one row of the parameterised ones, e.g. blend-all(0.5), topk-mean(2).
    #[arg(long, default_value_t = ReportProtocol::default().label())]
    pub protocol: String,
    /// Extra stage timings to show, as NAME=SECONDS (repeatable; `reproduce` passes its own).
    #[arg(long, value_name = "NAME=SECONDS")]
    pub timing: Vec<String>,
    /// One line about the run, shown first in the report's provenance table (`reproduce`
    /// passes its config's `description`).
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,
}

pub fn run(args: ReportArgs, observer: &dyn Observer) -> Result<()> {
    let timings = args
        .timing
        .iter()
        .map(|t| {
            t.split_once('=')
                .and_then(|(n, s)| s.parse::<f64>().ok().map(|s| (n.to_string(), s)))
                .ok_or_else(|| StudyError::Config(format!("--timing {t:?}: expected NAME=SECONDS")))
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let params = ReportParams {
        eval: args.eval,
        out: args.out,
        protocol: ReportProtocol::parse_as(&args.protocol, "--protocol")?,
        timings,
        description: args.description,
    };
    report(&params, observer).map(|_| ())
}
