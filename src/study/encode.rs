//! The encoding stages: a dataset split into an image embedding file (content-keyed, so an
//! up-to-date file is reused), and a list of texts into a text embedding file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::config::defaults;
use super::error::StudyError;
use crate::artifact::content_key;
use crate::clip::{Clip, ClipFiles, DeviceKind, LazyClip, Overflow, Precision};
use crate::data::{DataSpec, Dataset, Split};
use crate::embeddings::encode::{
    encode_dataset, encode_texts as encode_text_list, image_cache_key,
};
use crate::embeddings::shard::{merge, Shard};
use crate::embeddings::{Embeddings, Kind};
use crate::error::Result;
use crate::observe::Observer;

/// A CLIP checkpoint and where and how its encoders run.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipSpec {
    /// A Hugging Face folder, or a repo id in the local hub cache.
    pub model: String,
    /// Where the encoders run.
    pub device: DeviceKind,
    /// Weight and activation dtype (embeddings are stored as f32).
    pub precision: Precision,
}

impl ClipSpec {
    /// The checkpoint on the CPU in f32.
    pub fn cpu(model: impl Into<String>) -> Self {
        Self {
            model: model.into(),
            device: DeviceKind::Cpu,
            precision: Precision::F32,
        }
    }

    /// Finds the checkpoint's files (no network).
    pub fn files(&self) -> Result<ClipFiles> {
        Ok(ClipFiles::resolve(&self.model)?)
    }

    /// Loads the model.
    pub fn load(&self) -> Result<Clip> {
        Ok(Clip::load(&self.files()?, self.device, self.precision)?)
    }

    /// The model, loaded on first use: its fingerprint and preprocessing are known before
    /// (and without) reading the weights.
    pub fn lazy(&self) -> Result<LazyClip> {
        Ok(LazyClip::new(self.files()?, self.device, self.precision))
    }

    /// The metadata every embedding file records about its encoder.
    fn info(&self) -> HashMap<String, String> {
        HashMap::from([
            ("model".to_string(), self.model.clone()),
            ("dtype".to_string(), self.precision.to_string()),
            ("device".to_string(), self.device.to_string()),
            ("version".to_string(), crate::VERSION.to_string()),
        ])
    }
}

/// What to encode into an image embedding file.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageEncoding {
    /// The encoder.
    pub clip: ClipSpec,
    /// The dataset.
    pub data: DataSpec,
    /// Which split.
    pub split: Split,
    /// Images per forward pass.
    pub batch_size: usize,
    /// Encode at most this many images, taken round-robin over classes.
    pub limit: Option<usize>,
    /// Re-encode even when the output already holds embeddings of the same inputs.
    pub force: bool,
    /// Encode only this contiguous slice of the dataset order (after `limit`, aligned to
    /// `batch_size`); the shard files of all slices, encoded with the same batch size, join
    /// into the unsharded run's file, bit for bit, with [`merge_embeddings`].
    pub shard: Option<Shard>,
}

impl ImageEncoding {
    /// The test split of `data` with `clip`, at the default batch size.
    pub fn new(clip: ClipSpec, data: DataSpec) -> Self {
        Self {
            clip,
            data,
            split: defaults::SPLIT,
            batch_size: defaults::IMAGE_BATCH_SIZE,
            limit: None,
            force: false,
            shard: None,
        }
    }
}

/// An image embedding file, freshly written or found up to date.
#[derive(Debug, Clone)]
pub struct EncodedImages {
    /// The file.
    pub path: PathBuf,
    /// Its content.
    pub embeddings: Embeddings,
    /// Whether the file was already up to date (nothing was encoded).
    pub cached: bool,
}

/// Encodes a dataset split into `out` (`embeddings` `[N, D]` f32, L2-normalised, `labels`,
/// ids in the metadata; rows in dataset order), unless `out` already holds embeddings of the
/// same checkpoint, preprocessing, dtype, device and images.
pub fn encode_images(
    params: &ImageEncoding,
    out: &Path,
    observer: &dyn Observer,
) -> Result<EncodedImages> {
    if params.limit == Some(0) {
        return Err(StudyError::Config("limit: must be at least 1".into()).into());
    }
    let started = Instant::now();
    let mut dataset = Dataset::load(&params.data, params.split, None)?;
    if let Some(limit) = params.limit {
        dataset.balanced_limit(limit);
    }
    // Up to date or not is decided from the checkpoint's fingerprint and preprocessing,
    // before (and, on a hit, without) loading the weights.
    let lazy = params.clip.lazy()?;
    let checkpoint_hash = lazy.fingerprint()?.to_string();
    let full_key = image_cache_key(
        &checkpoint_hash,
        lazy.preprocess()?,
        params.clip.precision,
        params.clip.device,
        &dataset.manifest_hash(),
    );
    // A shard is keyed by the whole run's key (the whole dataset's manifest) and its slice.
    let total = dataset.len();
    let shard_range = params
        .shard
        .map(|shard| shard.range(total, params.batch_size));
    let key = match (params.shard, &shard_range) {
        (Some(shard), Some(range)) => {
            dataset.samples = dataset.samples.drain(range.clone()).collect();
            let rows = format!("{range:?}");
            content_key(
                "softtext-image-shard-v1",
                &[&full_key, &shard.to_string(), &rows],
            )
        }
        _ => full_key.clone(),
    };
    if !params.force {
        if let Some(cached) = Embeddings::load_if_fresh(out, &key) {
            observer.status(&format!(
                "{} is up to date ({} images, cache key {}); nothing to do",
                out.display(),
                cached.len(),
                &key[..12]
            ));
            return Ok(EncodedImages {
                path: out.to_path_buf(),
                embeddings: cached,
                cached: true,
            });
        }
    }
    observer.status(&format!(
        "encoding {} {} images{} from {} with {} ({}, {})",
        dataset.len(),
        dataset.split,
        match (params.shard, &shard_range) {
            (Some(s), Some(range)) => format!(" (shard {s}: rows {range:?} of {total})"),
            _ => String::new(),
        },
        params.data,
        params.clip.model,
        params.clip.device,
        params.clip.precision
    ));
    let clip = lazy.get()?;
    let encode_started = Instant::now();
    let data = encode_dataset(clip, &dataset, params.batch_size, observer)?;
    let encode_seconds = encode_started.elapsed().as_secs_f64();
    let mut info = params.clip.info();
    info.insert("data".into(), params.data.to_string());
    info.insert("split".into(), params.split.to_string());
    info.insert("checkpoint_hash".into(), checkpoint_hash);
    let mut embeddings = Embeddings {
        kind: Kind::Image,
        dim: clip.dim(),
        data,
        ids: dataset.ids(),
        labels: Some(dataset.labels()),
        classes: dataset.classes.clone(),
        key,
        info,
    };
    if let (Some(shard), Some(range)) = (params.shard, shard_range) {
        shard.annotate(&mut embeddings, range, total, &full_key);
    }
    embeddings.save(out)?;
    observer.status(&format!(
        "wrote {} ({} images x {} dims) in {:.1}s ({:.1} images/s encoding)",
        out.display(),
        embeddings.len(),
        embeddings.dim,
        started.elapsed().as_secs_f64(),
        embeddings.len() as f64 / encode_seconds.max(1e-9)
    ));
    Ok(EncodedImages {
        path: out.to_path_buf(),
        embeddings,
        cached: false,
    })
}

/// What to encode into a text embedding file.
#[derive(Debug, Clone, PartialEq)]
pub struct TextEncoding {
    /// The encoder.
    pub clip: ClipSpec,
    /// The texts, in output order (each unique text is encoded once).
    pub texts: Vec<String>,
    /// What to do with a text longer than CLIP's 77-token context.
    pub overflow: Overflow,
    /// Texts per forward pass.
    pub batch_size: usize,
}

/// Encodes texts into `out` (`embeddings` `[N, D]` f32, L2-normalised, in input order).
pub fn encode_texts(
    params: &TextEncoding,
    out: &Path,
    observer: &dyn Observer,
) -> Result<Embeddings> {
    if params.texts.is_empty() {
        return Err(StudyError::Config("no texts to encode".into()).into());
    }
    let clip = params.clip.load()?;
    let started = Instant::now();
    let data = encode_text_list(
        &clip,
        &params.texts,
        params.overflow,
        params.batch_size,
        observer,
    )?;
    let embeddings = Embeddings {
        kind: Kind::Text,
        dim: clip.dim(),
        data,
        ids: params.texts.clone(),
        labels: None,
        classes: Vec::new(),
        key: String::new(),
        info: params.clip.info(),
    };
    embeddings.save(out)?;
    observer.status(&format!(
        "wrote {} ({} texts x {} dims) in {:.2}s",
        out.display(),
        embeddings.len(),
        embeddings.dim,
        started.elapsed().as_secs_f64()
    ));
    Ok(embeddings)
}

/// Joins the shard files of one sharded encoding (`encode_images` with
/// [`ImageEncoding::shard`], one file per slice, in any order) into `out`: the file the
/// unsharded run writes, with the same rows, tensors and cache key. Refuses shards of
/// different runs, overlaps and gaps before writing anything.
pub fn merge_embeddings(
    shards: &[PathBuf],
    out: &Path,
    observer: &dyn Observer,
) -> Result<Embeddings> {
    let loaded = shards
        .iter()
        .map(|path| Ok((path.display().to_string(), Embeddings::load(path)?)))
        .collect::<Result<Vec<_>>>()?;
    let merged = merge(&loaded)?;
    merged.save(out)?;
    observer.status(&format!(
        "merged {} shards into {} ({} images x {} dims)",
        shards.len(),
        out.display(),
        merged.len(),
        merged.dim
    ));
    Ok(merged)
}
