//! softtext reproduces, tests and extends the study of soft text prompts for CLIP zero-shot
//! image classification: hard prompts (`a photo of a cat.`) against per-image soft texts that
//! relate an image's two most likely classes under a separate classifier
//! (`dog look like a cat`). The paper's setting is CLIP ViT-L/14 on the CIFAR-10 test set
//! (Table 1: hard 96.19 %, `like` 85.56 %, `look like` 95.19 %, `resemble` 91.48 %).
//!
//! # The pipeline, one module a stage
//!
//! | module | stage |
//! |---|---|
//! | [`data`] | datasets behind one `KIND:PATH` syntax (image folders and archives, CIFAR-10's binary release) |
//! | [`clip`] | the checkpoint's files, tokenizer, PIL-exact preprocessing, and both encoders in candle |
//! | [`embeddings`] | batched encoding into content-keyed embedding files |
//! | [`prompts`] | hard templates, relations and the soft texts they render |
//! | [`auxiliary`] | the classifier whose top-2 classes the soft texts relate, and prediction files |
//! | [`finetune`] | the paper's future work: CoOp context, LoRA or the last k layers of the text encoder trained for hard or soft texts, with parity against PyTorch |
//! | [`probe`] | the linear-probe baseline: logistic regression on image embeddings, C chosen on a hold-out, matching scikit-learn |
//! | [`zeroshot`] | every decision rule ("protocol"), with bootstrap intervals and McNemar tests |
//! | [`subject_share`] | where each soft text lies among the images: its subject class's share of its nearest image neighbours (the paper's Figure 4, as a number) |
//! | [`umap`] | a deterministic UMAP for the joint image and text figures |
//! | [`report`] | tables, figures (PNG and SVG) and the HTML report |
//! | [`study`] | each stage as one function from typed inputs to typed artifacts, and [`study::Study`], the whole experiment with a stage cache |
//!
//! Stages report through an [`observe::Observer`]; [`observe::Silent`] keeps them quiet.
//! Errors are [`Error`], which keeps each module's own error type and its `source()`.
//!
//! # The whole study in a few lines
//!
//! ```no_run
//! use softtext::observe::Silent;
//! use softtext::study::Study;
//!
//! # fn main() -> softtext::Result<()> {
//! let outcome = Study::from_file("configs/demo.toml")?
//!     .offline(true)
//!     .run("out/demo".as_ref(), &Silent)?;
//! print!("{}", outcome.table);
//! # Ok(())
//! # }
//! ```
//!
//! # Zero-shot evaluation by hand
//!
//! The same experiment, stage by stage, on the committed fixtures (a random-weight CLIP, so
//! the numbers exercise the code and mean nothing about CLIP):
//!
//! ```
//! use softtext::clip::{Clip, ClipFiles, DeviceKind, Overflow, Precision};
//! use softtext::data::{DataSpec, Dataset, Split};
//! use softtext::embeddings::encode::{encode_dataset, encode_texts};
//! use softtext::observe::Silent;
//! use softtext::prompts::PromptConfigFile;
//! use softtext::study::prompt_config;
//! use softtext::zeroshot::{evaluate, plan_texts, to_markdown, AuxSource, EvalParams, ImageSet, TextBank};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // CLIP and 40 test images, 4 per class.
//! let clip = Clip::load(&ClipFiles::resolve("fixtures/clip-tiny")?, DeviceKind::Cpu, Precision::F32)?;
//! let data: DataSpec = "folder:fixtures/cifar10-sample".parse()?;
//! let mut images = Dataset::load(&data, Split::Test, None)?;
//! images.balanced_limit(40);
//! let image_embeddings = encode_dataset(&clip, &images, 64, &Silent)?;
//!
//! // The paper's prompts; `self`: CLIP's own hard-prompt ranking gives each image's top-2.
//! let prompts = prompt_config(PromptConfigFile::default(), &images.classes)?;
//! let params = EvalParams::default().bootstrap_resamples(0).check()?;
//! let aux = AuxSource::SelfRanking;
//! let plan = plan_texts(&params, &prompts, &aux)?;
//! let text_embeddings = encode_texts(&clip, plan.texts(), Overflow::Error, 256, &Silent)?;
//!
//! let bank = TextBank::new(plan.texts().to_vec(), text_embeddings, clip.dim())?;
//! let labels: Vec<usize> = images.labels().iter().map(|&l| l as usize).collect();
//! let ids = images.ids();
//! let image_set = ImageSet::new(&image_embeddings, clip.dim(), &labels, &ids)?;
//! let report = evaluate(&params, &prompts, &image_set, &aux, &bank)?;
//!
//! let table = to_markdown(&report);
//! assert_eq!(report.images, 40);
//! assert!(table.contains("| hard "), "{table}");
//! assert!(report.row("look-like", "pair").is_some());
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

pub mod artifact;
pub mod auxiliary;
pub mod clip;
pub mod data;
mod diagnostics;
#[cfg(feature = "download")]
pub mod download;
pub mod embeddings;
pub mod error;
pub mod finetune;
pub mod observe;
pub mod probe;
pub mod prompts;
pub mod report;
pub mod study;
pub mod subject_share;
pub mod umap;
pub mod zeroshot;

pub use error::{Error, Result};

/// softtext's version, recorded in every artifact it writes.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
