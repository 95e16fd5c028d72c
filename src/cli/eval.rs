use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;

use super::status;
use crate::artifact::write_atomic;
use crate::auxiliary::predictions::AuxPredictions;
use crate::clip::{Clip, ClipFiles, DeviceKind, Precision};
use crate::embeddings::encode::cached_text_embeddings;
use crate::embeddings::{Embeddings, Kind};
use crate::error::{Error, IoContext, Result};
use crate::prompts::{ClassSpec, PromptConfig, PromptConfigFile};
use crate::zeroshot::catalogue::catalogue;
use crate::zeroshot::{
    evaluate, plan_texts, to_csv, to_json, to_markdown, AuxSource, EvalParams, EvalReport,
    ImageSet, ProtocolKind, TextBank,
};

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Image embedding file from `softtext encode-images`.
    #[arg(long, value_name = "EMB.safetensors")]
    pub images: PathBuf,
    /// CLIP checkpoint for the texts (default: the one that encoded the images).
    #[arg(long, value_name = "CLIP")]
    pub clip: Option<String>,
    /// Auxiliary top-k predictions: `self` (CLIP's own hard-prompt ranking), `oracle` (true
    /// class + its most-confused class), or a .json/.csv/.safetensors file keyed by image id.
    #[arg(long, default_value = "self", value_name = "SOURCE")]
    pub aux: String,
    /// Output folder for table.md, table.csv, table.json and the text embeddings.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Prompt configuration (TOML: classes, [hard] preset/templates, [[relations]]);
    /// default: the paper's (`a photo of a {}.`; like, look like, resemble).
    #[arg(long, value_name = "FILE.toml")]
    pub prompts: Option<PathBuf>,
    /// Hard-prompt templates, overriding the prompt file: `single` or `openai-cifar10` (18).
    #[arg(long, value_name = "PRESET")]
    pub hard: Option<String>,
    /// Protocols to run (comma-separated; default all): hard, hard-top2, pair, all, vocab,
    /// topk-mean, blend-all, blend-pair.
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub protocols: Vec<String>,
    /// Weights of the soft score in the blend protocols [default: 0, 0.1, ..., 1].
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub lambdas: Vec<f64>,
    /// Bootstrap resamples for the confidence intervals.
    #[arg(long, default_value_t = 1000)]
    pub bootstrap: usize,
    /// Seed of the bootstrap.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// How many classes the `self` source ranks per image.
    #[arg(long, default_value_t = 5)]
    pub self_k: usize,
    /// Where the text encoder runs (texts not yet in texts.safetensors).
    #[arg(long, default_value = "cpu", value_name = "cpu|cuda")]
    pub device: DeviceKind,
    /// The text encoder's dtype (f16/bf16 are for GPUs; embeddings are stored as f32).
    #[arg(long, default_value = "f32", value_name = "f32|f16|bf16")]
    pub dtype: Precision,
    /// Texts encoded per forward pass.
    #[arg(long, default_value_t = 256)]
    pub batch_size: usize,
}

/// The prompt configuration for a set of images: the TOML file (or the paper's), with the
/// images' classes when the file names none; a file that names other classes is an error.
pub fn prompt_config(
    path: Option<&Path>,
    hard: Option<&str>,
    classes: &[String],
) -> Result<PromptConfig> {
    let mut file: PromptConfigFile = match path {
        Some(p) => {
            let text = std::fs::read_to_string(p).at(p)?;
            toml::from_str(&text).map_err(|e| {
                Error::invalid(format!(
                    "{}: {}",
                    p.display(),
                    crate::error::toml_error_line(&text, &e)
                ))
            })?
        }
        None => PromptConfigFile::default(),
    };
    if file.classes.is_none() {
        file.classes = Some(
            classes
                .iter()
                .map(|c| ClassSpec {
                    name: c.clone(),
                    article: None,
                })
                .collect(),
        );
    }
    if let Some(preset) = hard {
        let preset = toml::Value::String(preset.to_string())
            .try_into()
            .map_err(|_| {
                Error::invalid(format!("--hard {preset:?}: use single or openai-cifar10"))
            })?;
        file.hard = Some(crate::prompts::HardConfig {
            preset: Some(preset),
            templates: None,
        });
    }
    let config = PromptConfig::try_from(file)?;
    let names: Vec<&str> = config.classes().names().collect();
    if names != classes.iter().map(String::as_str).collect::<Vec<_>>() {
        return Err(Error::invalid(format!(
            "the prompt classes [{}] differ from the images' classes [{}]",
            names.join(", "),
            classes.join(", ")
        )));
    }
    Ok(config)
}

pub fn aux_source(spec: &str) -> Result<AuxSource> {
    Ok(match spec {
        "self" => AuxSource::SelfRanking,
        "oracle" => AuxSource::Oracle,
        path if !Path::new(path).exists()
            && ![".json", ".csv", ".safetensors"]
                .iter()
                .any(|ext| path.ends_with(ext)) =>
        {
            return Err(Error::invalid(format!(
                "--aux {path:?}: not `self`, `oracle` or an existing predictions file (.json, .csv or .safetensors)"
            )))
        }
        path => AuxSource::Predictions(AuxPredictions::read(Path::new(path))?),
    })
}

fn eval_params(args: &EvalArgs) -> Result<EvalParams> {
    let mut params = EvalParams::default()
        .bootstrap_resamples(args.bootstrap)
        .seed(args.seed)
        .self_k(args.self_k);
    if !args.protocols.is_empty() {
        let kinds = args
            .protocols
            .iter()
            .map(|name| {
                ProtocolKind::from_name(name).ok_or_else(|| {
                    Error::invalid(format!(
                        "--protocols: unknown protocol {name:?} (hard, hard-top2, pair, all, vocab, topk-mean, blend-all, blend-pair)"
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        params = params.protocols(&kinds);
    }
    if !args.lambdas.is_empty() {
        params = params.blend_lambdas(&args.lambdas);
    }
    Ok(params)
}

/// A checkpoint folder holding this file has random weights (softtext's fixtures); reports
/// made with it say so prominently.
pub const RANDOM_WEIGHTS_MARKER: &str = "RANDOM_WEIGHTS.md";

/// Provenance of an evaluation (`run.json`), for the report.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RunInfo {
    pub softtext_version: String,
    pub images_file: String,
    /// The image embedding file's metadata (model, data, split, dtype, device, ...).
    pub images: std::collections::BTreeMap<String, String>,
    pub clip: String,
    pub random_weights: bool,
    pub aux: String,
    /// The prompt configuration used, as TOML.
    pub prompts_toml: String,
    /// Stage name and seconds.
    pub timings: Vec<(String, f64)>,
}

/// Everything `eval` produced, for callers that go on (figures, report).
pub struct EvalOutcome {
    pub report: EvalReport,
    pub config: PromptConfig,
    pub texts: Embeddings,
}

/// Evaluates every protocol on the image embeddings; encodes the planned texts (cached in
/// `out/texts.safetensors`) and writes `out/table.{md,csv,json}`.
pub fn run_eval(args: &EvalArgs) -> Result<EvalOutcome> {
    super::check_output_folder(&args.out)?;
    let started = Instant::now();
    let images = Embeddings::load(&args.images)?;
    if images.kind != Kind::Image {
        return Err(Error::invalid(format!(
            "{}: holds text embeddings; --images needs the output of encode-images",
            args.images.display()
        )));
    }
    let labels: Vec<usize> = images
        .labels
        .as_ref()
        .expect("image files have labels")
        .iter()
        .map(|&l| l as usize)
        .collect();
    let config = prompt_config(
        args.prompts.as_deref(),
        args.hard.as_deref(),
        &images.classes,
    )?;
    let params = eval_params(args)?.check().map_err(|e| match e {
        // The library names its own fields; a CLI user needs the flag (the reproduce config's
        // [eval] keys have the same names without dashes).
        crate::zeroshot::ZeroShotError::InvalidParam {
            param,
            index,
            message,
        } => {
            let name = match index {
                Some(index) => format!("{}[{index}]", param.name()),
                None => param.name().to_string(),
            };
            let flag = match param.name() {
                "blend_lambdas" => "--lambdas",
                "self_k" => "--self-k",
                "bootstrap_resamples" => "--bootstrap",
                "protocols" => "--protocols",
                "seed" => "--seed",
                _ => "",
            };
            if flag.is_empty() {
                Error::invalid(format!("parameter {name}: {message}"))
            } else {
                Error::invalid(format!("{flag} ({name}): {message}"))
            }
        }
        other => other.into(),
    })?;
    let aux = aux_source(&args.aux)?;
    if let AuxSource::Predictions(predictions) = &aux {
        // Fails on predictions made for other images before any text is encoded.
        predictions.align(config.classes(), &images.ids)?;
    }
    let plan = plan_texts(&params, &config, &aux)?;

    let clip_spec = match (&args.clip, images.info.get("model")) {
        (Some(spec), _) => spec.clone(),
        (None, Some(model)) => model.clone(),
        (None, None) => {
            return Err(Error::invalid(
                "--clip is needed: the image file does not name its model",
            ))
        }
    };
    let files = ClipFiles::resolve(&clip_spec)?;
    let checkpoint_hash = files.content_hash()?;
    if let Some(image_hash) = images.info.get("checkpoint_hash") {
        if *image_hash != checkpoint_hash {
            return Err(Error::invalid(format!(
                "{}: the images were encoded by another checkpoint than {clip_spec}; texts and images must come from the same CLIP",
                args.images.display()
            )));
        }
    }
    let clip = Clip::load(&files, args.device, args.dtype)?;
    std::fs::create_dir_all(&args.out).at(&args.out)?;
    let text_started = Instant::now();
    let (texts, cached) = cached_text_embeddings(
        &clip,
        &checkpoint_hash,
        args.device,
        plan.texts(),
        args.batch_size,
        &args.out.join("texts.safetensors"),
    )?;
    status(format!(
        "{} unique texts ({})",
        texts.len(),
        if cached { "cached" } else { "encoded" }
    ));
    let text_seconds = text_started.elapsed().as_secs_f64();
    let eval_started = Instant::now();
    let bank = TextBank::new(texts.ids.clone(), texts.data.clone(), texts.dim)?;
    let image_set = ImageSet::new(&images.data, images.dim, &labels, &images.ids)?;
    let report = evaluate(&params, &config, &image_set, &aux, &bank)?;
    let catalogue = catalogue(&config, &bank, &report);
    write_atomic(
        &args.out.join("texts.json"),
        serde_json::to_string_pretty(&catalogue)
            .expect("catalogue serialises")
            .as_bytes(),
    )?;
    let run = RunInfo {
        softtext_version: crate::VERSION.to_string(),
        images_file: args.images.display().to_string(),
        images: images.info.clone().into_iter().collect(),
        clip: clip_spec.clone(),
        random_weights: files.dir.join(RANDOM_WEIGHTS_MARKER).exists(),
        aux: aux.name(),
        prompts_toml: toml::to_string(&PromptConfigFile::from(&config)).unwrap_or_default(),
        timings: vec![
            ("text encoding".into(), text_seconds),
            ("evaluation".into(), eval_started.elapsed().as_secs_f64()),
        ],
    };
    write_atomic(
        &args.out.join("run.json"),
        serde_json::to_string_pretty(&run)
            .expect("run info serialises")
            .as_bytes(),
    )?;
    write_atomic(&args.out.join("table.md"), to_markdown(&report).as_bytes())?;
    write_atomic(&args.out.join("table.csv"), to_csv(&report).as_bytes())?;
    write_atomic(&args.out.join("table.json"), to_json(&report).as_bytes())?;
    status(format!(
        "evaluated {} protocol rows on {} images in {:.2}s; wrote {}/table.{{md,csv,json}}",
        report.rows.len(),
        images.len(),
        started.elapsed().as_secs_f64(),
        args.out.display()
    ));
    Ok(EvalOutcome {
        report,
        config,
        texts,
    })
}

pub fn run(args: EvalArgs) -> Result<()> {
    let outcome = run_eval(&args)?;
    print!("{}", to_markdown(&outcome.report));
    Ok(())
}
