//! The report module's error type. Every message is one line and starts with the file being
//! written (or the embedded asset at fault), so a CLI can print it as is.

use std::path::{Path, PathBuf};

/// `Result` with [`ReportError`] as the default error.
pub type Result<T, E = ReportError> = std::result::Result<T, E>;

/// Everything that can go wrong drawing a figure or writing the report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Creating, writing or renaming an output file (or reading a figure to embed) failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file being written or read.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The caller's data cannot be drawn or written as asked (NaN coordinates, a class index
    /// out of range, a non-square matrix, ...).
    #[error("{}: {message}", path.display())]
    Input {
        /// The output file the data was meant for.
        path: PathBuf,
        /// What is wrong with the data, e.g. which point has a NaN coordinate.
        message: String,
    },
    /// plotters refused to draw; a bug in this module rather than in the data.
    #[error("{}: drawing failed: {message}", path.display())]
    Draw {
        /// The output file being drawn.
        path: PathBuf,
        /// plotters' error, as text (its error type is generic over the backend).
        message: String,
    },
    /// The rendered bitmap could not be encoded as PNG.
    #[error("{}: PNG encoding failed: {source}", path.display())]
    Encode {
        /// The PNG file being written.
        path: PathBuf,
        /// The encoder's error.
        #[source]
        source: image::ImageError,
    },
    /// The font compiled into the binary was rejected by the glyph rasteriser.
    #[error("assets/fonts/{name}: embedded font could not be loaded")]
    Font {
        /// File name of the font under `assets/fonts/`.
        name: &'static str,
    },
}

impl ReportError {
    pub(crate) fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        ReportError::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    pub(crate) fn input(path: impl AsRef<Path>, message: impl Into<String>) -> Self {
        ReportError::Input {
            path: path.as_ref().to_path_buf(),
            message: message.into(),
        }
    }
}
