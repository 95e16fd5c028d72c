//! The study: every stage of the experiment as a library function from typed inputs to
//! typed artifacts, and [`Study`], which runs them all from one configuration with a
//! content-keyed cache.
//!
//! The stages, in pipeline order:
//!
//! | stage | function | writes |
//! |---|---|---|
//! | auxiliary classifier | [`aux_train`], [`aux_predict`] | checkpoint, log, curve; top-k predictions |
//! | image embeddings | [`encode_images`] | `images.safetensors` |
//! | text embeddings | [`encode_texts`] | a text embedding file |
//! | fine-tuning | [`finetune`] | `finetuned.safetensors`, `finetune.json`, `log.csv`, curve, `clip/` |
//! | evaluation | [`evaluate`] | `table.{md,csv,json}` (`table.json` with the subject share), `texts.{json,safetensors}`, `run.json` |
//! | UMAP figures | [`umap`] | `figures/umap-SET.{png,svg}`, `umap/umap-SET.csv` |
//! | report | [`report`] | `report.md`, `report.html`, `figures/*` |
//!
//! Each takes an [`Observer`](crate::observe::Observer) for status lines and progress;
//! [`Silent`](crate::observe::Silent) keeps a call quiet. [`Study::run`] chains the stages
//! as `softtext reproduce` does and records what it did in `manifest.json`.

mod auxiliary;
mod cache;
mod config;
mod encode;
mod error;
mod evaluate;
mod figures;
mod finetune;
mod finetuned;
mod import;
mod report;
mod run;

pub use auxiliary::{aux_predict, aux_train, AuxPrediction, AuxTraining, CURVE_STEM};
pub use cache::{Manifest, StageRecord};
pub use config::{
    defaults, AuxSettings, AuxSpec, ClipSettings, DataSettings, EvalSettings, ReportProtocol,
    ReportSettings, StudyConfig, UmapSettings,
};
pub use encode::{
    encode_images, encode_texts, merge_embeddings, ClipSpec, EncodedImages, ImageEncoding,
    TextEncoding,
};
pub use error::StudyError;
pub use evaluate::{
    aux_source, evaluate, files_are_random, prompt_config, read_eval, read_prompt_file,
    soft_text_shares, EvalFolder, EvalOutcome, Evaluation, RunInfo, FINETUNED_TEXTS,
    RANDOM_WEIGHTS_MARKER,
};
pub use figures::{provenance_path, umap, UmapFigures};
pub use finetune::{finetune, Finetuning};
pub use import::{import_embeddings, read_lines, EmbeddingImport, ImportRows};
pub use report::{headline_table, report, ReportParams};
pub use run::{Study, StudyOutcome, AUX_PREDICTIONS};

/// Output folders that already exist as files get a message that says so, not the OS's
/// "File exists" from deep inside the first write.
pub(crate) fn check_output_folder(path: &std::path::Path) -> Result<(), StudyError> {
    if path.is_file() {
        return Err(StudyError::Config(format!(
            "--out {}: is a file; give a folder (it is created if missing)",
            path.display()
        )));
    }
    Ok(())
}
