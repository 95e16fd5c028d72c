//! The `softtext` command line: a private, thin layer that turns arguments into the
//! library's types, calls [`softtext::study`], and prints. Nothing here is part of the
//! library's API.

mod auxiliary;
mod encode;
mod eval;
mod finetune;
mod import;
mod progress;
mod report;
mod reproduce;
mod tokenize;
mod umap;

use clap::{Parser, Subcommand};
use softtext::Result;

pub use progress::Terminal;

const ABOUT: &str =
    "Reproduce, test and extend the soft-text-prompt study for CLIP zero-shot classification.";

const AFTER_HELP: &str = "\
Examples:
  softtext reproduce --config configs/demo.toml      # the whole study on the fixtures, offline
  softtext aux train --model fast --data folder:fixtures/cifar10-sample --out out/aux --epochs 3
  softtext tokenize --json \"dog look like a cat\"
  softtext encode-texts --clip fixtures/clip-tiny --out texts.safetensors \"a photo of a cat.\"
  softtext encode-images --clip fixtures/clip-tiny --data folder:fixtures/cifar10-sample \\
      --split test --out out/test-embeddings.safetensors

CLIP checkpoints are Hugging Face folders (config.json, model.safetensors, tokenizer.json,
preprocessor_config.json) or repo ids such as openai/clip-vit-large-patch14, looked up in the
local Hugging Face cache.";

const MERGE_AFTER_HELP: &str = "\
The shards must be every slice of one run: the same checkpoint, dtype, device, dataset and
--limit. Overlaps, gaps and shards of another run are refused before anything is written.

Example (three processes, or a Slurm array job: see tools/slurm/encode.sbatch):
  for i in 0 1 2; do
    softtext encode-images --clip CLIP --data SPEC --shard $i/3 --out shard-$i.safetensors &
  done; wait
  softtext merge-embeddings images.safetensors shard-0.safetensors shard-1.safetensors \\
      shard-2.safetensors";

#[derive(Debug, Parser)]
#[command(name = "softtext", version, about = ABOUT, after_help = AFTER_HELP)]
pub struct Cli {
    /// No progress bars or status lines (bars are also off when stderr is not a terminal).
    #[arg(long, short, global = true)]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print CLIP token ids (77 per text, zero-padded) for each TEXT.
    Tokenize(tokenize::TokenizeArgs),
    /// Encode texts with CLIP's text tower into an embedding file.
    EncodeTexts(encode::EncodeTextsArgs),
    /// Encode a dataset split with CLIP's image tower into an embedding file (cached);
    /// `--shard I/N` encodes one slice for a cluster array job.
    EncodeImages(encode::EncodeImagesArgs),
    /// Join the shard files of `encode-images --shard` into the unsharded file.
    #[command(after_help = MERGE_AFTER_HELP)]
    MergeEmbeddings(encode::MergeEmbeddingsArgs),
    /// Turn features made elsewhere (.npy/.npz/.safetensors, with ids and labels, or texts)
    /// into an embedding file that every protocol and figure can read.
    ImportEmbeddings(import::ImportArgs),
    /// Zero-shot accuracy of hard and soft prompts under every protocol (Table 1 and more).
    Eval(eval::EvalArgs),
    /// Fine-tune CLIP's text side (CoOp context, LoRA or the last k layers) on cached train
    /// image embeddings, for hard or soft texts.
    #[command(after_help = finetune::AFTER_HELP)]
    Finetune(finetune::FinetuneArgs),
    /// Joint UMAP of image and text embeddings per prompt set (the paper's Figures 3 and 4).
    Umap(umap::UmapArgs),
    /// Confusion and per-class figures plus report.md and a self-contained report.html.
    Report(report::ReportArgs),
    /// The auxiliary classifier: `aux train` (the paper's ResNet50 recipe, or a fast net) and
    /// `aux predict` (per-image top-k classes for the soft texts).
    Aux(auxiliary::AuxArgs),
    /// The whole study from a TOML config: data, embeddings, evaluation, figures, report;
    /// cached stages, so a rerun with nothing changed does no work.
    Reproduce(reproduce::ReproduceArgs),
}

/// Runs one command; errors come back for `main` to print as one line.
pub fn run(cli: Cli) -> std::result::Result<(), String> {
    let terminal = Terminal::new(cli.quiet);
    let result: Result<()> = match cli.command {
        Command::Tokenize(args) => tokenize::run(args),
        Command::EncodeTexts(args) => encode::run_texts(args, &terminal),
        Command::EncodeImages(args) => encode::run_images(args, &terminal),
        Command::MergeEmbeddings(args) => encode::run_merge(args, &terminal),
        Command::ImportEmbeddings(args) => import::run(args, &terminal),
        Command::Eval(args) => eval::run(args, &terminal),
        Command::Finetune(args) => finetune::run(args, &terminal),
        Command::Umap(args) => umap::run(args, &terminal),
        Command::Report(args) => report::run(args, &terminal),
        Command::Aux(args) => auxiliary::run(args, &terminal),
        Command::Reproduce(args) => reproduce::run(args, &terminal),
    };
    drop(terminal);
    result.map_err(|e| error_line(&e))
}

/// The one line a user reads for `e`. Parameter errors name the library's field; a user
/// needs the flag (a reproduce config's keys have the same names without dashes).
fn error_line(e: &softtext::Error) -> String {
    use softtext::umap::{UmapError, UmapParam};
    use softtext::zeroshot::{EvalParam, ZeroShotError};
    match e {
        softtext::Error::ZeroShot(ZeroShotError::InvalidParam {
            param,
            index,
            message,
        }) => {
            let flag = match param {
                EvalParam::BlendLambdas => "--lambdas",
                EvalParam::SelfK => "--self-k",
                EvalParam::BootstrapResamples => "--bootstrap",
                EvalParam::Protocols => "--protocols",
                EvalParam::Seed => "--seed",
                _ => return e.to_string(),
            };
            // "--lambdas (blend_lambdas[0]): 1.5 is outside [0, 1]"
            let field = match index {
                Some(i) => format!("{}[{i}]", param.name()),
                None => param.name().to_string(),
            };
            format!("{flag} ({field}): {message}")
        }
        softtext::Error::Umap(UmapError::InvalidParam { param, reason }) => {
            let flag = match param {
                UmapParam::NEpochs => "--epochs".to_string(),
                UmapParam::NNeighbors => "--n-neighbors".to_string(),
                UmapParam::MinDist => "--min-dist".to_string(),
                other => other.name().to_string(),
            };
            let reason = reason.replace("or None for the default", "leave it out for the default");
            format!("{flag}: {reason}")
        }
        softtext::Error::Finetune(inner) => match inner.as_ref() {
            softtext::finetune::FinetuneError::InvalidParam { param, message } => {
                format!("--{}: {message}", param.name().replace('_', "-"))
            }
            _ => e.to_string(),
        },
        other => other.to_string(),
    }
}

/// `--shard I/N` when given, else the slice of a Slurm array task, else everything.
pub(crate) fn shard_or_slurm(
    shard: Option<softtext::embeddings::shard::Shard>,
) -> Result<Option<softtext::embeddings::shard::Shard>> {
    match shard {
        Some(shard) => Ok(Some(shard)),
        None => Ok(softtext::embeddings::shard::Shard::from_slurm_env()?),
    }
}

/// For `--limit`-style counts: 0 would silently mean "no images" (or, before, "all").
pub(crate) fn at_least_one(text: &str) -> std::result::Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err("expected a whole number of images".into()),
    }
}
