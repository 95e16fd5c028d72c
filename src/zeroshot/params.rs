//! Evaluation parameters, validated once before any work (linfa's params / check pattern):
//! [`EvalParams`] is what a caller sets, [`ValidEvalParams`] what the engine accepts.

use serde::{Deserialize, Serialize};

use crate::zeroshot::error::ZeroShotError;

/// The decision rules that turn scores into a prediction; see [`crate::zeroshot`] for the
/// definition of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProtocolKind {
    /// Argmax over all classes of the hard-prompt score.
    Hard,
    /// Hard-prompt argmax restricted to the auxiliary top-2.
    HardTop2,
    /// Best of T(a, b) and T(b, a) for the auxiliary top-2 (a, b); predicts its subject.
    Pair,
    /// Every class c scored with T(c, partner(c)); argmax.
    All,
    /// Best text of the split's soft vocabulary {T(top1, top2)}; predicts its subject.
    Vocab,
    /// Like `all`, with the mean over the first k partners (one row per k in 2..=aux k).
    TopkMean,
    /// (1 − λ)·hard + λ·`all` score over all classes (one row per λ).
    BlendAll,
    /// (1 − λ)·hard + λ·`pair` score over the auxiliary top-2 (one row per λ).
    BlendPair,
}

impl ProtocolKind {
    /// Every protocol, in report order.
    pub const ALL: [ProtocolKind; 8] = [
        ProtocolKind::Hard,
        ProtocolKind::HardTop2,
        ProtocolKind::Pair,
        ProtocolKind::All,
        ProtocolKind::Vocab,
        ProtocolKind::TopkMean,
        ProtocolKind::BlendAll,
        ProtocolKind::BlendPair,
    ];

    /// The name used in reports, e.g. `hard-top2`.
    pub fn name(self) -> &'static str {
        match self {
            ProtocolKind::Hard => "hard",
            ProtocolKind::HardTop2 => "hard-top2",
            ProtocolKind::Pair => "pair",
            ProtocolKind::All => "all",
            ProtocolKind::Vocab => "vocab",
            ProtocolKind::TopkMean => "topk-mean",
            ProtocolKind::BlendAll => "blend-all",
            ProtocolKind::BlendPair => "blend-pair",
        }
    }

    /// Looks a protocol up by [`ProtocolKind::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// True for protocols scored with hard prompts only (evaluated once, prompt set `hard`).
    pub fn is_hard(self) -> bool {
        matches!(self, ProtocolKind::Hard | ProtocolKind::HardTop2)
    }

    /// True when the protocol reads the order within the auxiliary top-k (which class is
    /// top-1), not just the set. Matters for the `oracle` source, whose order is
    /// (true, confused).
    pub fn reads_aux_order(self) -> bool {
        matches!(
            self,
            ProtocolKind::All
                | ProtocolKind::Vocab
                | ProtocolKind::TopkMean
                | ProtocolKind::BlendAll
        )
    }
}

/// A setting of [`EvalParams`], carried by [`ZeroShotError::InvalidParam`] so a caller can
/// map it to its own option name. One variant per setting; [`EvalParams::check`] rejects
/// values of `BlendLambdas`, `Confidence` and `SelfK`, and today accepts every value of the
/// others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EvalParam {
    /// [`EvalParams::protocols`].
    Protocols,
    /// [`EvalParams::relations_mean`].
    RelationsMean,
    /// [`EvalParams::blend_lambdas`]: each in [0, 1], no repeats, non-empty when a blend
    /// protocol runs.
    BlendLambdas,
    /// [`EvalParams::bootstrap_resamples`].
    BootstrapResamples,
    /// [`EvalParams::confidence`]: in (0, 1).
    Confidence,
    /// [`EvalParams::seed`].
    Seed,
    /// [`EvalParams::self_k`]: at least 2.
    SelfK,
}

impl EvalParam {
    /// The field name, e.g. `blend_lambdas`.
    pub fn name(self) -> &'static str {
        match self {
            EvalParam::Protocols => "protocols",
            EvalParam::RelationsMean => "relations_mean",
            EvalParam::BlendLambdas => "blend_lambdas",
            EvalParam::BootstrapResamples => "bootstrap_resamples",
            EvalParam::Confidence => "confidence",
            EvalParam::Seed => "seed",
            EvalParam::SelfK => "self_k",
        }
    }
}

/// Evaluation settings as the caller gives them; [`EvalParams::check`] validates.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalParams {
    protocols: Vec<ProtocolKind>,
    relations_mean: bool,
    blend_lambdas: Vec<f64>,
    bootstrap_resamples: usize,
    confidence: f64,
    seed: u64,
    self_k: usize,
}

impl Default for EvalParams {
    /// Every protocol, the `relations-mean` prompt set, λ ∈ {0, 0.1, …, 1}, 1,000 bootstrap
    /// resamples at 95 %, seed 0, and k = 5 for the `self` source.
    fn default() -> Self {
        EvalParams {
            protocols: ProtocolKind::ALL.to_vec(),
            relations_mean: true,
            blend_lambdas: (0..=10).map(|step| f64::from(step) / 10.0).collect(),
            bootstrap_resamples: 1000,
            confidence: 0.95,
            seed: 0,
            self_k: 5,
        }
    }
}

impl EvalParams {
    /// Which protocols to run (order is irrelevant: rows follow [`ProtocolKind::ALL`]).
    /// `hard` always runs, as the McNemar reference, even when not listed.
    pub fn protocols(mut self, protocols: &[ProtocolKind]) -> Self {
        self.protocols = protocols.to_vec();
        self
    }

    /// Whether to add the `relations-mean` prompt set (mean similarity over relations).
    pub fn relations_mean(mut self, enabled: bool) -> Self {
        self.relations_mean = enabled;
        self
    }

    /// The λ grid of the blend protocols; each in [0, 1], no repeats.
    pub fn blend_lambdas(mut self, lambdas: &[f64]) -> Self {
        self.blend_lambdas = lambdas.to_vec();
        self
    }

    /// Bootstrap resamples for the confidence interval; 0 disables the interval.
    pub fn bootstrap_resamples(mut self, resamples: usize) -> Self {
        self.bootstrap_resamples = resamples;
        self
    }

    /// Confidence level of the interval, in (0, 1).
    pub fn confidence(mut self, confidence: f64) -> Self {
        self.confidence = confidence;
        self
    }

    /// Seed of the bootstrap's ChaCha8 generator.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// k of the `self` auxiliary source (capped at the number of classes); ≥ 2.
    pub fn self_k(mut self, k: usize) -> Self {
        self.self_k = k;
        self
    }

    /// Validates every setting; errors name the parameter.
    pub fn check(self) -> Result<ValidEvalParams, ZeroShotError> {
        let invalid =
            |param: EvalParam, index: Option<usize>, message: String| ZeroShotError::InvalidParam {
                param,
                index,
                message,
            };
        for (index, &lambda) in self.blend_lambdas.iter().enumerate() {
            if !(0.0..=1.0).contains(&lambda) {
                return Err(invalid(
                    EvalParam::BlendLambdas,
                    Some(index),
                    format!("{lambda} is outside [0, 1]"),
                ));
            }
            if let Some(first) = self.blend_lambdas[..index]
                .iter()
                .position(|&l| l == lambda)
            {
                return Err(invalid(
                    EvalParam::BlendLambdas,
                    Some(index),
                    format!("{lambda} repeats blend_lambdas[{first}]"),
                ));
            }
        }
        let blends: bool = self
            .protocols
            .iter()
            .any(|kind| matches!(kind, ProtocolKind::BlendAll | ProtocolKind::BlendPair));
        if blends && self.blend_lambdas.is_empty() {
            return Err(invalid(
                EvalParam::BlendLambdas,
                None,
                "empty, but a blend protocol is enabled".to_string(),
            ));
        }
        if !(self.confidence > 0.0 && self.confidence < 1.0) {
            return Err(invalid(
                EvalParam::Confidence,
                None,
                format!("{} is outside (0, 1)", self.confidence),
            ));
        }
        if self.self_k < 2 {
            return Err(invalid(
                EvalParam::SelfK,
                None,
                format!("{} is below 2 (soft texts need a top-2)", self.self_k),
            ));
        }
        let mut protocols: Vec<ProtocolKind> = self.protocols;
        protocols.push(ProtocolKind::Hard);
        protocols.sort_unstable();
        protocols.dedup();
        Ok(ValidEvalParams {
            protocols,
            relations_mean: self.relations_mean,
            blend_lambdas: self.blend_lambdas,
            bootstrap_resamples: self.bootstrap_resamples,
            confidence: self.confidence,
            seed: self.seed,
            self_k: self.self_k,
        })
    }
}

/// Checked evaluation settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidEvalParams {
    protocols: Vec<ProtocolKind>,
    relations_mean: bool,
    blend_lambdas: Vec<f64>,
    bootstrap_resamples: usize,
    confidence: f64,
    seed: u64,
    self_k: usize,
}

impl ValidEvalParams {
    /// Enabled protocols in [`ProtocolKind::ALL`] order; always contains `hard`.
    pub fn protocols(&self) -> &[ProtocolKind] {
        &self.protocols
    }

    /// Whether `kind` is enabled.
    pub fn runs(&self, kind: ProtocolKind) -> bool {
        self.protocols.contains(&kind)
    }

    /// Whether the `relations-mean` prompt set is evaluated.
    pub fn relations_mean(&self) -> bool {
        self.relations_mean
    }

    /// The λ grid.
    pub fn blend_lambdas(&self) -> &[f64] {
        &self.blend_lambdas
    }

    /// Bootstrap resamples (0: no interval).
    pub fn bootstrap_resamples(&self) -> usize {
        self.bootstrap_resamples
    }

    /// Confidence level.
    pub fn confidence(&self) -> f64 {
        self.confidence
    }

    /// Bootstrap seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// k of the `self` source before capping at the class count.
    pub fn self_k(&self) -> usize {
        self.self_k
    }
}
