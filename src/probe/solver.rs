//! The probe's objective (multinomial log-loss with an L2 penalty on the weights, scaled as
//! scikit-learn scales it) and its minimisation with argmin's L-BFGS.
//!
//! Parameters are one flat vector `theta` of `(dim + 1) * classes` values: the weights as a
//! row-major `[dim, classes]` block (so `X . W` needs no transpose), then the intercepts.

use std::ops::Range;
use std::sync::Mutex;

use argmin::core::{CostFunction, Executor, Gradient, State, TerminationReason};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;
use ndarray::{s, Array1, Array2, ArrayView1, ArrayView2, Axis};
use rayon::prelude::*;

use crate::probe::error::ProbeError;

/// Rows per block of the objective, the unit of parallel work. Fixed rather than derived from
/// the thread count, and the blocks are summed in order, so a fit is bit-identical on any
/// number of cores.
const BLOCK_ROWS: usize = 2048;

/// L-BFGS history length: scipy's L-BFGS-B default (`maxcor=10`), which scikit-learn keeps.
const MEMORY: usize = 10;

/// The weights `[dim, classes]` and intercepts `[classes]` inside `theta`.
fn split(theta: &[f64], dim: usize, classes: usize) -> (ArrayView2<'_, f64>, ArrayView1<'_, f64>) {
    let (w, b) = theta.split_at(dim * classes);
    let w = ArrayView2::from_shape((dim, classes), w).expect("theta holds dim * classes weights");
    (w, ArrayView1::from(b))
}

/// Turns each row of logits into log-probabilities, in place; returns the per-row
/// log-sum-exp. The maximum is taken per row: a global one (linfa-logistic's) underflows
/// rows whose logits are far below the matrix's largest.
pub(crate) fn log_softmax_rows(h: &mut Array2<f64>) {
    for mut row in h.rows_mut() {
        let max = row.fold(f64::NEG_INFINITY, |m, &v| m.max(v));
        let lse = max + row.iter().map(|&v| (v - max).exp()).sum::<f64>().ln();
        row.mapv_inplace(|v| v - lse);
    }
}

/// `X . W + b` for every row of `x`.
pub(crate) fn logits(
    x: ArrayView2<'_, f64>,
    w: ArrayView2<'_, f64>,
    b: ArrayView1<'_, f64>,
) -> Array2<f64> {
    let mut h = x.dot(&w);
    h += &b;
    h
}

/// One evaluation of the objective, kept so the line search's `cost` and `gradient` calls at
/// the same point cost one pass over the data instead of two.
struct Evaluation {
    theta: Array1<f64>,
    cost: f64,
    grad: Array1<f64>,
}

/// `mean_i logloss_i + |W|^2 / (2 C n)` on rows `x` with labels `y`: scikit-learn's
/// `C * sum_i logloss_i + |W|^2 / 2` divided by `C n`, the same minimiser on a scale that
/// does not grow with the row count.
struct Softmax<'a> {
    x: ArrayView2<'a, f64>,
    y: &'a [usize],
    classes: usize,
    c: f64,
    last: Mutex<Option<Evaluation>>,
}

impl Softmax<'_> {
    /// Summed log-loss, `X_b^T (P - Y)` and `sum_b (P - Y)` over one block of rows.
    fn block(
        &self,
        rows: Range<usize>,
        w: ArrayView2<'_, f64>,
        b: ArrayView1<'_, f64>,
    ) -> (f64, Array2<f64>, Array1<f64>) {
        let x = self.x.slice(s![rows.clone(), ..]);
        let mut h = logits(x, w, b);
        log_softmax_rows(&mut h);
        let mut loss = 0.0;
        for (mut row, &label) in h.rows_mut().into_iter().zip(&self.y[rows]) {
            loss -= row[label];
            row.mapv_inplace(f64::exp);
            row[label] -= 1.0;
        }
        (loss, x.t().dot(&h), h.sum_axis(Axis(0)))
    }

    fn evaluate(&self, theta: &Array1<f64>) -> (f64, Array1<f64>) {
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(e) = last.as_ref().filter(|e| e.theta == *theta) {
            return (e.cost, e.grad.clone());
        }
        let (n, dim) = self.x.dim();
        let k = self.classes;
        let owned;
        let flat = match theta.as_slice() {
            Some(flat) => flat,
            None => {
                owned = theta.to_vec();
                &owned
            }
        };
        let (w, b) = split(flat, dim, k);
        let blocks: Vec<_> = (0..n.div_ceil(BLOCK_ROWS))
            .into_par_iter()
            .map(|i| self.block(i * BLOCK_ROWS..((i + 1) * BLOCK_ROWS).min(n), w, b))
            .collect();
        let mut loss = 0.0;
        let mut gw = Array2::<f64>::zeros((dim, k));
        let mut gb = Array1::<f64>::zeros(k);
        for (l, bw, bb) in blocks {
            loss += l;
            gw += &bw;
            gb += &bb;
        }
        let n = n as f64;
        let penalty = 1.0 / (self.c * n);
        let cost = loss / n + 0.5 * penalty * w.iter().map(|v| v * v).sum::<f64>();
        gw /= n;
        gw.scaled_add(penalty, &w);
        gb /= n;
        let grad: Array1<f64> = gw.iter().chain(gb.iter()).copied().collect();
        *last = Some(Evaluation {
            theta: theta.clone(),
            cost,
            grad: grad.clone(),
        });
        (cost, grad)
    }
}

impl CostFunction for Softmax<'_> {
    type Param = Array1<f64>;
    type Output = f64;

    fn cost(&self, theta: &Self::Param) -> Result<Self::Output, argmin::core::Error> {
        Ok(self.evaluate(theta).0)
    }
}

impl Gradient for Softmax<'_> {
    type Param = Array1<f64>;
    type Gradient = Array1<f64>;

    fn gradient(&self, theta: &Self::Param) -> Result<Self::Gradient, argmin::core::Error> {
        Ok(self.evaluate(theta).1)
    }
}

/// A minimiser and how it was reached.
#[derive(Debug, Clone)]
pub(crate) struct Solution {
    /// `[dim, classes]` weights then `[classes]` intercepts.
    pub theta: Array1<f64>,
    /// L-BFGS iterations.
    pub iterations: u64,
    /// False when the iteration cap stopped the solver.
    pub converged: bool,
}

/// Minimises the objective for one C, from `start` (a warm start) or from zero as
/// scikit-learn does.
pub(crate) fn minimise(
    x: ArrayView2<'_, f64>,
    y: &[usize],
    classes: usize,
    c: f64,
    start: Option<Array1<f64>>,
    max_iter: u64,
    tol: f64,
) -> Result<Solution, ProbeError> {
    let solver_error = |e: argmin::core::Error| ProbeError::Solver {
        c,
        message: e
            .to_string()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "),
    };
    let size = (x.ncols() + 1) * classes;
    let start = start.unwrap_or_else(|| Array1::zeros(size));
    let problem = Softmax {
        // Shortened to `y`'s lifetime (views are invariant in theirs).
        x: x.reborrow(),
        y,
        classes,
        c,
        last: Mutex::new(None),
    };
    // argmin also stops when an iteration lowers the cost by less than f64::EPSILON
    // (absolute, on an objective of order log(classes)): scipy's `ftol`, 64 epsilon relative,
    // plays that part for scikit-learn.
    let solver = LBFGS::new(MoreThuenteLineSearch::new(), MEMORY)
        .with_tolerance_grad(tol)
        .map_err(solver_error)?;
    let result = Executor::new(problem, solver)
        .configure(|state| state.param(start).max_iters(max_iter))
        .run()
        .map_err(solver_error)?;
    let state = result.state();
    let theta = state
        .get_best_param()
        .cloned()
        .expect("argmin keeps the best parameters of a run that started from some");
    Ok(Solution {
        theta,
        iterations: state.get_iter(),
        converged: !matches!(
            state.get_termination_reason(),
            Some(TerminationReason::MaxItersReached)
        ),
    })
}

/// Log-probabilities `[rows, classes]` of the rows of `x` under `theta`.
pub(crate) fn log_proba(
    x: ArrayView2<'_, f64>,
    theta: &Array1<f64>,
    classes: usize,
) -> Array2<f64> {
    let flat = theta.to_vec();
    let (w, b) = split(&flat, x.ncols(), classes);
    let mut h = logits(x, w, b);
    log_softmax_rows(&mut h);
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Central differences of the cost agree with the analytic gradient.
    #[test]
    fn gradient_matches_finite_differences() {
        let (n, dim, k) = (7, 3, 4);
        let x = Array2::from_shape_fn((n, dim), |(i, j)| ((i * 7 + j * 3) % 5) as f64 * 0.3 - 0.6);
        let y: Vec<usize> = (0..n).map(|i| i % k).collect();
        let problem = Softmax {
            x: x.view(),
            y: &y,
            classes: k,
            c: 0.7,
            last: Mutex::new(None),
        };
        let theta = Array1::from_shape_fn((dim + 1) * k, |i| (i as f64 * 0.37).sin());
        let (_, grad) = problem.evaluate(&theta);
        let h = 1e-6;
        for i in 0..theta.len() {
            let mut up = theta.clone();
            up[i] += h;
            let mut down = theta.clone();
            down[i] -= h;
            let numeric = (problem.evaluate(&up).0 - problem.evaluate(&down).0) / (2.0 * h);
            assert!(
                (numeric - grad[i]).abs() < 1e-8,
                "entry {i}: {numeric} vs {}",
                grad[i]
            );
        }
    }

    /// Rows whose logits sit far below another row's are still normalised exactly (the
    /// failure that ruled out linfa-logistic).
    #[test]
    fn log_softmax_is_per_row() {
        let mut h = ndarray::array![[0.0, 1.0], [500.0, 400.0]];
        log_softmax_rows(&mut h);
        for row in h.rows() {
            let total: f64 = row.iter().map(|v| v.exp()).sum();
            assert!((total - 1.0).abs() < 1e-15, "{row}");
        }
    }
}
