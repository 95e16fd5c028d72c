//! Errors of the study layer itself: its configuration, its inputs and its output folder.
//! Errors of the stages it calls keep their own types inside [`crate::Error`].

use std::path::PathBuf;

/// What can go wrong in the study layer. Every message is one line that names the file,
/// setting or flag at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StudyError {
    /// A setting that is present but wrong (a config key, a flag value, or settings that
    /// contradict each other); the message names it.
    #[error("{0}")]
    Config(String),
    /// An input that is present but does not fit the others (another checkpoint's
    /// embeddings, a prediction file for other images, a malformed output of an earlier
    /// stage); the message names the file.
    #[error("{0}")]
    Input(String),
    /// Something the user must provide is missing; the message says how to provide it.
    #[error("{0}")]
    Missing(String),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}
