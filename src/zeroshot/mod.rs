//! Zero-shot evaluation of hard and soft text prompts.
//!
//! CLIP scores an image by cosine similarity with text embeddings. Hard text scores each
//! class with `a photo of a {class}.` (or a template ensemble: mean of the unit template
//! embeddings, re-normalised). Soft text relates an image's auxiliary top-2 classes
//! ("automobile look like a truck"). The paper does not say how per-image soft texts become a
//! decision, so each reading is a named protocol ([`protocols`] defines them) and all are
//! reported side by side.
//!
//! # Flow (what the CLI calls)
//! ```text
//! let params = EvalParams::default().check()?;                 // validate settings once
//! let aux = AuxSource::Predictions(AuxPredictions::read(path)?);  // or SelfRanking / Oracle
//! let plan = plan_texts(&params, &config, &aux)?;              // unique texts to encode
//! let bank = TextBank::new(plan.texts().to_vec(), clip_encode(plan.texts()), dim)?;
//! let images = ImageSet::new(&embeddings, dim, &labels, &ids)?;
//! let report = evaluate(&params, &config, &images, &aux, &bank)?;
//! write(md_path, table::to_markdown(&report)); // also to_csv, to_json
//! ```
//!
//! # Design
//! * One similarity matrix `[N, T]` between all images and all planned texts is computed
//!   ([`similarity`]); every protocol indexes into it. Hard ensemble scores come from it too
//!   (sum of template similarities over the norm of the summed template embeddings).
//! * Prompt sets: `hard` (for `hard` and `hard-top2`), each relation, and `relations-mean`
//!   (mean of the relations' similarities, [`PromptSet::RelationsMean`]). Every soft
//!   protocol runs on every soft prompt set.
//! * Determinism: per-image work is independent and every sum has a fixed order; ties go to
//!   the lowest class index; the bootstrap draws depend only on (seed, resample, N). Results
//!   do not depend on the thread count.
//! * Metrics ([`metrics`]): accuracy, per-class accuracy, confusion matrix, paired percentile
//!   bootstrap interval, exact McNemar test against `hard`; auxiliary top-1/top-2 accuracy in
//!   [`AuxSummary`].

mod bank;
pub mod catalogue;
mod error;
mod evaluate;
mod images;
pub mod metrics;
mod params;
pub mod plan;
pub mod protocols;
mod report;
mod scores;
pub mod similarity;
pub mod sources;
pub mod table;

pub use bank::TextBank;
pub use error::ZeroShotError;
pub use evaluate::evaluate;
pub use images::ImageSet;
pub use metrics::{accuracy, mcnemar_exact_p, Bootstrap, ConfusionMatrix, McNemar};
pub use params::{EvalParams, ProtocolKind, ValidEvalParams};
pub use plan::{plan_texts, TextPlan};
pub use protocols::{predict, predict_hard, predict_rows, Protocol, ProtocolInputs};
pub use report::{
    is_cifar10, paper_value, AuxSummary, BootstrapSummary, EvalReport, ResultRow, PAPER_TABLE1,
};
pub use scores::{PromptSet, Scores};
pub use similarity::{similarity_matrix, SimilarityMatrix};
pub use sources::AuxSource;
pub use table::{to_csv, to_json, to_markdown};
