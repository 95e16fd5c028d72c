//! `softtext reproduce`: the whole study from one TOML file, each stage cached under the
//! output folder by a content key of its inputs, with a `manifest.json` of what ran.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use serde::{Deserialize, Serialize};

use super::encode::{run_images, EncodeImagesArgs, ModelArgs};
use super::eval::{run_eval, EvalArgs};
use super::report::{run_report, ReportArgs};
use super::status;
use super::umap::{run_umap, UmapArgs};
use crate::artifact::write_atomic;
use crate::clip::{ClipFiles, DeviceKind, Precision};
use crate::data::{DataSpec, Split};
use crate::embeddings::Embeddings;
use crate::error::{Error, IoContext, Result};
use crate::prompts::PromptConfigFile;

#[derive(Debug, Args)]
pub struct ReproduceArgs {
    /// Study configuration (see configs/demo.toml for every field, documented).
    #[arg(long, value_name = "FILE.toml")]
    pub config: PathBuf,
    /// Output folder; stages already computed there with the same inputs are reused.
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
    /// Printed in the report when set (e.g. "random-weight fixture model").
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
    /// `self`, `oracle`, or a prediction file (.json/.csv/.safetensors) keyed by image id.
    pub source: String,
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

impl StudyConfig {
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).at(path)?;
        toml::from_str(&text).map_err(|e| {
            Error::invalid(format!(
                "{}: {}",
                path.display(),
                e.to_string().replace('\n', " ")
            ))
        })
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

/// Fails before any work when the checkpoint or the data is missing, naming what and how
/// to provide it; fetches them first when allowed.
fn preflight(config: &StudyConfig, offline: bool) -> Result<ClipFiles> {
    let data: DataSpec = config.data.spec.parse()?;
    if !data.path().exists() {
        let can_fetch = cfg!(feature = "download") && !offline && config.data.download;
        match (&data, can_fetch) {
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
                return Err(Error::Missing(format!(
                    "data {}: {} does not exist; put the dataset there{how}",
                    config.data.spec,
                    data.path().display(),
                )));
            }
        }
    }
    #[cfg(feature = "download")]
    let files = crate::download::resolve_or_fetch(&config.clip.model, offline)?;
    #[cfg(not(feature = "download"))]
    let files = ClipFiles::resolve(&config.clip.model)?;
    Ok(files)
}

pub fn run(args: ReproduceArgs) -> Result<()> {
    let started = Instant::now();
    let config = StudyConfig::from_file(&args.config)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("out").join(&config.name));
    let device: DeviceKind = config.clip.device.parse()?;
    let dtype: Precision = config.clip.dtype.parse()?;
    let split: Split = config.data.split.parse()?;
    let files = preflight(&config, args.offline)?;
    std::fs::create_dir_all(&out).at(&out)?;
    let config_text = toml::to_string(&config).expect("config serialises");
    let manifest_path = out.join("manifest.json");
    let previous: Manifest = std::fs::read_to_string(&manifest_path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    let mut manifest = Manifest {
        softtext_version: crate::VERSION.to_string(),
        config: config_text.clone(),
        stages: BTreeMap::new(),
    };
    let save = |manifest: &Manifest| {
        write_atomic(
            &manifest_path,
            serde_json::to_string_pretty(manifest)
                .expect("manifest serialises")
                .as_bytes(),
        )
    };
    let total = if config.umap.enabled { 4 } else { 3 };

    // 1. Image embeddings (content-keyed by encode-images itself).
    status(format!("[1/{total}] image embeddings"));
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
    let reused = previous
        .stages
        .get("1-images")
        .filter(|r| images_cached && r.key == images_key);
    manifest.stages.insert(
        "1-images".into(),
        StageRecord::new(
            &images_key,
            &["images.safetensors"],
            t.elapsed().as_secs_f64(),
            reused,
        ),
    );
    save(&manifest)?;

    // 2. Evaluation: keyed by the images, the prompts, the eval settings and the aux input.
    let aux_digest = match config.auxiliary.source.as_str() {
        "self" | "oracle" => config.auxiliary.source.clone(),
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
    let eval_outputs = [
        "table.md",
        "table.csv",
        "table.json",
        "texts.json",
        "texts.safetensors",
        "run.json",
    ];
    let fresh = |stage: &str, key: &str, outputs: &[&str]| {
        previous.stages.get(stage).is_some_and(|r| r.key == key)
            && outputs.iter().all(|o| out.join(o).is_file())
    };
    status(format!("[2/{total}] evaluation"));
    let t = Instant::now();
    let eval_fresh = fresh("2-eval", &eval_key, &eval_outputs);
    if !eval_fresh {
        let prompts_path = out.join("prompts.toml");
        write_atomic(&prompts_path, prompts_toml.as_bytes())?;
        run_eval(&EvalArgs {
            images: images_path.clone(),
            clip: Some(files.dir.display().to_string()),
            aux: config.auxiliary.source.clone(),
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
        })?;
    } else {
        status("      up to date");
    }
    manifest.stages.insert(
        "2-eval".into(),
        StageRecord::new(
            &eval_key,
            &eval_outputs,
            t.elapsed().as_secs_f64(),
            previous.stages.get("2-eval").filter(|_| eval_fresh),
        ),
    );
    save(&manifest)?;

    // 3. UMAP figures.
    let mut report_inputs = vec![eval_key.clone()];
    if config.umap.enabled {
        status(format!("[3/{total}] UMAP figures"));
        let t = Instant::now();
        let umap_settings = toml::to_string(&config.umap).expect("umap serialises");
        let umap_key = hash(&["umap-v1", &eval_key, &umap_settings]);
        report_inputs.push(umap_key.clone());
        let outputs = ["figures/umap-hard.png"];
        let umap_fresh = fresh("3-umap", &umap_key, &outputs);
        if !umap_fresh {
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
            })?;
        } else {
            status("      up to date");
        }
        manifest.stages.insert(
            "3-umap".into(),
            StageRecord::new(
                &umap_key,
                &outputs,
                t.elapsed().as_secs_f64(),
                previous.stages.get("3-umap").filter(|_| umap_fresh),
            ),
        );
        save(&manifest)?;
    }

    // 4. Report.
    status(format!("[{total}/{total}] report"));
    let t = Instant::now();
    let report_key = hash(
        &[
            &["report-v1", &config.report.protocol],
            &report_inputs.iter().map(String::as_str).collect::<Vec<_>>()[..],
        ]
        .concat(),
    );
    let report_outputs = ["report.md", "report.html"];
    let report_fresh = fresh("4-report", &report_key, &report_outputs);
    if !report_fresh {
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
        })?;
    } else {
        status("      up to date");
    }
    manifest.stages.insert(
        "4-report".into(),
        StageRecord::new(
            &report_key,
            &report_outputs,
            t.elapsed().as_secs_f64(),
            previous.stages.get("4-report").filter(|_| report_fresh),
        ),
    );
    save(&manifest)?;
    status(format!(
        "done in {:.1}s: table {}, report {}",
        started.elapsed().as_secs_f64(),
        out.join("table.md").display(),
        out.join("report.html").display()
    ));
    Ok(())
}
