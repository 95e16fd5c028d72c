//! `softtext eval`.

use std::path::{Path, PathBuf};

use clap::Args;
use softtext::clip::{DeviceKind, Precision};
use softtext::observe::Observer;
use softtext::prompts::{HardConfig, PromptConfigFile};
use softtext::study::{evaluate, read_prompt_file, AuxSpec, EvalSettings, Evaluation, StudyError};
use softtext::subject_share::{SubjectShareError, SubjectShareParams, ValidSubjectShareParams};
use softtext::zeroshot::{to_markdown, ProtocolKind};
use softtext::Result;

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Image embedding file from `softtext encode-images`.
    #[arg(long, value_name = "EMB.safetensors")]
    pub images: PathBuf,
    /// CLIP checkpoint for the texts (default: the one that encoded the images).
    #[arg(long, value_name = "CLIP", conflicts_with = "texts")]
    pub clip: Option<String>,
    /// Text embeddings made elsewhere (`softtext import-embeddings --texts`), holding every
    /// prompt the protocols use; then no CLIP is loaded.
    #[arg(long, value_name = "TEXTS.safetensors")]
    pub texts: Option<PathBuf>,
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
    #[arg(long, default_value_t = EvalSettings::default().bootstrap)]
    pub bootstrap: usize,
    /// Seed of the bootstrap.
    #[arg(long, default_value_t = EvalSettings::default().seed)]
    pub seed: u64,
    /// How many classes the `self` source ranks per image.
    #[arg(long, default_value_t = EvalSettings::default().self_k)]
    pub self_k: usize,
    /// Where the text encoder runs (texts not yet in texts.safetensors).
    #[arg(long, default_value_t = DeviceKind::default(), value_name = "cpu|cuda")]
    pub device: DeviceKind,
    /// The text encoder's dtype (f16/bf16 are for GPUs; embeddings are stored as f32).
    #[arg(long, default_value_t = Precision::default(), value_name = "f32|f16|bf16")]
    pub dtype: Precision,
    /// Texts encoded per forward pass.
    #[arg(long, default_value_t = EvalSettings::default().batch_size)]
    pub batch_size: usize,
    /// A `softtext finetune` folder: every prompt set and protocol again with its text side,
    /// in rows labelled METHOD/SET (e.g. coop/look-like), McNemar against the base hard row.
    #[arg(long, value_name = "DIR", conflicts_with = "texts")]
    pub finetuned: Option<PathBuf>,
    /// Image neighbours of each soft text in the subject-share analysis (capped at the
    /// image count).
    #[arg(long, default_value_t = ValidSubjectShareParams::default().k(), value_name = "K")]
    pub subject_share_k: usize,
}

/// `--aux`: `self`, `oracle`, or a predictions file (an existing file of another extension is
/// read too, and its format refused with a message naming it).
fn aux_spec(text: &str) -> Result<AuxSpec> {
    match text {
        "self" => Ok(AuxSpec::SelfRanking),
        "oracle" => Ok(AuxSpec::Oracle),
        path if Path::new(path).exists() || AuxSpec::is_prediction_file(Path::new(path)) => {
            Ok(AuxSpec::File(path.into()))
        }
        other => Err(StudyError::Config(format!(
            "--aux {other:?}: not `self`, `oracle` or an existing predictions file (.json, .csv or .safetensors)"
        ))
        .into()),
    }
}

/// The prompt file (or the paper's prompts), with `--hard` replacing its templates.
fn prompts(path: Option<&Path>, hard: Option<&str>) -> Result<PromptConfigFile> {
    let mut file = match path {
        Some(p) => read_prompt_file(p)?,
        None => PromptConfigFile::default(),
    };
    if let Some(preset) = hard {
        let preset = toml::Value::String(preset.to_string())
            .try_into()
            .map_err(|_| {
                StudyError::Config(format!("--hard {preset:?}: use single or openai-cifar10"))
            })?;
        file.hard = Some(HardConfig {
            preset: Some(preset),
            templates: None,
        });
    }
    Ok(file)
}

fn settings(args: &EvalArgs) -> Result<EvalSettings> {
    let protocols = args
        .protocols
        .iter()
        .map(|name| {
            ProtocolKind::from_name(name).ok_or_else(|| {
                StudyError::Config(format!(
                    "--protocols: unknown protocol {name:?} (hard, hard-top2, pair, all, vocab, topk-mean, blend-all, blend-pair)"
                ))
            })
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let subject_share = SubjectShareParams::default().k(args.subject_share_k);
    // Checked here so the message names the flag, not the library's parameter.
    match subject_share.clone().check() {
        Err(SubjectShareError::InvalidParam { message, .. }) => {
            return Err(StudyError::Config(format!("--subject-share-k: {message}")).into())
        }
        other => other?,
    };
    Ok(EvalSettings {
        bootstrap: args.bootstrap,
        seed: args.seed,
        protocols,
        lambdas: args.lambdas.clone(),
        self_k: args.self_k,
        batch_size: args.batch_size,
        subject_share,
    })
}

pub fn run(args: EvalArgs, observer: &dyn Observer) -> Result<()> {
    let evaluation = Evaluation {
        images: args.images.clone(),
        clip: args.clip.clone(),
        text_device: args.device,
        text_precision: args.dtype,
        aux: aux_spec(&args.aux)?,
        texts: args.texts.clone(),
        prompts: prompts(args.prompts.as_deref(), args.hard.as_deref())?,
        settings: settings(&args)?,
        finetuned: args.finetuned.clone(),
    };
    let outcome = evaluate(&evaluation, &args.out, observer)?;
    print!("{}", to_markdown(&outcome.report));
    Ok(())
}
