//! Fine-tuning CLIP's text side for hard and soft texts: the paper's future work.
//!
//! Three methods ([`Method`]): CoOp's learned context, LoRA adapters on the attention's query
//! and value projections, and the last k encoder layers. All train on cached image
//! embeddings of the train split (the image tower stays frozen) with the cross-entropy of
//! `exp(logit_scale) · cos(image, text_c)` over the classes, where the text of class c is
//! the hard prompt or, for a relation, the image's soft text relating c to its auxiliary
//! partner (the `all` protocol). The exact algorithm is in `docs/finetune.md`; parity with a
//! PyTorch reimplementation of it is a test (`tests/finetune.rs`).
//!
//! [`finetune`] runs a job into a folder: [`FinetuneParams`] (validated once), a
//! [`FinetuneJob`] naming the checkpoint, images and prompts, and an observer. A rerun with
//! the same inputs is up to date without reading any weight, and a killed run resumes from
//! its last epoch bit for bit.
//!
//! ```
//! use softtext::finetune::{finetune, FinetuneJob, FinetuneParams, Method};
//! use softtext::observe::Silent;
//! use softtext::prompts::PromptConfig;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // 4-shot CoOp, starting at the hard prompt, on the fixtures' cached train embeddings
//! // (a random-weight CLIP: the numbers exercise the code only).
//! let params = FinetuneParams {
//!     method: Method::Coop,
//!     ctx_init: Some("a photo of a".into()),
//!     shots: Some(4),
//!     epochs: Some(2),
//!     ..Default::default()
//! };
//! let job = FinetuneJob::new(
//!     "fixtures/clip-tiny",
//!     "fixtures/finetune/train-embeddings.safetensors",
//!     PromptConfig::paper(),
//! );
//! let out = tempfile::tempdir()?;
//! let outcome = finetune(&params, &job, out.path(), &Silent)?;
//! assert_eq!(outcome.info.train_images, 40);
//! assert_eq!(outcome.log.len(), 4); // 2 epochs of 40 images at batch 32
//! assert!(out.path().join("finetuned.safetensors").exists());
//! # Ok(())
//! # }
//! ```

mod apply;
mod error;
pub mod objective;
pub mod optim;
pub mod params;
pub mod split;
pub mod store;
pub mod text;
mod train;

pub use apply::FinetunedText;
pub use error::FinetuneError;
pub use objective::{Objective, TrainPrompt};
pub use params::{FinetuneParam, FinetuneParams, Method, OptimizerKind};
pub use store::{read_info, FinetunedInfo};
pub use text::{TextItem, TextSide};
pub use train::{finetune, log_csv, read_log, FinetuneJob, FinetuneOutcome, LogRow};

#[cfg(test)]
mod tests;
