//! A fine-tuned folder put back to work: the base checkpoint's text side with the trained
//! tensors, encoding any text (CoOp's context in front of it, LoRA or the trained layers
//! inside).

use std::path::Path;

use candle_core::DType;

use super::error::FinetuneError;
use super::store::{read_info, read_tensors, FinetunedInfo, FINETUNED};
use super::text::{TextItem, TextSide};
use crate::clip::model::Kernels;
use crate::clip::{ClipFiles, DeviceKind};

type Result<T, E = FinetuneError> = std::result::Result<T, E>;

/// The text side of a fine-tuned folder, ready to encode.
#[derive(Debug)]
pub struct FinetunedText {
    /// Its `finetune.json`.
    pub info: FinetunedInfo,
    side: TextSide,
}

impl FinetunedText {
    /// Reads `dir` (a `softtext finetune` output folder) and its base checkpoint, which
    /// must still be the one it was trained from.
    pub fn open(dir: &Path, device: DeviceKind) -> Result<Self> {
        let info = read_info(dir)?;
        let files = ClipFiles::resolve(&info.base_clip)?;
        if files.fingerprint()? != info.base_fingerprint {
            return Err(FinetuneError::artifact(
                dir,
                format!(
                    "its base checkpoint {} has changed since training; retrain or restore it",
                    info.base_clip
                ),
            ));
        }
        let device = device.device()?;
        let tensors = read_tensors(&dir.join(FINETUNED), &device)?;
        let side = TextSide::load(
            &files,
            &info.params,
            info.classes.len(),
            &device,
            DType::F32,
            Some(&tensors),
        )
        .map_err(|e| match e {
            FinetuneError::Input(message) => FinetuneError::artifact(dir.join(FINETUNED), message),
            other => other,
        })?;
        Ok(Self { info, side })
    }

    /// Short name for table rows: the method (`coop`, `lora`, `last-k`).
    pub fn label(&self) -> &'static str {
        self.info.params.method.as_str()
    }

    /// Whether CoOp replaces the hard template (then a hard text of class c is `c.` behind
    /// the context, as it trained).
    pub fn replaces_template(&self) -> bool {
        self.info.params.method == super::Method::Coop
    }

    /// L2-normalised embeddings, row-major `[items, dim]`, `batch` texts per forward pass.
    pub fn encode(&self, items: &[TextItem], batch: usize) -> Result<Vec<f32>> {
        let mut rows = Vec::new();
        for chunk in items.chunks(batch.max(1)) {
            let features = self.side.features(chunk, Kernels::Fused)?.detach();
            rows.extend(features.flatten_all()?.to_vec1::<f32>()?);
        }
        Ok(rows)
    }
}
