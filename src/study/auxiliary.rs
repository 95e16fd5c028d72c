//! The auxiliary classifier's stages: training (the paper's ResNet50 recipe or a faster
//! network) with a status line and a redrawn curve per epoch, and per-image top-k
//! predictions from a checkpoint, which the soft texts relate.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::config::defaults;
use crate::auxiliary::classifier::checkpoint::Checkpoint;
use crate::auxiliary::classifier::train::CHECKPOINT_FILE;
use crate::auxiliary::classifier::{
    predict_with, train_with, EpochRecord, TrainControl, TrainParams, TrainSummary,
};
use crate::auxiliary::predictions::AuxPredictions;
use crate::clip::DeviceKind;
use crate::data::{DataSpec, Dataset, Split};
use crate::embeddings::shard::Shard;
use crate::error::Result;
use crate::observe::Observer;

/// File stem of the loss and accuracy curve inside a training folder (`.png` and `.svg`).
pub const CURVE_STEM: &str = "curve";

/// A training run: the recipe, its data, and how to run it.
#[derive(Debug, Clone, PartialEq)]
pub struct AuxTraining {
    /// Everything that decides the weights, plus the evaluation settings.
    pub params: TrainParams,
    /// Training data (its train split).
    pub data: DataSpec,
    /// Data for the per-epoch test accuracy (its test split); `None`: `data`.
    pub test_data: Option<DataSpec>,
    /// Where to train.
    pub device: DeviceKind,
    /// Continue the run whose checkpoint is in the output folder (same settings required).
    pub resume: bool,
    /// Stop once this many epochs are complete (resume later to finish); `None`: all.
    pub stop_after: Option<usize>,
}

impl AuxTraining {
    /// The paper's recipe on `data`, on the CPU.
    pub fn new(data: DataSpec) -> Self {
        Self {
            params: TrainParams::default(),
            data,
            test_data: None,
            device: DeviceKind::Cpu,
            resume: false,
            stop_after: None,
        }
    }
}

/// Trains into `out`: `checkpoint.safetensors` (rewritten after every epoch), `log.csv` and
/// `curve.{png,svg}`.
pub fn aux_train(
    training: &AuxTraining,
    out: &Path,
    observer: &dyn Observer,
) -> Result<TrainSummary> {
    super::check_output_folder(out)?;
    let params = &training.params;
    params.check()?;
    // Fail on a missing CUDA build before reading any data.
    training.device.device()?;
    let train_data = Dataset::load(&training.data, Split::Train, None)?;
    let test_spec = training.test_data.as_ref().unwrap_or(&training.data);
    let test_data = (params.eval_every > 0)
        .then(|| per_epoch_test_set(test_spec, &train_data))
        .transpose()?;
    std::fs::create_dir_all(out).map_err(|source| super::StudyError::Io {
        path: out.to_path_buf(),
        source,
    })?;
    observer.status(&format!(
        "training {} on {} ({} train images{}) for {} epoch(s) at batch {} on {}",
        params.model,
        training.data,
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
        training.device
    ));
    let summary = train_on(
        params,
        &train_data,
        test_data.as_ref(),
        out,
        training.device,
        training.resume,
        training.stop_after.unwrap_or(params.epochs),
        observer,
    )?;
    observer.status(&format!(
        "{} epochs of {} in {}: checkpoint {}, log {}{}",
        summary.epochs,
        params.epochs,
        out.display(),
        summary.checkpoint.display(),
        summary.log_file.display(),
        summary
            .test_acc()
            .map(|a| format!(", test accuracy {:.2}%", 100.0 * a))
            .unwrap_or_default()
    ));
    Ok(summary)
}

/// The test split of `spec` in the training data's class order, for the per-epoch test
/// accuracy.
pub(crate) fn per_epoch_test_set(spec: &DataSpec, train_data: &Dataset) -> Result<Dataset> {
    Ok(Dataset::load(spec, Split::Test, Some(&train_data.classes))?)
}

/// Trains on data already loaded, with a status line per epoch and the curve redrawn after
/// each; [`aux_train`] and the study's training stage share it.
#[allow(clippy::too_many_arguments)]
pub(crate) fn train_on(
    params: &TrainParams,
    train_data: &Dataset,
    test_data: Option<&Dataset>,
    out: &Path,
    device: DeviceKind,
    resume: bool,
    stop_after: usize,
    observer: &dyn Observer,
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
            observer,
            after_epoch: &mut |log| {
                if let Some(last) = log.last() {
                    observer.status(&epoch_line(last, params.epochs));
                }
                Ok(write_curve(out, log, &title)?)
            },
        },
    )?;
    if summary.start_epoch == summary.epochs {
        observer.status(&format!(
            "{}: all {} epochs already done; nothing to train",
            out.join(CHECKPOINT_FILE).display(),
            summary.epochs
        ));
        // The curve may be missing when the run was copied without it.
        write_curve(out, &summary.log, &title)?;
    } else {
        observer.status(&format!(
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
fn write_curve(
    dir: &Path,
    log: &[EpochRecord],
    title: &str,
) -> std::result::Result<(), crate::Error> {
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

/// Predictions from a trained checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct AuxPrediction {
    /// A checkpoint written by [`aux_train`].
    pub checkpoint: PathBuf,
    /// Images to classify.
    pub data: DataSpec,
    /// Which split.
    pub split: Split,
    /// Classes kept per image, best first.
    pub top_k: usize,
    /// Classify at most this many images, round-robin over classes.
    pub limit: Option<usize>,
    /// Images per forward pass.
    pub batch_size: usize,
    /// Where the classifier runs.
    pub device: DeviceKind,
    /// Classify only this contiguous slice of the dataset order (after `limit`), as
    /// [`super::ImageEncoding::shard`] does.
    pub shard: Option<Shard>,
}

impl AuxPrediction {
    /// The top-5 classes of every test image of `data`, on the CPU.
    pub fn new(checkpoint: impl Into<PathBuf>, data: DataSpec) -> Self {
        Self {
            checkpoint: checkpoint.into(),
            data,
            split: defaults::SPLIT,
            top_k: defaults::AUX_TOP_K,
            limit: None,
            batch_size: defaults::AUX_PREDICT_BATCH_SIZE,
            device: DeviceKind::Cpu,
            shard: None,
        }
    }
}

/// Writes each image's top-k classes to `out` (the extension picks .json, .csv or
/// .safetensors), keyed by image id, and returns them.
pub fn aux_predict(
    params: &AuxPrediction,
    out: &Path,
    observer: &dyn Observer,
) -> Result<AuxPredictions> {
    let started = Instant::now();
    let checkpoint = Checkpoint::read(&params.checkpoint)?;
    let mut data = Dataset::load(&params.data, params.split, Some(&checkpoint.meta.classes))?;
    if let Some(n) = params.limit {
        data.balanced_limit(n);
    }
    if let Some(shard) = params.shard {
        let range = shard.range(data.len(), params.batch_size);
        data.samples = data.samples.drain(range).collect();
    }
    let predictions = predict_with(
        &checkpoint,
        &data,
        params.top_k,
        &params.device.device()?,
        params.batch_size,
    )?;
    predictions.write(out)?;
    let correct = predictions
        .rows()
        .iter()
        .zip(&data.samples)
        .filter(|(row, sample)| row.topk.first() == Some(&sample.label))
        .count();
    observer.status(&format!(
        "wrote {} (top-{} of {} {} images; top-1 accuracy {:.2}%) in {:.1}s",
        out.display(),
        predictions.k(),
        predictions.len(),
        params.split,
        100.0 * correct as f64 / predictions.len().max(1) as f64,
        started.elapsed().as_secs_f64()
    ));
    Ok(predictions)
}
