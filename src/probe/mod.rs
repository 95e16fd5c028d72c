//! The linear-probe baseline (CLIP paper, CoOp, CLIP_benchmark): L2-regularised multinomial
//! logistic regression on cached image embeddings, its regularisation chosen on a validation
//! hold-out, matching scikit-learn's `LogisticRegression`.
//!
//! ```
//! use softtext::probe::{fit, Features, ProbeParams};
//!
//! # fn main() -> Result<(), softtext::probe::ProbeError> {
//! // Two classes on either side of the origin.
//! let train = Features::new(vec![1.0, 0.1, 0.9, -0.2, -1.0, 0.0, -0.8, 0.3], 2, vec![0, 0, 1, 1], 2);
//! let val = Features::new(vec![0.7, 0.0, -0.6, 0.1], 2, vec![0, 1], 2);
//! let params = ProbeParams::new().c_grid(vec![0.1, 1.0, 10.0]).check()?;
//! let probe = fit(&params, &train, Some(&val))?;
//! assert_eq!(probe.predict(&[0.5, 0.0, -0.5, 0.0])?, vec![0, 1]);
//! assert_eq!(probe.val_accuracy, Some(1.0));
//! # Ok(())
//! # }
//! ```
//!
//! # The objective, and scikit-learn's
//!
//! scikit-learn (`solver="lbfgs"`, `penalty="l2"`, multinomial softmax for 3 or more classes)
//! minimises over the weights `W` (`[classes, dim]`) and intercepts `b`
//!
//! ```text
//! C * sum_i logloss_i(W, b) + |W|^2 / 2,
//! logloss_i = log sum_j exp(w_j . x_i + b_j) - (w_{y_i} . x_i + b_{y_i}),
//! ```
//!
//! with the intercepts unpenalised; in its code the whole is divided by `C n` (the mean
//! log-loss plus `|W|^2 / (2 C n)`). [`fit`] minimises exactly that scaled objective, so `C`
//! means what it means to scikit-learn, and [`ProbeParams::tol`] is measured against the
//! gradient scikit-learn's `tol` is measured against (as an L2 norm rather than its largest
//! entry). The minimiser is argmin's L-BFGS with a More-Thuente line search and a history of
//! 10, starting from zero; scikit-learn uses scipy's L-BFGS-B, also with a history of 10.
//!
//! linfa-logistic (`MultiLogisticRegression`) was the first candidate: it minimises
//! `sum_i logloss_i + alpha/2 |W|^2` with the intercept unpenalised, which is scikit-learn's
//! objective at `alpha = 1/C`. But its log-sum-exp subtracts the largest logit of the whole
//! matrix rather than of each row and clamps each row's sum at 1e-15, so the loss and
//! gradient it minimises are wrong for every row whose largest logit is more than about 34.5
//! below the matrix's largest: on a 6-row, 1-feature problem its solution has true gradient
//! entries above 1. Weakly regularised probes (large C) are exactly where that happens, so
//! the objective here is softtext's own (with a per-row log-sum-exp), minimised by the
//! solver linfa-logistic wraps.
//!
//! # What is identified
//!
//! The softmax is unchanged when one vector is added to every class's `(w_j, b_j)`. The
//! penalty fixes `W` (at the optimum its class rows sum to zero); the intercepts are fixed
//! only up to a common constant, and [`LinearProbe::intercept`] is reported centred (summing
//! to zero), which is also where scikit-learn's L-BFGS, started from zero, ends up.
//!
//! With two classes scikit-learn fits a binary model, one weight vector `v` with penalty
//! `|v|^2 / 2`. The two-class softmax here is that model at twice the C: its optimum has
//! `w_1 = -w_0 = v / 2`, whose penalty `|v|^2 / 4` at C equals `|v|^2 / 2` at 2C.
//!
//! # Choosing C
//!
//! With a validation set, [`fit`] fits every C of [`ProbeParams::c_grid`] on the training
//! rows, in ascending order, each started from the previous C's solution (as scikit-learn's
//! `LogisticRegressionCV` warm-starts along its path; the optimum is unique, so that changes
//! the iteration count and nothing beyond the tolerance), and scores it on the validation rows. The best validation
//! accuracy wins; ties go to the smaller C, the stronger regularisation. Then, by default
//! ([`ProbeParams::refit`]), the chosen C is refit on train + val so that the final probe
//! learns from every labelled row; [`LinearProbe::val_accuracy`] stays the train-only fit's
//! score on val. The test set plays no part: the caller passes it only to
//! [`LinearProbe::accuracy`] afterwards. Without a validation set the grid must hold one C.
//!
//! Every class needs a training row ([`ProbeError::MissingClass`]): an absent class's
//! unpenalised intercept has no finite optimum. scikit-learn drops such a class instead,
//! which would change the meaning of the probability columns.

mod error;
mod params;
mod solver;

use ndarray::{concatenate, Array1, Array2, ArrayView1, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

pub use error::{FeatureSet, ProbeError};
pub use params::{
    ProbeParam, ProbeParams, ProbeValidParams, DEFAULT_C_LOG10_MAX, DEFAULT_C_LOG10_MIN,
    DEFAULT_C_STEPS_PER_DECADE, DEFAULT_MAX_ITER, DEFAULT_TOL,
};

/// Labelled feature rows: what a probe is fit on and scored on.
///
/// An image embedding file converts directly:
///
/// ```
/// use softtext::embeddings::Embeddings;
/// use softtext::probe::Features;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let file = Embeddings::load("fixtures/finetune/train-embeddings.safetensors".as_ref())?;
/// let labels = file.labels.as_ref().ok_or("not an image embedding file")?;
/// let labels = labels.iter().map(|&l| l as usize).collect();
/// let train = Features::new(file.data.clone(), file.dim, labels, file.classes.len());
/// assert_eq!((train.len(), train.dim, train.classes), (300, 24, 10));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Features {
    /// Row-major `[labels.len(), dim]`.
    pub values: Vec<f32>,
    /// Width of a row.
    pub dim: usize,
    /// Class index per row, each below `classes`.
    pub labels: Vec<usize>,
    /// Number of classes (columns of the probe's probabilities).
    pub classes: usize,
}

impl Features {
    /// Bundles the parts; [`fit`] and [`LinearProbe::accuracy`] validate them, naming the
    /// set (`train`, `val`) in their errors.
    pub fn new(values: Vec<f32>, dim: usize, labels: Vec<usize>, classes: usize) -> Self {
        Self {
            values,
            dim,
            labels,
            classes,
        }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The given rows, in the given order (a split by row indices). Panics when an index is
    /// not below [`Features::len`] or the values do not hold that row.
    pub fn select(&self, rows: &[usize]) -> Features {
        let mut values = Vec::with_capacity(rows.len() * self.dim);
        for &row in rows {
            values.extend_from_slice(&self.values[row * self.dim..(row + 1) * self.dim]);
        }
        Features {
            values,
            dim: self.dim,
            labels: rows.iter().map(|&row| self.labels[row]).collect(),
            classes: self.classes,
        }
    }

    /// Checks shape, class count, labels and values, naming `set` in the error.
    fn check(&self, set: FeatureSet) -> Result<(), ProbeError> {
        if self.dim == 0 {
            return Err(ProbeError::ZeroDim { set });
        }
        if self.labels.is_empty() {
            return Err(ProbeError::Empty { set });
        }
        if self.values.len() != self.labels.len() * self.dim {
            return Err(ProbeError::Shape {
                set,
                values: self.values.len(),
                rows: self.labels.len(),
                dim: self.dim,
            });
        }
        if self.classes < 2 {
            return Err(ProbeError::TooFewClasses {
                set,
                classes: self.classes,
            });
        }
        if let Some((row, &label)) = self
            .labels
            .iter()
            .enumerate()
            .find(|(_, &label)| label >= self.classes)
        {
            return Err(ProbeError::LabelOutOfRange {
                set,
                row,
                label,
                classes: self.classes,
            });
        }
        check_finite(set, &self.values, self.dim)
    }
}

fn check_finite(set: FeatureSet, values: &[f32], dim: usize) -> Result<(), ProbeError> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(ProbeError::NonFinite {
            set,
            row: i / dim,
            col: i % dim,
            value: values[i],
        }),
        None => Ok(()),
    }
}

/// The rows as an f64 matrix: every fit and prediction computes in f64, as scikit-learn
/// does on f64 input (the f32 values widen exactly).
fn to_f64(values: &[f32], dim: usize) -> Array2<f64> {
    let rows = values.len() / dim;
    Array2::from_shape_vec((rows, dim), values.iter().map(|&v| f64::from(v)).collect())
        .expect("rows * dim values")
}

/// One C of the sweep: its fit on train, scored on val.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepPoint {
    /// The inverse regularisation strength.
    pub c: f64,
    /// Fraction of validation rows whose most probable class is their label.
    pub val_accuracy: f64,
    /// Mean negative log-probability of the validation labels.
    pub val_log_loss: f64,
    /// L-BFGS iterations of the fit.
    pub iterations: u64,
    /// False when the fit stopped at [`ProbeParams::max_iter`].
    pub converged: bool,
}

/// A fitted probe: `softmax(W x + b)`. Serialises to JSON with `serde_json` as it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearProbe {
    /// Width of the rows it takes.
    pub dim: usize,
    /// Number of classes (columns of [`LinearProbe::predict_proba`]).
    pub classes: usize,
    /// The inverse regularisation strength of the returned weights (the sweep's choice).
    pub c: f64,
    /// Row-major `[classes, dim]`, scikit-learn's `coef_` layout.
    pub weights: Vec<f64>,
    /// `[classes]`, centred to sum to zero (see the module docs).
    pub intercept: Vec<f64>,
    /// The chosen C's validation accuracy, from its train-only fit; `None` without a
    /// validation set.
    pub val_accuracy: Option<f64>,
    /// Every C tried, ascending; empty without a validation set.
    pub sweep: Vec<SweepPoint>,
    /// Whether the weights were refit on train + val after the sweep.
    pub refit: bool,
    /// Rows the returned weights were fit on.
    pub fit_rows: usize,
    /// L-BFGS iterations of the returned weights' fit.
    pub iterations: u64,
    /// False when that fit stopped at [`ProbeParams::max_iter`] (scikit-learn's
    /// `ConvergenceWarning`).
    pub converged: bool,
}

impl LinearProbe {
    fn new(
        solution: &solver::Solution,
        dim: usize,
        classes: usize,
        c: f64,
        fit_rows: usize,
    ) -> Self {
        let theta = solution.theta.to_vec();
        let (w, b) = theta.split_at(dim * classes);
        // `[dim, classes]` in theta; `[classes, dim]` here.
        let weights = (0..classes)
            .flat_map(|j| (0..dim).map(move |t| w[t * classes + j]))
            .collect();
        let mean = b.iter().sum::<f64>() / classes as f64;
        Self {
            dim,
            classes,
            c,
            weights,
            intercept: b.iter().map(|v| v - mean).collect(),
            val_accuracy: None,
            sweep: Vec::new(),
            refit: false,
            fit_rows,
            iterations: solution.iterations,
            converged: solution.converged,
        }
    }

    fn check_model(&self) -> Result<(), ProbeError> {
        if self.dim == 0 || self.classes < 2 {
            return Err(ProbeError::InvalidModel(format!(
                "dim {} and classes {} (need dim >= 1, classes >= 2)",
                self.dim, self.classes
            )));
        }
        if self.weights.len() != self.dim * self.classes || self.intercept.len() != self.classes {
            return Err(ProbeError::InvalidModel(format!(
                "{} weights and {} intercepts do not fit dim {} and {} classes",
                self.weights.len(),
                self.intercept.len(),
                self.dim,
                self.classes
            )));
        }
        Ok(())
    }

    /// Class probabilities, row-major `[rows, classes]`, for row-major `values` of width
    /// [`LinearProbe::dim`].
    pub fn predict_proba(&self, values: &[f32]) -> Result<Vec<f64>, ProbeError> {
        let mut h = self.log_proba(values)?;
        h.mapv_inplace(f64::exp);
        Ok(h.into_iter().collect())
    }

    /// The most probable class of each row (the first on a tie, as NumPy's `argmax`).
    pub fn predict(&self, values: &[f32]) -> Result<Vec<usize>, ProbeError> {
        Ok(argmax_rows(self.log_proba(values)?.view()))
    }

    /// Fraction of `features`' rows predicted as their label.
    pub fn accuracy(&self, features: &Features) -> Result<f64, ProbeError> {
        let set = FeatureSet::Input;
        features.check(set)?;
        self.check_fits(set, features)?;
        let predicted = self.predict(&features.values)?;
        Ok(accuracy(&predicted, &features.labels))
    }

    fn check_fits(&self, set: FeatureSet, features: &Features) -> Result<(), ProbeError> {
        for (field, got, expected) in [
            ("dim", features.dim, self.dim),
            ("classes", features.classes, self.classes),
        ] {
            if got != expected {
                return Err(ProbeError::Mismatch {
                    set,
                    field,
                    got,
                    against: "probe",
                    expected,
                });
            }
        }
        Ok(())
    }

    fn log_proba(&self, values: &[f32]) -> Result<Array2<f64>, ProbeError> {
        self.check_model()?;
        let set = FeatureSet::Input;
        if values.len() % self.dim != 0 {
            return Err(ProbeError::Ragged {
                set,
                values: values.len(),
                dim: self.dim,
            });
        }
        check_finite(set, values, self.dim)?;
        let x = to_f64(values, self.dim);
        let w = ArrayView2::from_shape((self.classes, self.dim), &self.weights).expect("checked");
        let mut h = solver::logits(x.view(), w.t(), ArrayView1::from(&self.intercept));
        solver::log_softmax_rows(&mut h);
        Ok(h)
    }
}

fn argmax_rows(h: ArrayView2<'_, f64>) -> Vec<usize> {
    h.rows()
        .into_iter()
        .map(|row| {
            row.iter()
                .enumerate()
                .fold((0, f64::NEG_INFINITY), |best, (j, &v)| {
                    if v > best.1 {
                        (j, v)
                    } else {
                        best
                    }
                })
                .0
        })
        .collect()
}

fn accuracy(predicted: &[usize], labels: &[usize]) -> f64 {
    let right = predicted.iter().zip(labels).filter(|(p, l)| p == l).count();
    right as f64 / labels.len() as f64
}

/// Fits a probe on `train`, choosing C on `val` when given (see the module docs for the
/// protocol). Without `val`, `params` must hold a single C.
pub fn fit(
    params: &ProbeValidParams,
    train: &Features,
    val: Option<&Features>,
) -> Result<LinearProbe, ProbeError> {
    train.check(FeatureSet::Train)?;
    let (dim, classes) = (train.dim, train.classes);
    let mut seen = vec![false; classes];
    for &label in &train.labels {
        seen[label] = true;
    }
    if let Some(class) = seen.iter().position(|seen| !seen) {
        return Err(ProbeError::MissingClass { class });
    }
    if let Some(val) = val {
        val.check(FeatureSet::Val)?;
        for (field, got, expected) in [("dim", val.dim, dim), ("classes", val.classes, classes)] {
            if got != expected {
                return Err(ProbeError::Mismatch {
                    set: FeatureSet::Val,
                    field,
                    got,
                    against: "train",
                    expected,
                });
            }
        }
    } else if params.c_grid.len() != 1 {
        return Err(ProbeError::NeedsValidation {
            candidates: params.c_grid.len(),
        });
    }
    let x_train = to_f64(&train.values, dim);
    let run = |x: ArrayView2<'_, f64>, y: &[usize], c: f64, start: Option<Array1<f64>>| {
        solver::minimise(x, y, classes, c, start, params.max_iter, params.tol)
    };

    let Some(val) = val else {
        let c = params.c_grid[0];
        let solution = run(x_train.view(), &train.labels, c, None)?;
        return Ok(LinearProbe::new(&solution, dim, classes, c, train.len()));
    };

    let x_val = to_f64(&val.values, dim);
    let mut sweep: Vec<SweepPoint> = Vec::with_capacity(params.c_grid.len());
    let mut best: Option<(usize, solver::Solution)> = None;
    let mut start = None;
    for &c in &params.c_grid {
        let solution = run(x_train.view(), &train.labels, c, start.take())?;
        let log_proba = solver::log_proba(x_val.view(), &solution.theta, classes);
        let val_accuracy = accuracy(&argmax_rows(log_proba.view()), &val.labels);
        let val_log_loss = -val
            .labels
            .iter()
            .enumerate()
            .map(|(i, &label)| log_proba[[i, label]])
            .sum::<f64>()
            / val.len() as f64;
        sweep.push(SweepPoint {
            c,
            val_accuracy,
            val_log_loss,
            iterations: solution.iterations,
            converged: solution.converged,
        });
        // Strictly better only: the grid ascends, so a tie keeps the smaller C.
        if best
            .as_ref()
            .is_none_or(|(i, _)| val_accuracy > sweep[*i].val_accuracy)
        {
            best = Some((sweep.len() - 1, solution.clone()));
        }
        start = Some(solution.theta);
    }
    let (chosen, solution) = best.expect("a checked grid holds at least one C");
    let c = sweep[chosen].c;
    let val_accuracy = Some(sweep[chosen].val_accuracy);
    let mut probe = if params.refit {
        let x_all = concatenate(Axis(0), &[x_train.view(), x_val.view()]).expect("equal widths");
        let labels: Vec<usize> = train.labels.iter().chain(&val.labels).copied().collect();
        let refit = run(x_all.view(), &labels, c, Some(solution.theta))?;
        let mut probe = LinearProbe::new(&refit, dim, classes, c, labels.len());
        probe.refit = true;
        probe
    } else {
        LinearProbe::new(&solution, dim, classes, c, train.len())
    };
    probe.val_accuracy = val_accuracy;
    probe.sweep = sweep;
    Ok(probe)
}
