//! `softtext reproduce`: the whole study from one TOML file ([`softtext::study::Study`]).

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use softtext::observe::Observer;
use softtext::study::Study;
use softtext::Result;

#[derive(Debug, Args)]
pub struct ReproduceArgs {
    /// Study configuration (see configs/demo.toml for every field, documented).
    #[arg(long, value_name = "FILE.toml")]
    pub config: PathBuf,
    /// Output folder [default: out/NAME, NAME from the config]; stages already computed there
    /// with the same inputs are reused.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Never touch the network (stop early if a checkpoint or dataset is missing).
    #[arg(long)]
    pub offline: bool,
}

pub fn run(args: ReproduceArgs, observer: &dyn Observer) -> Result<()> {
    let started = Instant::now();
    let study = Study::from_file(&args.config)?.offline(args.offline);
    let out = args.out.unwrap_or_else(|| study.config.default_out_dir());
    let outcome = study.run(&out, observer)?;
    observer.status(&format!(
        "done in {:.1}s: table {}, report {}",
        started.elapsed().as_secs_f64(),
        outcome.table_path().display(),
        outcome.report_path().display()
    ));
    Ok(())
}
