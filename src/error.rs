//! The crate's error at the library boundary: one variant per module error, each rendered
//! as that module's one-line message (naming the file, field or position at fault) so the
//! CLI can print it as is, with the module error's `source()` chain kept.
//!
//! Each module has its own error type and never uses this one, so the dependencies point
//! one way: modules -> [`Error`].

pub use crate::artifact::{FileError, IoContext};
pub use crate::diagnostics::{toml_error_line, without_backtrace};

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every error of the library: one variant per module, each keeping that module's error (and
/// its `source()`) so callers can match on it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read or written.
    #[error(transparent)]
    Io(#[from] FileError),
    /// CLIP: checkpoint files, tokenizer, preprocessing, the encoders, the device.
    #[error(transparent)]
    Clip(#[from] crate::clip::ClipError),
    /// Datasets: a missing, truncated or malformed folder, archive or record.
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    /// Embedding files and batched encoding.
    #[error(transparent)]
    Embeddings(#[from] crate::embeddings::EmbeddingsError),
    /// The auxiliary classifier: parameters, checkpoints, training and prediction.
    #[error(transparent)]
    Classifier(#[from] crate::auxiliary::classifier::ClassifierError),
    /// Fetching checkpoints and datasets (the `download` feature).
    #[cfg(feature = "download")]
    #[error(transparent)]
    Download(#[from] crate::download::DownloadError),
    /// Prompt configurations and rendered texts.
    #[error(transparent)]
    Prompt(#[from] crate::prompts::PromptError),
    /// The zero-shot engine: parameters, text plans, embeddings that do not fit.
    #[error(transparent)]
    ZeroShot(#[from] crate::zeroshot::ZeroShotError),
    /// Auxiliary prediction files: format, ids, classes, scores.
    #[error(transparent)]
    Aux(#[from] crate::auxiliary::predictions::AuxError),
    /// The linear probe: parameters, features, the solver.
    #[error(transparent)]
    Probe(#[from] crate::probe::ProbeError),
    /// UMAP parameters and inputs.
    #[error(transparent)]
    Umap(#[from] crate::umap::UmapError),
    /// Fine-tuning the text side. Boxed: its error is the largest of the modules' and would
    /// make every `Result` of the crate carry its size.
    #[error(transparent)]
    Finetune(Box<crate::finetune::FinetuneError>),
    /// The subject-share analysis: its parameters and inputs.
    #[error(transparent)]
    SubjectShare(#[from] crate::subject_share::SubjectShareError),
    /// Figures and report documents.
    #[error(transparent)]
    Report(#[from] crate::report::ReportError),
    /// The study layer: its configuration, inputs and output folders.
    #[error(transparent)]
    Study(#[from] crate::study::StudyError),
}

impl From<crate::finetune::FinetuneError> for Error {
    fn from(e: crate::finetune::FinetuneError) -> Self {
        Self::Finetune(Box::new(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn module_errors_keep_their_message_and_io_source() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("config.json");
        let clip = crate::clip::ClipConfig::from_file(&missing).unwrap_err();
        let message = clip.to_string();
        assert!(
            message.starts_with(&missing.display().to_string()),
            "{message}"
        );
        let error = Error::from(clip);
        assert!(matches!(error, Error::Clip(crate::clip::ClipError::Io(_))));
        assert_eq!(error.to_string(), message);
        // Transparent wrapping forwards to the file error's source: the io::Error.
        let source = error.source().expect("a source");
        assert!(
            source.downcast_ref::<std::io::Error>().is_some(),
            "{source:?}"
        );
    }

    #[test]
    fn wrapped_module_errors_render_as_before() {
        let data: crate::data::DataError = "x".parse::<crate::data::DataSpec>().unwrap_err();
        let embeddings = crate::embeddings::EmbeddingsError::from(data);
        let text = embeddings.to_string();
        assert!(
            text.starts_with("--data \"x\": expected KIND:PATH"),
            "{text}"
        );
        assert_eq!(Error::from(embeddings).to_string(), text);
    }
}
