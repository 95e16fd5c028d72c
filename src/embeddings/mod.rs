//! Embedding files: what `encode-images` and `encode-texts` write and every later stage reads.
//!
//! A safetensors file with
//! * `embeddings`: `[N, D]` f32, each row L2-normalised, in the documented order (input order
//!   for texts; dataset order, class then id, for images);
//! * `labels`: `[N]` i64 class indices (image files only);
//! * metadata (`__metadata__`, all strings): `softtext.format` = `embeddings-v1`,
//!   `softtext.kind` (`image`/`text`), `softtext.ids` (JSON array: image ids or the texts),
//!   `softtext.classes` (JSON array, image files), `softtext.key` (the cache key of the
//!   inputs), `softtext.checksum` (BLAKE3 of the tensor bytes), plus descriptive fields
//!   (`softtext.model`, `softtext.data`, `softtext.split`, `softtext.dtype`,
//!   `softtext.device`, `softtext.version`).
//!
//! Reading validates all of it, so a truncated, edited or foreign file is an error, and a
//! cache lookup treats it as absent.
//!
//! The pipeline's third stage: [`encode`] makes [`Embeddings`] with [`crate::clip::Clip`],
//! and the zero-shot evaluation and UMAP figures read them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, TensorView};

use crate::artifact::{write_atomic, FileError, IoContext};
use crate::clip::ClipError;
use crate::data::DataError;

/// What can go wrong making, writing or reading embedding files.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmbeddingsError {
    /// A file could not be read or written.
    #[error(transparent)]
    Io(#[from] FileError),
    /// A file that is not a valid embedding file (truncated, edited, foreign); the message
    /// names what is wrong.
    #[error("{}: {message}", path.display())]
    Format {
        /// The file at fault.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// Embeddings that do not fit together (shapes, row counts).
    #[error("{0}")]
    Invalid(String),
    /// The model failed to load or encode.
    #[error(transparent)]
    Clip(#[from] ClipError),
    /// An image could not be read from the dataset.
    #[error(transparent)]
    Data(#[from] DataError),
}

impl EmbeddingsError {
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid(message.into())
    }
}

type Result<T, E = EmbeddingsError> = std::result::Result<T, E>;

/// Value of the `softtext.format` metadata key; a file with another value is refused.
pub const FORMAT: &str = "embeddings-v1";

/// What the rows embed (`softtext.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Dataset images; the file has `labels`.
    Image,
    /// Texts (prompts); the ids are the texts themselves.
    Text,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Image => "image",
            Kind::Text => "text",
        }
    }
}

/// An embedding file in memory: one L2-normalised row per image or text.
#[derive(Debug, Clone, PartialEq)]
pub struct Embeddings {
    /// Image or text rows.
    pub kind: Kind,
    /// Width of a row (the model's joint embedding width).
    pub dim: usize,
    /// Row-major `[ids.len(), dim]`.
    pub data: Vec<f32>,
    /// One per row: the image's sample id, or the text.
    pub ids: Vec<String>,
    /// Class index per row (image files).
    pub labels: Option<Vec<i64>>,
    /// Class names in label order (image files; empty for texts).
    pub classes: Vec<String>,
    /// The cache key of the inputs that produced this file.
    pub key: String,
    /// Descriptive metadata (`model`, `data`, `split`, `dtype`, `device`, `version`, ...),
    /// stored with a `softtext.` prefix.
    pub info: HashMap<String, String>,
}

impl Embeddings {
    /// The class index of each row (an image file's `labels`); empty for a text file.
    pub fn label_indices(&self) -> Vec<usize> {
        self.labels
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|&label| label as usize)
            .collect()
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Row `i`, `dim` values; panics when `i >= len()`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    fn checksum(data: &[f32], labels: Option<&[i64]>) -> String {
        let mut h = blake3::Hasher::new();
        for x in data {
            h.update(&x.to_le_bytes());
        }
        if let Some(labels) = labels {
            for l in labels {
                h.update(&l.to_le_bytes());
            }
        }
        h.finalize().to_hex().to_string()
    }

    fn check_shape(&self) -> Result<()> {
        if self.dim == 0 || self.data.len() != self.ids.len() * self.dim {
            return Err(EmbeddingsError::invalid(format!(
                "embeddings: {} values do not form {} rows of {}",
                self.data.len(),
                self.ids.len(),
                self.dim
            )));
        }
        if let Some(labels) = &self.labels {
            if labels.len() != self.ids.len() {
                return Err(EmbeddingsError::invalid(format!(
                    "embeddings: {} labels for {} rows",
                    labels.len(),
                    self.ids.len()
                )));
            }
        }
        Ok(())
    }

    /// Writes atomically (temporary file, then rename): a reader never sees half a file.
    /// [`EmbeddingsError::Invalid`] when `data`, `ids` and `labels` do not fit together.
    pub fn save(&self, path: &Path) -> Result<()> {
        self.check_shape()?;
        let data_bytes: Vec<u8> = self.data.iter().flat_map(|x| x.to_le_bytes()).collect();
        let label_bytes: Option<Vec<u8>> = self
            .labels
            .as_ref()
            .map(|l| l.iter().flat_map(|x| x.to_le_bytes()).collect());
        let mut tensors = vec![(
            "embeddings".to_string(),
            TensorView::new(Dtype::F32, vec![self.ids.len(), self.dim], &data_bytes)
                .map_err(|e| EmbeddingsError::invalid(e.to_string()))?,
        )];
        if let Some(bytes) = &label_bytes {
            tensors.push((
                "labels".to_string(),
                TensorView::new(Dtype::I64, vec![self.ids.len()], bytes)
                    .map_err(|e| EmbeddingsError::invalid(e.to_string()))?,
            ));
        }
        let mut meta: HashMap<String, String> = self
            .info
            .iter()
            .map(|(k, v)| (format!("softtext.{k}"), v.clone()))
            .collect();
        meta.insert("softtext.format".into(), FORMAT.into());
        meta.insert("softtext.kind".into(), self.kind.as_str().into());
        meta.insert("softtext.key".into(), self.key.clone());
        meta.insert(
            "softtext.ids".into(),
            serde_json::to_string(&self.ids).expect("strings serialise"),
        );
        meta.insert(
            "softtext.classes".into(),
            serde_json::to_string(&self.classes).expect("strings serialise"),
        );
        meta.insert(
            "softtext.checksum".into(),
            Self::checksum(&self.data, self.labels.as_deref()),
        );
        let bytes =
            safetensors::serialize(tensors, Some(meta)).map_err(|e| EmbeddingsError::Format {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        Ok(write_atomic(path, &bytes)?)
    }

    /// Reads and validates a file written by [`Embeddings::save`]; anything else is an
    /// [`EmbeddingsError::Format`] saying what is wrong.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).at(path)?;
        Self::from_bytes(&bytes).map_err(|message| EmbeddingsError::Format {
            path: path.to_path_buf(),
            message,
        })
    }

    fn from_bytes(bytes: &[u8]) -> std::result::Result<Self, String> {
        let (_, header) = safetensors::SafeTensors::read_metadata(bytes)
            .map_err(|e| format!("not a safetensors file ({e})"))?;
        let meta = header
            .metadata()
            .clone()
            .ok_or("no softtext metadata (not written by softtext?)")?;
        let get = |k: &str| {
            meta.get(&format!("softtext.{k}"))
                .cloned()
                .ok_or_else(|| format!("metadata field softtext.{k} is missing"))
        };
        if get("format")? != FORMAT {
            return Err(format!(
                "softtext.format is {:?}, expected {FORMAT}",
                get("format")?
            ));
        }
        let kind = match get("kind")?.as_str() {
            "image" => Kind::Image,
            "text" => Kind::Text,
            other => return Err(format!("softtext.kind {other:?} is neither image nor text")),
        };
        let ids: Vec<String> =
            serde_json::from_str(&get("ids")?).map_err(|e| format!("softtext.ids: {e}"))?;
        let classes: Vec<String> =
            serde_json::from_str(&get("classes")?).map_err(|e| format!("softtext.classes: {e}"))?;
        let tensors = safetensors::SafeTensors::deserialize(bytes)
            .map_err(|e| format!("not a safetensors file ({e})"))?;
        let emb = tensors
            .tensor("embeddings")
            .map_err(|_| "no `embeddings` tensor".to_string())?;
        if emb.dtype() != Dtype::F32 || emb.shape().len() != 2 || emb.shape()[0] != ids.len() {
            return Err(format!(
                "`embeddings` must be f32 [{}, D], is {:?} {:?}",
                ids.len(),
                emb.dtype(),
                emb.shape()
            ));
        }
        let dim = emb.shape()[1];
        let data: Vec<f32> = emb
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let labels = match tensors.tensor("labels") {
            Ok(t) => {
                if t.dtype() != Dtype::I64 || t.shape() != [ids.len()] {
                    return Err(format!(
                        "`labels` must be i64 [{}], is {:?} {:?}",
                        ids.len(),
                        t.dtype(),
                        t.shape()
                    ));
                }
                let labels: Vec<i64> = t
                    .data()
                    .chunks_exact(8)
                    .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")))
                    .collect();
                if let Some((i, l)) = labels
                    .iter()
                    .enumerate()
                    .find(|(_, &l)| l < 0 || l as usize >= classes.len())
                {
                    return Err(format!("labels[{i}] = {l} is not a class index"));
                }
                Some(labels)
            }
            Err(_) if kind == Kind::Image => return Err("image file without `labels`".into()),
            Err(_) => None,
        };
        if Self::checksum(&data, labels.as_deref()) != get("checksum")? {
            return Err("checksum mismatch: the tensors were changed or truncated".into());
        }
        let info = meta
            .iter()
            .filter_map(|(k, v)| {
                k.strip_prefix("softtext.")
                    .map(|k| (k.to_string(), v.clone()))
            })
            .filter(|(k, _)| {
                !["format", "kind", "key", "ids", "classes", "checksum"].contains(&k.as_str())
            })
            .collect();
        Ok(Self {
            kind,
            dim,
            data,
            ids,
            labels,
            classes,
            key: get("key")?,
            info,
        })
    }

    /// The file at `path` if it is valid and was made from inputs with cache key `key`.
    /// Anything else (absent, corrupt, stale) is `None`: the caller recomputes.
    pub fn load_if_fresh(path: &Path, key: &str) -> Option<Self> {
        Self::load(path).ok().filter(|e| e.key == key)
    }
}

pub mod encode;
pub mod import;
pub mod shard;
