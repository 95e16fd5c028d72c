//! CLIP: checkpoint files, tokenizer, image preprocessing and the two encoders, bundled as
//! [`Clip`] which turns texts and images into L2-normalised embeddings.
//!
//! The pipeline's second stage: [`ClipFiles::resolve`] finds a checkpoint,
//! [`Clip::load`] (or [`LazyClip`], which defers it until something must be encoded)
//! builds the model, and [`crate::embeddings`] batches datasets and prompt lists through
//! [`Clip::encode_pixel_values`] and [`Clip::encode_token_ids`].

pub mod checkpoint;
pub mod config;
mod error;
pub mod model;
pub mod preprocess;
pub mod tokenizer;

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;

pub use checkpoint::ClipFiles;
pub use config::ClipConfig;
pub use error::ClipError;
pub use model::ClipModel;
pub use preprocess::{Preprocess, RgbImage};
pub use tokenizer::{ClipTokenizer, Overflow};

type Result<T, E = ClipError> = std::result::Result<T, E>;

/// Where the encoders run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    /// The CPU (the default); always available.
    #[default]
    Cpu,
    /// The first CUDA GPU; needs a build with the `cuda` feature. Parsed from `cuda` or
    /// `gpu`.
    Cuda,
}

impl FromStr for DeviceKind {
    type Err = ClipError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "cpu" => Ok(Self::Cpu),
            "cuda" | "gpu" => Ok(Self::Cuda),
            other => Err(ClipError::invalid(format!(
                "unknown device {other:?} (use cpu or cuda)"
            ))),
        }
    }
}

impl fmt::Display for DeviceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Cpu => "cpu",
            Self::Cuda => "cuda",
        })
    }
}

impl DeviceKind {
    /// The candle device. [`ClipError::Missing`] when CUDA is asked for and this build has
    /// no CUDA support or no GPU can be opened; the message says what to do.
    pub fn device(self) -> Result<Device> {
        match self {
            Self::Cpu => Ok(Device::Cpu),
            Self::Cuda if candle_core::utils::cuda_is_available() => {
                Device::new_cuda(0).map_err(|e| {
                    ClipError::Missing(format!(
                        "device cuda: no usable GPU ({}); check that `nvidia-smi` lists one, or use the cpu device",
                        crate::diagnostics::without_backtrace(e)
                    ))
                })
            }
            Self::Cuda => Err(ClipError::Missing(
                "device cuda: this softtext was built without CUDA; rebuild with `--features cuda` (README \"GPU\") or use the cpu device"
                    .into(),
            )),
        }
    }
}

/// Storage and compute dtype of the encoders' weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// 32-bit floats (the default; the reference precision).
    #[default]
    F32,
    /// IEEE half precision.
    F16,
    /// bfloat16.
    Bf16,
}

impl Precision {
    /// The candle dtype the weights are loaded in.
    pub fn dtype(self) -> DType {
        match self {
            Self::F32 => DType::F32,
            Self::F16 => DType::F16,
            Self::Bf16 => DType::BF16,
        }
    }
}

impl FromStr for Precision {
    type Err = ClipError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "f32" => Ok(Self::F32),
            "f16" => Ok(Self::F16),
            "bf16" => Ok(Self::Bf16),
            other => Err(ClipError::invalid(format!(
                "unknown dtype {other:?} (use f32, f16 or bf16)"
            ))),
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::F32 => "f32",
            Self::F16 => "f16",
            Self::Bf16 => "bf16",
        })
    }
}

/// A loaded CLIP checkpoint, ready to encode.
pub struct Clip {
    /// The checkpoint's files it was loaded from.
    pub files: ClipFiles,
    /// Both encoders and their projections.
    pub model: ClipModel,
    /// The checkpoint's `tokenizer.json`, with OpenAI's markers and padding.
    pub tokenizer: ClipTokenizer,
    /// The image preprocessing matching the model's input size.
    pub preprocess: Preprocess,
    /// Where the encoders run.
    pub device: Device,
    /// The dtype the weights are stored and computed in.
    pub precision: Precision,
}

impl Clip {
    /// Reads the config, tokenizer and preprocessing, memory-maps the weights onto `device`
    /// in `precision` and builds both encoders. Errors name the file at fault; a weights
    /// file with a missing or misshapen tensor is a [`ClipError::Checkpoint`].
    pub fn load(files: &ClipFiles, device: DeviceKind, precision: Precision) -> Result<Self> {
        let config = ClipConfig::from_file(&files.config)?;
        let tokenizer = ClipTokenizer::from_file(&files.tokenizer)?;
        let preprocess = Preprocess::for_image_size(files, config.vision_config.image_size)?;
        let device = device.device()?;
        // SAFETY: the weights file is memory-mapped read-only; softtext never writes to a
        // checkpoint while it is loaded, and the error on a concurrently truncated file is the
        // usual SIGBUS risk of every mmap-based loader (candle, safetensors).
        let vb = unsafe {
            VarBuilder::from_mmaped_safetensors(&[&files.weights], precision.dtype(), &device)
        }
        .map_err(|e| {
            let e = crate::diagnostics::without_backtrace(e);
            ClipError::checkpoint(&files.weights, format!("cannot read: {e}"))
        })?;
        let model = ClipModel::new(vb, &config)
            .map_err(|e| ClipError::checkpoint(&files.weights, describe_load_error(e)))?;
        Ok(Self {
            files: files.clone(),
            model,
            tokenizer,
            preprocess,
            device,
            precision,
        })
    }

    /// Width of the joint embedding space (`projection_dim`, e.g. 768 for ViT-L/14).
    pub fn dim(&self) -> usize {
        self.model.config.projection_dim
    }

    /// L2-normalised text embeddings, one row per text, row-major `[texts, dim]`, for
    /// token-id rows as [`ClipTokenizer::encode`] makes them.
    pub fn encode_token_ids(&self, ids: &[Vec<u32>]) -> Result<Vec<f32>> {
        let features = self.model.text_features(ids, &self.device)?;
        Ok(model::l2_normalize(&features)?
            .flatten_all()?
            .to_vec1::<f32>()?)
    }

    /// L2-normalised image embeddings, row-major `[batch, dim]`, for a batch of preprocessed
    /// pixels: `batch` images of CHW floats back to back, as [`Preprocess::pixel_values_into`]
    /// appends them (`batch * 3 * size * size` values).
    pub fn encode_pixel_values(&self, pixels: Vec<f32>, batch: usize) -> Result<Vec<f32>> {
        let size = self.model.config.vision_config.image_size;
        let pixel_values = Tensor::from_vec(pixels, (batch, 3, size, size), &self.device)?;
        let features = self.model.image_features(&pixel_values)?;
        Ok(model::l2_normalize(&features)?
            .flatten_all()?
            .to_vec1::<f32>()?)
    }
}

/// A checkpoint whose cache key and preprocessing are known without reading its weights,
/// and which loads the model only when something must be encoded. A rerun whose outputs are
/// all cached therefore never loads (or, after the first run, even hashes) the weights.
pub struct LazyClip {
    files: ClipFiles,
    device: DeviceKind,
    precision: Precision,
    fingerprint: OnceLock<String>,
    preprocess: OnceLock<Preprocess>,
    clip: OnceLock<Clip>,
}

impl fmt::Debug for LazyClip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LazyClip")
            .field("files", &self.files)
            .field("device", &self.device)
            .field("precision", &self.precision)
            .field("loaded", &self.is_loaded())
            .finish()
    }
}

impl LazyClip {
    /// Remembers the checkpoint; reads nothing yet.
    pub fn new(files: ClipFiles, device: DeviceKind, precision: Precision) -> Self {
        Self {
            files,
            device,
            precision,
            fingerprint: OnceLock::new(),
            preprocess: OnceLock::new(),
            clip: OnceLock::new(),
        }
    }

    /// The checkpoint's files.
    pub fn files(&self) -> &ClipFiles {
        &self.files
    }

    /// Where the model runs once loaded.
    pub fn device(&self) -> DeviceKind {
        self.device
    }

    /// The dtype the model is loaded in.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// [`ClipFiles::fingerprint`], computed on the first call only.
    pub fn fingerprint(&self) -> Result<&str> {
        if let Some(done) = self.fingerprint.get() {
            return Ok(done);
        }
        let computed = self.files.fingerprint()?;
        Ok(self.fingerprint.get_or_init(|| computed))
    }

    /// The checkpoint's preprocessing, read from its small JSON files (not the weights).
    pub fn preprocess(&self) -> Result<&Preprocess> {
        if let Some(clip) = self.clip.get() {
            return Ok(&clip.preprocess);
        }
        if let Some(done) = self.preprocess.get() {
            return Ok(done);
        }
        let read = Preprocess::for_checkpoint(&self.files)?;
        Ok(self.preprocess.get_or_init(|| read))
    }

    /// The loaded model, loading it on the first call.
    pub fn get(&self) -> Result<&Clip> {
        if let Some(clip) = self.clip.get() {
            return Ok(clip);
        }
        let loaded = Clip::load(&self.files, self.device, self.precision)?;
        Ok(self.clip.get_or_init(|| loaded))
    }

    /// Whether [`LazyClip::get`] has loaded the model.
    pub fn is_loaded(&self) -> bool {
        self.clip.get().is_some()
    }
}

/// candle's messages for the two mistakes a user can fix, in the user's words.
fn describe_load_error(e: candle_core::Error) -> String {
    let text = crate::diagnostics::without_backtrace(e)
        .to_string()
        .replace('\n', " ");
    if let Some(name) = text.strip_prefix("cannot find tensor ") {
        format!(
            "missing tensor `{}` (not a complete Hugging Face CLIPModel checkpoint)",
            name.trim()
        )
    } else if text.starts_with("shape mismatch") {
        format!("{text} (config.json does not describe these weights)")
    } else {
        text
    }
}
