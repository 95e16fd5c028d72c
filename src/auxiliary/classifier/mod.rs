//! The auxiliary classifier: a CIFAR-10 network trained by softtext itself, whose top-k
//! classes per image feed the soft-text protocols (the paper trains a ResNet50 with
//! cross-entropy and SGD, batch size 64, for 200 epochs, and keeps each image's top-2).
//!
//! * models, one file each, weights by name: [`resnet`] (CIFAR ResNet18/ResNet50) and
//!   [`fast`] (a ResNet-9-like speed-run network);
//! * training: [`sgd`] (momentum SGD with PyTorch's semantics), [`schedule`] (learning
//!   rate per epoch), [`augment`] (seeded crop-and-flip, normalisation), [`mod@train`] (the
//!   loop, per-epoch checkpoints and CSV log, exact resume; [`fn@train`] runs it);
//! * [`checkpoint`] (safetensors with weights, momentum buffers, epoch and RNG state) and
//!   [`mod@predict`] (top-k file for [`crate::auxiliary::predictions::AuxPredictions`],
//!   made by [`fn@predict`]).

pub mod augment;
pub mod checkpoint;
mod conv;
mod error;
pub mod fast;
mod norm;
pub mod predict;
pub mod resnet;
pub mod schedule;
pub mod sgd;
pub mod train;

use std::fmt;
use std::str::FromStr;

use candle_core::{DType, Result as CandleResult, Tensor};
use candle_nn::{ModuleT, VarBuilder, VarMap};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

pub use error::ClassifierError;
pub use fast::{FastConfig, FastNet};
pub use predict::{predict, predict_with};
pub use resnet::{BlockKind, ResNet, ResNetConfig};
pub use schedule::Schedule;
pub use sgd::{Sgd, SgdConfig};
pub use train::{
    train, train_with, AfterEpochResult, EpochRecord, TrainControl, TrainParam, TrainParams,
    TrainSummary,
};

type Result<T, E = ClassifierError> = std::result::Result<T, E>;

/// Which network to train.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// The paper's model: CIFAR ResNet50 (bottleneck blocks `[3, 4, 6, 3]`).
    ResNet50,
    /// CIFAR ResNet18 (basic blocks `[2, 2, 2, 2]`).
    ResNet18,
    /// The ResNet-9-like speed-run network ([`fast`]).
    Fast,
}

impl ModelKind {
    /// Every kind, in the order `--help` lists them.
    pub const ALL: [ModelKind; 3] = [ModelKind::ResNet50, ModelKind::ResNet18, ModelKind::Fast];

    /// The name used on the command line, in configs and in checkpoints (`resnet50`,
    /// `resnet18`, `fast`).
    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::ResNet50 => "resnet50",
            ModelKind::ResNet18 => "resnet18",
            ModelKind::Fast => "fast",
        }
    }

    /// The architecture for `num_classes` classes with every width divided by
    /// `width_divisor` (1 is the published architecture; larger values are for tests and
    /// quick runs).
    pub fn config(self, num_classes: usize, width_divisor: usize) -> ModelConfig {
        let divide = |widths: [usize; 4]| widths.map(|w| (w / width_divisor.max(1)).max(1));
        match self {
            ModelKind::ResNet50 | ModelKind::ResNet18 => {
                let mut config = if self == ModelKind::ResNet50 {
                    ResNetConfig::resnet50(num_classes)
                } else {
                    ResNetConfig::resnet18(num_classes)
                };
                config.widths = divide(config.widths);
                ModelConfig::ResNet(config)
            }
            ModelKind::Fast => {
                let mut config = FastConfig::resnet9(num_classes);
                config.widths = divide(config.widths);
                ModelConfig::Fast(config)
            }
        }
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ModelKind {
    type Err = ClassifierError;

    fn from_str(s: &str) -> Result<Self> {
        ModelKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| {
                ClassifierError::invalid(format!(
                    "unknown auxiliary model {s:?} (use resnet50, resnet18 or fast)"
                ))
            })
    }
}

/// A full architecture description, stored in checkpoints so that a checkpoint rebuilds
/// its own network.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelConfig {
    /// A CIFAR ResNet ([`ModelKind::ResNet50`], [`ModelKind::ResNet18`]).
    ResNet(ResNetConfig),
    /// The fast network ([`ModelKind::Fast`]).
    Fast(FastConfig),
}

impl ModelConfig {
    /// Number of output classes (logits).
    pub fn num_classes(&self) -> usize {
        match self {
            ModelConfig::ResNet(c) => c.num_classes,
            ModelConfig::Fast(c) => c.num_classes,
        }
    }

    /// Channels of the input images (3 for RGB).
    pub fn in_channels(&self) -> usize {
        match self {
            ModelConfig::ResNet(c) => c.in_channels,
            ModelConfig::Fast(c) => c.in_channels,
        }
    }

    /// Refuses an architecture that cannot be built (a zero width, class count, ...); the
    /// message says which setting and why.
    pub fn check(&self) -> std::result::Result<(), String> {
        match self {
            ModelConfig::ResNet(c) => c.check(),
            ModelConfig::Fast(c) => c.check(),
        }
    }
}

/// One of the networks behind a single type, so training and prediction need no generics.
#[derive(Debug, Clone)]
pub enum Model {
    /// A CIFAR ResNet.
    ResNet(ResNet),
    /// The fast network (boxed, so the enum stays small: the ResNet keeps its blocks on the
    /// heap, the fast network inline).
    Fast(Box<FastNet>),
}

impl Model {
    /// Builds the network, creating (or, for a loading VarBuilder, reading) its weights.
    pub fn new(config: &ModelConfig, vb: VarBuilder) -> CandleResult<Self> {
        Ok(match config {
            ModelConfig::ResNet(c) => Model::ResNet(ResNet::new(c, vb)?),
            ModelConfig::Fast(c) => Model::Fast(Box::new(FastNet::new(c, vb)?)),
        })
    }
}

impl ModuleT for Model {
    fn forward_t(&self, x: &Tensor, train: bool) -> CandleResult<Tensor> {
        match self {
            Model::ResNet(m) => m.forward_t(x, train),
            Model::Fast(m) => m.forward_t(x, train),
        }
    }
}

/// A freshly initialised model and the VarMap that owns its weights.
pub fn init_model(
    config: &ModelConfig,
    rng: &mut ChaCha8Rng,
    device: &candle_core::Device,
) -> Result<(Model, VarMap)> {
    config.check().map_err(ClassifierError::Invalid)?;
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, device);
    let model = Model::new(config, vb)?;
    reinitialize(&varmap, rng)?;
    Ok((model, varmap))
}

/// True for batch-norm running statistics: weights that are stored and checkpointed but
/// not optimised.
pub(crate) fn is_running_stat(name: &str) -> bool {
    name.ends_with("running_mean") || name.ends_with("running_var")
}

/// The VarMap's variables sorted by name, so iteration order (and with it RNG use and
/// checkpoint layout) does not depend on HashMap order.
pub(crate) fn sorted_vars(varmap: &VarMap) -> Vec<(String, candle_core::Var)> {
    let data = varmap.data().lock().unwrap_or_else(|e| e.into_inner());
    let mut vars: Vec<(String, candle_core::Var)> =
        data.iter().map(|(n, v)| (n.clone(), v.clone())).collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    vars
}

/// Draws every convolution and linear weight again from the seeded RNG: candle's own
/// initialisers use an unseeded thread RNG on the CPU, which would make runs
/// irreproducible. Convolutions get torchvision's ResNet init (Kaiming normal, fan-out,
/// ReLU gain); linear layers PyTorch's default U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for
/// weight and bias. Batch-norm scales stay 1 and shifts 0.
fn reinitialize(varmap: &VarMap, rng: &mut ChaCha8Rng) -> Result<()> {
    let vars = sorted_vars(varmap);
    let rank_of = |name: &str| {
        vars.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.dims().to_vec())
    };
    for (name, var) in &vars {
        let dims = var.dims().to_vec();
        let count: usize = dims.iter().product();
        let values: Vec<f32> = match dims.as_slice() {
            [c_out, _, kh, kw] => {
                let std = (2.0 / (c_out * kh * kw) as f64).sqrt();
                (0..count).map(|_| (normal(rng) * std) as f32).collect()
            }
            [_, fan_in] => uniform(rng, count, *fan_in),
            [_] if name.ends_with(".bias") => {
                let weight = format!("{}.weight", name.trim_end_matches(".bias"));
                match rank_of(&weight).as_deref() {
                    Some([_, fan_in]) => uniform(rng, count, *fan_in),
                    _ => continue,
                }
            }
            _ => continue,
        };
        var.set(&Tensor::from_vec(values, dims, var.device())?)?;
    }
    Ok(())
}

fn uniform(rng: &mut ChaCha8Rng, count: usize, fan_in: usize) -> Vec<f32> {
    let bound = 1.0 / (fan_in.max(1) as f64).sqrt();
    (0..count)
        .map(|_| rng.random_range(-bound..bound) as f32)
        .collect()
}

/// A standard normal draw (Box-Muller), to avoid a dependency for one distribution.
fn normal(rng: &mut ChaCha8Rng) -> f64 {
    // 1 - u keeps the logarithm's argument in (0, 1].
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Largest absolute elementwise difference, as f64: the unit tests' comparison.
#[cfg(test)]
pub(crate) fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a.to_dtype(DType::F64).unwrap() - b.to_dtype(DType::F64).unwrap())
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar()
        .unwrap()
}
