//! `softtext encode-texts`, `softtext encode-images` and `softtext merge-embeddings`.

use std::path::PathBuf;

use clap::Args;
use softtext::clip::{DeviceKind, Overflow, Precision};
use softtext::data::{Cifar100Label, DataSpec, Split};
use softtext::embeddings::shard::Shard;
use softtext::observe::Observer;
use softtext::study::{
    defaults, encode_images, encode_texts, merge_embeddings, read_lines, ClipSpec, ImageEncoding,
    TextEncoding,
};
use softtext::Result;

use super::at_least_one;

/// Options shared by the encoders.
#[derive(Debug, Args)]
pub struct ModelArgs {
    /// CLIP checkpoint: a Hugging Face folder or a repo id in the local hub cache.
    #[arg(long, value_name = "CLIP")]
    pub clip: String,
    /// Where to run the encoders.
    #[arg(long, default_value_t = DeviceKind::default(), value_name = "cpu|cuda")]
    pub device: DeviceKind,
    /// Weight and activation dtype (f16/bf16 are for GPUs; outputs are always f32).
    #[arg(long, default_value_t = Precision::default(), value_name = "f32|f16|bf16")]
    pub dtype: Precision,
}

impl ModelArgs {
    fn spec(&self) -> ClipSpec {
        ClipSpec {
            model: self.clip.clone(),
            device: self.device,
            precision: self.dtype,
        }
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
    #[arg(long, default_value_t = defaults::TEXT_BATCH_SIZE)]
    batch_size: usize,
    /// Texts to encode.
    #[arg(value_name = "TEXT", required_unless_present = "texts_file")]
    texts: Vec<String>,
}

pub fn run_texts(args: EncodeTextsArgs, observer: &dyn Observer) -> Result<()> {
    let texts = match &args.texts_file {
        Some(path) => read_lines(path)?,
        None => args.texts.clone(),
    };
    let params = TextEncoding {
        clip: args.model.spec(),
        texts,
        overflow: if args.truncate {
            Overflow::Truncate
        } else {
            Overflow::Error
        },
        batch_size: args.batch_size,
    };
    encode_texts(&params, &args.out, observer).map(|_| ())
}

#[derive(Debug, Args)]
pub struct EncodeImagesArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Dataset: folder:PATH (directory, .tar or .tar.gz laid out SPLIT/CLASS/IMAGE, with an
    /// optional classnames.txt), cifar10-bin:PATH, cifar100-bin:PATH (fine labels),
    /// cifar100-coarse-bin:PATH (the 20 superclasses) or stl10-bin:PATH (the official
    /// binary releases, as .tar.gz or extracted).
    #[arg(long, value_name = "SPEC")]
    pub data: DataSpec,
    /// CIFAR-100 labelling: fine (100 classes, the default) or coarse (20 superclasses);
    /// the same as writing cifar100-coarse-bin:PATH.
    #[arg(long, value_name = "fine|coarse")]
    pub label: Option<Cifar100Label>,
    /// Which split to encode.
    #[arg(long, default_value_t = defaults::SPLIT, value_name = "train|test")]
    pub split: Split,
    /// Output safetensors file: `embeddings` [N, D] f32 (L2-normalised), `labels` [N] i64,
    /// image ids in the metadata; rows in dataset order (class, then id).
    #[arg(long, value_name = "FILE.safetensors")]
    pub out: PathBuf,
    /// Images encoded per forward pass.
    #[arg(long, default_value_t = defaults::IMAGE_BATCH_SIZE)]
    pub batch_size: usize,
    /// Encode at most N images, taken round-robin over classes so all stay represented.
    #[arg(long, value_name = "N", value_parser = at_least_one)]
    pub limit: Option<usize>,
    /// Re-encode even if OUT already holds embeddings of the same inputs.
    #[arg(long)]
    pub force: bool,
    /// Encode only slice I of N (numbered from 0) of the dataset order, for one task of a
    /// cluster job; join the shard files with `softtext merge-embeddings`. Default: from
    /// SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT when they are set, else everything.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<Shard>,
}

pub fn run_images(args: EncodeImagesArgs, observer: &dyn Observer) -> Result<()> {
    let data = match args.label {
        Some(label) => args.data.with_cifar100_label(label)?,
        None => args.data,
    };
    let params = ImageEncoding {
        clip: args.model.spec(),
        data,
        split: args.split,
        batch_size: args.batch_size,
        limit: args.limit,
        force: args.force,
        shard: super::shard_or_slurm(args.shard)?,
    };
    encode_images(&params, &args.out, observer).map(|_| ())
}

#[derive(Debug, Args)]
pub struct MergeEmbeddingsArgs {
    /// The merged file: the one an unsharded `encode-images` run writes.
    #[arg(value_name = "OUT.safetensors")]
    pub out: PathBuf,
    /// Every shard file of one run (`encode-images --shard I/N`), in any order.
    #[arg(value_name = "SHARD.safetensors", required = true)]
    pub shards: Vec<PathBuf>,
}

pub fn run_merge(args: MergeEmbeddingsArgs, observer: &dyn Observer) -> Result<()> {
    merge_embeddings(&args.shards, &args.out, observer).map(|_| ())
}
