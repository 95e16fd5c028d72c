//! The error type of fine-tuning. Messages name the parameter, file or tensor at fault.

use std::path::PathBuf;

use thiserror::Error;

use super::params::FinetuneParam;
use crate::artifact::FileError;

/// Everything that can go wrong preparing, running or reading a fine-tuning run.
#[derive(Debug, Error)]
pub enum FinetuneError {
    /// A setting outside its range, e.g. `parameter rank: must be at least 1, is 0`.
    #[error("parameter {}: {message}", param.name())]
    InvalidParam {
        /// The setting; [`FinetuneParam::name`] is its field name.
        param: FinetuneParam,
        /// What is wrong.
        message: String,
    },
    /// Inputs that do not fit together (another checkpoint, too few images for `shots`, ...).
    #[error("{0}")]
    Input(String),
    /// A fine-tuned folder or checkpoint that cannot be used as asked.
    #[error("{}: {message}", path.display())]
    Artifact {
        /// The file or folder.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// Reading or writing a file failed.
    #[error(transparent)]
    File(#[from] FileError),
    /// The CLIP checkpoint could not be read.
    #[error(transparent)]
    Clip(#[from] crate::clip::ClipError),
    /// An embedding file could not be read.
    #[error(transparent)]
    Embeddings(#[from] crate::embeddings::EmbeddingsError),
    /// Auxiliary predictions that do not fit the images.
    #[error("auxiliary predictions: {0}")]
    Aux(#[from] crate::auxiliary::predictions::AuxError),
    /// A prompt could not be rendered.
    #[error("prompts: {0}")]
    Prompt(#[from] crate::prompts::PromptError),
    /// The training curve could not be drawn.
    #[error(transparent)]
    Figure(#[from] crate::report::ReportError),
    /// A tensor operation failed (a bug or an exhausted device, not a user error).
    #[error("tensor error: {0}")]
    Tensor(candle_core::Error),
}

impl From<candle_core::Error> for FinetuneError {
    fn from(e: candle_core::Error) -> Self {
        Self::Tensor(crate::diagnostics::without_backtrace(e))
    }
}

impl FinetuneError {
    pub(crate) fn param(param: FinetuneParam, message: impl Into<String>) -> Self {
        Self::InvalidParam {
            param,
            message: message.into(),
        }
    }

    pub(crate) fn artifact(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self::Artifact {
            path: path.into(),
            message: message.into(),
        }
    }
}
