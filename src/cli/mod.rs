//! The `softtext` command line: argument parsing and one small function per subcommand,
//! each a thin layer over the library.

pub mod auxiliary;
pub mod encode;
pub mod eval;
pub mod report;
pub mod reproduce;
mod tokenize;
pub mod umap;

use clap::{Parser, Subcommand};

use crate::error::Result;

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
    /// Encode a dataset split with CLIP's image tower into an embedding file (cached).
    EncodeImages(encode::EncodeImagesArgs),
    /// Zero-shot accuracy of hard and soft prompts under every protocol (Table 1 and more).
    Eval(eval::EvalArgs),
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

pub fn run(cli: Cli) -> Result<()> {
    crate::progress::set_quiet(cli.quiet);
    match cli.command {
        Command::Tokenize(args) => tokenize::run(args),
        Command::EncodeTexts(args) => encode::run_texts(args),
        Command::EncodeImages(args) => encode::run_images(args).map(|_| ()),
        Command::Eval(args) => eval::run(args),
        Command::Umap(args) => umap::run(args),
        Command::Report(args) => report::run(args),
        Command::Aux(args) => auxiliary::run(args),
        Command::Reproduce(args) => reproduce::run(args),
    }
}

/// One-line status reports go to stderr (stdout stays clean for data) unless `--quiet`;
/// unlike progress bars they are kept when stderr is a log file.
pub(crate) fn status(message: impl AsRef<str>) {
    if !crate::progress::is_quiet() {
        crate::progress::println(message.as_ref());
    }
}

/// The CLI's [`Observer`](crate::observe::Observer): library progress drawn as terminal
/// bars ([`crate::progress::bar`], hidden unless a person is watching), status reports
/// through [`status`].
pub(crate) struct Bars;

struct Bar(indicatif::ProgressBar);

impl crate::observe::Progress for Bar {
    fn advance(&self, units: u64) {
        self.0.inc(units);
    }

    fn message(&self, message: &str) {
        self.0.set_message(message.to_string());
    }

    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

impl crate::observe::Observer for Bars {
    fn status(&self, message: &str) {
        status(message);
    }

    fn progress<'a>(&'a self, total: u64, unit: &str) -> Box<dyn crate::observe::Progress + 'a> {
        Box::new(Bar(crate::progress::bar(total, unit)))
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

/// Output folders (`--out DIR`) that already exist as files get a message that says so, not
/// the OS's "File exists" from deep inside the first write.
pub(crate) fn check_output_folder(path: &std::path::Path) -> Result<()> {
    if path.is_file() {
        return Err(crate::error::Error::invalid(format!(
            "--out {}: is a file; give a folder (it is created if missing)",
            path.display()
        )));
    }
    Ok(())
}
