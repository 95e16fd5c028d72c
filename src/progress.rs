//! Progress bars that draw only when a person is watching: on a terminal, and not `--quiet`.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

static QUIET: AtomicBool = AtomicBool::new(false);

/// Silences every bar made after the call (the CLI's `--quiet`).
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

pub fn is_quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// Whether progress bars should be drawn.
pub fn interactive() -> bool {
    !QUIET.load(Ordering::Relaxed) && std::io::stderr().is_terminal()
}

/// A bar over `len` items labelled `what` ("images", "texts"), hidden when not interactive.
pub fn bar(len: u64, what: &str) -> ProgressBar {
    if !interactive() {
        return ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::hidden());
    }
    let bar = ProgressBar::new(len);
    let bar = attach(bar);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{{spinner}} {{msg}} [{{bar:32}}] {{pos}}/{{len}} {what} ({{per_sec}}, eta {{eta}})"
        ))
        .expect("static template")
        .progress_chars("=> "),
    );
    bar
}

/// While a [`Stages`] display is alive, new bars draw beneath it and status lines print
/// above it, so the terminal shows one overall bar plus the current stage's bar.
static MULTI: std::sync::Mutex<Option<MultiProgress>> = std::sync::Mutex::new(None);

fn multi() -> Option<MultiProgress> {
    MULTI.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Attaches `bar` to the overall display when one is alive.
fn attach(bar: ProgressBar) -> ProgressBar {
    match multi() {
        Some(m) => m.add(bar),
        None => bar,
    }
}

/// Prints a status line to stderr without tearing an active progress display.
pub fn println(message: &str) {
    match multi() {
        Some(m) if interactive() => {
            let _ = m.println(message);
        }
        _ => eprintln!("{message}"),
    }
}

/// The overall display of a multi-stage run: "stage k/N: name" with the elapsed time.
/// Hidden, like every bar, unless a person is watching.
pub struct Stages {
    bar: ProgressBar,
    total: usize,
    done: usize,
}

impl Stages {
    pub fn new(total: usize) -> Self {
        let bar = if interactive() {
            let m = MultiProgress::new();
            let bar = m.add(ProgressBar::new(total as u64));
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix:.bold} [{bar:20}] {pos}/{len} stages, {elapsed_precise} {msg}",
                )
                .expect("static template")
                .progress_chars("=> "),
            );
            bar.set_prefix("softtext");
            bar.enable_steady_tick(std::time::Duration::from_millis(500));
            *MULTI.lock().unwrap_or_else(|e| e.into_inner()) = Some(m);
            bar
        } else {
            ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::hidden())
        };
        Self {
            bar,
            total,
            done: 0,
        }
    }

    /// Marks the start of the next stage; returns its "[k/N]" label.
    pub fn start(&mut self, name: &str) -> String {
        self.done += 1;
        self.bar.set_position((self.done - 1) as u64);
        self.bar.set_message(name.to_string());
        format!("[{}/{}] {name}", self.done, self.total)
    }
}

impl Drop for Stages {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
        MULTI.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}
