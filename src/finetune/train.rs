//! A fine-tuning run from start to files: inputs checked before any weight is read, the
//! training loop with a per-epoch checkpoint that a rerun resumes bit for bit, and the
//! outputs of docs/finetune.md ("Outputs").

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};

use super::error::FinetuneError;
use super::objective::{correct_count, cross_entropy, Objective, TrainPrompt};
use super::optim::{cosine_lr, Optimiser};
use super::params::{FinetuneParams, Method};
use super::split::{epoch_order, split, Split};
use super::store::{self, FinetunedInfo};
use super::text::TextSide;
use crate::artifact::{content_key, write_atomic, IoContext};
use crate::auxiliary::predictions::AuxPredictions;
use crate::clip::model::Kernels;
use crate::clip::{ClipFiles, DeviceKind};
use crate::embeddings::{Embeddings, Kind};
use crate::observe::Observer;
use crate::prompts::PromptConfig;
use crate::report::{draw_training_curve, CurvePoint, TrainingCurveFigure};

type Result<T, E = FinetuneError> = std::result::Result<T, E>;

/// What a run trains on, besides its [`FinetuneParams`].
#[derive(Debug, Clone)]
pub struct FinetuneJob {
    /// The CLIP checkpoint (folder or hub repo id); the one that encoded `images`.
    pub clip: String,
    /// Train-split image embeddings (`encode-images --split train`).
    pub images: PathBuf,
    /// An auxiliary prediction file for `images`, needed by a relation prompt.
    pub aux: Option<PathBuf>,
    /// Classes (in the images' label order), the hard template (its first) and the relations.
    pub prompts: PromptConfig,
    /// Where training runs.
    pub device: DeviceKind,
    /// Start the trained tensors from this safetensors file (e.g. another run's
    /// `init.safetensors`) instead of the method's initialisation.
    pub init: Option<PathBuf>,
    /// Also write `init.safetensors` with the starting values.
    pub save_init: bool,
}

impl FinetuneJob {
    /// A job on `images` with the paper's prompts for `classes`, no auxiliary file, on the CPU.
    pub fn new(clip: impl Into<String>, images: impl Into<PathBuf>, prompts: PromptConfig) -> Self {
        Self {
            clip: clip.into(),
            images: images.into(),
            aux: None,
            prompts,
            device: DeviceKind::Cpu,
            init: None,
            save_init: false,
        }
    }
}

/// One optimiser step of the log (`log.csv`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRow {
    /// Optimiser steps so far, from 1.
    pub step: usize,
    /// Epoch of the step, from 1.
    pub epoch: usize,
    /// Learning rate the step used.
    pub lr: f64,
    /// The batch's mean cross-entropy before the step.
    pub loss: f64,
    /// Images of the batch whose highest logit was their class.
    pub correct: usize,
    /// Images in the batch.
    pub batch: usize,
    /// Validation accuracy after the epoch's last step (fraction), when there is a hold-out.
    pub val_accuracy: Option<f64>,
}

/// What a finished run reports.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FinetuneOutcome {
    /// The output folder.
    pub dir: PathBuf,
    /// The settings and provenance recorded in `finetune.json`.
    pub info: FinetunedInfo,
    /// Every step.
    pub log: Vec<LogRow>,
    /// Whether the folder already held this run (nothing was trained).
    pub up_to_date: bool,
    /// Files written.
    pub files: Vec<PathBuf>,
}

/// The resumable state after an epoch (`checkpoint.safetensors` metadata).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Progress {
    key: String,
    epochs_done: usize,
    steps_done: usize,
    optimizer_steps: usize,
    log: Vec<LogRow>,
    best: Option<(usize, f64)>,
}

const CHECKPOINT: &str = "checkpoint.safetensors";

/// Runs (or resumes, or finds up to date) a fine-tuning run, writing into `out`.
pub fn finetune(
    params: &FinetuneParams,
    job: &FinetuneJob,
    out: &Path,
    observer: &dyn Observer,
) -> Result<FinetuneOutcome> {
    params.check()?;
    let started = Instant::now();
    let images = Embeddings::load(&job.images)?;
    if images.kind != Kind::Image {
        return Err(FinetuneError::Input(format!(
            "{}: holds text embeddings; --images needs the output of encode-images --split train",
            job.images.display()
        )));
    }
    let labels: Vec<usize> = images.label_indices();
    let classes = job.prompts.classes().clone();
    if images.classes.len() != classes.len() {
        return Err(FinetuneError::Input(format!(
            "{}: {} classes, the prompts name {}",
            job.images.display(),
            images.classes.len(),
            classes.len()
        )));
    }
    let files = ClipFiles::resolve(&job.clip)?;
    let fingerprint = files.fingerprint()?;
    if let Some(hash) = images.info.get("checkpoint_hash") {
        if *hash != fingerprint {
            return Err(FinetuneError::Input(format!(
                "{}: the images were encoded by another checkpoint than {}; train on embeddings of the same CLIP",
                job.images.display(),
                job.clip
            )));
        }
    }
    let prompt = train_prompt(params, &job.prompts)?;
    let (aux, aux_key) = match (&prompt, &job.aux) {
        (TrainPrompt::Hard(_), _) => (None, String::new()),
        (TrainPrompt::Relation(_), Some(path)) => {
            let predictions = AuxPredictions::read(path)?;
            let aligned = predictions.align(&classes, &images.ids)?;
            let bytes = std::fs::read(path).at(path)?;
            (Some(aligned), blake3::hash(&bytes).to_hex().to_string())
        }
        (TrainPrompt::Relation(_), None) => (None, String::new()),
    };
    let init_key = match &job.init {
        Some(path) => blake3::hash(&std::fs::read(path).at(path)?)
            .to_hex()
            .to_string(),
        None => String::new(),
    };
    let objective = Objective::new(classes.clone(), prompt, aux, params.method == Method::Coop)?;
    let holdout = split(
        &labels,
        classes.len(),
        params.val_fraction,
        params.shots,
        params.seed,
    )?;
    let steps_per_epoch = holdout.train.len().div_ceil(params.batch_size);
    let total_steps = params
        .steps
        .unwrap_or(params.epochs.unwrap_or(super::params::DEFAULT_EPOCHS) * steps_per_epoch);
    let total_epochs = total_steps.div_ceil(steps_per_epoch);
    let key = content_key(
        "softtext-finetune-v1",
        &[
            serde_json::to_string(&store::keyed(params)).expect("params serialise"),
            fingerprint.clone(),
            images.key.clone(),
            aux_key,
            serde_json::to_string(&classes.names().collect::<Vec<_>>()).expect("names serialise"),
            init_key,
            job.device.to_string(),
        ],
    );
    let info = FinetunedInfo {
        format: store::FORMAT.to_string(),
        key: key.clone(),
        params: params.clone(),
        prompt: objective.prompt().name().to_string(),
        base_clip: job.clip.clone(),
        base_fingerprint: fingerprint.clone(),
        images: job.images.display().to_string(),
        images_key: images.key.clone(),
        classes: classes.names().map(str::to_string).collect(),
        context_words: None,
        train_images: holdout.train.len(),
        val_images: holdout.validation.len(),
        steps: total_steps,
        epochs: total_epochs,
        best_epoch: 0,
        val_accuracy: None,
        seconds: 0.0,
        device: job.device.to_string(),
        softtext_version: crate::VERSION.to_string(),
    };
    // Up to date is decided from small files only: no weights are read.
    let init_missing = job.save_init && !out.join("init.safetensors").exists();
    if let Some(done) = store::read_info_if(out, &key).filter(|_| !init_missing) {
        let log = read_log(&out.join("log.csv")).unwrap_or_default();
        observer.status(&format!("{}: up to date", out.display()));
        return Ok(FinetuneOutcome {
            dir: out.to_path_buf(),
            info: done,
            log,
            up_to_date: true,
            files: Vec::new(),
        });
    }
    let device = job.device.device()?;
    let init = match &job.init {
        Some(path) => Some(store::read_tensors(path, &device)?),
        None => None,
    };
    let side = TextSide::load(
        &files,
        params,
        classes.len(),
        &device,
        DType::F32,
        init.as_ref(),
    )?;
    let mut info = FinetunedInfo {
        context_words: side.context_words().map(str::to_string),
        ..info
    };
    // Only now, with every input checked, does the output folder appear.
    std::fs::create_dir_all(out).at(out)?;
    let mut files_written = Vec::new();
    if job.save_init {
        let path = out.join("init.safetensors");
        store::write_tensors(&path, &side.values()?, &info)?;
        files_written.push(path);
    }
    let image_rows = Tensor::from_vec(images.data.clone(), (images.len(), images.dim), &device)?;
    let mut optimiser = Optimiser::new(
        params,
        side.trainable()
            .iter()
            .map(|(name, var)| (name.clone(), var.clone()))
            .collect(),
    )?;
    let mut state = Progress {
        key: key.clone(),
        epochs_done: 0,
        steps_done: 0,
        optimizer_steps: 0,
        log: Vec::new(),
        best: None,
    };
    let mut best_values: Option<BTreeMap<String, Tensor>> = None;
    let checkpoint = out.join(CHECKPOINT);
    if let Some((saved, tensors)) = read_checkpoint(&checkpoint, &key, &device)? {
        side.assign(&prefixed(&tensors, "param."), "checkpoint")?;
        optimiser.restore(&prefixed(&tensors, "optim."), saved.optimizer_steps)?;
        if saved.best.is_some() {
            best_values = Some(
                prefixed(&tensors, "best.")
                    .into_iter()
                    .collect::<BTreeMap<_, _>>(),
            );
        }
        observer.status(&format!(
            "resuming {} after epoch {} of {}",
            out.display(),
            saved.epochs_done,
            total_epochs
        ));
        state = saved;
    }

    let bar = observer.progress(total_steps as u64, "steps");
    bar.advance(state.steps_done as u64);
    for epoch in state.epochs_done..total_epochs {
        let order = epoch_order(&holdout.train, params.shuffle, params.seed, epoch);
        for rows in order.chunks(params.batch_size) {
            if state.steps_done == total_steps {
                break;
            }
            let lr = cosine_lr(params.lr, state.steps_done, total_steps);
            let batch_labels: Vec<usize> = rows.iter().map(|&r| labels[r]).collect();
            let batch_images = select_rows(&image_rows, rows)?;
            let logits = objective.logits(&side, &batch_images, rows, Kernels::Differentiable)?;
            let (loss, correct) = cross_entropy(&logits, &batch_labels)?;
            let grads = loss.backward()?;
            optimiser.step(&grads, lr)?;
            state.steps_done += 1;
            state.log.push(LogRow {
                step: state.steps_done,
                epoch: epoch + 1,
                lr,
                loss: loss.to_dtype(DType::F64)?.to_scalar::<f64>()?,
                correct,
                batch: rows.len(),
                val_accuracy: None,
            });
            bar.advance(1);
        }
        if !holdout.validation.is_empty() {
            let accuracy = accuracy(&objective, &side, &image_rows, &labels, &holdout, params)?;
            if let Some(last) = state.log.last_mut() {
                last.val_accuracy = Some(accuracy);
            }
            bar.message(&format!(
                "epoch {}: validation {:.1}%",
                epoch + 1,
                accuracy * 100.0
            ));
            if state.best.is_none_or(|(_, best)| accuracy > best) {
                state.best = Some((epoch + 1, accuracy));
                best_values = Some(side.values()?);
            }
        }
        state.epochs_done = epoch + 1;
        let (optim_state, optimizer_steps) = optimiser.state();
        state.optimizer_steps = optimizer_steps;
        write_checkpoint(
            &checkpoint,
            &state,
            &side.values()?,
            &optim_state,
            best_values.as_ref(),
        )?;
    }
    bar.finish();

    let (best_epoch, val_accuracy) = match state.best {
        Some((epoch, accuracy)) => (epoch, Some(accuracy)),
        None => (state.epochs_done, None),
    };
    let trained = match (&best_values, state.best) {
        (Some(values), Some(_)) => values.clone(),
        _ => side.values()?,
    };
    info.best_epoch = best_epoch;
    info.val_accuracy = val_accuracy;
    info.seconds = started.elapsed().as_secs_f64();
    if matches!(params.method, Method::Lora | Method::LastK) {
        side.assign(&trained.clone().into_iter().collect(), "best epoch")?;
        let clip_dir = out.join("clip");
        store::write_clip_folder(&files, &side, &clip_dir)?;
        files_written.push(clip_dir);
    }
    let weights = out.join(store::FINETUNED);
    store::write_tensors(&weights, &trained, &info)?;
    files_written.push(weights);
    let log_path = out.join("log.csv");
    write_atomic(&log_path, log_csv(&state.log).as_bytes())?;
    files_written.push(log_path);
    files_written.extend(draw_curve(&state.log, &info, &out.join("curve"))?);
    // Written last: its presence with this key is what makes the folder up to date.
    files_written.push(store::write_info(out, &info)?);
    let _ = std::fs::remove_file(&checkpoint);
    observer.status(&format!(
        "trained {} ({} steps, {} epochs) in {:.1}s; best epoch {best_epoch}{}; wrote {}",
        params.method_summary(),
        total_steps,
        total_epochs,
        info.seconds,
        val_accuracy.map_or(String::new(), |a| format!(", validation {:.1}%", a * 100.0)),
        out.display()
    ));
    Ok(FinetuneOutcome {
        dir: out.to_path_buf(),
        info,
        log: state.log,
        up_to_date: false,
        files: files_written,
    })
}

/// The prompt `params.prompt` names: `hard` (the prompt configuration's first template) or
/// one of its relations.
fn train_prompt(params: &FinetuneParams, prompts: &PromptConfig) -> Result<TrainPrompt> {
    if params.is_hard() {
        let template = prompts.hard_templates().first().cloned().ok_or_else(|| {
            FinetuneError::Input("the prompt configuration has no hard template".into())
        })?;
        return Ok(TrainPrompt::Hard(template));
    }
    match prompts
        .relations()
        .iter()
        .find(|r| r.name() == params.prompt)
    {
        Some(relation) => Ok(TrainPrompt::Relation(relation.clone())),
        None => {
            let known: Vec<&str> = prompts.relations().iter().map(|r| r.name()).collect();
            Err(FinetuneError::param(
                super::params::FinetuneParam::Prompt,
                format!(
                    "unknown prompt {:?} (use hard or a relation: {})",
                    params.prompt,
                    known.join(", ")
                ),
            ))
        }
    }
}

fn select_rows(matrix: &Tensor, rows: &[usize]) -> Result<Tensor> {
    let index: Vec<u32> = rows.iter().map(|&r| r as u32).collect();
    let index = Tensor::from_vec(index, rows.len(), matrix.device())?;
    Ok(matrix.index_select(&index, 0)?)
}

/// Accuracy on the validation rows with the current trained tensors (fused kernels, no
/// gradient graph is kept).
fn accuracy(
    objective: &Objective,
    side: &TextSide,
    image_rows: &Tensor,
    labels: &[usize],
    holdout: &Split,
    params: &FinetuneParams,
) -> Result<f64> {
    let mut correct = 0;
    for rows in holdout.validation.chunks(params.batch_size.max(64)) {
        let batch_labels: Vec<usize> = rows.iter().map(|&r| labels[r]).collect();
        let logits = objective
            .logits(side, &select_rows(image_rows, rows)?, rows, Kernels::Fused)?
            .detach();
        correct += correct_count(&logits, &batch_labels)?;
    }
    Ok(correct as f64 / holdout.validation.len() as f64)
}

fn prefixed(tensors: &HashMap<String, Tensor>, prefix: &str) -> HashMap<String, Tensor> {
    tensors
        .iter()
        .filter_map(|(name, t)| {
            name.strip_prefix(prefix)
                .map(|n| (n.to_string(), t.clone()))
        })
        .collect()
}

fn write_checkpoint(
    path: &Path,
    state: &Progress,
    values: &BTreeMap<String, Tensor>,
    optim: &HashMap<String, Tensor>,
    best: Option<&BTreeMap<String, Tensor>>,
) -> Result<()> {
    let mut tensors: BTreeMap<String, Tensor> = BTreeMap::new();
    for (name, t) in values {
        tensors.insert(format!("param.{name}"), t.clone());
    }
    for (name, t) in optim {
        tensors.insert(format!("optim.{name}"), t.clone());
    }
    for (name, t) in best.into_iter().flatten() {
        tensors.insert(format!("best.{name}"), t.clone());
    }
    let meta = HashMap::from([(
        "softtext.progress".to_string(),
        serde_json::to_string(state).expect("progress serialises"),
    )]);
    store::write_raw(path, &tensors, meta)
}

/// The checkpoint in `path` when it belongs to the run `key`; `None` when absent or another
/// run's (which is then trained over).
fn read_checkpoint(
    path: &Path,
    key: &str,
    device: &Device,
) -> Result<Option<(Progress, HashMap<String, Tensor>)>> {
    if !path.exists() {
        return Ok(None);
    }
    let (tensors, meta) = store::read_raw(path, device)?;
    let Some(progress) = meta
        .get("softtext.progress")
        .and_then(|text| serde_json::from_str::<Progress>(text).ok())
    else {
        return Ok(None);
    };
    Ok((progress.key == key).then_some((progress, tensors)))
}

/// `log.csv`: step, epoch, learning rate, loss, validation accuracy (at epoch ends only),
/// and the batch's size and correct count (the training accuracy of the curve).
pub fn log_csv(log: &[LogRow]) -> String {
    let mut text = String::from("step,epoch,lr,loss,val_accuracy,batch,correct\n");
    for row in log {
        text.push_str(&format!(
            "{},{},{},{},{},{},{}\n",
            row.step,
            row.epoch,
            row.lr,
            row.loss,
            row.val_accuracy.map_or(String::new(), |a| a.to_string()),
            row.batch,
            row.correct,
        ));
    }
    text
}

/// Reads a [`log_csv`] file back; `None` when it is missing or not one.
pub fn read_log(path: &Path) -> Option<Vec<LogRow>> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .skip(1)
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            let field = |i: usize| fields.get(i).copied();
            Some(LogRow {
                step: field(0)?.parse().ok()?,
                epoch: field(1)?.parse().ok()?,
                lr: field(2)?.parse().ok()?,
                loss: field(3)?.parse().ok()?,
                val_accuracy: field(4).and_then(|f| f.parse().ok()),
                batch: field(5)?.parse().ok()?,
                correct: field(6)?.parse().ok()?,
            })
        })
        .collect()
}

fn draw_curve(log: &[LogRow], info: &FinetunedInfo, stem: &Path) -> Result<Vec<PathBuf>> {
    let mut points: Vec<CurvePoint> = Vec::new();
    for epoch in 1..=log.last().map_or(0, |row| row.epoch) {
        let rows: Vec<&LogRow> = log.iter().filter(|row| row.epoch == epoch).collect();
        if rows.is_empty() {
            continue;
        }
        let images: usize = rows.iter().map(|r| r.batch).sum();
        points.push(CurvePoint {
            epoch,
            train_loss: rows.iter().map(|r| r.loss * r.batch as f64).sum::<f64>() / images as f64,
            train_accuracy: rows.iter().map(|r| r.correct).sum::<usize>() as f64 / images as f64,
            test_accuracy: rows.last().and_then(|r| r.val_accuracy),
            lr: rows[0].lr,
        });
    }
    let figure = TrainingCurveFigure {
        title: format!(
            "Fine-tuning {} on {}",
            info.params.method_summary(),
            info.prompt
        ),
        subtitle: Some(format!(
            "{} · {} train / {} validation images · {}",
            info.base_clip,
            info.train_images,
            info.val_images,
            info.params.optimizer.as_str()
        )),
        points: &points,
        held_out: "Validation",
        ..Default::default()
    };
    Ok(draw_training_curve(&figure, stem)?)
}
