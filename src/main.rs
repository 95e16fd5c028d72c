//! `softtext`: see `softtext --help`.

use clap::Parser;

fn main() {
    let cli = softtext::cli::Cli::parse();
    if let Err(e) = softtext::cli::run(cli) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
