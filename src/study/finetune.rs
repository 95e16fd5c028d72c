//! The fine-tuning stage: [`crate::finetune::finetune`] with the prompt configuration built
//! for the train images' classes and the checkpoint read from the image file by default.

use std::path::{Path, PathBuf};

use super::error::StudyError;
use super::evaluate::prompt_config;
use crate::clip::DeviceKind;
use crate::embeddings::Embeddings;
use crate::error::Result;
use crate::finetune::{FinetuneJob, FinetuneOutcome, FinetuneParams};
use crate::observe::Observer;
use crate::prompts::PromptConfigFile;

/// A fine-tuning run as the CLI and `[finetune]` describe it.
#[derive(Debug, Clone)]
pub struct Finetuning {
    /// Method, prompt, optimiser, schedule and split.
    pub params: FinetuneParams,
    /// The checkpoint; `None`: the one named in the image file.
    pub clip: Option<String>,
    /// Train-split image embeddings.
    pub images: PathBuf,
    /// Auxiliary predictions for the train images (relation prompts).
    pub aux: Option<PathBuf>,
    /// Classes, hard template and relations; the classes default to the images'.
    pub prompts: PromptConfigFile,
    /// Where training runs.
    pub device: DeviceKind,
    /// Starting values of the trained tensors (a safetensors file by name).
    pub init: Option<PathBuf>,
    /// Also write `init.safetensors`.
    pub save_init: bool,
}

impl Finetuning {
    /// Default settings on `images`, with the paper's prompts, on the CPU.
    pub fn new(images: impl Into<PathBuf>) -> Self {
        Self {
            params: FinetuneParams::default(),
            clip: None,
            images: images.into(),
            aux: None,
            prompts: PromptConfigFile::default(),
            device: DeviceKind::Cpu,
            init: None,
            save_init: false,
        }
    }
}

/// Trains (or resumes, or finds up to date) into `out`.
pub fn finetune(spec: &Finetuning, out: &Path, observer: &dyn Observer) -> Result<FinetuneOutcome> {
    super::check_output_folder(out)?;
    let images = Embeddings::load(&spec.images)?;
    let clip = match (&spec.clip, images.info.get("model")) {
        (Some(clip), _) => clip.clone(),
        (None, Some(model)) => model.clone(),
        (None, None) => {
            return Err(StudyError::Missing(
                "--clip is needed: the image file does not name its model".into(),
            )
            .into())
        }
    };
    let job = FinetuneJob {
        aux: spec.aux.clone(),
        device: spec.device,
        init: spec.init.clone(),
        save_init: spec.save_init,
        ..FinetuneJob::new(
            clip,
            spec.images.clone(),
            prompt_config(spec.prompts.clone(), &images.classes)?,
        )
    };
    Ok(crate::finetune::finetune(
        &spec.params,
        &job,
        out,
        observer,
    )?)
}
