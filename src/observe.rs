//! How long-running library calls report what they are doing, without drawing anything
//! themselves.
//!
//! Every stage takes an `&dyn Observer`. The library only calls it; what happens with the
//! calls is the caller's choice. [`Silent`] ignores them (the default for library users), and
//! the `softtext` binary plugs in terminal progress bars (indicatif) and status lines, as the
//! `tokenizers` trainers leave their progress display to the caller.
//!
//! ```
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use softtext::observe::{Observer, Progress};
//!
//! /// Counts the units of work reported, e.g. to log throughput.
//! #[derive(Default)]
//! struct Counter(AtomicU64);
//!
//! struct CounterProgress<'a>(&'a AtomicU64);
//! impl Progress for CounterProgress<'_> {
//!     fn advance(&self, units: u64) {
//!         self.0.fetch_add(units, Ordering::Relaxed);
//!     }
//! }
//!
//! impl Observer for Counter {
//!     fn progress<'a>(&'a self, _total: u64, _unit: &str) -> Box<dyn Progress + 'a> {
//!         Box::new(CounterProgress(&self.0))
//!     }
//! }
//!
//! let counter = Counter::default();
//! let bar = counter.progress(10, "images");
//! bar.advance(4);
//! bar.advance(6);
//! bar.finish();
//! assert_eq!(counter.0.load(Ordering::Relaxed), 10);
//! ```

/// Receives a run's status reports and progress. Every method has a do-nothing default, so
/// an implementation overrides only what it shows.
pub trait Observer: Sync {
    /// A one-line report of something done or decided ("images.safetensors is up to date").
    fn status(&self, _message: &str) {}

    /// Stage `index` (1-based) of `total` named `name` starts (`Study::run`'s stages).
    fn stage(&self, _index: usize, _total: usize, _name: &str) {}

    /// A step of `total` units (`unit`: "images", "texts") starts; the returned handle
    /// counts units as they are done and is finished (or dropped) when the step ends.
    fn progress<'a>(&'a self, _total: u64, _unit: &str) -> Box<dyn Progress + 'a> {
        Box::new(NoProgress)
    }
}

/// The progress of one step, from [`Observer::progress`].
pub trait Progress: Send + Sync {
    /// `units` more are done.
    fn advance(&self, _units: u64) {}

    /// A short note on the current state, e.g. the running loss of a training epoch.
    fn message(&self, _message: &str) {}

    /// The step is over (the handle is dropped right after).
    fn finish(&self) {}
}

/// An observer that ignores everything: library calls stay quiet.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Observer for Silent {}

/// The progress handle that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silent_accepts_every_call() {
        let observer = Silent;
        observer.status("nothing to see");
        observer.stage(1, 2, "stage");
        let progress = observer.progress(3, "images");
        progress.advance(3);
        progress.message("done");
        progress.finish();
    }
}
