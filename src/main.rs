//! `softtext`: see `softtext --help`.

use clap::error::ErrorKind;
use clap::Parser;

fn main() {
    let cli = match softtext::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            e.exit()
        }
        Err(e) if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => e.exit(),
        Err(e) => {
            // clap's first line says what is wrong; its usage block is one `--help` away.
            let text = e.render().to_string();
            let first = text
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("invalid arguments");
            let first = first.trim_start_matches("error: ");
            eprintln!("error: {first} (see softtext --help)");
            std::process::exit(2);
        }
    };
    if let Err(e) = softtext::cli::run(cli) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
