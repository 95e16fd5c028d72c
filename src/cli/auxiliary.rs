//! `softtext aux train` and `softtext aux predict`: the auxiliary classifier whose top-k
//! classes per image the soft texts relate.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use softtext::auxiliary::classifier::augment::Augment;
use softtext::auxiliary::classifier::{ModelKind, Schedule, TrainParams};
use softtext::clip::DeviceKind;
use softtext::data::{DataSpec, Split};
use softtext::embeddings::shard::Shard;
use softtext::observe::Observer;
use softtext::study::{aux_predict, aux_train, defaults, AuxPrediction, AuxTraining};
use softtext::Result;

use super::at_least_one;

const TRAIN_AFTER_HELP: &str = "\
Defaults are the paper's recipe: ResNet50 (CIFAR stem, bottleneck stages [3, 4, 6, 3]),
cross-entropy, SGD with momentum 0.9 and weight decay 5e-4, batch 64, 200 epochs, learning
rate 0.1 annealed by cosine, random crop (4-pixel padding) and horizontal flip.

Writes into --out after every epoch: checkpoint.safetensors (weights, momentum, RNG state,
log), log.csv, and curve.png / curve.svg. An interrupted run continues with --resume and ends
with the same weights as one that never stopped (same device and thread count).

Examples:
  softtext aux train --data folder:cifar10-jpeg-train.tar.gz \\
      --test-data folder:cifar10-jpeg-test.tar.gz --out out/aux-resnet50 --device cuda
  softtext aux train --model fast --epochs 10 --batch-size 512 --lr 0.4 \\
      --data cifar10-bin:data/cifar-10-binary.tar.gz --out out/aux-fast
  softtext aux train --model fast --width-divisor 8 --epochs 3 --limit-train 300 \\
      --data folder:fixtures/cifar10-sample --out out/aux-demo            # seconds on a CPU";

#[derive(Debug, Args)]
pub struct AuxArgs {
    #[command(subcommand)]
    pub command: AuxCommand,
}

#[derive(Debug, Subcommand)]
pub enum AuxCommand {
    /// Train a CIFAR classifier (ResNet50, ResNet18 or a fast ResNet-9) with momentum SGD.
    #[command(after_help = TRAIN_AFTER_HELP)]
    Train(AuxTrainArgs),
    /// Write each image's top-k classes from a trained checkpoint, keyed by image id, for
    /// `softtext eval --aux FILE`.
    Predict(AuxPredictArgs),
}

#[derive(Debug, Args)]
pub struct AuxTrainArgs {
    /// Network: the paper's resnet50, resnet18, or fast (the DAWNBench ResNet-9, about a
    /// third of resnet50's multiply-adds per image and ten times its CPU training speed).
    #[arg(
        long,
        default_value_t = TrainParams::default().model,
        value_name = "resnet50|resnet18|fast"
    )]
    pub model: ModelKind,
    /// Training data (its train split): folder:, cifar10-bin:, cifar100-bin:,
    /// cifar100-coarse-bin: or stl10-bin:PATH (see encode-images --help).
    #[arg(long, value_name = "SPEC")]
    pub data: DataSpec,
    /// Evaluation data (its test split); defaults to --data.
    #[arg(long, value_name = "SPEC")]
    pub test_data: Option<DataSpec>,
    /// Output folder for the checkpoint, log.csv and the curve.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Passes over the training set (the paper: 200).
    #[arg(long, default_value_t = TrainParams::default().epochs)]
    pub epochs: usize,
    /// Training images per SGD step (the paper: 64).
    #[arg(long, default_value_t = TrainParams::default().batch_size)]
    pub batch_size: usize,
    /// Base learning rate.
    #[arg(long, default_value_t = TrainParams::default().lr)]
    pub lr: f64,
    /// SGD momentum (PyTorch's rule: the buffer accumulates gradient plus weight decay).
    #[arg(long, default_value_t = TrainParams::default().momentum)]
    pub momentum: f64,
    /// L2 weight decay, applied to every trained tensor as in PyTorch's SGD.
    #[arg(long, default_value_t = TrainParams::default().weight_decay)]
    pub weight_decay: f64,
    /// Nesterov momentum.
    #[arg(long)]
    pub nesterov: bool,
    /// Learning rate per epoch: cosine, constant, or step:EVERY:GAMMA (e.g. step:60:0.2).
    #[arg(long, default_value_t = TrainParams::default().schedule, value_name = "SCHEDULE")]
    pub schedule: Schedule,
    /// Train without random crops and flips.
    #[arg(long)]
    pub no_augment: bool,
    /// Evaluate on the test split every N epochs and after the last (0: never).
    #[arg(long, default_value_t = TrainParams::default().eval_every, value_name = "N")]
    pub eval_every: usize,
    /// Seed of weight initialisation, shuffling and augmentation.
    #[arg(long, default_value_t = TrainParams::default().seed)]
    pub seed: u64,
    /// Train on at most N images, balanced over classes.
    #[arg(long, value_name = "N", value_parser = at_least_one)]
    pub limit_train: Option<usize>,
    /// Evaluate on at most N test images, balanced over classes.
    #[arg(long, value_name = "N", value_parser = at_least_one)]
    pub limit_test: Option<usize>,
    /// Divide every layer width by D (1: the published network; more for quick runs).
    #[arg(long, default_value_t = TrainParams::default().width_divisor, value_name = "D")]
    pub width_divisor: usize,
    /// Images per evaluation forward pass.
    #[arg(long, default_value_t = TrainParams::default().eval_batch_size)]
    pub eval_batch_size: usize,
    /// Continue the run whose checkpoint is in --out (same settings required).
    #[arg(long)]
    pub resume: bool,
    /// Stop once N epochs are complete (resume later to finish).
    #[arg(long, value_name = "N")]
    pub stop_after: Option<usize>,
    /// Where to train (the paper's recipe needs a GPU: about 2 images/s on 2 CPU cores).
    #[arg(long, default_value_t = DeviceKind::default(), value_name = "cpu|cuda")]
    pub device: DeviceKind,
}

impl AuxTrainArgs {
    fn params(&self) -> TrainParams {
        TrainParams {
            model: self.model,
            width_divisor: self.width_divisor,
            epochs: self.epochs,
            batch_size: self.batch_size,
            lr: self.lr,
            momentum: self.momentum,
            weight_decay: self.weight_decay,
            nesterov: self.nesterov,
            schedule: self.schedule,
            augment: if self.no_augment {
                Augment::NONE
            } else {
                Augment::STANDARD
            },
            eval_every: self.eval_every,
            seed: self.seed,
            limit_train: self.limit_train,
            limit_test: self.limit_test,
            eval_batch_size: self.eval_batch_size,
        }
    }
}

#[derive(Debug, Args)]
pub struct AuxPredictArgs {
    /// A checkpoint written by `softtext aux train`.
    #[arg(long, value_name = "FILE.safetensors")]
    pub checkpoint: PathBuf,
    /// Images to classify: a --data spec as for encode-images.
    #[arg(long, value_name = "SPEC")]
    pub data: DataSpec,
    /// Which split of --data to classify.
    #[arg(long, default_value_t = defaults::SPLIT, value_name = "train|test")]
    pub split: Split,
    /// Classes kept per image, best first. The soft texts use the first two; `topk-mean`
    /// reads up to K.
    #[arg(long, default_value_t = defaults::AUX_TOP_K, value_name = "K")]
    pub top_k: usize,
    /// Output file; the extension picks the format: .json, .csv or .safetensors.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Classify at most N images, round-robin over classes (as `encode-images --limit`).
    #[arg(long, value_name = "N", value_parser = at_least_one)]
    pub limit: Option<usize>,
    /// Images per forward pass.
    #[arg(long, default_value_t = defaults::AUX_PREDICT_BATCH_SIZE)]
    pub batch_size: usize,
    /// Where the classifier runs.
    #[arg(long, default_value_t = DeviceKind::default(), value_name = "cpu|cuda")]
    pub device: DeviceKind,
    /// Classify only slice I of N (numbered from 0) of the dataset order, as
    /// `encode-images --shard`. Default: from SLURM_ARRAY_TASK_ID and
    /// SLURM_ARRAY_TASK_COUNT when they are set, else everything.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<Shard>,
}

pub fn run(args: AuxArgs, observer: &dyn Observer) -> Result<()> {
    match args.command {
        AuxCommand::Train(args) => {
            let training = AuxTraining {
                params: args.params(),
                data: args.data.clone(),
                test_data: args.test_data.clone(),
                device: args.device,
                resume: args.resume,
                stop_after: args.stop_after,
            };
            aux_train(&training, &args.out, observer).map(|_| ())
        }
        AuxCommand::Predict(args) => {
            let prediction = AuxPrediction {
                checkpoint: args.checkpoint.clone(),
                data: args.data.clone(),
                split: args.split,
                top_k: args.top_k,
                limit: args.limit,
                batch_size: args.batch_size,
                device: args.device,
                shard: super::shard_or_slurm(args.shard)?,
            };
            aux_predict(&prediction, &args.out, observer).map(|_| ())
        }
    }
}
