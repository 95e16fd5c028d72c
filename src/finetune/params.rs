//! The settings of a fine-tuning run, validated once by [`FinetuneParams::check`]. Defaults
//! are defined here only: the CLI and `[finetune]` in study configs read them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::error::FinetuneError;

/// How the text side is trained (docs/finetune.md, "Methods").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// CoOp's learned context vectors (Zhou et al., IJCV 2022); the encoder is frozen.
    #[default]
    Coop,
    /// Low-rank adapters on every text layer's `q_proj` and `v_proj`.
    Lora,
    /// The last k encoder layers, the final layer norm and the text projection.
    LastK,
}

impl Method {
    /// The name used on the command line, in files and in table rows.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Coop => "coop",
            Self::Lora => "lora",
            Self::LastK => "last-k",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Method {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "coop" => Ok(Self::Coop),
            "lora" => Ok(Self::Lora),
            "last-k" | "lastk" => Ok(Self::LastK),
            other => Err(format!(
                "unknown method {other:?} (use coop, lora or last-k)"
            )),
        }
    }
}

/// The optimiser, each following PyTorch's update rule exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// `torch.optim.SGD` with momentum and coupled weight decay (CoOp's choice).
    #[default]
    Sgd,
    /// `torch.optim.AdamW` with its default betas and epsilon.
    Adamw,
}

impl OptimizerKind {
    /// The name used on the command line and in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sgd => "sgd",
            Self::Adamw => "adamw",
        }
    }

    /// The weight decay used when none is given: CoOp's 5e-4 for SGD, PyTorch's 0.01 for
    /// AdamW.
    pub fn default_weight_decay(self) -> f64 {
        match self {
            Self::Sgd => 5e-4,
            Self::Adamw => 0.01,
        }
    }
}

impl FromStr for OptimizerKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "sgd" => Ok(Self::Sgd),
            "adamw" => Ok(Self::Adamw),
            other => Err(format!("unknown optimizer {other:?} (use sgd or adamw)")),
        }
    }
}

/// A setting of [`FinetuneParams`], for errors that name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FinetuneParam {
    /// [`FinetuneParams::n_ctx`].
    NCtx,
    /// [`FinetuneParams::ctx_init`].
    CtxInit,
    /// [`FinetuneParams::rank`].
    Rank,
    /// [`FinetuneParams::alpha`].
    Alpha,
    /// [`FinetuneParams::layers`].
    Layers,
    /// [`FinetuneParams::prompt`].
    Prompt,
    /// [`FinetuneParams::lr`].
    Lr,
    /// [`FinetuneParams::momentum`].
    Momentum,
    /// [`FinetuneParams::weight_decay`].
    WeightDecay,
    /// [`FinetuneParams::epochs`].
    Epochs,
    /// [`FinetuneParams::steps`].
    Steps,
    /// [`FinetuneParams::batch_size`].
    BatchSize,
    /// [`FinetuneParams::shots`].
    Shots,
    /// [`FinetuneParams::val_fraction`].
    ValFraction,
}

impl FinetuneParam {
    /// The field name (the CLI flag without `--` and with `-` for `_`).
    pub fn name(self) -> &'static str {
        match self {
            Self::NCtx => "n_ctx",
            Self::CtxInit => "ctx_init",
            Self::Rank => "rank",
            Self::Alpha => "alpha",
            Self::Layers => "layers",
            Self::Prompt => "prompt",
            Self::Lr => "lr",
            Self::Momentum => "momentum",
            Self::WeightDecay => "weight_decay",
            Self::Epochs => "epochs",
            Self::Steps => "steps",
            Self::BatchSize => "batch_size",
            Self::Shots => "shots",
            Self::ValFraction => "val_fraction",
        }
    }
}

/// Every setting of a fine-tuning run. Fields that belong to another method are ignored
/// (and not part of the run's cache key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FinetuneParams {
    /// coop, lora or last-k.
    pub method: Method,
    /// coop: number of context vectors when `ctx_init` is not given (default 16, CoOp's).
    pub n_ctx: usize,
    /// coop: start the context at these words' token embeddings; their token count sets
    /// `n_ctx`. `"a photo of a"` starts exactly at the hard prompt.
    pub ctx_init: Option<String>,
    /// coop: one context per class (CoOp's class-specific context).
    pub csc: bool,
    /// lora: the adapters' rank (default 8).
    pub rank: usize,
    /// lora: the adapters' scale numerator; the update is `(alpha / rank) B A` (default 16).
    pub alpha: f64,
    /// last-k: how many of the last encoder layers train (default 1).
    pub layers: usize,
    /// `hard` (the hard template per class) or a relation name (`like`, `look-like`,
    /// `resemble`, or one from the prompt configuration): the per-image soft texts of the
    /// `all` protocol.
    pub prompt: String,
    /// sgd or adamw.
    pub optimizer: OptimizerKind,
    /// Peak learning rate of the cosine schedule (default 0.002, CoOp's).
    pub lr: f64,
    /// SGD momentum (default 0.9).
    pub momentum: f64,
    /// Weight decay; `None`: [`OptimizerKind::default_weight_decay`].
    pub weight_decay: Option<f64>,
    /// Full passes over the training images; `None` with `steps` unset: 10.
    pub epochs: Option<usize>,
    /// Optimiser steps in all, instead of `epochs`.
    pub steps: Option<usize>,
    /// Images per optimiser step (default 32, CoOp's).
    pub batch_size: usize,
    /// Visit the training images in a seeded random order each epoch (default); `false`:
    /// in file order.
    pub shuffle: bool,
    /// Train on K images per class (CoOp's 1/2/4/8/16 shots); `None`: all of them.
    pub shots: Option<usize>,
    /// Share of each class held out to pick the best epoch, in [0, 1) (default 0.1); 0 keeps
    /// the last epoch.
    pub val_fraction: f64,
    /// Seeds the hold-out, the shots, the shuffles and the random initialisations.
    pub seed: u64,
}

/// Epochs run when neither `epochs` nor `steps` is given.
pub const DEFAULT_EPOCHS: usize = 10;

impl Default for FinetuneParams {
    fn default() -> Self {
        Self {
            method: Method::Coop,
            n_ctx: 16,
            ctx_init: None,
            csc: false,
            rank: 8,
            alpha: 16.0,
            layers: 1,
            prompt: "hard".into(),
            optimizer: OptimizerKind::Sgd,
            lr: 0.002,
            momentum: 0.9,
            weight_decay: None,
            epochs: None,
            steps: None,
            batch_size: 32,
            shuffle: true,
            shots: None,
            val_fraction: 0.1,
            seed: 0,
        }
    }
}

impl FinetuneParams {
    /// The first setting out of range, as a [`FinetuneError::InvalidParam`]. Checks that need
    /// the model (`layers` against its depth, `ctx_init` against the context) happen when it
    /// is loaded.
    pub fn check(&self) -> Result<(), FinetuneError> {
        use FinetuneParam as P;
        let bad = |param, message: String| Err(FinetuneError::param(param, message));
        match self.method {
            Method::Coop => {
                if self.ctx_init.is_none() && self.n_ctx == 0 {
                    return bad(P::NCtx, "must be at least 1, is 0".into());
                }
                if let Some(init) = &self.ctx_init {
                    if init.trim().is_empty() {
                        return bad(
                            P::CtxInit,
                            "is empty; give words such as \"a photo of a\"".into(),
                        );
                    }
                }
            }
            Method::Lora => {
                if self.rank == 0 {
                    return bad(P::Rank, "must be at least 1, is 0".into());
                }
                if !(self.alpha.is_finite() && self.alpha > 0.0) {
                    return bad(
                        P::Alpha,
                        format!("must be finite and > 0, is {}", self.alpha),
                    );
                }
            }
            Method::LastK => {
                if self.layers == 0 {
                    return bad(P::Layers, "must be at least 1, is 0".into());
                }
            }
        }
        if self.prompt.trim().is_empty() {
            return bad(P::Prompt, "is empty; use hard or a relation name".into());
        }
        if !(self.lr.is_finite() && self.lr >= 0.0) {
            return bad(P::Lr, format!("must be finite and >= 0, is {}", self.lr));
        }
        if !(0.0..1.0).contains(&self.momentum) {
            return bad(
                P::Momentum,
                format!("must be in [0, 1), is {}", self.momentum),
            );
        }
        let decay = self.weight_decay();
        if !(decay.is_finite() && decay >= 0.0) {
            return bad(
                P::WeightDecay,
                format!("must be finite and >= 0, is {decay}"),
            );
        }
        match (self.epochs, self.steps) {
            (Some(_), Some(_)) => {
                return bad(P::Steps, "give epochs or steps, not both".into());
            }
            (Some(0), None) => return bad(P::Epochs, "must be at least 1, is 0".into()),
            (None, Some(0)) => return bad(P::Steps, "must be at least 1, is 0".into()),
            _ => {}
        }
        if self.batch_size == 0 {
            return bad(P::BatchSize, "must be at least 1, is 0".into());
        }
        if self.shots == Some(0) {
            return bad(P::Shots, "must be at least 1, is 0".into());
        }
        if !(0.0..1.0).contains(&self.val_fraction) {
            return bad(
                P::ValFraction,
                format!("must be in [0, 1), is {}", self.val_fraction),
            );
        }
        Ok(())
    }

    /// The weight decay in effect.
    pub fn weight_decay(&self) -> f64 {
        self.weight_decay
            .unwrap_or_else(|| self.optimizer.default_weight_decay())
    }

    /// `true` for the `hard` prompt, `false` for a relation.
    pub fn is_hard(&self) -> bool {
        self.prompt == "hard"
    }

    /// The method's settings that change the result, for keys and table labels: e.g.
    /// `coop(n_ctx=4, init="a photo of a")`.
    pub fn method_summary(&self) -> String {
        match self.method {
            Method::Coop => {
                let context = match &self.ctx_init {
                    Some(init) => format!("init={init:?}"),
                    None => format!("n_ctx={}", self.n_ctx),
                };
                let csc = if self.csc { ", csc" } else { "" };
                format!("coop({context}{csc})")
            }
            Method::Lora => format!("lora(rank={}, alpha={})", self.rank, self.alpha),
            Method::LastK => format!("last-k(k={})", self.layers),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(params: FinetuneParams) -> String {
        params.check().unwrap_err().to_string()
    }

    #[test]
    fn defaults_are_valid() {
        FinetuneParams::default().check().unwrap();
    }

    #[test]
    fn errors_name_the_setting() {
        let lora = FinetuneParams {
            method: Method::Lora,
            rank: 0,
            ..Default::default()
        };
        assert_eq!(error_of(lora), "parameter rank: must be at least 1, is 0");
        let both = FinetuneParams {
            epochs: Some(1),
            steps: Some(1),
            ..Default::default()
        };
        assert_eq!(
            error_of(both),
            "parameter steps: give epochs or steps, not both"
        );
        let holdout = FinetuneParams {
            val_fraction: 1.0,
            ..Default::default()
        };
        assert_eq!(
            error_of(holdout),
            "parameter val_fraction: must be in [0, 1), is 1"
        );
        let shots = FinetuneParams {
            shots: Some(0),
            ..Default::default()
        };
        assert!(error_of(shots).starts_with("parameter shots:"));
    }

    #[test]
    fn weight_decay_defaults_follow_the_optimizer() {
        let adamw = FinetuneParams {
            optimizer: OptimizerKind::Adamw,
            ..Default::default()
        };
        assert_eq!(adamw.weight_decay(), 0.01);
        assert_eq!(FinetuneParams::default().weight_decay(), 5e-4);
    }
}
