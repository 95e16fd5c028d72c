use super::at_least_one;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;

use super::{status, Bars};
use crate::clip::{Clip, ClipFiles, DeviceKind, LazyClip, Overflow, Precision};
use crate::data::{DataSpec, Dataset, Split};
use crate::embeddings::encode::{encode_dataset, encode_texts, image_cache_key};
use crate::embeddings::{Embeddings, Kind};
use crate::error::{Error, IoContext, Result};

/// Options shared by the encoders.
#[derive(Debug, Args)]
pub struct ModelArgs {
    /// CLIP checkpoint: a Hugging Face folder or a repo id in the local hub cache.
    #[arg(long, value_name = "CLIP")]
    pub clip: String,
    /// Where to run the encoders.
    #[arg(long, default_value = "cpu", value_name = "cpu|cuda")]
    pub device: DeviceKind,
    /// Weight and activation dtype (f16/bf16 are for GPUs; outputs are always f32).
    #[arg(long, default_value = "f32", value_name = "f32|f16|bf16")]
    pub dtype: Precision,
}

impl ModelArgs {
    fn load(&self) -> Result<Clip> {
        let files = ClipFiles::resolve(&self.clip)?;
        Ok(Clip::load(&files, self.device, self.dtype)?)
    }

    /// The checkpoint, loaded only when something must be encoded.
    fn lazy(&self) -> Result<LazyClip> {
        let files = ClipFiles::resolve(&self.clip)?;
        Ok(LazyClip::new(files, self.device, self.dtype))
    }

    fn info(&self) -> HashMap<String, String> {
        HashMap::from([
            ("model".to_string(), self.clip.clone()),
            ("dtype".to_string(), self.dtype.to_string()),
            ("device".to_string(), self.device.to_string()),
            ("version".to_string(), crate::VERSION.to_string()),
        ])
    }
}

#[derive(Debug, Args)]
pub struct EncodeTextsArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Output safetensors file: `embeddings` [N, D] f32, L2-normalised, in input order.
    #[arg(long, value_name = "FILE.safetensors")]
    out: PathBuf,
    /// Read texts from this file, one per line (blank lines skipped).
    #[arg(long, value_name = "FILE", conflicts_with = "texts")]
    texts_file: Option<PathBuf>,
    /// Keep the first 76 tokens of a long text (default: error).
    #[arg(long)]
    truncate: bool,
    /// Texts encoded per forward pass.
    #[arg(long, default_value_t = 256)]
    batch_size: usize,
    /// Texts to encode.
    #[arg(value_name = "TEXT", required_unless_present = "texts_file")]
    texts: Vec<String>,
}

pub fn run_texts(args: EncodeTextsArgs) -> Result<()> {
    let texts = match &args.texts_file {
        Some(path) => read_lines(path)?,
        None => args.texts.clone(),
    };
    if texts.is_empty() {
        return Err(Error::invalid("no texts to encode"));
    }
    let clip = args.model.load()?;
    let overflow = if args.truncate {
        Overflow::Truncate
    } else {
        Overflow::Error
    };
    let started = Instant::now();
    let data = encode_texts(&clip, &texts, overflow, args.batch_size, &Bars)?;
    let embeddings = Embeddings {
        kind: Kind::Text,
        dim: clip.dim(),
        data,
        ids: texts,
        labels: None,
        classes: Vec::new(),
        key: String::new(),
        info: args.model.info(),
    };
    embeddings.save(&args.out)?;
    status(format!(
        "wrote {} ({} texts x {} dims) in {:.2}s",
        args.out.display(),
        embeddings.len(),
        embeddings.dim,
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

fn read_lines(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).at(path)?;
    Ok(text
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.trim().is_empty())
        .map(String::from)
        .collect())
}

#[derive(Debug, Args)]
pub struct EncodeImagesArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Dataset: folder:PATH (directory, .tar or .tar.gz laid out SPLIT/CLASS/IMAGE) or
    /// cifar10-bin:PATH (cifar-10-binary.tar.gz or cifar-10-batches-bin/).
    #[arg(long, value_name = "SPEC")]
    pub data: DataSpec,
    /// Which split to encode.
    #[arg(long, default_value = "test", value_name = "train|test")]
    pub split: Split,
    /// Output safetensors file: `embeddings` [N, D] f32 (L2-normalised), `labels` [N] i64,
    /// image ids in the metadata; rows in dataset order (class, then id).
    #[arg(long, value_name = "FILE.safetensors")]
    pub out: PathBuf,
    /// Images encoded per forward pass.
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Encode at most N images, taken round-robin over classes so all stay represented.
    #[arg(long, value_name = "N", value_parser = at_least_one)]
    pub limit: Option<usize>,
    /// Re-encode even if OUT already holds embeddings of the same inputs.
    #[arg(long)]
    pub force: bool,
}

/// Encodes (or finds up to date) the image embeddings; returns whether the cache was used.
pub fn run_images(args: EncodeImagesArgs) -> Result<bool> {
    let started = Instant::now();
    let mut dataset = Dataset::load(&args.data, args.split, None)?;
    if let Some(limit) = args.limit {
        dataset.balanced_limit(limit);
    }
    // The key needs the checkpoint's fingerprint and preprocessing, not its weights: an up
    // to date file is found without loading the model.
    let clip = args.model.lazy()?;
    let checkpoint_hash = clip.fingerprint()?.to_string();
    let key = image_cache_key(
        &checkpoint_hash,
        clip.preprocess()?,
        args.model.dtype,
        args.model.device,
        &dataset.manifest_hash(),
    );
    if !args.force {
        if let Some(cached) = Embeddings::load_if_fresh(&args.out, &key) {
            status(format!(
                "{} is up to date ({} images, cache key {}); nothing to do",
                args.out.display(),
                cached.len(),
                &key[..12]
            ));
            return Ok(true);
        }
    }
    status(format!(
        "encoding {} {} images from {} with {} ({}, {})",
        dataset.len(),
        dataset.split,
        args.data,
        args.model.clip,
        args.model.device,
        args.model.dtype
    ));
    let encode_started = Instant::now();
    let clip = clip.get()?;
    let data = encode_dataset(clip, &dataset, args.batch_size, &Bars)?;
    let encode_seconds = encode_started.elapsed().as_secs_f64();
    let mut info = args.model.info();
    info.insert("data".into(), args.data.to_string());
    info.insert("split".into(), args.split.to_string());
    info.insert("checkpoint_hash".into(), checkpoint_hash);
    let embeddings = Embeddings {
        kind: Kind::Image,
        dim: clip.dim(),
        data,
        ids: dataset.ids(),
        labels: Some(dataset.labels()),
        classes: dataset.classes.clone(),
        key,
        info,
    };
    embeddings.save(&args.out)?;
    status(format!(
        "wrote {} ({} images x {} dims) in {:.1}s ({:.1} images/s encoding)",
        args.out.display(),
        embeddings.len(),
        embeddings.dim,
        started.elapsed().as_secs_f64(),
        embeddings.len() as f64 / encode_seconds.max(1e-9)
    ));
    Ok(false)
}
