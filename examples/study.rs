//! The whole study from Rust, as `softtext reproduce` runs it:
//!
//! ```text
//! cargo run --release --example study -- configs/demo.toml out/demo-example
//! ```
//!
//! writes the same `table.md` (byte for byte), report and figures as
//! `softtext reproduce --config configs/demo.toml --out out/demo-example`.

use softtext::observe::Observer;
use softtext::study::Study;

/// Status lines on stderr; no progress bars.
struct StatusLines;

impl Observer for StatusLines {
    fn status(&self, message: &str) {
        eprintln!("{message}");
    }

    fn stage(&self, index: usize, total: usize, name: &str) {
        eprintln!("[{index}/{total}] {name}");
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(config), Some(out)) = (args.next(), args.next()) else {
        return Err("usage: study CONFIG.toml OUT_DIR".into());
    };
    let outcome = Study::from_file(&config)?
        .offline(true)
        .run(out.as_ref(), &StatusLines)?;
    print!("{}", outcome.table);
    eprintln!("report: {}", outcome.report_path().display());
    Ok(())
}
