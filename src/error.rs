//! One error type for the library: every variant renders as a single line that names the
//! file, field or position at fault, so the CLI can print it as is.

use std::path::{Path, PathBuf};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Input that is present but wrong: the message names where (file, line, key, field).
    #[error("{0}")]
    Invalid(String),
    /// A checkpoint that cannot be used as a CLIP model.
    #[error("{}: {message}", path.display())]
    Checkpoint { path: PathBuf, message: String },
    /// Something the user must provide is missing; the message says how to provide it.
    #[error("{0}")]
    Missing(String),
    /// A tensor operation failed; this is a bug or an unsupported configuration.
    #[error("tensor error: {0}")]
    Tensor(candle_core::Error),
    /// The study layer: its configuration, inputs and output folders.
    #[error(transparent)]
    Study(#[from] crate::study::StudyError),
}

impl From<candle_core::Error> for Error {
    fn from(e: candle_core::Error) -> Self {
        Error::Tensor(without_backtrace(e))
    }
}

/// candle appends a multi-line backtrace to its errors when `RUST_BACKTRACE` is set; a user
/// needs the message, on one line.
pub fn without_backtrace(e: candle_core::Error) -> candle_core::Error {
    match e {
        candle_core::Error::WithBacktrace { inner, .. } => without_backtrace(*inner),
        candle_core::Error::WithPath { inner, path } => candle_core::Error::WithPath {
            inner: Box::new(without_backtrace(*inner)),
            path,
        },
        candle_core::Error::Context { inner, context } => {
            candle_core::Error::Msg(format!("{context}: {}", without_backtrace(*inner)))
        }
        other => other,
    }
}

impl Error {
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Error::Invalid(message.into())
    }

    pub fn checkpoint(path: impl AsRef<Path>, message: impl Into<String>) -> Self {
        Error::Checkpoint {
            path: path.as_ref().to_path_buf(),
            message: message.into(),
        }
    }
}

/// Shorthand for early returns with [`Error::Invalid`].
#[macro_export]
macro_rules! invalid {
    ($($arg:tt)*) => {
        return Err($crate::Error::Invalid(format!($($arg)*)))
    };
}

/// Attach a path to I/O errors.
pub trait IoContext<T> {
    fn at(self, path: impl AsRef<Path>) -> Result<T>;
}

impl<T> IoContext<T> for std::result::Result<T, std::io::Error> {
    fn at(self, path: impl AsRef<Path>) -> Result<T> {
        self.map_err(|e| Error::io(path, e))
    }
}

/// The stage modules keep their own error enums (each names the field or row at fault); at
/// the library boundary they become one-line [`Error::Invalid`] messages.
macro_rules! invalid_from {
    ($($t:ty),* $(,)?) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Self {
                Error::Invalid(e.to_string())
            }
        }
    )*};
}

invalid_from!(
    crate::prompts::PromptError,
    crate::zeroshot::ZeroShotError,
    crate::auxiliary::predictions::AuxError,
    crate::umap::UmapError,
    crate::report::ReportError,
);

/// A TOML error as one line: `line L, column C: MESSAGE`. The parser's own rendering spans
/// several lines (a caret under the source), which a one-line error cannot carry.
pub fn toml_error_line(text: &str, error: &toml::de::Error) -> String {
    let message = error.message().trim_end();
    match error.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
            format!("line {line}, column {column}: {message}")
        }
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::toml_error_line;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Section {
        name: String,
        size: usize,
    }

    fn error_for(text: &str) -> String {
        let e = toml::from_str::<Section>(text).unwrap_err();
        toml_error_line(text, &e)
    }

    #[test]
    fn points_at_line_and_column_in_characters() {
        // "é" is two bytes; the column counts characters, as editors do.
        assert_eq!(
            error_for("name = \"café\"\nsize = \"big\"\n"),
            "line 2, column 8: invalid type: string \"big\", expected usize"
        );
        assert_eq!(
            error_for("name = \"é\" ; size = 1\n"),
            "line 1, column 12: unexpected key or value, expected newline, `#`"
        );
        assert!(!error_for("name = [\n").contains('\n'));
    }
}
