//! [`Study`]: the whole experiment from one configuration, stage by stage, each stage
//! cached under the output folder by a content key of its inputs.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::auxiliary::{per_epoch_test_set, train_on, CURVE_STEM};
use super::cache::{strings, Manifest, StageRunner};
use super::config::{AuxSpec, StudyConfig};
use super::encode::{encode_images, ClipSpec, ImageEncoding};
use super::error::StudyError;
use super::evaluate::{evaluate, read_eval, Evaluation};
use super::figures::{umap, UmapFigures};
use super::report::{report, ReportParams};
use crate::artifact::{content_key, write_atomic};
use crate::auxiliary::classifier::train::{CHECKPOINT_FILE, LOG_FILE};
use crate::auxiliary::classifier::{predict, ModelKind};
use crate::clip::{ClipFiles, DeviceKind};
use crate::data::{DataSpec, Dataset, Split};
use crate::error::Result;
use crate::observe::Observer;
use crate::zeroshot::EvalReport;

/// File holding the trained classifier's predictions for the evaluated images.
pub const AUX_PREDICTIONS: &str = "aux/predictions.json";

/// A study ready to run: a checked [`StudyConfig`] and whether it may use the network.
#[derive(Debug, Clone)]
pub struct Study {
    /// The configuration.
    pub config: StudyConfig,
    /// Never touch the network (stop early if a checkpoint or dataset is missing).
    pub offline: bool,
}

/// What a study run produced.
#[derive(Debug, Clone)]
pub struct StudyOutcome {
    /// The output folder.
    pub out: PathBuf,
    /// Every protocol row (`table.json`).
    pub report: EvalReport,
    /// The Markdown table (`table.md`), as written.
    pub table: String,
    /// What each stage did (`manifest.json`).
    pub manifest: Manifest,
    /// Every file the stages recorded, relative to `out`.
    pub files: Vec<PathBuf>,
}

impl StudyOutcome {
    /// `table.md`.
    pub fn table_path(&self) -> PathBuf {
        self.out.join("table.md")
    }

    /// `report.html`.
    pub fn report_path(&self) -> PathBuf {
        self.out.join("report.html")
    }
}

impl Study {
    /// A study of `config`, which is checked.
    pub fn new(config: StudyConfig) -> Result<Self> {
        config.check()?;
        Ok(Self {
            config,
            offline: false,
        })
    }

    /// Reads and checks the configuration file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        Ok(Self {
            config: StudyConfig::from_file(path.as_ref())?,
            offline: false,
        })
    }

    /// Forbids (`true`) or allows fetching missing checkpoints and data.
    pub fn offline(mut self, offline: bool) -> Self {
        self.offline = offline;
        self
    }

    /// Runs every stage into `out`, reusing the stages already up to date there, and
    /// reports progress to `observer`.
    pub fn run(&self, out: &Path, observer: &dyn Observer) -> Result<StudyOutcome> {
        let config = &self.config;
        super::check_output_folder(out)?;
        let device = config.clip.device;
        let aux_device = config.aux_device();
        let trains = config.auxiliary.trains();
        let mut devices = vec![device];
        if trains {
            devices.push(aux_device);
        }
        let files = preflight(config, self.offline, &devices, observer)?;
        std::fs::create_dir_all(out).map_err(|source| StudyError::Io {
            path: out.to_path_buf(),
            source,
        })?;
        let config_text = toml::to_string(config).expect("config serialises");
        let finetune_stages = match &config.finetune {
            Some(params) if !params.is_hard() => 3,
            Some(_) => 2,
            None => 0,
        };
        let total =
            3 + usize::from(config.umap.enabled) + 2 * usize::from(trains) + finetune_stages;
        let mut runner = StageRunner::new(out, config_text, total, observer);

        // Auxiliary classifier: training, then top-k predictions for the evaluated images.
        let (aux, aux_checkpoint) = if trains {
            let checkpoint = train_and_predict(config, aux_device, &mut runner, observer)?;
            (AuxSpec::File(out.join(AUX_PREDICTIONS)), Some(checkpoint))
        } else {
            (config.auxiliary.source.clone(), None)
        };

        // Image embeddings (content-keyed by the encoding stage itself).
        let images_path = out.join("images.safetensors");
        let images_key = image_stage(
            &mut runner,
            ("images", "image embeddings"),
            config,
            &files,
            (
                config.data.spec.clone(),
                config.data.split,
                config.data.limit,
            ),
            &images_path,
            observer,
        )?;

        // Fine-tuning of the text side on the train split.
        let finetuned = match &config.finetune {
            Some(params) => Some(finetune_stages_run(
                config,
                params,
                &files,
                aux_checkpoint.as_deref(),
                &mut runner,
                observer,
            )?),
            None => None,
        };

        // Evaluation: keyed by the images, the prompts, the eval settings and the aux input.
        let aux_digest = match &aux {
            AuxSpec::File(path) => {
                let bytes = std::fs::read(path).map_err(|source| StudyError::Io {
                    path: path.clone(),
                    source,
                })?;
                blake3::hash(&bytes).to_hex().to_string()
            }
            other => other.to_string(),
        };
        let prompts_toml = toml::to_string(&config.prompts).expect("prompts serialise");
        let eval_settings = serde_json::to_string(&config.eval).expect("eval serialises");
        let finetune_key = finetuned
            .as_ref()
            .map_or(String::new(), |(_, key)| key.clone());
        let eval_key = content_key(
            "eval-v3",
            &[
                &images_key,
                &prompts_toml,
                &eval_settings,
                &aux_digest,
                &finetune_key,
            ],
        );
        let eval_outputs = strings(&[
            "table.md",
            "table.csv",
            "table.json",
            "texts.json",
            "texts.safetensors",
            "run.json",
        ]);
        runner.stage(
            "eval",
            "text embeddings and evaluation",
            &eval_key,
            &eval_outputs,
            |_| {
                write_atomic(&out.join("prompts.toml"), prompts_toml.as_bytes())?;
                let outcome = evaluate(
                    &Evaluation {
                        images: images_path.clone(),
                        clip: Some(files.dir.display().to_string()),
                        text_device: device,
                        text_precision: config.clip.precision,
                        aux: aux.clone(),
                        texts: None,
                        prompts: config.prompts.clone(),
                        settings: config.eval.clone(),
                        finetuned: finetuned.as_ref().map(|(dir, _)| dir.clone()),
                    },
                    out,
                    observer,
                )?;
                Ok(outcome.files)
            },
        )?;

        // UMAP figures.
        let mut report_inputs = vec![eval_key.clone()];
        if config.umap.enabled {
            let umap_settings = serde_json::to_string(&config.umap).expect("umap serialises");
            let umap_key = content_key("umap-v5", &[&eval_key, &umap_settings]);
            report_inputs.push(umap_key.clone());
            runner.stage(
                "umap",
                "UMAP figures",
                &umap_key,
                &strings(&["figures/umap-hard.png"]),
                |_| {
                    umap(
                        &UmapFigures {
                            images: images_path.clone(),
                            eval: out.to_path_buf(),
                            out: None,
                            sets: Vec::new(),
                            settings: config.umap.clone(),
                        },
                        observer,
                    )
                },
            )?;
        }

        // Report.
        let protocol = config.report.protocol.label();
        let description = config.description.clone().unwrap_or_default();
        let mut report_parts = vec![protocol.as_str(), description.as_str()];
        report_parts.extend(report_inputs.iter().map(String::as_str));
        let report_key = content_key("report-v6", &report_parts);
        runner.stage(
            "report",
            "report",
            &report_key,
            &strings(&["report.md", "report.html"]),
            |manifest| {
                let timings = manifest
                    .stages
                    .iter()
                    .map(|(name, r)| (name.clone(), r.seconds))
                    .collect();
                report(
                    &ReportParams {
                        eval: out.to_path_buf(),
                        out: None,
                        protocol: config.report.protocol.clone(),
                        timings,
                        description: config.description.clone(),
                    },
                    observer,
                )
            },
        )?;

        let evaluated = read_eval(out)?;
        let table_path = out.join("table.md");
        let table = std::fs::read_to_string(&table_path).map_err(|source| StudyError::Io {
            path: table_path,
            source,
        })?;
        let mut files: Vec<PathBuf> = runner
            .manifest
            .stages
            .values()
            .flat_map(|r| r.outputs.iter().map(PathBuf::from))
            .collect();
        files.sort();
        files.dedup();
        Ok(StudyOutcome {
            out: out.to_path_buf(),
            report: evaluated.report,
            table,
            manifest: runner.manifest.clone(),
            files,
        })
    }
}

/// Fails before any work when the checkpoint, the data or the GPU is missing, naming
/// everything missing at once and how to provide it; fetches what it may first.
// Without the `download` feature nothing is fetched, so nothing is reported.
#[cfg_attr(not(feature = "download"), allow(unused_variables))]
fn preflight(
    config: &StudyConfig,
    offline: bool,
    devices: &[DeviceKind],
    observer: &dyn Observer,
) -> Result<ClipFiles> {
    let mut missing: Vec<String> = Vec::new();
    for device in devices {
        if let Err(e) = device.device() {
            missing.push(e.to_string());
            break;
        }
    }
    let data = &config.data.spec;
    if !data.path().exists() {
        let can_fetch = cfg!(feature = "download") && !offline && config.data.download;
        match (data, can_fetch && missing.is_empty()) {
            #[cfg(feature = "download")]
            (DataSpec::CifarBin(path), true) => {
                observer.status(&format!("downloading CIFAR-10 to {}", path.display()));
                crate::download::fetch(
                    crate::download::CIFAR10_BINARY_URL,
                    path,
                    Some(crate::download::CIFAR10_BINARY_MD5),
                )?;
            }
            _ => {
                // Only the CIFAR-10 release can be fetched; the others are named.
                let how = match (
                    data,
                    data.official_archive(),
                    offline,
                    config.data.download,
                    cfg!(feature = "download"),
                ) {
                    (DataSpec::CifarBin(_), Some(archive), true, ..) => {
                        format!(" ({archive}); --offline forbids fetching it")
                    }
                    (DataSpec::CifarBin(_), Some(archive), _, false, _) => {
                        format!(" ({archive}), or set [data] download = true")
                    }
                    (DataSpec::CifarBin(_), Some(archive), _, true, false) => {
                        format!(" ({archive}), or rebuild with --features download to fetch it")
                    }
                    (_, Some(archive), ..) => format!(" ({archive})"),
                    _ => String::new(),
                };
                missing.push(format!(
                    "data {data}: {} does not exist; put the dataset there{how}",
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
                if !spec.path().exists() {
                    missing.push(format!(
                        "[auxiliary] {field} {spec}: {} does not exist",
                        spec.path().display()
                    ));
                }
            }
        }
    }
    // Nothing is fetched once the run is bound to fail.
    #[cfg(feature = "download")]
    let files: Result<ClipFiles> =
        crate::download::resolve_or_fetch(&config.clip.model, offline || !missing.is_empty())
            .map_err(Into::into);
    #[cfg(not(feature = "download"))]
    let files: Result<ClipFiles> = ClipFiles::resolve(&config.clip.model).map_err(Into::into);
    match files {
        Ok(files) if missing.is_empty() => Ok(files),
        Ok(_) => Err(StudyError::Missing(missing.join("; ")).into()),
        Err(e) => {
            missing.push(e.to_string());
            Err(StudyError::Missing(missing.join("; ")).into())
        }
    }
}

/// Folder of the `[finetune]` stage's run.
pub const FINETUNE_DIR: &str = "finetune";
/// The train split's image embeddings, for fine-tuning.
const TRAIN_IMAGES: &str = "train-images.safetensors";
/// The auxiliary classifier's predictions for the train split (soft-text fine-tuning).
const TRAIN_AUX_PREDICTIONS: &str = "aux/train-predictions.json";

/// The `[finetune]` stages: train-split image embeddings, for a relation prompt the
/// classifier's top-k on them, and the fine-tuning run. Returns its folder and key.
fn finetune_stages_run(
    config: &StudyConfig,
    params: &crate::finetune::FinetuneParams,
    files: &ClipFiles,
    aux_checkpoint: Option<&Path>,
    runner: &mut StageRunner<'_>,
    observer: &dyn Observer,
) -> Result<(PathBuf, String)> {
    let out = runner.out.clone();
    let data = config
        .auxiliary
        .train_data
        .clone()
        .unwrap_or_else(|| config.data.spec.clone());
    let train_images = out.join(TRAIN_IMAGES);
    let images_key = image_stage(
        runner,
        ("train-images", "train-split image embeddings"),
        config,
        files,
        (data.clone(), Split::Train, None),
        &train_images,
        observer,
    )?;

    let aux = match (params.is_hard(), aux_checkpoint) {
        (true, _) => None,
        (false, Some(checkpoint)) => {
            let train_data = Dataset::load(&data, Split::Train, None)?;
            let digest = file_digest(checkpoint)?;
            let key = content_key(
                "aux-predict-train-v1",
                &[
                    &digest,
                    &train_data.manifest_hash(),
                    &config.auxiliary.top_k.to_string(),
                ],
            );
            let device = config.aux_device();
            let batch = config
                .auxiliary
                .train
                .clone()
                .unwrap_or_default()
                .eval_batch_size;
            runner.stage(
                "aux-predict-train",
                "auxiliary predictions for the train split",
                &key,
                &strings(&[TRAIN_AUX_PREDICTIONS]),
                |_| {
                    let predictions = predict(
                        checkpoint,
                        &train_data,
                        config.auxiliary.top_k,
                        &device.device()?,
                        batch,
                    )?;
                    predictions.write(&out.join(TRAIN_AUX_PREDICTIONS))?;
                    Ok(Vec::new())
                },
            )?;
            Some(out.join(TRAIN_AUX_PREDICTIONS))
        }
        (false, None) => {
            return Err(StudyError::Config(
                "[finetune]: a relation prompt needs [auxiliary] source = \"train\"".into(),
            )
            .into())
        }
    };
    let aux_digest = match &aux {
        Some(path) => file_digest(path)?,
        None => String::new(),
    };
    let prompts_toml = toml::to_string(&config.prompts).expect("prompts serialise");
    let params_json = serde_json::to_string(params).expect("params serialise");
    let key = content_key(
        "finetune-v1",
        &[&images_key, &params_json, &aux_digest, &prompts_toml],
    );
    let dir = out.join(FINETUNE_DIR);
    runner.stage(
        "finetune",
        &format!("fine-tuning ({})", params.method_summary()),
        &key,
        &strings(&[
            &format!("{FINETUNE_DIR}/finetuned.safetensors"),
            &format!("{FINETUNE_DIR}/finetune.json"),
            &format!("{FINETUNE_DIR}/log.csv"),
        ]),
        |_| {
            super::finetune::finetune(
                &super::finetune::Finetuning {
                    params: params.clone(),
                    clip: Some(files.dir.display().to_string()),
                    images: train_images.clone(),
                    aux: aux.clone(),
                    prompts: config.prompts.clone(),
                    device: config.clip.device,
                    init: None,
                    save_init: false,
                },
                &dir,
                observer,
            )
            .map(|outcome| outcome.files)
        },
    )?;
    Ok((dir, key))
}

/// An image-embedding stage: the encoding is content-keyed by `encode_images` itself, and
/// the stage is recorded as reused when that found its file up to date. Returns the key.
fn image_stage(
    runner: &mut StageRunner<'_>,
    (stage, title): (&str, &str),
    config: &StudyConfig,
    files: &ClipFiles,
    (data, split, limit): (DataSpec, Split, Option<usize>),
    path: &Path,
    observer: &dyn Observer,
) -> Result<String> {
    runner.start(title);
    let started = Instant::now();
    let encoded = encode_images(
        &ImageEncoding {
            clip: ClipSpec {
                model: files.dir.display().to_string(),
                device: config.clip.device,
                precision: config.clip.precision,
            },
            data,
            split,
            batch_size: config.clip.batch_size,
            limit,
            force: false,
            shard: None,
        },
        path,
        observer,
    )?;
    let key = encoded.embeddings.key.clone();
    let reused = runner
        .previous(stage, &key)
        .filter(|_| encoded.cached)
        .cloned();
    let name = path
        .strip_prefix(&runner.out)
        .unwrap_or(path)
        .display()
        .to_string();
    runner.record(stage, &key, &[name], started, reused.as_ref())?;
    Ok(key)
}

fn file_digest(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|source| StudyError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(blake3::hash(&bytes).to_hex().to_string())
}

/// The `train` source's two stages. Training runs in a folder named by its key, so an
/// interrupted run resumes there and a changed recipe starts afresh beside it. Returns the
/// classifier's checkpoint.
fn train_and_predict(
    config: &StudyConfig,
    device: DeviceKind,
    runner: &mut StageRunner<'_>,
    observer: &dyn Observer,
) -> Result<PathBuf> {
    let aux = &config.auxiliary;
    let split = config.data.split;
    let params = aux.train.clone().unwrap_or_default();
    let data_spec = &config.data.spec;
    let train_spec = aux.train_data.as_ref().unwrap_or(data_spec);
    let test_spec = aux.test_data.as_ref().unwrap_or(data_spec);
    let train_data = Dataset::load(train_spec, Split::Train, None)?;
    // The evaluated images, in the classifier's class order; read once, and reused for the
    // per-epoch test accuracy when that is the same split (the default).
    let eval_full = Dataset::load(data_spec, split, Some(&train_data.classes))?;
    let needs_separate_test =
        params.eval_every > 0 && (test_spec != data_spec || split != Split::Test);
    let separate_test = needs_separate_test
        .then(|| per_epoch_test_set(test_spec, &train_data))
        .transpose()?;
    let test_data: Option<&Dataset> = match &separate_test {
        Some(test) => Some(test),
        None if params.eval_every > 0 => Some(&eval_full),
        None => None,
    };
    // Keyed on what decides the weights only: a changed evaluation setting (eval_every,
    // eval_batch_size, limit_test, the test set) must not retrain a 200-epoch network. The
    // checkpoint accepts such changes on resume for the same reason.
    let weights_json = serde_json::to_string(&params.training_part()).expect("params serialise");
    let train_key = content_key(
        "aux-train-v2",
        &[&train_data.manifest_hash(), &weights_json],
    );
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
        observer.status(&format!(
            "note: training {} on the CPU is slow ({} epochs of {images} images: about \
             {days:.0} days at 2 images/s); set [auxiliary] device = \"cuda\", \
             model = \"fast\", or source = \"self\"",
            params.model, params.epochs,
        ));
    }
    let out = runner.out.clone();
    runner.stage(
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
            std::fs::create_dir_all(&dir).map_err(|source| StudyError::Io {
                path: dir.clone(),
                source,
            })?;
            let resume = dir.join(CHECKPOINT_FILE).is_file();
            if resume {
                observer.status(&format!("      resuming {}", dir.display()));
            }
            train_on(
                &params,
                &train_data,
                test_data,
                &dir,
                device,
                resume,
                params.epochs,
                observer,
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
            .map_err(|source| StudyError::Io {
                path: checkpoint_path.clone(),
                source,
            })?;
        hasher.finalize().to_hex().to_string()
    };
    let predict_key = content_key(
        "aux-predict-v2",
        &[
            &checkpoint_digest,
            &eval_data.manifest_hash(),
            &aux.top_k.to_string(),
        ],
    );
    runner.stage(
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
    )?;
    Ok(checkpoint_path)
}
