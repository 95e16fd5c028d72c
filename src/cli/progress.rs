//! The terminal's view of a run: progress bars and status lines on stderr, drawn only when
//! a person is watching (a terminal, and not `--quiet`). The library reports through
//! [`softtext::observe::Observer`]; this is the CLI's implementation, on indicatif.

use std::io::IsTerminal;
use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use softtext::observe::{Observer, Progress};

/// Status lines and progress bars for one command.
pub struct Terminal {
    /// `--quiet`: no status lines and no bars.
    quiet: bool,
    /// Bars are drawn (stderr is a terminal and not quiet).
    interactive: bool,
    /// Every bar draws beneath it and status lines print above it.
    multi: MultiProgress,
    /// The overall "stage k/N" bar of a multi-stage run, once one started.
    stages: Mutex<Option<ProgressBar>>,
}

impl Terminal {
    /// Status lines unless `quiet`; bars only on a terminal.
    pub fn new(quiet: bool) -> Self {
        let interactive = !quiet && std::io::stderr().is_terminal();
        let multi = MultiProgress::new();
        if !interactive {
            multi.set_draw_target(ProgressDrawTarget::hidden());
        }
        Self {
            quiet,
            interactive,
            multi,
            stages: Mutex::new(None),
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        if let Some(bar) = self.stages.lock().unwrap_or_else(|e| e.into_inner()).take() {
            bar.finish_and_clear();
        }
    }
}

struct Bar(ProgressBar);

impl Progress for Bar {
    fn advance(&self, units: u64) {
        self.0.inc(units);
    }

    fn message(&self, message: &str) {
        self.0.set_message(message.to_string());
    }

    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

impl Observer for Terminal {
    /// Status reports go to stderr (stdout stays clean for data) unless `--quiet`; unlike
    /// bars they are kept when stderr is a log file.
    fn status(&self, message: &str) {
        if self.quiet {
            return;
        }
        if self.interactive {
            let _ = self.multi.println(message);
        } else {
            eprintln!("{message}");
        }
    }

    fn stage(&self, index: usize, total: usize, name: &str) {
        if self.interactive {
            let mut stages = self.stages.lock().unwrap_or_else(|e| e.into_inner());
            let bar = stages.get_or_insert_with(|| {
                let bar = self.multi.add(ProgressBar::new(total as u64));
                bar.set_style(
                    ProgressStyle::with_template(
                        "{prefix:.bold} [{bar:20}] {pos}/{len} stages, {elapsed_precise} {msg}",
                    )
                    .expect("static template")
                    .progress_chars("=> "),
                );
                bar.set_prefix("softtext");
                bar.enable_steady_tick(std::time::Duration::from_millis(500));
                bar
            });
            bar.set_position(index.saturating_sub(1) as u64);
            bar.set_message(name.to_string());
        }
        self.status(&format!("[{index}/{total}] {name}"));
    }

    fn progress<'a>(&'a self, total: u64, unit: &str) -> Box<dyn Progress + 'a> {
        if !self.interactive {
            return Box::new(Bar(ProgressBar::hidden()));
        }
        let bar = self.multi.add(ProgressBar::new(total));
        bar.set_style(
            ProgressStyle::with_template(&format!(
                "{{spinner}} {{msg}} [{{bar:32}}] {{pos}}/{{len}} {unit} ({{per_sec}}, eta {{eta}})"
            ))
            .expect("static template")
            .progress_chars("=> "),
        );
        Box::new(Bar(bar))
    }
}
