//! The training loop: cross-entropy, momentum SGD, a per-epoch learning-rate schedule,
//! seeded augmentation, a checkpoint and a CSV log row after every epoch, and exact resume
//! from the last checkpoint.
//!
//! One ChaCha8 stream, seeded by `seed`, initialises the weights and then shuffles and
//! augments every epoch; its state is checkpointed with the weights and momentum buffers,
//! so an interrupted run that resumes computes the same parameters as one that did not
//! stop (on the same device and thread count).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{Device, D};
use candle_nn::{ModuleT, Optimizer};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::augment::{batch, Augment, Images};
use super::checkpoint::{save, Checkpoint, CheckpointMeta, RngState};
use super::predict::accuracy;
use super::schedule::Schedule;
use super::sgd::{Sgd, SgdConfig};
use super::{init_model, is_running_stat, sorted_vars, Model, ModelKind};
use super::{ClassifierError, Result};
use crate::data::Dataset;
use crate::observe::Observer;

/// File name of the checkpoint inside the output folder.
pub const CHECKPOINT_FILE: &str = "checkpoint.safetensors";
/// File name of the per-epoch CSV log inside the output folder.
pub const LOG_FILE: &str = "log.csv";

/// Everything that decides a training run. The defaults are the paper's recipe (ResNet50,
/// batch 64, 200 epochs, SGD with momentum 0.9 and weight decay 5e-4) with the usual
/// CIFAR learning rate 0.1, cosine-annealed.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainParams {
    /// The network to train (default ResNet50).
    pub model: ModelKind,
    /// Divides every layer width (1: the published architecture).
    pub width_divisor: usize,
    /// Epochs to train, at least 1 (default 200).
    pub epochs: usize,
    /// Training images per SGD step, at least 2 for batch statistics (default 64).
    pub batch_size: usize,
    /// Base learning rate.
    pub lr: f64,
    /// SGD momentum in `[0, 1)` (default 0.9).
    pub momentum: f64,
    /// SGD weight decay (default 5e-4).
    pub weight_decay: f64,
    /// Nesterov momentum (default off).
    pub nesterov: bool,
    /// Learning rate per epoch (default cosine annealing).
    pub schedule: Schedule,
    /// Training-time augmentation (default the standard CIFAR crop and flip).
    pub augment: Augment,
    /// Evaluate on the test split every this many epochs and after the last (0: never).
    pub eval_every: usize,
    /// Seed of the one RNG stream behind initialisation, shuffling and augmentation.
    pub seed: u64,
    /// Train on at most this many images, balanced over classes.
    pub limit_train: Option<usize>,
    /// Evaluate on at most this many test images, balanced over classes.
    pub limit_test: Option<usize>,
    /// Batch size for evaluation (no gradients, so it can be larger).
    pub eval_batch_size: usize,
}

impl Default for TrainParams {
    fn default() -> Self {
        let sgd = SgdConfig::default();
        Self {
            model: ModelKind::ResNet50,
            width_divisor: 1,
            epochs: 200,
            batch_size: 64,
            lr: sgd.lr,
            momentum: sgd.momentum,
            weight_decay: sgd.weight_decay,
            nesterov: sgd.nesterov,
            schedule: Schedule::Cosine,
            augment: Augment::STANDARD,
            eval_every: 10,
            seed: 0,
            limit_train: None,
            limit_test: None,
            eval_batch_size: 256,
        }
    }
}

/// A field of [`TrainParams`] that [`TrainParams::check`] can refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TrainParam {
    /// [`TrainParams::epochs`].
    Epochs,
    /// [`TrainParams::batch_size`].
    BatchSize,
    /// [`TrainParams::eval_batch_size`].
    EvalBatchSize,
    /// [`TrainParams::width_divisor`].
    WidthDivisor,
    /// [`TrainParams::limit_train`].
    LimitTrain,
    /// [`TrainParams::limit_test`].
    LimitTest,
    /// [`TrainParams::schedule`].
    Schedule,
    /// [`TrainParams::lr`].
    Lr,
    /// [`TrainParams::momentum`].
    Momentum,
    /// [`TrainParams::weight_decay`].
    WeightDecay,
    /// [`TrainParams::nesterov`].
    Nesterov,
}

impl TrainParam {
    /// The field's name in [`TrainParams`] (and in a `[auxiliary.train]` TOML table).
    pub fn name(self) -> &'static str {
        match self {
            TrainParam::Epochs => "epochs",
            TrainParam::BatchSize => "batch_size",
            TrainParam::EvalBatchSize => "eval_batch_size",
            TrainParam::WidthDivisor => "width_divisor",
            TrainParam::LimitTrain => "limit_train",
            TrainParam::LimitTest => "limit_test",
            TrainParam::Schedule => "schedule",
            TrainParam::Lr => "lr",
            TrainParam::Momentum => "momentum",
            TrainParam::WeightDecay => "weight_decay",
            TrainParam::Nesterov => "nesterov",
        }
    }
}

impl std::fmt::Display for TrainParam {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl TrainParams {
    /// Refuses out-of-range settings with [`ClassifierError::InvalidParam`], naming the
    /// field.
    pub fn check(&self) -> Result<()> {
        let bad = |param: TrainParam, message: String| {
            Err(ClassifierError::InvalidParam { param, message })
        };
        if self.epochs == 0 {
            return bad(TrainParam::Epochs, "epochs must be at least 1".into());
        }
        if self.batch_size < 2 {
            // Batch norm needs at least two samples for batch statistics.
            return bad(
                TrainParam::BatchSize,
                format!("batch size must be at least 2, is {}", self.batch_size),
            );
        }
        if self.eval_batch_size == 0 {
            return bad(
                TrainParam::EvalBatchSize,
                "evaluation batch size must be at least 1".into(),
            );
        }
        if self.width_divisor == 0 {
            return bad(
                TrainParam::WidthDivisor,
                "width divisor must be at least 1".into(),
            );
        }
        if self.limit_train.is_some_and(|n| n < 2) {
            return bad(
                TrainParam::LimitTrain,
                "limit-train must keep at least 2 images".into(),
            );
        }
        if self.limit_test == Some(0) {
            return bad(
                TrainParam::LimitTest,
                "limit-test must keep at least 1 image".into(),
            );
        }
        if let Err(message) = self.schedule.check() {
            return bad(TrainParam::Schedule, message);
        }
        if let Err((param, message)) = self.sgd().check() {
            return bad(param, message);
        }
        Ok(())
    }

    /// The optimiser settings among these parameters.
    pub fn sgd(&self) -> SgdConfig {
        SgdConfig {
            lr: self.lr,
            momentum: self.momentum,
            weight_decay: self.weight_decay,
            nesterov: self.nesterov,
        }
    }

    /// The parameters that decide the weights; evaluation settings may change on resume.
    pub fn training_part(&self) -> Self {
        Self {
            eval_every: 0,
            limit_test: None,
            eval_batch_size: 1,
            ..self.clone()
        }
    }
}

/// One row of the CSV log.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpochRecord {
    /// 1-based.
    pub epoch: usize,
    /// Learning rate used throughout the epoch.
    pub lr: f64,
    /// Mean cross-entropy over the epoch's batches, weighted by batch size.
    pub train_loss: f64,
    /// Accuracy of the training-mode forward passes on the augmented batches.
    pub train_acc: f64,
    /// Top-1 accuracy on the test split in evaluation mode, in `[0, 1]`; `None` where the
    /// epoch was not evaluated.
    pub test_acc: Option<f64>,
    /// Training images per second (excluding evaluation).
    pub images_per_sec: f64,
    /// Wall time of the epoch, evaluation included.
    pub seconds: f64,
}

/// What a call to [`train`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainSummary {
    /// Epoch the run started from (0 unless resumed).
    pub start_epoch: usize,
    /// Completed epochs at the end of the call.
    pub epochs: usize,
    /// All log rows so far, resumed ones included.
    pub log: Vec<EpochRecord>,
    /// [`CHECKPOINT_FILE`] in the output folder.
    pub checkpoint: PathBuf,
    /// [`LOG_FILE`] in the output folder ([`log_csv`]'s format).
    pub log_file: PathBuf,
}

impl TrainSummary {
    /// The last evaluated test accuracy, if any.
    pub fn test_acc(&self) -> Option<f64> {
        self.log.iter().rev().find_map(|r| r.test_acc)
    }
}

/// Trains `params.model` on `train` (evaluating on `test` when given), writing
/// `checkpoint.safetensors` and `log.csv` into `out_dir` after every epoch. With `resume`,
/// continues from the checkpoint there (which must exist and come from the same
/// parameters and training data); without, refuses to overwrite one.
pub fn train(
    params: &TrainParams,
    train: &Dataset,
    test: Option<&Dataset>,
    out_dir: &Path,
    device: &Device,
    resume: bool,
) -> Result<TrainSummary> {
    train_with(
        params,
        train,
        test,
        out_dir,
        device,
        TrainControl {
            resume,
            stop_after: params.epochs,
            after_epoch: &mut |_| Ok(()),
            observer: &crate::observe::Silent,
        },
    )
}

/// How a call to [`train_with`] runs: whether it continues the checkpoint in the output
/// folder, where it stops, and what it does after each epoch.
pub struct TrainControl<'a> {
    /// Continue from `checkpoint.safetensors` in the output folder (same parameters and
    /// data required); without, an existing checkpoint is refused.
    pub resume: bool,
    /// Stop once this many epochs are complete (`<= params.epochs`), e.g. to spread a long
    /// run over several sessions.
    pub stop_after: usize,
    /// Called with the whole log once each epoch's checkpoint and CSV row are on disk (the
    /// CLI prints a line and redraws the curve there); its error ends the run as
    /// [`ClassifierError::AfterEpoch`].
    pub after_epoch: &'a mut dyn FnMut(&[EpochRecord]) -> AfterEpochResult,
    /// Receives each epoch's progress (images, with the running loss and accuracy as the
    /// message).
    pub observer: &'a dyn Observer,
}

/// What [`TrainControl::after_epoch`] returns: any error the caller's reporting hits.
pub type AfterEpochResult = std::result::Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// [`train`] with explicit control over resuming, stopping and per-epoch reporting.
pub fn train_with(
    params: &TrainParams,
    train: &Dataset,
    test: Option<&Dataset>,
    out_dir: &Path,
    device: &Device,
    control: TrainControl<'_>,
) -> Result<TrainSummary> {
    let TrainControl {
        resume,
        stop_after,
        after_epoch,
        observer,
    } = control;
    params.check()?;
    let stop_after = stop_after.min(params.epochs);
    let checkpoint_path = out_dir.join(CHECKPOINT_FILE);
    let log_path = out_dir.join(LOG_FILE);

    let mut train = train.clone();
    if let Some(n) = params.limit_train {
        train.balanced_limit(n);
    }
    if train.len() < 2 {
        return Err(ClassifierError::invalid(format!(
            "{}: training needs at least 2 images, the {} split has {}",
            train.spec.path().display(),
            train.split,
            train.len()
        )));
    }
    let test = match test {
        Some(test) if params.eval_every > 0 => {
            if test.classes != train.classes {
                return Err(ClassifierError::invalid(format!(
                    "{}: test classes {:?} differ from the training classes {:?}",
                    test.spec, test.classes, train.classes
                )));
            }
            let mut test = test.clone();
            if let Some(n) = params.limit_test {
                test.balanced_limit(n);
            }
            Some(test)
        }
        _ => None,
    };
    let manifest = train.manifest_hash();
    let config = params
        .model
        .config(train.classes.len(), params.width_divisor);

    let (model, varmap, mut rng, mut log, start_epoch, checkpoint) = if resume {
        if !checkpoint_path.exists() {
            return Err(ClassifierError::Missing(format!(
                "{}: no checkpoint to resume from (train without resuming first)",
                checkpoint_path.display()
            )));
        }
        let checkpoint = Checkpoint::read(&checkpoint_path)?;
        let meta = &checkpoint.meta;
        let refuse = |what: String| Err(ClassifierError::checkpoint(&checkpoint_path, what));
        match &meta.params {
            Some(p) if p.training_part() == params.training_part() => {}
            Some(p) => {
                return refuse(format!(
                    "was trained with other settings ({}); resume with the same ones",
                    settings_diff(&p.training_part(), &params.training_part())
                ))
            }
            None => return refuse("has no training parameters, cannot resume".into()),
        }
        if meta.config != config || meta.classes != train.classes {
            return refuse("was trained for another architecture or class list".into());
        }
        if meta.train_data.as_deref() != Some(manifest.as_str()) {
            return refuse(format!(
                "was trained on other data than {} (manifest differs)",
                train.spec
            ));
        }
        if meta.epoch > params.epochs || meta.log.len() != meta.epoch {
            return refuse(format!(
                "records epoch {} with {} log rows, inconsistent with {} epochs",
                meta.epoch,
                meta.log.len(),
                params.epochs
            ));
        }
        let rng = meta
            .rng
            .as_ref()
            .ok_or_else(|| ClassifierError::checkpoint(&checkpoint_path, "has no RNG state"))?
            .restore()
            .map_err(|e| ClassifierError::checkpoint(&checkpoint_path, e))?;
        let (model, varmap) = init_model(&config, &mut ChaCha8Rng::seed_from_u64(0), device)?;
        checkpoint.load_weights(&varmap)?;
        let (epoch, log) = (meta.epoch, meta.log.clone());
        (model, varmap, rng, log, epoch, Some(checkpoint))
    } else {
        if checkpoint_path.exists() {
            return Err(ClassifierError::invalid(format!(
                "{}: a checkpoint exists; resume it or choose another output folder",
                checkpoint_path.display()
            )));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
        let (model, varmap) = init_model(&config, &mut rng, device)?;
        (model, varmap, rng, Vec::new(), 0, None)
    };

    let trainable: Vec<(String, candle_core::Var)> = sorted_vars(&varmap)
        .into_iter()
        .filter(|(name, _)| !is_running_stat(name))
        .collect();
    let mut sgd = Sgd::new_named(trainable, params.sgd())?;
    if let Some(checkpoint) = &checkpoint {
        checkpoint.load_momentum(&mut sgd, device)?;
    }

    let images = Images::decode(&train)?;
    let test_images = test.as_ref().map(Images::decode).transpose()?;
    let meta_for = |epoch: usize, rng: &ChaCha8Rng, log: &[EpochRecord]| CheckpointMeta {
        kind: params.model,
        config: config.clone(),
        classes: train.classes.clone(),
        epoch,
        params: Some(params.clone()),
        rng: Some(RngState::of(rng)),
        train_data: Some(manifest.clone()),
        log: log.to_vec(),
    };

    for epoch in start_epoch..stop_after {
        let record = run_epoch(
            params,
            &model,
            &mut sgd,
            &images,
            test_images.as_ref(),
            &mut rng,
            epoch,
            device,
            observer,
        )?;
        log.push(record);
        save(
            &checkpoint_path,
            &meta_for(epoch + 1, &rng, &log),
            &varmap,
            Some(&sgd),
        )?;
        crate::artifact::write_atomic(&log_path, log_csv(&log).as_bytes())?;
        after_epoch(&log).map_err(ClassifierError::AfterEpoch)?;
    }
    Ok(TrainSummary {
        start_epoch,
        epochs: start_epoch.max(stop_after),
        log,
        checkpoint: checkpoint_path,
        log_file: log_path,
    })
}

#[allow(clippy::too_many_arguments)]
fn run_epoch(
    params: &TrainParams,
    model: &Model,
    sgd: &mut Sgd,
    images: &Images,
    test_images: Option<&Images>,
    rng: &mut ChaCha8Rng,
    epoch: usize,
    device: &Device,
    observer: &dyn Observer,
) -> Result<EpochRecord> {
    let started = Instant::now();
    let lr = params.schedule.lr(params.lr, epoch, params.epochs);
    sgd.set_learning_rate(lr);
    let mut order: Vec<usize> = (0..images.len()).collect();
    order.shuffle(rng);
    let progress = observer.progress(images.len() as u64, "images");
    let (mut loss_sum, mut correct, mut seen) = (0f64, 0usize, 0usize);
    for chunk in order.chunks(params.batch_size) {
        // A trailing batch of one image has no batch statistics; PyTorch would fail on it.
        if chunk.len() < 2 {
            continue;
        }
        let (x, y) = batch(images, chunk, params.augment, rng, device)?;
        let logits = model.forward_t(&x, true)?;
        let loss = candle_nn::loss::cross_entropy(&logits, &y)?;
        sgd.backward_step(&loss)?;
        let loss_value = f64::from(loss.to_scalar::<f32>()?);
        if !loss_value.is_finite() {
            return Err(ClassifierError::invalid(format!(
                "epoch {}: the training loss diverged ({loss_value}); lower the learning rate",
                epoch + 1
            )));
        }
        loss_sum += loss_value * chunk.len() as f64;
        correct += logits
            .argmax(D::Minus1)?
            .eq(&y)?
            .to_dtype(candle_core::DType::U32)?
            .sum_all()?
            .to_scalar::<u32>()? as usize;
        seen += chunk.len();
        progress.advance(chunk.len() as u64);
        progress.message(&format!(
            "epoch {}/{} loss {:.3} acc {:.3}",
            epoch + 1,
            params.epochs,
            loss_sum / seen as f64,
            correct as f64 / seen as f64
        ));
    }
    progress.finish();
    let train_seconds = started.elapsed().as_secs_f64();
    let evaluate = params.eval_every > 0
        && ((epoch + 1) % params.eval_every == 0 || epoch + 1 == params.epochs);
    let test_acc = match test_images {
        Some(test) if evaluate => Some(accuracy(model, test, params.eval_batch_size, device)?),
        _ => None,
    };
    Ok(EpochRecord {
        epoch: epoch + 1,
        lr,
        train_loss: loss_sum / seen.max(1) as f64,
        train_acc: correct as f64 / seen.max(1) as f64,
        test_acc,
        images_per_sec: seen as f64 / train_seconds.max(1e-9),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The log as CSV: `epoch,lr,train_loss,train_acc,test_acc,images_per_sec,seconds`, an
/// empty `test_acc` where the epoch was not evaluated.
pub fn log_csv(log: &[EpochRecord]) -> String {
    let mut out = String::from("epoch,lr,train_loss,train_acc,test_acc,images_per_sec,seconds\n");
    for r in log {
        let test = r.test_acc.map(|a| format!("{a:.6}")).unwrap_or_default();
        let _ = writeln!(
            out,
            "{},{:.8},{:.6},{:.6},{},{:.2},{:.2}",
            r.epoch, r.lr, r.train_loss, r.train_acc, test, r.images_per_sec, r.seconds
        );
    }
    out
}

/// `name: checkpoint X, now Y` for every weight-deciding setting that differs.
fn settings_diff(checkpoint: &TrainParams, now: &TrainParams) -> String {
    let as_map = |p: &TrainParams| match serde_json::to_value(p) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    let (old, new) = (as_map(checkpoint), as_map(now));
    let changes: Vec<String> = old
        .iter()
        .filter(|(name, value)| new.get(*name) != Some(*value))
        .map(|(name, value)| {
            let now = new.get(name).map_or("unset".to_string(), |v| v.to_string());
            format!("{name}: checkpoint {value}, now {now}")
        })
        .collect();
    changes.join("; ")
}
