//! `softtext reproduce`: the whole study from one TOML file, each stage cached under the
//! output folder by a content key of its inputs, with a `manifest.json` of what ran.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use serde::{Deserialize, Serialize};

use super::auxiliary::{train_params, CURVE_STEM};
use super::encode::{run_images, EncodeImagesArgs, ModelArgs};
use super::eval::{run_eval, EvalArgs};
use super::report::{run_report, ReportArgs};
use super::status;
use super::umap::{run_umap, UmapArgs};
use crate::artifact::write_atomic;
use crate::auxiliary::classifier::train::{CHECKPOINT_FILE, LOG_FILE};
use crate::auxiliary::classifier::{predict, ModelKind, TrainParams};
use crate::clip::{ClipFiles, DeviceKind, Precision};
use crate::data::{DataSpec, Dataset, Split};
use crate::embeddings::Embeddings;
use crate::error::{Error, IoContext, Result};
use crate::prompts::PromptConfigFile;
use crate::zeroshot::ProtocolKind;

#[derive(Debug, Args)]
pub struct ReproduceArgs {
    /// Study configuration (see configs/demo.toml for every field, documented).
    #[arg(long, value_name = "FILE.toml")]
    pub config: PathBuf,
    /// Output folder [default: out/NAME, NAME from the config]; stages already computed there
    /// with the same inputs are reused.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Never touch the network (stop early if a checkpoint or dataset is missing).
    #[arg(long)]
    pub offline: bool,
}

/// The configuration file. Unknown fields are errors.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudyConfig {
    /// A name for the run; the default output folder is `out/NAME`.
    pub name: String,
    /// Shown first in the report's provenance table when set.
    #[serde(default)]
    pub description: Option<String>,
    pub clip: ClipSection,
    pub data: DataSection,
    pub auxiliary: AuxSection,
    #[serde(default)]
    pub prompts: PromptConfigFile,
    #[serde(default)]
    pub eval: EvalSection,
    #[serde(default)]
    pub umap: UmapSection,
    #[serde(default)]
    pub report: ReportSection,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClipSection {
    /// A Hugging Face folder or repo id (`openai/clip-vit-large-patch14`).
    pub model: String,
    #[serde(default = "cpu")]
    pub device: String,
    #[serde(default = "f32")]
    pub dtype: String,
    #[serde(default = "batch")]
    pub batch_size: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSection {
    /// `folder:PATH` or `cifar10-bin:PATH` (relative paths are relative to the working
    /// folder).
    pub spec: String,
    #[serde(default = "test")]
    pub split: String,
    /// Evaluate at most this many images (round-robin over classes).
    #[serde(default)]
    pub limit: Option<usize>,
    /// Fetch the official CIFAR-10 binary release to a missing `cifar10-bin:` path (needs the
    /// `download` feature and the network).
    #[serde(default)]
    pub download: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuxSection {
    /// `train` (softtext trains the classifier of `[auxiliary.train]`), `self`, `oracle`, or
    /// a prediction file (.json/.csv/.safetensors) keyed by image id.
    pub source: String,
    /// With `train`: the training data (its train split); default: `[data] spec`.
    #[serde(default)]
    pub train_data: Option<String>,
    /// With `train`: data for the per-epoch test accuracy (its test split); default:
    /// `[data] spec`.
    #[serde(default)]
    pub test_data: Option<String>,
    /// With `train`: where to train and predict; default: `[clip] device`.
    #[serde(default)]
    pub device: Option<String>,
    /// With `train`: classes kept per image (the soft texts use two, `topk-mean` up to k).
    #[serde(default = "aux_top_k")]
    pub top_k: usize,
    /// With `train`: the recipe; every field defaults to the paper's (see `softtext aux
    /// train --help`).
    #[serde(default)]
    pub train: Option<TrainParams>,
}

impl AuxSection {
    fn trains(&self) -> bool {
        self.source == "train"
    }

    fn check(&self) -> Result<()> {
        let is_file = [".json", ".csv", ".safetensors"]
            .iter()
            .any(|ext| self.source.ends_with(ext));
        if !matches!(self.source.as_str(), "train" | "self" | "oracle") && !is_file {
            return Err(Error::invalid(format!(
                "[auxiliary] source {:?}: use \"train\", \"self\", \"oracle\" or a predictions file (.json, .csv or .safetensors)",
                self.source
            )));
        }
        if !self.trains()
            && (self.train.is_some() || self.train_data.is_some() || self.test_data.is_some())
        {
            return Err(Error::invalid(format!(
                "[auxiliary]: train, train_data and test_data are only read with source = \"train\", not {:?}",
                self.source
            )));
        }
        if let Some(params) = &self.train {
            params
                .check()
                .map_err(|e| Error::invalid(format!("[auxiliary.train]: {e}")))?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalSection {
    #[serde(default = "bootstrap")]
    pub bootstrap: usize,
    #[serde(default)]
    pub seed: u64,
    /// Protocols to run; empty for all.
    #[serde(default)]
    pub protocols: Vec<String>,
    /// λ grid of the blend protocols; empty for 0, 0.1, …, 1.
    #[serde(default)]
    pub lambdas: Vec<f64>,
    #[serde(default = "self_k")]
    pub self_k: usize,
}

impl Default for EvalSection {
    fn default() -> Self {
        Self {
            bootstrap: bootstrap(),
            seed: 0,
            protocols: Vec::new(),
            lambdas: Vec::new(),
            self_k: self_k(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UmapSection {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default = "neighbors")]
    pub n_neighbors: usize,
    #[serde(default = "min_dist")]
    pub min_dist: f32,
    #[serde(default)]
    pub epochs: Option<usize>,
    #[serde(default = "umap_seed")]
    pub seed: u64,
    /// Extra texts to label in the figures.
    #[serde(default)]
    pub labels: Vec<String>,
}

impl Default for UmapSection {
    fn default() -> Self {
        Self {
            enabled: true,
            n_neighbors: neighbors(),
            min_dist: min_dist(),
            epochs: None,
            seed: umap_seed(),
            labels: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportSection {
    /// Soft protocol charted per class beside `hard`.
    #[serde(default = "pair")]
    pub protocol: String,
}

impl Default for ReportSection {
    fn default() -> Self {
        Self { protocol: pair() }
    }
}

fn cpu() -> String {
    "cpu".into()
}
fn f32() -> String {
    "f32".into()
}
fn batch() -> usize {
    64
}
fn test() -> String {
    "test".into()
}
fn bootstrap() -> usize {
    1000
}
fn self_k() -> usize {
    5
}
fn yes() -> bool {
    true
}
fn neighbors() -> usize {
    15
}
fn min_dist() -> f32 {
    0.1
}
fn umap_seed() -> u64 {
    42
}
fn pair() -> String {
    "pair".into()
}
fn aux_top_k() -> usize {
    5
}

impl StudyConfig {
    /// The report charts one soft protocol beside `hard`; it must be one the evaluation runs,
    /// or the run would fail at its last stage after all the work.
    fn check_report_protocol(&self) -> std::result::Result<(), String> {
        let label = &self.report.protocol;
        let base = label.split('(').next().unwrap_or(label);
        let soft: Vec<&str> = ProtocolKind::ALL
            .iter()
            .filter(|k| !k.is_hard())
            .map(|k| k.name())
            .collect();
        match ProtocolKind::from_name(base) {
            Some(kind)
                if matches!(
                    kind,
                    ProtocolKind::TopkMean | ProtocolKind::BlendAll | ProtocolKind::BlendPair
                ) && !label.ends_with(')') =>
            {
                Err(format!(
                    "[report] protocol {label:?} has one row per parameter; name one, e.g. \"{base}({})\"",
                    if kind == ProtocolKind::TopkMean { "2" } else { "0.5" }
                ))
            }
            Some(kind) if !kind.is_hard() => {
                let runs = &self.eval.protocols;
                if runs.is_empty() || runs.iter().any(|p| p == base) {
                    Ok(())
                } else {
                    Err(format!(
                        "[report] protocol {label:?} is not among [eval] protocols ({}); add it there or chart one of those",
                        runs.join(", ")
                    ))
                }
            }
            _ => Err(format!(
                "[report] protocol {label:?} is not a soft protocol; use one of {} (with (K) or (λ) for the last three, e.g. \"blend-all(0.5)\")",
                soft.join(", ")
            )),
        }
    }

    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).at(path)?;
        let config: Self = toml::from_str(&text).map_err(|e| {
            Error::invalid(format!(
                "{}: {}",
                path.display(),
                crate::error::toml_error_line(&text, &e)
            ))
        })?;
        config
            .auxiliary
            .check()
            .map_err(|e| Error::invalid(format!("{}: {e}", path.display())))?;
        config
            .check_report_protocol()
            .map_err(|e| Error::invalid(format!("{}: {e}", path.display())))?;
        if config.data.limit == Some(0) {
            return Err(Error::invalid(format!(
                "{}: [data] limit must be at least 1 (leave it out to use every image)",
                path.display()
            )));
        }
        Ok(config)
    }
}

/// One stage's record in `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StageRecord {
    pub key: String,
    pub outputs: Vec<String>,
    /// Seconds the stage took when it was computed.
    pub seconds: f64,
    /// Whether this run reused the outputs of an earlier run.
    #[serde(default)]
    pub cached: bool,
}

impl StageRecord {
    /// The record of a stage that took `elapsed` seconds now, or reused `previous` outputs.
    fn new(key: &str, outputs: &[&str], elapsed: f64, previous: Option<&StageRecord>) -> Self {
        Self {
            key: key.to_string(),
            outputs: outputs.iter().map(|s| s.to_string()).collect(),
            seconds: previous.map_or(elapsed, |p| p.seconds),
            cached: previous.is_some(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Manifest {
    pub softtext_version: String,
    pub config: String,
    pub stages: BTreeMap<String, StageRecord>,
}

fn hash(parts: &[&str]) -> String {
    let mut h = blake3::Hasher::new();
    for p in parts {
        h.update(&(p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    h.finalize().to_hex().to_string()
}

/// Fails before any work when the checkpoint, the data or the GPU is missing, naming
/// everything missing at once and how to provide it; fetches what it may first.
fn preflight(config: &StudyConfig, offline: bool, devices: &[DeviceKind]) -> Result<ClipFiles> {
    let mut missing: Vec<String> = Vec::new();
    for device in devices {
        if let Err(e) = device.device() {
            missing.push(e.to_string());
            break;
        }
    }
    let data: DataSpec = config.data.spec.parse()?;
    if !data.path().exists() {
        let can_fetch = cfg!(feature = "download") && !offline && config.data.download;
        match (&data, can_fetch && missing.is_empty()) {
            #[cfg(feature = "download")]
            (DataSpec::CifarBin(path), true) => {
                status(format!("downloading CIFAR-10 to {}", path.display()));
                crate::download::fetch(
                    crate::download::CIFAR10_BINARY_URL,
                    path,
                    Some(crate::download::CIFAR10_BINARY_MD5),
                )?;
            }
            _ => {
                let how = match (
                    &data,
                    offline,
                    config.data.download,
                    cfg!(feature = "download"),
                ) {
                    (DataSpec::Folder(_), ..) => String::new(),
                    (_, true, ..) => {
                        " (cifar-10-binary.tar.gz); --offline forbids fetching it".into()
                    }
                    (_, _, false, _) => {
                        " (cifar-10-binary.tar.gz), or set [data] download = true".into()
                    }
                    (_, _, true, false) => {
                        " (cifar-10-binary.tar.gz), or rebuild with --features download to fetch it"
                            .into()
                    }
                    _ => String::new(),
                };
                missing.push(format!(
                    "data {}: {} does not exist; put the dataset there{how}",
                    config.data.spec,
                    data.path().display(),
                ));
            }
        }
    }
    if config.auxiliary.trains() {
        for (field, spec) in [
            ("train_data", &config.auxiliary.train_data),
            ("test_data", &config.auxiliary.test_data),
        ] {
            if let Some(spec) = spec {
                let parsed: DataSpec = spec.parse()?;
                if !parsed.path().exists() {
                    missing.push(format!(
                        "[auxiliary] {field} {spec}: {} does not exist",
                        parsed.path().display()
                    ));
                }
            }
        }
    }
    // Nothing is fetched once the run is bound to fail.
    #[cfg(feature = "download")]
    let files =
        crate::download::resolve_or_fetch(&config.clip.model, offline || !missing.is_empty());
    #[cfg(not(feature = "download"))]
    let files = ClipFiles::resolve(&config.clip.model);
    match files {
        Ok(files) if missing.is_empty() => Ok(files),
        Ok(_) => Err(Error::Missing(missing.join("; "))),
        Err(e) => {
            missing.push(e.to_string());
            Err(Error::Missing(missing.join("; ")))
        }
    }
}

/// The output folder, the manifests of this run and the last, and the overall display.
struct Pipeline {
    out: PathBuf,
    manifest_path: PathBuf,
    previous: Manifest,
    manifest: Manifest,
    stages: crate::progress::Stages,
}

impl Pipeline {
    /// Whether the last run recorded `stage` with this key and its outputs still exist.
    /// Up to date: the same key as last time, and every output, the declared ones and every
    /// file the stage reported writing last time, still on disk.
    fn fresh(&self, stage: &str, key: &str, outputs: &[String]) -> bool {
        self.previous.stages.get(stage).is_some_and(|r| {
            r.key == key
                && outputs
                    .iter()
                    .chain(&r.outputs)
                    .all(|o| self.out.join(o).is_file())
        })
    }

    /// Runs `compute` unless the stage is fresh, then records it in `manifest.json` with its
    /// declared outputs plus the files `compute` reports writing.
    fn stage(
        &mut self,
        stage: &str,
        title: &str,
        key: &str,
        outputs: &[String],
        compute: impl FnOnce(&Manifest) -> Result<Vec<PathBuf>>,
    ) -> Result<()> {
        status(self.stages.start(title));
        let started = Instant::now();
        let fresh = self.fresh(stage, key, outputs);
        let mut all: Vec<String> = outputs.to_vec();
        if fresh {
            status("      up to date");
            if let Some(previous) = self.previous.stages.get(stage) {
                all.extend(previous.outputs.iter().cloned());
            }
        } else {
            for path in compute(&self.manifest)? {
                let relative = path.strip_prefix(&self.out).unwrap_or(&path);
                all.push(relative.to_string_lossy().replace('\\', "/"));
            }
        }
        all.sort();
        all.dedup();
        let reused = self.previous.stages.get(stage).filter(|_| fresh).cloned();
        self.record(stage, key, &all, started, reused.as_ref())
    }

    fn record(
        &mut self,
        stage: &str,
        key: &str,
        outputs: &[String],
        started: Instant,
        reused: Option<&StageRecord>,
    ) -> Result<()> {
        let outputs: Vec<&str> = outputs.iter().map(String::as_str).collect();
        self.manifest.stages.insert(
            stage.to_string(),
            StageRecord::new(key, &outputs, started.elapsed().as_secs_f64(), reused),
        );
        write_atomic(
            &self.manifest_path,
            serde_json::to_string_pretty(&self.manifest)
                .expect("manifest serialises")
                .as_bytes(),
        )?;
        Ok(())
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// File holding the trained classifier's predictions for the evaluated images.
const AUX_PREDICTIONS: &str = "aux/predictions.json";

pub fn run(args: ReproduceArgs) -> Result<()> {
    let started = Instant::now();
    let config = StudyConfig::from_file(&args.config)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("out").join(&config.name));
    super::check_output_folder(&out)?;
    let device: DeviceKind = config.clip.device.parse()?;
    let dtype: Precision = config.clip.dtype.parse()?;
    let split: Split = config.data.split.parse()?;
    let aux_device: DeviceKind = match &config.auxiliary.device {
        Some(d) => d.parse()?,
        None => device,
    };
    let mut devices = vec![device];
    if config.auxiliary.trains() {
        devices.push(aux_device);
    }
    let files = preflight(&config, args.offline, &devices)?;
    std::fs::create_dir_all(&out).at(&out)?;
    let config_text = toml::to_string(&config).expect("config serialises");
    let manifest_path = out.join("manifest.json");
    let previous: Manifest = std::fs::read_to_string(&manifest_path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    let trains = config.auxiliary.trains();
    let total = 3 + usize::from(config.umap.enabled) + 2 * usize::from(trains);
    let mut pipeline = Pipeline {
        out: out.clone(),
        manifest_path,
        previous,
        manifest: Manifest {
            softtext_version: crate::VERSION.to_string(),
            config: config_text,
            stages: BTreeMap::new(),
        },
        stages: crate::progress::Stages::new(total),
    };

    // Auxiliary classifier: training, then top-k predictions for the evaluated images.
    let mut aux_source = config.auxiliary.source.clone();
    if trains {
        aux_source = out.join(AUX_PREDICTIONS).display().to_string();
        train_and_predict(&config, aux_device, split, &mut pipeline)?;
    }

    // Image embeddings (content-keyed by encode-images itself).
    status(pipeline.stages.start("image embeddings"));
    let t = Instant::now();
    let images_path = out.join("images.safetensors");
    let images_cached = run_images(EncodeImagesArgs {
        model: ModelArgs {
            clip: files.dir.display().to_string(),
            device,
            dtype,
        },
        data: config.data.spec.parse()?,
        split,
        out: images_path.clone(),
        batch_size: config.clip.batch_size,
        limit: config.data.limit,
        force: false,
    })?;
    let images_key = Embeddings::load(&images_path)?.key;
    let reused = pipeline
        .previous
        .stages
        .get("images")
        .filter(|r| images_cached && r.key == images_key)
        .cloned();
    pipeline.record(
        "images",
        &images_key,
        &strings(&["images.safetensors"]),
        t,
        reused.as_ref(),
    )?;

    // Evaluation: keyed by the images, the prompts, the eval settings and the aux input.
    let aux_digest = match aux_source.as_str() {
        "self" | "oracle" => aux_source.clone(),
        path => {
            let bytes = std::fs::read(path).at(path)?;
            blake3::hash(&bytes).to_hex().to_string()
        }
    };
    let prompts_toml = toml::to_string(&config.prompts).expect("prompts serialise");
    let eval_settings = toml::to_string(&config.eval).expect("eval serialises");
    let eval_key = hash(&[
        "eval-v1",
        &images_key,
        &prompts_toml,
        &eval_settings,
        &aux_digest,
    ]);
    let eval_outputs = strings(&[
        "table.md",
        "table.csv",
        "table.json",
        "texts.json",
        "texts.safetensors",
        "run.json",
    ]);
    pipeline.stage(
        "eval",
        "text embeddings and evaluation",
        &eval_key,
        &eval_outputs,
        |_| {
            let prompts_path = out.join("prompts.toml");
            write_atomic(&prompts_path, prompts_toml.as_bytes())?;
            run_eval(&EvalArgs {
                images: images_path.clone(),
                clip: Some(files.dir.display().to_string()),
                aux: aux_source.clone(),
                out: out.clone(),
                prompts: Some(prompts_path),
                hard: None,
                protocols: config.eval.protocols.clone(),
                lambdas: config.eval.lambdas.clone(),
                bootstrap: config.eval.bootstrap,
                seed: config.eval.seed,
                self_k: config.eval.self_k,
                device,
                dtype,
                batch_size: 256,
            })
            .map(|_| Vec::new())
        },
    )?;

    // UMAP figures.
    let mut report_inputs = vec![eval_key.clone()];
    if config.umap.enabled {
        let umap_settings = toml::to_string(&config.umap).expect("umap serialises");
        let umap_key = hash(&["umap-v2", &eval_key, &umap_settings]);
        report_inputs.push(umap_key.clone());
        pipeline.stage(
            "umap",
            "UMAP figures",
            &umap_key,
            &strings(&["figures/umap-hard.png"]),
            |_| {
                run_umap(&UmapArgs {
                    images: images_path.clone(),
                    eval: out.clone(),
                    out: None,
                    sets: Vec::new(),
                    label: config.umap.labels.clone(),
                    top_labels: 6,
                    n_neighbors: config.umap.n_neighbors,
                    min_dist: config.umap.min_dist,
                    epochs: config.umap.epochs,
                    seed: config.umap.seed,
                })
            },
        )?;
    }

    // Report.
    let report_key = hash(
        &[
            &[
                "report-v2",
                &config.report.protocol,
                config.description.as_deref().unwrap_or(""),
            ],
            &report_inputs.iter().map(String::as_str).collect::<Vec<_>>()[..],
        ]
        .concat(),
    );
    pipeline.stage(
        "report",
        "report",
        &report_key,
        &strings(&["report.md", "report.html"]),
        |manifest| {
            let timings: Vec<String> = manifest
                .stages
                .iter()
                .map(|(name, r)| format!("{name}={:.3}", r.seconds))
                .collect();
            run_report(&ReportArgs {
                eval: out.clone(),
                out: None,
                protocol: config.report.protocol.clone(),
                timing: timings,
                description: config.description.clone(),
            })
        },
    )?;
    drop(pipeline);
    status(format!(
        "done in {:.1}s: table {}, report {}",
        started.elapsed().as_secs_f64(),
        out.join("table.md").display(),
        out.join("report.html").display()
    ));
    Ok(())
}

/// The `train` source's two stages. Training runs in a folder named by its key, so an
/// interrupted run resumes there and a changed recipe starts afresh beside it.
fn train_and_predict(
    config: &StudyConfig,
    device: DeviceKind,
    split: Split,
    pipeline: &mut Pipeline,
) -> Result<()> {
    let aux = &config.auxiliary;
    let params = aux.train.clone().unwrap_or_default();
    let train_spec: DataSpec = aux
        .train_data
        .as_deref()
        .unwrap_or(&config.data.spec)
        .parse()?;
    let test_spec: DataSpec = aux
        .test_data
        .as_deref()
        .unwrap_or(&config.data.spec)
        .parse()?;
    let train_data = Dataset::load(&train_spec, Split::Train, None)?;
    let data_spec: DataSpec = config.data.spec.parse()?;
    // The evaluated images, in the classifier's class order; read once, and reused for the
    // per-epoch test accuracy when that is the same split (the default).
    let eval_full = Dataset::load(&data_spec, split, Some(&train_data.classes))?;
    let separate_test = if params.eval_every > 0 && (test_spec != data_spec || split != Split::Test)
    {
        Some(Dataset::load(
            &test_spec,
            Split::Test,
            Some(&train_data.classes),
        )?)
    } else {
        None
    };
    let test_data: Option<&Dataset> = match &separate_test {
        Some(test) => Some(test),
        None if params.eval_every > 0 => Some(&eval_full),
        None => None,
    };
    // Keyed on what decides the weights only: a changed evaluation setting (eval_every,
    // eval_batch_size, limit_test, the test set) must not retrain a 200-epoch network. The
    // checkpoint accepts such changes on resume for the same reason.
    let weights_json = serde_json::to_string(&params.training_part()).expect("params serialise");
    let train_key = hash(&["aux-train-v2", &train_data.manifest_hash(), &weights_json]);
    let folder = format!("aux/train-{}", &train_key[..16]);
    let checkpoint = format!("{folder}/{CHECKPOINT_FILE}");
    let images = params
        .limit_train
        .map_or(train_data.len(), |n| n.min(train_data.len()));
    if device == DeviceKind::Cpu
        && params.model != ModelKind::Fast
        && params.width_divisor == 1
        && params.epochs * images > 1_000_000
    {
        // Measured: ResNet50 trains at about 2 images/s on 2 CPU cores.
        let days = (params.epochs * images) as f64 / 2.0 / 86_400.0;
        status(format!(
            "note: training {} on the CPU is slow ({} epochs of {images} images: about \
             {days:.0} days at 2 images/s); set [auxiliary] device = \"cuda\", \
             model = \"fast\", or source = \"self\"",
            params.model, params.epochs,
        ));
    }
    let out = pipeline.out.clone();
    pipeline.stage(
        "aux-train",
        &format!("auxiliary classifier ({})", params.model),
        &train_key,
        &[
            checkpoint.clone(),
            format!("{folder}/{LOG_FILE}"),
            format!("{folder}/{CURVE_STEM}.png"),
            format!("{folder}/{CURVE_STEM}.svg"),
        ],
        |_| {
            let dir = out.join(&folder);
            std::fs::create_dir_all(&dir).at(&dir)?;
            let resume = dir.join(CHECKPOINT_FILE).is_file();
            if resume {
                status(format!("      resuming {}", dir.display()));
            }
            train_params(
                &params,
                &train_data,
                test_data,
                &dir,
                device,
                resume,
                params.epochs,
            )
            .map(|_| Vec::new())
        },
    )?;
    drop(train_data);
    drop(separate_test);

    let mut eval_data = eval_full;
    if let Some(limit) = config.data.limit {
        eval_data.balanced_limit(limit);
    }
    let checkpoint_path = out.join(&checkpoint);
    // The checkpoint's bytes, not the training key: a checkpoint retrained or replaced in
    // place must not leave the old predictions standing.
    let checkpoint_digest = {
        let mut hasher = blake3::Hasher::new();
        hasher
            .update_mmap_rayon(&checkpoint_path)
            .at(&checkpoint_path)?;
        hasher.finalize().to_hex().to_string()
    };
    let predict_key = hash(&[
        "aux-predict-v2",
        &checkpoint_digest,
        &eval_data.manifest_hash(),
        &aux.top_k.to_string(),
    ]);
    pipeline.stage(
        "aux-predict",
        "auxiliary predictions",
        &predict_key,
        &strings(&[AUX_PREDICTIONS]),
        |_| {
            let predictions = predict(
                &checkpoint_path,
                &eval_data,
                aux.top_k,
                &device.device()?,
                params.eval_batch_size,
            )?;
            predictions.write(&out.join(AUX_PREDICTIONS))?;
            Ok(Vec::new())
        },
    )
}
