//! `softtext finetune`.

use std::path::PathBuf;

use clap::Args;
use softtext::clip::DeviceKind;
use softtext::finetune::{FinetuneParams, Method, OptimizerKind};
use softtext::observe::Observer;
use softtext::prompts::PromptConfigFile;
use softtext::study::{finetune, read_prompt_file, Finetuning};
use softtext::Result;

pub const AFTER_HELP: &str = "\
Methods (docs/finetune.md has the exact algorithm):
  coop    learned context vectors in front of the class name (CoOp): `X X X X cat.`, or in
          front of a soft text; --ctx-init \"a photo of a\" starts exactly at the hard prompt
  lora    rank-R adapters on every text layer's q_proj and v_proj: W x + (alpha/R) B A x
  last-k  the last K encoder layers, the final layer norm and the text projection

The image tower stays frozen: training reads cached train-split image embeddings. A seeded
share of each class (--val-fraction) is held out to pick the best epoch; the test set is
never used. Outputs in --out: finetuned.safetensors, finetune.json, log.csv, curve.png/svg,
and for lora and last-k a Hugging Face CLIP folder clip/ usable as --clip anywhere. A rerun
with the same inputs is up to date; a killed run resumes from its last epoch.

Examples:
  softtext encode-images --clip fixtures/clip-tiny --data folder:fixtures/cifar10-sample \\
      --split train --out out/train-embeddings.safetensors
  # 16-shot CoOp from the hard prompt (under a minute on a laptop CPU):
  softtext finetune --images out/train-embeddings.safetensors --method coop \\
      --ctx-init \"a photo of a\" --shots 16 --epochs 20 --out out/coop
  # LoRA on the look-like soft texts, partners from an auxiliary prediction file:
  softtext finetune --images out/train-embeddings.safetensors --method lora --rank 4 \\
      --prompt look-like --aux fixtures/finetune/train-aux.json --optimizer adamw --lr 1e-3 \\
      --out out/lora
  softtext eval --images out/test-embeddings.safetensors --finetuned out/coop --out out/eval";

#[derive(Debug, Args)]
pub struct FinetuneArgs {
    /// CLIP checkpoint (default: the one that encoded the images; it must be that one).
    #[arg(long, value_name = "CLIP")]
    pub clip: Option<String>,
    /// Train-split image embeddings (`softtext encode-images --split train`).
    #[arg(long, value_name = "TRAIN.safetensors")]
    pub images: PathBuf,
    /// coop, lora or last-k.
    #[arg(long, default_value_t = FinetuneParams::default().method.to_string(), value_name = "coop|lora|last-k")]
    pub method: String,
    /// coop: number of learned context vectors.
    #[arg(long, default_value_t = FinetuneParams::default().n_ctx, value_name = "M", conflicts_with = "ctx_init")]
    pub n_ctx: usize,
    /// coop: start the context at these words' token embeddings (their token count sets the
    /// context length).
    #[arg(long, value_name = "TEXT")]
    pub ctx_init: Option<String>,
    /// coop: one context per class.
    #[arg(long)]
    pub csc: bool,
    /// lora: adapter rank.
    #[arg(long, default_value_t = FinetuneParams::default().rank, value_name = "R")]
    pub rank: usize,
    /// lora: the update is (alpha / rank) B A.
    #[arg(long, default_value_t = FinetuneParams::default().alpha, value_name = "A")]
    pub alpha: f64,
    /// last-k: how many of the last encoder layers train.
    #[arg(long, default_value_t = FinetuneParams::default().layers, value_name = "K")]
    pub layers: usize,
    /// `hard` (the hard template per class) or a relation (like, look-like, resemble, or one
    /// from --prompts): per image, class c related to its auxiliary partner.
    #[arg(long, default_value_t = FinetuneParams::default().prompt, value_name = "hard|RELATION")]
    pub prompt: String,
    /// Auxiliary top-k predictions for the train images (.json/.csv/.safetensors keyed by
    /// image id); needed by a relation prompt.
    #[arg(long, value_name = "FILE")]
    pub aux: Option<PathBuf>,
    /// Prompt configuration (TOML): classes, hard template, relations.
    #[arg(long, value_name = "FILE.toml")]
    pub prompts: Option<PathBuf>,
    /// sgd (momentum, coupled weight decay) or adamw, as in PyTorch.
    #[arg(long, default_value_t = FinetuneParams::default().optimizer.as_str().to_string(), value_name = "sgd|adamw")]
    pub optimizer: String,
    /// Peak learning rate of the cosine schedule.
    #[arg(long, default_value_t = FinetuneParams::default().lr, value_name = "L")]
    pub lr: f64,
    /// SGD momentum.
    #[arg(long, default_value_t = FinetuneParams::default().momentum, value_name = "M")]
    pub momentum: f64,
    /// Weight decay [default: 5e-4 for sgd, 0.01 for adamw].
    #[arg(long, value_name = "W")]
    pub weight_decay: Option<f64>,
    /// Passes over the training images [default: 10].
    #[arg(long, value_name = "E", conflicts_with = "steps")]
    pub epochs: Option<usize>,
    /// Optimiser steps in all, instead of --epochs.
    #[arg(long, value_name = "S")]
    pub steps: Option<usize>,
    /// Images per optimiser step.
    #[arg(long, default_value_t = FinetuneParams::default().batch_size, value_name = "B")]
    pub batch_size: usize,
    /// Batches in file order instead of a seeded shuffle per epoch.
    #[arg(long)]
    pub no_shuffle: bool,
    /// Train on K images per class (few-shot, seeded).
    #[arg(long, value_name = "K")]
    pub shots: Option<usize>,
    /// Share of each class held out to pick the best epoch (0: keep the last).
    #[arg(long, default_value_t = FinetuneParams::default().val_fraction, value_name = "F")]
    pub val_fraction: f64,
    /// Seed of the hold-out, shots, shuffles and initialisations.
    #[arg(long, default_value_t = FinetuneParams::default().seed)]
    pub seed: u64,
    /// Start the trained tensors from this safetensors file (e.g. a run's init.safetensors).
    #[arg(long, value_name = "FILE")]
    pub init: Option<PathBuf>,
    /// Also write init.safetensors with the starting values.
    #[arg(long)]
    pub save_init: bool,
    /// Where training runs.
    #[arg(long, default_value_t = DeviceKind::default(), value_name = "cpu|cuda")]
    pub device: DeviceKind,
    /// Output folder.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

fn parse<T: std::str::FromStr<Err = String>>(flag: &str, text: &str) -> Result<T> {
    text.parse()
        .map_err(|e: String| softtext::study::StudyError::Config(format!("{flag}: {e}")).into())
}

pub fn run(args: FinetuneArgs, observer: &dyn Observer) -> Result<()> {
    let method: Method = parse("--method", &args.method)?;
    let optimizer: OptimizerKind = parse("--optimizer", &args.optimizer)?;
    let params = FinetuneParams {
        method,
        n_ctx: args.n_ctx,
        ctx_init: args.ctx_init,
        csc: args.csc,
        rank: args.rank,
        alpha: args.alpha,
        layers: args.layers,
        prompt: args.prompt,
        optimizer,
        lr: args.lr,
        momentum: args.momentum,
        weight_decay: args.weight_decay,
        epochs: args.epochs,
        steps: args.steps,
        batch_size: args.batch_size,
        shuffle: !args.no_shuffle,
        shots: args.shots,
        val_fraction: args.val_fraction,
        seed: args.seed,
    };
    let spec = Finetuning {
        params,
        clip: args.clip,
        images: args.images,
        aux: args.aux,
        prompts: match &args.prompts {
            Some(path) => read_prompt_file(path)?,
            None => PromptConfigFile::default(),
        },
        device: args.device,
        init: args.init,
        save_init: args.save_init,
    };
    let outcome = finetune(&spec, &args.out, observer)?;
    let info = &outcome.info;
    println!(
        "{} on {}: {} steps, best epoch {} of {}{}; {}",
        info.params.method_summary(),
        info.prompt,
        info.steps,
        info.best_epoch,
        info.epochs,
        info.val_accuracy.map_or(String::new(), |a| format!(
            ", validation accuracy {:.2}%",
            a * 100.0
        )),
        outcome.dir.display()
    );
    Ok(())
}
