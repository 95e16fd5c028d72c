//! softtext reproduces, tests and extends the study of soft text prompts for CLIP zero-shot
//! image classification: hard prompts ("a photo of a cat.") versus per-image soft texts that
//! relate an image's two most likely classes ("dog look like a cat").
//!
//! The pipeline, one module a stage:
//! `data` (datasets) -> `clip` (tokenizer, preprocessing, encoders) -> `embeddings`
//! (cached embedding files).

pub mod artifact;
pub mod auxiliary;
pub mod cli;
pub mod clip;
pub mod data;
mod diagnostics;
#[cfg(feature = "download")]
pub mod download;
pub mod embeddings;
pub mod error;
pub mod observe;
pub mod progress;
pub mod prompts;
pub mod report;
pub mod umap;
pub mod zeroshot;

pub use error::{Error, Result};

/// softtext's version, recorded in every artifact it writes.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
