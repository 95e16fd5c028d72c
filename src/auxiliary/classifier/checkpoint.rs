//! Classifier checkpoints: one safetensors file holding the weights (`model.NAME`, F32),
//! the SGD momentum buffers (`momentum.NAME`), and as JSON metadata the architecture,
//! class list, completed epochs, training parameters, RNG state and per-epoch log, so that
//! training resumes exactly where it stopped and prediction rebuilds the right network.
//!
//! Everything read is checked against the architecture the metadata describes: a missing,
//! extra, misshapen or non-F32 tensor, a truncated file, a wrong format tag or a
//! checkpoint of another model kind is refused with one line naming the file.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::path::Path;

use candle_core::{Device, Tensor};
use candle_nn::VarMap;
use rand_chacha::ChaCha8Rng;
use safetensors::tensor::{Dtype, SafeTensors, TensorView, View};

use super::sgd::Sgd;
use super::train::{EpochRecord, TrainParams};
use super::{sorted_vars, ModelConfig, ModelKind};
use super::{ClassifierError, Result};
use crate::artifact::IoContext;

/// Value of the `softtext.format` metadata key.
pub const FORMAT: &str = "aux-classifier-v1";
const META_FORMAT: &str = "softtext.format";
const META_CHECKPOINT: &str = "softtext.checkpoint";
const MODEL_PREFIX: &str = "model.";
const MOMENTUM_PREFIX: &str = "momentum.";

/// The exact state of a ChaCha8 stream: seed, stream and position.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RngState {
    /// The 32-byte seed, hex.
    pub seed: String,
    /// The stream number.
    pub stream: u64,
    /// Word position, decimal (u128 does not fit a JSON number).
    pub word_pos: String,
}

impl RngState {
    /// The state `rng` is in now.
    pub fn of(rng: &ChaCha8Rng) -> Self {
        let seed: String = rng.get_seed().iter().map(|b| format!("{b:02x}")).collect();
        Self {
            seed,
            stream: rng.get_stream(),
            word_pos: rng.get_word_pos().to_string(),
        }
    }

    /// A ChaCha8 stream in exactly this state; the error says which field is malformed.
    pub fn restore(&self) -> std::result::Result<ChaCha8Rng, String> {
        use rand::SeedableRng;
        if self.seed.len() != 64 || !self.seed.is_ascii() {
            return Err(format!("RNG seed {:?} is not 64 hex digits", self.seed));
        }
        let mut seed = [0u8; 32];
        for (i, byte) in seed.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&self.seed[2 * i..2 * i + 2], 16)
                .map_err(|_| format!("RNG seed {:?} is not 64 hex digits", self.seed))?;
        }
        let word_pos: u128 = self
            .word_pos
            .parse()
            .map_err(|_| format!("RNG word position {:?} is not a number", self.word_pos))?;
        let mut rng = ChaCha8Rng::from_seed(seed);
        rng.set_stream(self.stream);
        rng.set_word_pos(word_pos);
        Ok(rng)
    }
}

/// What a checkpoint says about itself.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointMeta {
    /// Which network.
    pub kind: ModelKind,
    /// Its full architecture, which must match `kind`.
    pub config: ModelConfig,
    /// Class names in label order.
    pub classes: Vec<String>,
    /// Completed epochs.
    pub epoch: usize,
    /// How it was trained; absent for weights that did not come from [`fn@super::train`].
    pub params: Option<TrainParams>,
    /// RNG state at the start of epoch `epoch + 1`.
    pub rng: Option<RngState>,
    /// Manifest hash of the training split, so a resume on other data is refused.
    pub train_data: Option<String>,
    /// Log rows of the completed epochs.
    pub log: Vec<EpochRecord>,
}

/// Raw little-endian F32 bytes; our own View so serialising cannot panic.
struct F32Bytes {
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl F32Bytes {
    fn of(tensor: &Tensor) -> Result<Self> {
        let values: Vec<f32> = tensor
            .to_dtype(candle_core::DType::F32)?
            .flatten_all()?
            .to_vec1()?;
        Ok(Self {
            shape: tensor.dims().to_vec(),
            bytes: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        })
    }
}

impl View for &F32Bytes {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.bytes)
    }
    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

/// Writes weights, momentum buffers (when `sgd` is given) and metadata atomically.
pub(crate) fn save(
    path: &Path,
    meta: &CheckpointMeta,
    varmap: &VarMap,
    sgd: Option<&Sgd>,
) -> Result<()> {
    let mut tensors: Vec<(String, F32Bytes)> = Vec::new();
    for (name, var) in sorted_vars(varmap) {
        tensors.push((
            format!("{MODEL_PREFIX}{name}"),
            F32Bytes::of(var.as_tensor())?,
        ));
    }
    if let Some(sgd) = sgd {
        for (name, buffer) in sgd.buffers() {
            tensors.push((format!("{MOMENTUM_PREFIX}{name}"), F32Bytes::of(buffer)?));
        }
    }
    let json = serde_json::to_string(meta)
        .map_err(|e| ClassifierError::checkpoint(path, format!("cannot encode metadata: {e}")))?;
    let metadata = HashMap::from([
        (META_FORMAT.to_string(), FORMAT.to_string()),
        (META_CHECKPOINT.to_string(), json),
    ]);
    let bytes = safetensors::serialize(tensors.iter().map(|(n, t)| (n, t)), Some(metadata))
        .map_err(|e| ClassifierError::checkpoint(path, format!("cannot serialise: {e}")))?;
    Ok(crate::artifact::write_atomic(path, &bytes)?)
}

/// A checkpoint read into memory with its metadata parsed and checked.
#[derive(Debug)]
pub struct Checkpoint {
    /// The parsed and checked metadata.
    pub meta: CheckpointMeta,
    path: std::path::PathBuf,
    bytes: Vec<u8>,
}

impl Checkpoint {
    /// Reads and checks the header; tensors are checked when loaded.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).at(path)?;
        let bad = |message: String| ClassifierError::checkpoint(path, message);
        let (_, header) = SafeTensors::read_metadata(&bytes)
            .map_err(|e| bad(format!("not a readable safetensors file ({e})")))?;
        // Also validates that every tensor's byte range lies inside the file, which is what
        // catches a truncated download or copy.
        SafeTensors::deserialize(&bytes)
            .map_err(|e| bad(format!("not a readable safetensors file ({e})")))?;
        let metadata = header.metadata().clone().unwrap_or_default();
        match metadata.get(META_FORMAT) {
            Some(format) if format == FORMAT => {}
            other => {
                return Err(bad(format!(
                    "not a softtext classifier checkpoint (metadata {META_FORMAT} is {other:?}, expected {FORMAT:?})"
                )))
            }
        }
        let json = metadata
            .get(META_CHECKPOINT)
            .ok_or_else(|| bad(format!("metadata {META_CHECKPOINT} is missing")))?;
        let meta: CheckpointMeta = serde_json::from_str(json)
            .map_err(|e| bad(format!("metadata {META_CHECKPOINT}: {e}")))?;
        let kind_matches = matches!(
            (&meta.kind, &meta.config),
            (ModelKind::Fast, ModelConfig::Fast(_))
                | (
                    ModelKind::ResNet18 | ModelKind::ResNet50,
                    ModelConfig::ResNet(_)
                )
        );
        if !kind_matches {
            return Err(bad(format!(
                "model kind {} does not match its architecture {:?}",
                meta.kind, meta.config
            )));
        }
        meta.config.check().map_err(bad)?;
        if meta.classes.len() != meta.config.num_classes() {
            return Err(bad(format!(
                "{} class names for a {}-class model",
                meta.classes.len(),
                meta.config.num_classes()
            )));
        }
        Ok(Self {
            meta,
            path: path.to_path_buf(),
            bytes,
        })
    }

    /// The file it was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn tensors(&self) -> Result<SafeTensors<'_>> {
        SafeTensors::deserialize(&self.bytes)
            .map_err(|e| ClassifierError::checkpoint(&self.path, format!("not readable ({e})")))
    }

    fn load_f32(&self, view: &TensorView<'_>, name: &str, device: &Device) -> Result<Tensor> {
        if view.dtype() != Dtype::F32 {
            return Err(ClassifierError::checkpoint(
                &self.path,
                format!("tensor {name} is {:?}, expected F32", view.dtype()),
            ));
        }
        let values: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        Ok(Tensor::from_vec(values, view.shape(), device)?)
    }

    /// Copies the weights into `varmap`, which must hold exactly the checkpoint's model
    /// tensors with the same shapes (build it from `self.meta.config`).
    pub fn load_weights(&self, varmap: &VarMap) -> Result<()> {
        let tensors = self.tensors()?;
        let bad = |message: String| ClassifierError::checkpoint(&self.path, message);
        let vars = sorted_vars(varmap);
        let expected: HashSet<String> = vars
            .iter()
            .map(|(n, _)| format!("{MODEL_PREFIX}{n}"))
            .collect();
        let mut stored: Vec<String> = tensors
            .names()
            .into_iter()
            .filter(|n| n.starts_with(MODEL_PREFIX) && !expected.contains(*n))
            .map(str::to_string)
            .collect();
        stored.sort();
        if let Some(extra) = stored.first() {
            return Err(bad(format!(
                "unexpected tensor {extra} for a {} model",
                self.meta.kind
            )));
        }
        for (name, var) in &vars {
            let key = format!("{MODEL_PREFIX}{name}");
            let view = tensors.tensor(&key).map_err(|_| {
                bad(format!(
                    "tensor {key} is missing (a {} model needs it)",
                    self.meta.kind
                ))
            })?;
            if view.shape() != var.dims() {
                return Err(bad(format!(
                    "tensor {key} has shape {:?}, the {} model needs {:?}",
                    view.shape(),
                    self.meta.kind,
                    var.dims()
                )));
            }
            let tensor = self.load_f32(&view, &key, var.device())?;
            var.set(&tensor)?;
        }
        Ok(())
    }

    /// Restores the momentum buffers stored for `sgd`'s variables.
    pub fn load_momentum(&self, sgd: &mut Sgd, device: &Device) -> Result<()> {
        let tensors = self.tensors()?;
        let names: HashSet<&String> = sgd.names().iter().collect();
        let mut found: Vec<(String, Tensor)> = Vec::new();
        for key in tensors.names() {
            let Some(name) = key.strip_prefix(MOMENTUM_PREFIX) else {
                continue;
            };
            if !names.contains(&name.to_string()) {
                return Err(ClassifierError::checkpoint(
                    &self.path,
                    format!("momentum buffer {key} belongs to no optimised weight"),
                ));
            }
            let view = tensors.tensor(key).map_err(|e| {
                ClassifierError::checkpoint(&self.path, format!("tensor {key}: {e}"))
            })?;
            found.push((name.to_string(), self.load_f32(&view, key, device)?));
        }
        for (name, tensor) in found {
            sgd.set_buffer(&name, tensor).map_err(|e| {
                ClassifierError::checkpoint(
                    &self.path,
                    crate::diagnostics::without_backtrace(e).to_string(),
                )
            })?;
        }
        Ok(())
    }
}
