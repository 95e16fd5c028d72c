use std::path::{Path, PathBuf};

use crate::artifact::FileError;
use crate::auxiliary::predictions::AuxError;
use crate::data::DataError;

use super::train::TrainParam;

/// What can go wrong training the auxiliary classifier, reading its checkpoints or
/// predicting with it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClassifierError {
    /// A file could not be read or written.
    #[error(transparent)]
    Io(#[from] FileError),
    /// A training parameter is out of range: [`TrainParam::name`] names the field, the
    /// message says what it must be.
    #[error("{message}")]
    InvalidParam {
        /// The field at fault.
        param: TrainParam,
        /// What is wrong and what the value must be.
        message: String,
    },
    /// A checkpoint that cannot be used (or resumed) as asked; the message says why.
    #[error("{}: {message}", path.display())]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// Why it cannot be used.
        message: String,
    },
    /// Something the user must provide first (a checkpoint to resume).
    #[error("{0}")]
    Missing(String),
    /// Input that is present but wrong (data, arguments, a diverging run); the message names
    /// it.
    #[error("{0}")]
    Invalid(String),
    /// The training or evaluation images could not be read.
    #[error(transparent)]
    Data(#[from] DataError),
    /// The predictions could not be assembled.
    #[error(transparent)]
    Predictions(#[from] AuxError),
    /// The caller's per-epoch callback ([`super::TrainControl::after_epoch`]) failed.
    #[error(transparent)]
    AfterEpoch(Box<dyn std::error::Error + Send + Sync>),
    /// A tensor operation failed; a bug or an unsupported configuration.
    #[error("tensor error: {0}")]
    Tensor(candle_core::Error),
}

impl ClassifierError {
    /// A [`ClassifierError::Checkpoint`] naming `path`.
    pub(crate) fn checkpoint(path: impl AsRef<Path>, message: impl Into<String>) -> Self {
        Self::Checkpoint {
            path: path.as_ref().to_path_buf(),
            message: message.into(),
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid(message.into())
    }

    /// The parameter at fault, for a [`ClassifierError::InvalidParam`].
    pub fn param(&self) -> Option<TrainParam> {
        match self {
            Self::InvalidParam { param, .. } => Some(*param),
            _ => None,
        }
    }
}

impl From<candle_core::Error> for ClassifierError {
    fn from(e: candle_core::Error) -> Self {
        Self::Tensor(crate::diagnostics::without_backtrace(e))
    }
}
