use std::path::{Path, PathBuf};

use crate::artifact::FileError;

/// What can go wrong finding, reading or running a CLIP checkpoint. Every variant renders
/// as one line naming the file or input at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClipError {
    /// A file could not be read or written.
    #[error(transparent)]
    Io(#[from] FileError),
    /// A checkpoint file that cannot be used as a CLIP model.
    #[error("{}: {message}", path.display())]
    Checkpoint {
        /// The file at fault.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// Something the user must provide (a checkpoint, a GPU); the message says how.
    #[error("{0}")]
    Missing(String),
    /// Input that is present but wrong (a text, an image buffer, a `--device` value); the
    /// message names it.
    #[error("{0}")]
    Invalid(String),
    /// A tensor operation failed; a bug or an unsupported configuration.
    #[error("tensor error: {0}")]
    Tensor(candle_core::Error),
}

impl ClipError {
    /// A [`ClipError::Checkpoint`] naming `path`.
    pub(crate) fn checkpoint(path: impl AsRef<Path>, message: impl Into<String>) -> Self {
        Self::Checkpoint {
            path: path.as_ref().to_path_buf(),
            message: message.into(),
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid(message.into())
    }
}

impl From<candle_core::Error> for ClipError {
    fn from(e: candle_core::Error) -> Self {
        Self::Tensor(crate::diagnostics::without_backtrace(e))
    }
}
