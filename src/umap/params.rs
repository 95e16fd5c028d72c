use serde::{Deserialize, Serialize};

use crate::umap::error::{Result, UmapError};

/// Distance used for the high-dimensional nearest-neighbour graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Metric {
    /// `1 - cos(x, y)`, the metric CLIP embeddings are compared with.
    #[default]
    Cosine,
    /// Straight-line distance `|x - y|`.
    Euclidean,
}

/// How the low-dimensional layout is seeded before the SGD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Init {
    /// Leading non-trivial eigenvectors of the graph's normalised Laplacian.
    /// Falls back to [`Init::Pca`] when the graph is disconnected or the
    /// eigen-solve does not converge (see [`crate::umap::InitReport`]).
    #[default]
    Spectral,
    /// First principal components of the raw input; falls back to
    /// [`Init::Random`] when the input has no variance.
    Pca,
    /// Uniform in `[-10, 10]^2`.
    Random,
}

/// A hyper-parameter that [`UmapParams::check`] validates, carried by
/// [`UmapError::InvalidParam`] so a caller can map it to its own option name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UmapParam {
    /// [`UmapParams::n_neighbors`]: at least 2.
    NNeighbors,
    /// [`UmapParams::min_dist`]: in `[0, spread]`.
    MinDist,
    /// [`UmapParams::spread`]: finite and positive.
    Spread,
    /// [`UmapParams::n_epochs`]: at least 1 when given.
    NEpochs,
    /// [`UmapParams::negative_sample_rate`]: at least 1.
    NegativeSampleRate,
    /// [`UmapParams::learning_rate`]: finite and positive.
    LearningRate,
    /// [`UmapParams::set_op_mix_ratio`]: in `[0, 1]`.
    SetOpMixRatio,
}

impl UmapParam {
    /// The field name, spelt as umap-learn's keyword argument (`n_epochs`).
    pub fn name(self) -> &'static str {
        match self {
            UmapParam::NNeighbors => "n_neighbors",
            UmapParam::MinDist => "min_dist",
            UmapParam::Spread => "spread",
            UmapParam::NEpochs => "n_epochs",
            UmapParam::NegativeSampleRate => "negative_sample_rate",
            UmapParam::LearningRate => "learning_rate",
            UmapParam::SetOpMixRatio => "set_op_mix_ratio",
        }
    }
}

/// Validated hyper-parameters; only [`UmapParams::check`] creates one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UmapValidParams {
    pub(crate) n_neighbors: usize,
    pub(crate) min_dist: f32,
    pub(crate) spread: f32,
    pub(crate) n_epochs: Option<usize>,
    pub(crate) metric: Metric,
    pub(crate) seed: u64,
    pub(crate) negative_sample_rate: usize,
    pub(crate) learning_rate: f32,
    pub(crate) set_op_mix_ratio: f32,
    pub(crate) init: Init,
}

impl UmapValidParams {
    /// Neighbourhood size, counting the point itself (umap-learn's convention).
    pub fn n_neighbors(&self) -> usize {
        self.n_neighbors
    }
    /// Smallest distance between embedded points, in layout units; see
    /// [`UmapParams::min_dist`].
    pub fn min_dist(&self) -> f32 {
        self.min_dist
    }
    /// Scale of the embedded points; see [`UmapParams::spread`].
    pub fn spread(&self) -> f32 {
        self.spread
    }
    /// SGD epochs as set; `None` means [`UmapValidParams::epochs_for`] decides.
    pub fn n_epochs(&self) -> Option<usize> {
        self.n_epochs
    }
    /// Distance of the high-dimensional kNN graph.
    pub fn metric(&self) -> Metric {
        self.metric
    }
    /// Seed of every random draw (initialisation, jitter, negative samples).
    pub fn seed(&self) -> u64 {
        self.seed
    }
    /// Negative samples drawn per positive edge sample in the SGD.
    pub fn negative_sample_rate(&self) -> usize {
        self.negative_sample_rate
    }
    /// Initial SGD step size; it decays linearly to 0 over the epochs.
    pub fn learning_rate(&self) -> f32 {
        self.learning_rate
    }
    /// Weight of the fuzzy union against the fuzzy intersection when the kNN graph is
    /// symmetrised; see [`UmapParams::set_op_mix_ratio`].
    pub fn set_op_mix_ratio(&self) -> f32 {
        self.set_op_mix_ratio
    }
    /// The requested initialisation (the one used is in [`crate::umap::InitReport`]).
    pub fn init(&self) -> Init {
        self.init
    }

    /// umap-learn's default: 500 epochs up to 10,000 points, 200 above
    /// (`graph.shape[0] <= 10000` in `simplicial_set_embedding`).
    pub fn epochs_for(&self, n_rows: usize) -> usize {
        self.n_epochs
            .unwrap_or(if n_rows <= 10_000 { 500 } else { 200 })
    }
}

/// Builder for [`UmapValidParams`], in the linfa params/check style.
///
/// ```
/// use softtext::umap::{Metric, UmapParams};
/// let params = UmapParams::new().n_neighbors(10).metric(Metric::Euclidean).seed(7).check().unwrap();
/// assert_eq!(params.n_neighbors(), 10);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UmapParams(UmapValidParams);

impl Default for UmapParams {
    /// umap-learn 0.5's defaults (15 neighbours, `min_dist` 0.1, `spread` 1, cosine metric,
    /// spectral initialisation, 5 negative samples, learning rate 1, pure fuzzy union) with
    /// seed 42 and the epoch count left to [`UmapValidParams::epochs_for`].
    fn default() -> Self {
        Self(UmapValidParams {
            n_neighbors: 15,
            min_dist: 0.1,
            spread: 1.0,
            n_epochs: None,
            metric: Metric::Cosine,
            seed: 42,
            negative_sample_rate: 5,
            learning_rate: 1.0,
            set_op_mix_ratio: 1.0,
            init: Init::Spectral,
        })
    }
}

impl UmapParams {
    /// The defaults (see [`UmapParams::default`]).
    pub fn new() -> Self {
        Self::default()
    }
    /// Neighbourhood size, counting the point itself; at least 2 (default 15). Larger
    /// values favour global structure over local detail.
    pub fn n_neighbors(mut self, n_neighbors: usize) -> Self {
        self.0.n_neighbors = n_neighbors;
        self
    }
    /// Smallest distance between embedded points, in `[0, spread]` (default 0.1); small
    /// values pack clusters tightly.
    pub fn min_dist(mut self, min_dist: f32) -> Self {
        self.0.min_dist = min_dist;
        self
    }
    /// Scale of the embedded points, finite and > 0 (default 1); with `min_dist` it fixes
    /// the curve fitted by [`crate::umap::find_ab_params`].
    pub fn spread(mut self, spread: f32) -> Self {
        self.0.spread = spread;
        self
    }
    /// SGD epochs, at least 1; `None` (the default) takes umap-learn's count from
    /// [`UmapValidParams::epochs_for`].
    pub fn n_epochs(mut self, n_epochs: Option<usize>) -> Self {
        self.0.n_epochs = n_epochs;
        self
    }
    /// Distance of the high-dimensional kNN graph (default cosine).
    pub fn metric(mut self, metric: Metric) -> Self {
        self.0.metric = metric;
        self
    }
    /// Seed of every random draw (default 42); the same seed gives the same layout.
    pub fn seed(mut self, seed: u64) -> Self {
        self.0.seed = seed;
        self
    }
    /// Negative samples per positive edge sample, at least 1 (default 5).
    pub fn negative_sample_rate(mut self, rate: usize) -> Self {
        self.0.negative_sample_rate = rate;
        self
    }
    /// Initial SGD step size, finite and > 0 (default 1); it decays linearly to 0.
    pub fn learning_rate(mut self, learning_rate: f32) -> Self {
        self.0.learning_rate = learning_rate;
        self
    }
    /// How the directed kNN memberships are symmetrised, in `[0, 1]` (default 1): 1.0 is
    /// the pure fuzzy union, 0.0 the pure fuzzy intersection.
    pub fn set_op_mix_ratio(mut self, ratio: f32) -> Self {
        self.0.set_op_mix_ratio = ratio;
        self
    }
    /// How the layout is seeded before the SGD (default spectral).
    pub fn init(mut self, init: Init) -> Self {
        self.0.init = init;
        self
    }

    /// Validates without consuming the builder.
    pub fn check_ref(&self) -> Result<&UmapValidParams> {
        let p = &self.0;
        let bad = |param, reason: String| Err(UmapError::InvalidParam { param, reason });
        if p.n_neighbors < 2 {
            return bad(
                UmapParam::NNeighbors,
                format!("must be >= 2, got {}", p.n_neighbors),
            );
        }
        if !(p.spread.is_finite() && p.spread > 0.0) {
            return bad(
                UmapParam::Spread,
                format!("must be finite and > 0, got {}", p.spread),
            );
        }
        if !(p.min_dist.is_finite() && p.min_dist >= 0.0 && p.min_dist <= p.spread) {
            return bad(
                UmapParam::MinDist,
                format!("must be in [0, spread = {}], got {}", p.spread, p.min_dist),
            );
        }
        if p.n_epochs == Some(0) {
            return bad(
                UmapParam::NEpochs,
                "must be >= 1 (or None for the default)".into(),
            );
        }
        if p.negative_sample_rate == 0 {
            return bad(UmapParam::NegativeSampleRate, "must be >= 1".into());
        }
        if !(p.learning_rate.is_finite() && p.learning_rate > 0.0) {
            return bad(
                UmapParam::LearningRate,
                format!("must be finite and > 0, got {}", p.learning_rate),
            );
        }
        if !(0.0..=1.0).contains(&p.set_op_mix_ratio) {
            return bad(
                UmapParam::SetOpMixRatio,
                format!("must be in [0, 1], got {}", p.set_op_mix_ratio),
            );
        }
        Ok(p)
    }

    /// Validates and unwraps; the error names the first parameter out of range.
    pub fn check(self) -> Result<UmapValidParams> {
        self.check_ref()?;
        Ok(self.0)
    }
}
