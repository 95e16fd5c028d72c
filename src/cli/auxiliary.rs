//! `softtext aux train` and `softtext aux predict`: the auxiliary classifier whose top-k
//! classes per image the soft texts relate.

use super::at_least_one;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Args, Subcommand};

use super::status;
use crate::auxiliary::classifier::augment::Augment;
use crate::auxiliary::classifier::checkpoint::Checkpoint;
use crate::auxiliary::classifier::train::CHECKPOINT_FILE;
use crate::auxiliary::classifier::{
    predict_with, train_with, EpochRecord, ModelKind, Schedule, TrainControl, TrainParams,
    TrainSummary,
};
use crate::clip::DeviceKind;
use crate::data::{DataSpec, Dataset, Split};
use crate::error::{Error, Result};

/// File stem of the loss and accuracy curve inside a training folder (`.png` and `.svg`).
pub const CURVE_STEM: &str = "curve";

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
        default_value = "resnet50",
        value_name = "resnet50|resnet18|fast"
    )]
    pub model: ModelKind,
    /// Training data (its train split): folder:PATH or cifar10-bin:PATH.
    #[arg(long, value_name = "SPEC")]
    pub data: DataSpec,
    /// Evaluation data (its test split); defaults to --data.
    #[arg(long, value_name = "SPEC")]
    pub test_data: Option<DataSpec>,
    /// Output folder for the checkpoint, log.csv and the curve.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Passes over the training set (the paper: 200).
    #[arg(long, default_value_t = 200)]
    pub epochs: usize,
    /// Training images per SGD step (the paper: 64).
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Base learning rate.
    #[arg(long, default_value_t = 0.1)]
    pub lr: f64,
    /// SGD momentum (PyTorch's rule: the buffer accumulates gradient plus weight decay).
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f64,
    /// L2 weight decay, applied to every trained tensor as in PyTorch's SGD.
    #[arg(long, default_value_t = 5e-4)]
    pub weight_decay: f64,
    /// Nesterov momentum.
    #[arg(long)]
    pub nesterov: bool,
    /// Learning rate per epoch: cosine, constant, or step:EVERY:GAMMA (e.g. step:60:0.2).
    #[arg(long, default_value = "cosine", value_name = "SCHEDULE")]
    pub schedule: Schedule,
    /// Train without random crops and flips.
    #[arg(long)]
    pub no_augment: bool,
    /// Evaluate on the test split every N epochs and after the last (0: never).
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub eval_every: usize,
    /// Seed of weight initialisation, shuffling and augmentation.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Train on at most N images, balanced over classes.
    #[arg(long, value_name = "N", value_parser = at_least_one)]
    pub limit_train: Option<usize>,
    /// Evaluate on at most N test images, balanced over classes.
    #[arg(long, value_name = "N", value_parser = at_least_one)]
    pub limit_test: Option<usize>,
    /// Divide every layer width by D (1: the published network; more for quick runs).
    #[arg(long, default_value_t = 1, value_name = "D")]
    pub width_divisor: usize,
    /// Images per evaluation forward pass.
    #[arg(long, default_value_t = 256)]
    pub eval_batch_size: usize,
    /// Continue the run whose checkpoint is in --out (same settings required).
    #[arg(long)]
    pub resume: bool,
    /// Stop once N epochs are complete (resume later to finish).
    #[arg(long, value_name = "N")]
    pub stop_after: Option<usize>,
    /// Where to train (the paper's recipe needs a GPU: about 2 images/s on 2 CPU cores).
    #[arg(long, default_value = "cpu", value_name = "cpu|cuda")]
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
    /// Images to classify: folder:PATH or cifar10-bin:PATH.
    #[arg(long, value_name = "SPEC")]
    pub data: DataSpec,
    /// Which split of --data to classify.
    #[arg(long, default_value = "test", value_name = "train|test")]
    pub split: Split,
    /// Classes kept per image, best first. The soft texts use the first two; `topk-mean`
    /// reads up to K.
    #[arg(long, default_value_t = 5, value_name = "K")]
    pub top_k: usize,
    /// Output file; the extension picks the format: .json, .csv or .safetensors.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Classify at most N images, round-robin over classes (as `encode-images --limit`).
    #[arg(long, value_name = "N", value_parser = at_least_one)]
    pub limit: Option<usize>,
    /// Images per forward pass.
    #[arg(long, default_value_t = 256)]
    pub batch_size: usize,
    /// Where the classifier runs.
    #[arg(long, default_value = "cpu", value_name = "cpu|cuda")]
    pub device: DeviceKind,
}

pub fn run(args: AuxArgs) -> Result<()> {
    match args.command {
        AuxCommand::Train(args) => run_train(&args).map(|_| ()),
        AuxCommand::Predict(args) => run_predict(&args),
    }
}

pub fn run_train(args: &AuxTrainArgs) -> Result<TrainSummary> {
    super::check_output_folder(&args.out)?;
    let params = args.params();
    params.check()?;
    // Fail on a missing CUDA build before reading any data.
    args.device.device()?;
    let train_data = Dataset::load(&args.data, Split::Train, None)?;
    let test_spec = args.test_data.as_ref().unwrap_or(&args.data);
    let test_data = if params.eval_every > 0 {
        Some(Dataset::load(
            test_spec,
            Split::Test,
            Some(&train_data.classes),
        )?)
    } else {
        None
    };
    std::fs::create_dir_all(&args.out).map_err(|e| Error::io(&args.out, e))?;
    status(format!(
        "training {} on {} ({} train images{}) for {} epoch(s) at batch {} on {}",
        params.model,
        args.data,
        params
            .limit_train
            .map_or(train_data.len(), |n| n.min(train_data.len())),
        test_data
            .as_ref()
            .map(|t| format!(
                ", {} test images",
                params.limit_test.map_or(t.len(), |n| n.min(t.len()))
            ))
            .unwrap_or_default(),
        params.epochs,
        params.batch_size,
        args.device
    ));
    let summary = train_params(
        &params,
        &train_data,
        test_data.as_ref(),
        &args.out,
        args.device,
        args.resume,
        args.stop_after.unwrap_or(params.epochs),
    )?;
    status(format!(
        "{} epochs of {} in {}: checkpoint {}, log {}{}",
        summary.epochs,
        params.epochs,
        args.out.display(),
        summary.checkpoint.display(),
        summary.log_file.display(),
        summary
            .test_acc()
            .map(|a| format!(", test accuracy {:.2}%", 100.0 * a))
            .unwrap_or_default()
    ));
    Ok(summary)
}

/// Trains with a status line per epoch and the curve redrawn after each; shared by
/// `aux train` and `reproduce`.
pub(crate) fn train_params(
    params: &TrainParams,
    train_data: &Dataset,
    test_data: Option<&Dataset>,
    out: &Path,
    device: DeviceKind,
    resume: bool,
    stop_after: usize,
) -> Result<TrainSummary> {
    let started = Instant::now();
    let title = format!("{} on {}", params.model, train_data.spec);
    let summary = train_with(
        params,
        train_data,
        test_data,
        out,
        &device.device()?,
        TrainControl {
            resume,
            stop_after,
            after_epoch: &mut |log| {
                if let Some(last) = log.last() {
                    status(epoch_line(last, params.epochs));
                }
                Ok(write_curve(out, log, &title)?)
            },
            observer: &super::Bars,
        },
    )?;
    if summary.start_epoch == summary.epochs {
        status(format!(
            "{}: all {} epochs already done; nothing to train",
            out.join(CHECKPOINT_FILE).display(),
            summary.epochs
        ));
        // The curve may be missing when the run was copied without it.
        write_curve(out, &summary.log, &title)?;
    } else {
        status(format!(
            "trained epochs {}..={} in {:.1}s",
            summary.start_epoch + 1,
            summary.epochs,
            started.elapsed().as_secs_f64()
        ));
    }
    Ok(summary)
}

fn epoch_line(r: &EpochRecord, epochs: usize) -> String {
    format!(
        "epoch {}/{epochs}: lr {:.4}, loss {:.4}, train acc {:.2}%{}, {:.1} images/s, {:.1}s",
        r.epoch,
        r.lr,
        r.train_loss,
        100.0 * r.train_acc,
        r.test_acc
            .map(|a| format!(", test acc {:.2}%", 100.0 * a))
            .unwrap_or_default(),
        r.images_per_sec,
        r.seconds
    )
}

/// `DIR/curve.png` and `DIR/curve.svg` from the log so far.
pub(crate) fn write_curve(dir: &Path, log: &[EpochRecord], title: &str) -> Result<()> {
    if log.is_empty() {
        return Ok(());
    }
    let points: Vec<crate::report::CurvePoint> = log
        .iter()
        .map(|r| crate::report::CurvePoint {
            epoch: r.epoch,
            train_loss: r.train_loss,
            train_accuracy: r.train_acc,
            test_accuracy: r.test_acc,
            lr: r.lr,
        })
        .collect();
    let last = log.last().expect("non-empty");
    let figure = crate::report::TrainingCurveFigure {
        title: title.to_string(),
        subtitle: Some(format!(
            "{} epochs{}",
            last.epoch,
            log.iter()
                .rev()
                .find_map(|r| r.test_acc.map(|a| (r.epoch, a)))
                .map(|(e, a)| format!("; test accuracy {:.2}% after epoch {e}", 100.0 * a))
                .unwrap_or_default()
        )),
        points: &points,
        ..Default::default()
    };
    crate::report::draw_training_curve(&figure, &dir.join(CURVE_STEM))?;
    Ok(())
}

pub fn run_predict(args: &AuxPredictArgs) -> Result<()> {
    let started = Instant::now();
    let checkpoint = Checkpoint::read(&args.checkpoint)?;
    let mut data = Dataset::load(&args.data, args.split, Some(&checkpoint.meta.classes))?;
    if let Some(n) = args.limit {
        data.balanced_limit(n);
    }
    let predictions = predict_with(
        &checkpoint,
        &data,
        args.top_k,
        &args.device.device()?,
        args.batch_size,
    )?;
    predictions.write(&args.out)?;
    let correct = predictions
        .rows()
        .iter()
        .zip(&data.samples)
        .filter(|(row, sample)| row.topk.first() == Some(&sample.label))
        .count();
    status(format!(
        "wrote {} (top-{} of {} {} images; top-1 accuracy {:.2}%) in {:.1}s",
        args.out.display(),
        predictions.k(),
        predictions.len(),
        args.split,
        100.0 * correct as f64 / predictions.len().max(1) as f64,
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}
