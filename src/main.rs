//! `softtext`: see `softtext --help`. The command line is a private module of this binary
//! (`src/cli/`); everything it runs is the `softtext` library.

mod cli;

use clap::error::ErrorKind;
use clap::Parser;

/// candle allocates a fresh buffer for every tensor op. glibc serves large ones with mmap
/// and unmaps them on free, so every op page-faults its output in again; a quarter of CPU
/// training time went to page faults. Keeping freed memory in the heap measured, on 2
/// cores: one epoch of the fast network on 256 images 4.0 -> 5.3 images/s (peak memory
/// 6.5 -> 7.7 GB), a warm ResNet50 training step at batch 32 1.3 -> 2.5 images/s (17 GB
/// peak either way).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn keep_freed_memory() {
    // SAFETY: mallopt only changes allocator settings, and runs before any other thread.
    unsafe {
        libc::mallopt(libc::M_MMAP_MAX, 0);
        libc::mallopt(libc::M_TRIM_THRESHOLD, libc::c_int::MAX);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn keep_freed_memory() {}

/// Rust ignores SIGPIPE, so after `softtext tokenize … | head` closes the pipe the next print
/// panics with a backtrace. Ending quietly, as other Unix tools do, is what a pipeline expects;
/// output files are unaffected because they are written to a temporary name and renamed.
#[cfg(unix)]
fn end_quietly_on_closed_pipe() {
    // SAFETY: restores the default disposition of one signal before any other thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[cfg(not(unix))]
fn end_quietly_on_closed_pipe() {}

fn main() {
    keep_freed_memory();
    end_quietly_on_closed_pipe();
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            e.exit()
        }
        Err(e) if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => e.exit(),
        Err(e) => {
            // clap's first line says what is wrong; its usage block is one `--help` away.
            let text = e.render().to_string();
            eprintln!(
                "error: {} (see softtext --help)",
                one_line_clap_error(&text)
            );
            std::process::exit(2);
        }
    };
    if let Err(line) = cli::run(cli) {
        eprintln!("error: {line}");
        std::process::exit(1);
    }
}

/// clap's first line says what is wrong. When it ends in a colon ("the following required
/// arguments were not provided:"), the indented lines after it are the arguments meant, so
/// they join it; the usage block after the blank line stays behind `--help`.
fn one_line_clap_error(rendered: &str) -> String {
    let mut lines = rendered.lines().skip_while(|l| l.trim().is_empty());
    let first = lines
        .next()
        .unwrap_or("invalid arguments")
        .trim_start_matches("error: ")
        .to_string();
    if !first.ends_with(':') {
        return first;
    }
    let listed: Vec<&str> = lines
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    format!("{first} {}", listed.join(", "))
}
