//! Zero-shot evaluation of hard and soft text prompts.
//!
//! CLIP scores an image by cosine similarity with text embeddings. Hard text scores each
//! class with `a photo of a {class}.` (or a template ensemble: mean of the unit template
//! embeddings, re-normalised). Soft text relates an image's auxiliary top-2 classes
//! ("automobile look like a truck"). The paper does not say how per-image soft texts become a
//! decision, so each reading is a named protocol ([`protocols`] defines them) and all are
//! reported side by side.
//!
//! # Flow
//! Validate the settings once, plan the unique texts, encode them (here a made-up embedding
//! stands in for CLIP), evaluate, and write the table. Three classes, one relation, and one
//! image per class; the dog image lies closer to "cat" than to "dog", so the hard prompts
//! get two of the three images right.
//!
//! ```
//! use softtext::prompts::PromptConfig;
//! use softtext::zeroshot::{
//!     evaluate, plan_texts, to_markdown, AuxSource, EvalParams, ImageSet, TextBank,
//! };
//!
//! let config = PromptConfig::from_toml_str(
//!     r#"
//!     classes = [{ name = "cat" }, { name = "dog" }, { name = "ship" }]
//!     relations = [{ name = "like" }]
//!     "#,
//! )?;
//! let params = EvalParams::default().bootstrap_resamples(100).check()?;
//! // `self`: each image's top-k classes by CLIP's own hard-prompt scores. Predictions from
//! // another classifier would be `AuxSource::Predictions(AuxPredictions::read(path)?)`.
//! let aux = AuxSource::SelfRanking;
//! let plan = plan_texts(&params, &config, &aux)?;
//!
//! // Stand-in for CLIP's text encoder: one dimension per class, 1 for every class the text
//! // names ("a photo of a cat." -> cat; "cat like a dog" -> cat and dog).
//! let classes = ["cat", "dog", "ship"];
//! let embed = |text: &str| classes.map(|class| if text.contains(class) { 1.0 } else { 0.0 });
//! let text_rows: Vec<f32> = plan.texts().iter().flat_map(|text| embed(text)).collect();
//! let bank = TextBank::new(plan.texts().to_vec(), text_rows, classes.len())?;
//!
//! let image_rows: [f32; 9] = [
//!     1.0, 0.2, 0.0, // cat
//!     0.9, 0.8, 0.0, // dog, closer to "cat" (0.9) than to "dog" (0.8)
//!     0.1, 0.0, 1.0, // ship
//! ];
//! let labels = [0, 1, 2];
//! let ids: Vec<String> = ["cat.jpg", "dog.jpg", "ship.jpg"].map(String::from).to_vec();
//! let images = ImageSet::new(&image_rows, classes.len(), &labels, &ids)?;
//!
//! let report = evaluate(&params, &config, &images, &aux, &bank)?;
//! let hard = report.row("hard", "hard").expect("hard always runs");
//! assert_eq!(hard.predictions, [0, 0, 2]);
//! assert_eq!(hard.correct, 2);
//! let table: String = to_markdown(&report); // to_csv and to_json take the same report
//! assert!(table.starts_with("Zero-shot results: 3 images, 3 classes;"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
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
pub use evaluate::{evaluate, result_row};
pub use images::ImageSet;
pub use metrics::{accuracy, mcnemar_exact_p, Bootstrap, ConfusionMatrix, McNemar};
pub use params::{EvalParam, EvalParams, ProtocolKind, ValidEvalParams};
pub use plan::{plan_texts, TextPlan};
pub use protocols::{predict, Protocol, ProtocolInputs};
pub use report::{
    is_cifar10, paper_value, AuxSummary, BootstrapSummary, EvalReport, ResultRow, PAPER_TABLE1,
};
pub use scores::{PromptSet, Scores};
pub use similarity::{similarity_matrix, SimilarityMatrix};
pub use sources::AuxSource;
pub use table::{to_csv, to_json, to_markdown};
