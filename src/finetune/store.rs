//! The files of a fine-tuned folder: `finetune.json` (settings and provenance),
//! `finetuned.safetensors` (the trained tensors by name), and for lora and last-k a complete
//! Hugging Face CLIP folder `clip/` with the trained weights merged in.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use safetensors::tensor::TensorView;
use safetensors::View;
use serde::{Deserialize, Serialize};

use super::error::FinetuneError;
use super::params::{FinetuneParams, Method};
use super::text::{read_text_tensors, TextSide};
use crate::artifact::{write_atomic, IoContext};
use crate::clip::ClipFiles;

type Result<T, E = FinetuneError> = std::result::Result<T, E>;

/// `format` of `finetune.json` and `softtext.format` of `finetuned.safetensors`.
pub const FORMAT: &str = "finetuned-v1";
/// The trained tensors' file in a fine-tuned folder.
pub const FINETUNED: &str = "finetuned.safetensors";
/// The settings file of a fine-tuned folder.
pub const INFO: &str = "finetune.json";

/// `finetune.json`: what was trained, from what, and how it went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinetunedInfo {
    /// [`FORMAT`].
    pub format: String,
    /// Content key of the run's inputs and settings.
    pub key: String,
    /// The settings.
    pub params: FinetuneParams,
    /// `hard` or the relation trained on.
    pub prompt: String,
    /// The base checkpoint as named.
    pub base_clip: String,
    /// Its fingerprint: fine-tuned text features only pair with images of this checkpoint.
    pub base_fingerprint: String,
    /// The train image file.
    pub images: String,
    /// Its content key.
    pub images_key: String,
    /// Class names in label order.
    pub classes: Vec<String>,
    /// CoOp's placeholder words (their positions hold the learned context).
    pub context_words: Option<String>,
    /// Images that trained.
    pub train_images: usize,
    /// Images held out for validation.
    pub val_images: usize,
    /// Optimiser steps.
    pub steps: usize,
    /// Epochs (the last possibly partial with `steps`).
    pub epochs: usize,
    /// The epoch whose tensors were kept.
    pub best_epoch: usize,
    /// Its validation accuracy (fraction).
    pub val_accuracy: Option<f64>,
    /// Wall time of the run.
    pub seconds: f64,
    /// Where it trained.
    pub device: String,
    /// The softtext that trained it.
    pub softtext_version: String,
}

/// `params` with the fields of other methods reset, so they do not enter the run's key.
pub(crate) fn keyed(params: &FinetuneParams) -> FinetuneParams {
    let defaults = FinetuneParams::default();
    let mut keyed = params.clone();
    if params.method != Method::Coop {
        keyed.n_ctx = defaults.n_ctx;
        keyed.ctx_init = None;
        keyed.csc = false;
    } else if params.ctx_init.is_some() {
        keyed.n_ctx = defaults.n_ctx;
    }
    if params.method != Method::Lora {
        keyed.rank = defaults.rank;
        keyed.alpha = defaults.alpha;
    }
    if params.method != Method::LastK {
        keyed.layers = defaults.layers;
    }
    keyed
}

/// `finetune.json` of `dir` when it records the run `key`.
pub(crate) fn read_info_if(dir: &Path, key: &str) -> Option<FinetunedInfo> {
    let info = read_info(dir).ok()?;
    (info.key == key && dir.join(FINETUNED).exists()).then_some(info)
}

/// Reads `finetune.json` of a fine-tuned folder.
pub fn read_info(dir: &Path) -> Result<FinetunedInfo> {
    let path = dir.join(INFO);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            FinetuneError::artifact(
                dir,
                format!("not a fine-tuned folder (no {INFO}; make one with `softtext finetune`)"),
            )
        } else {
            FinetuneError::File(crate::artifact::FileError::new(&path, e))
        }
    })?;
    let info: FinetunedInfo = serde_json::from_str(&text)
        .map_err(|e| FinetuneError::artifact(&path, format!("not a fine-tuning record: {e}")))?;
    if info.format != FORMAT {
        return Err(FinetuneError::artifact(
            &path,
            format!("format {:?}, this softtext reads {FORMAT:?}", info.format),
        ));
    }
    Ok(info)
}

pub(crate) fn write_info(dir: &Path, info: &FinetunedInfo) -> Result<PathBuf> {
    let path = dir.join(INFO);
    let text = serde_json::to_string_pretty(info).expect("info serialises");
    write_atomic(&path, text.as_bytes())?;
    Ok(path)
}

/// Writes tensors by name with the run's key and method in the metadata.
pub(crate) fn write_tensors(
    path: &Path,
    tensors: &BTreeMap<String, Tensor>,
    info: &FinetunedInfo,
) -> Result<()> {
    let meta = HashMap::from([
        ("softtext.format".to_string(), FORMAT.to_string()),
        ("softtext.key".to_string(), info.key.clone()),
        ("softtext.method".to_string(), info.params.method_summary()),
        (
            "softtext.base_fingerprint".to_string(),
            info.base_fingerprint.clone(),
        ),
    ]);
    write_raw(path, tensors, meta)
}

pub(crate) fn write_raw(
    path: &Path,
    tensors: &BTreeMap<String, Tensor>,
    meta: HashMap<String, String>,
) -> Result<()> {
    let contiguous: Vec<(String, Tensor)> = tensors
        .iter()
        .map(|(name, t)| Ok((name.clone(), t.contiguous()?)))
        .collect::<candle_core::Result<_>>()?;
    let bytes = safetensors::serialize(contiguous, Some(meta))
        .map_err(|e| FinetuneError::artifact(path, format!("cannot serialise: {e}")))?;
    Ok(write_atomic(path, &sorted_header(bytes))?)
}

/// The same safetensors bytes with the header's keys in sorted order. `safetensors` writes
/// its metadata map in hash order, which differs from process to process, so two identical
/// runs (or a run and its resumption) would write different bytes.
fn sorted_header(bytes: Vec<u8>) -> Vec<u8> {
    let Some(length) = bytes
        .get(..8)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
    else {
        return bytes;
    };
    let end = 8 + length as usize;
    let Ok(header) = serde_json::from_slice::<serde_json::Value>(&bytes[8..end]) else {
        return bytes;
    };
    // serde_json's map is ordered by key; the data offsets inside are unchanged.
    let mut text = serde_json::to_vec(&header).expect("a JSON value serialises");
    if text.len() > length as usize {
        return bytes;
    }
    text.resize(length as usize, b' ');
    let mut sorted = Vec::with_capacity(bytes.len());
    sorted.extend_from_slice(&length.to_le_bytes());
    sorted.extend_from_slice(&text);
    sorted.extend_from_slice(&bytes[end..]);
    sorted
}

/// Every tensor of a safetensors file on `device`, by name.
pub fn read_tensors(path: &Path, device: &Device) -> Result<HashMap<String, Tensor>> {
    Ok(read_raw(path, device)?.0)
}

pub(crate) fn read_raw(
    path: &Path,
    device: &Device,
) -> Result<(HashMap<String, Tensor>, HashMap<String, String>)> {
    let bytes = std::fs::read(path).at(path)?;
    let bad = |e: String| FinetuneError::artifact(path, format!("not a safetensors file: {e}"));
    let (_, header) =
        safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| bad(e.to_string()))?;
    let meta = header.metadata().clone().unwrap_or_default();
    let tensors = candle_core::safetensors::load_buffer(&bytes, device)
        .map_err(|e| bad(crate::diagnostics::without_backtrace(e).to_string()))?;
    Ok((tensors, meta))
}

/// A tensor of the output checkpoint: copied from the base file, or trained.
enum Entry<'a> {
    Kept(TensorView<'a>),
    Trained(Tensor),
}

impl View for &Entry<'_> {
    fn dtype(&self) -> safetensors::Dtype {
        match self {
            Entry::Kept(view) => view.dtype(),
            Entry::Trained(tensor) => View::dtype(tensor),
        }
    }
    fn shape(&self) -> &[usize] {
        match self {
            Entry::Kept(view) => view.shape(),
            Entry::Trained(tensor) => tensor.dims(),
        }
    }
    fn data(&self) -> Cow<'_, [u8]> {
        match self {
            Entry::Kept(view) => Cow::Borrowed(view.data()),
            Entry::Trained(tensor) => View::data(tensor),
        }
    }
    fn data_len(&self) -> usize {
        match self {
            Entry::Kept(view) => view.data_len(),
            Entry::Trained(tensor) => View::data_len(tensor),
        }
    }
}

/// The small files of a Hugging Face CLIP folder that are copied as they are.
const FOLDER_FILES: &[&str] = &[
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.json",
    "merges.txt",
    "preprocessor_config.json",
    crate::clip::checkpoint::RANDOM_WEIGHTS_MARKER,
];

/// Writes `dir` as a complete Hugging Face CLIP folder: the base checkpoint's files, its
/// weights with the text side's trained values (LoRA merged) in the base's dtypes. The
/// folder appears whole or not at all (built beside it, then renamed).
pub(crate) fn write_clip_folder(base: &ClipFiles, side: &TextSide, dir: &Path) -> Result<()> {
    let parent = dir.parent().unwrap_or(Path::new("."));
    let staging = tempfile::Builder::new()
        .prefix(".clip.")
        .tempdir_in(parent)
        .at(parent)?;
    for name in FOLDER_FILES {
        let from = base.dir.join(name);
        if from.exists() {
            std::fs::copy(&from, staging.path().join(name)).at(&from)?;
        }
    }
    let device = side.device().clone();
    let text = read_text_tensors(base, &device, candle_core::DType::F32)?;
    let merged = side.merged_text_weights(&text)?;
    let bytes = std::fs::read(&base.weights).at(&base.weights)?;
    let file = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| {
        FinetuneError::artifact(&base.weights, format!("not a safetensors file: {e}"))
    })?;
    let mut entries: Vec<(String, Entry<'_>)> = Vec::new();
    for (name, view) in file.tensors() {
        let entry = match merged.get(&name) {
            Some(tensor) => {
                let dtype = candle_core::DType::try_from(view.dtype()).map_err(|e| {
                    FinetuneError::artifact(&base.weights, format!("tensor `{name}`: {e}"))
                })?;
                Entry::Trained(
                    tensor
                        .to_dtype(dtype)?
                        .to_device(&Device::Cpu)?
                        .contiguous()?,
                )
            }
            _ => Entry::Kept(view),
        };
        entries.push((name, entry));
    }
    let target = staging.path().join("model.safetensors");
    let views: Vec<(&str, &Entry<'_>)> = entries.iter().map(|(n, e)| (n.as_str(), e)).collect();
    safetensors::serialize_to_file(
        views,
        Some(HashMap::from([("format".to_string(), "pt".to_string())])),
        &target,
    )
    .map_err(|e| FinetuneError::artifact(&target, format!("cannot write: {e}")))?;
    if dir.exists() {
        std::fs::remove_dir_all(dir).at(dir)?;
    }
    let staged = staging.keep();
    std::fs::rename(&staged, dir).at(dir)?;
    Ok(())
}
