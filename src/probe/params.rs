//! Probe parameters, validated once before any work (linfa's params / check pattern):
//! [`ProbeParams`] is what a caller sets (or deserialises), [`ProbeValidParams`] what
//! [`crate::probe::fit`] accepts.

use serde::{Deserialize, Serialize};

use crate::probe::error::ProbeError;

/// A parameter that [`ProbeParams::check`] validates, carried by
/// [`ProbeError::InvalidParam`] so a caller can map it to its own option name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProbeParam {
    /// [`ProbeParams::c_grid`]: at least one value, each finite and > 0.
    CGrid,
    /// [`ProbeParams::max_iter`]: at least 1.
    MaxIter,
    /// [`ProbeParams::tol`]: finite and > 0.
    Tol,
}

impl ProbeParam {
    /// The field name (`c_grid`, `max_iter`, `tol`).
    pub fn name(self) -> &'static str {
        match self {
            ProbeParam::CGrid => "c_grid",
            ProbeParam::MaxIter => "max_iter",
            ProbeParam::Tol => "tol",
        }
    }
}

/// The default sweep's lowest C, as a power of ten: 10^-3.
pub const DEFAULT_C_LOG10_MIN: i32 = -3;
/// The default sweep's highest C, as a power of ten: 10^3.
pub const DEFAULT_C_LOG10_MAX: i32 = 3;
/// Steps per decade of the default sweep (quarter decades: 25 values in all). The CLIP paper
/// sweeps 10^-6..10^6 in 96 steps; every extra C is one more full fit, and on L2-normalised
/// features the chosen C sits well inside 10^-3..10^3.
pub const DEFAULT_C_STEPS_PER_DECADE: u32 = 4;
/// The default iteration cap: the CLIP paper's `max_iter=1000`.
pub const DEFAULT_MAX_ITER: u64 = 1000;
/// The default gradient tolerance; see [`ProbeParams::tol`].
pub const DEFAULT_TOL: f64 = 1e-6;

/// `10^lo .. 10^hi` with `per_decade` steps per decade, ends included.
fn log_grid(lo: i32, hi: i32, per_decade: u32) -> Vec<f64> {
    let steps = (hi - lo) as u32 * per_decade;
    (0..=steps)
        .map(|i| 10f64.powf(lo as f64 + i as f64 / per_decade as f64))
        .collect()
}

/// Validated parameters; only [`ProbeParams::check`] creates one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeValidParams {
    pub(crate) c_grid: Vec<f64>,
    pub(crate) max_iter: u64,
    pub(crate) tol: f64,
    pub(crate) refit: bool,
}

impl ProbeValidParams {
    /// The values of C swept, in ascending order.
    pub fn c_grid(&self) -> &[f64] {
        &self.c_grid
    }
    /// The L-BFGS iteration cap per fit.
    pub fn max_iter(&self) -> u64 {
        self.max_iter
    }
    /// The gradient-norm tolerance; see [`ProbeParams::tol`].
    pub fn tol(&self) -> f64 {
        self.tol
    }
    /// Whether the chosen C is refit on train + val; see [`ProbeParams::refit`].
    pub fn refit(&self) -> bool {
        self.refit
    }
}

impl Default for ProbeValidParams {
    fn default() -> Self {
        Self {
            c_grid: log_grid(
                DEFAULT_C_LOG10_MIN,
                DEFAULT_C_LOG10_MAX,
                DEFAULT_C_STEPS_PER_DECADE,
            ),
            max_iter: DEFAULT_MAX_ITER,
            tol: DEFAULT_TOL,
            refit: true,
        }
    }
}

/// Builder for [`ProbeValidParams`]. Deserialises from (and serialises to) a table with the
/// fields `c_grid`, `max_iter`, `tol` and `refit`, any of them omitted for its default;
/// unknown fields are errors.
///
/// ```
/// use softtext::probe::ProbeParams;
/// let params = ProbeParams::new().c(0.5).max_iter(200).check().unwrap();
/// assert_eq!(params.c_grid(), &[0.5]);
/// let swept = ProbeParams::default().check().unwrap();
/// assert_eq!(swept.c_grid().len(), 25);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProbeParams {
    c_grid: Vec<f64>,
    max_iter: u64,
    tol: f64,
    refit: bool,
}

impl Default for ProbeParams {
    /// 25 values of C from 10^-3 to 10^3 in quarter decades ([`DEFAULT_C_LOG10_MIN`] ..), at most 1000 L-BFGS
    /// iterations, gradient tolerance 10^-6, refit on train + val.
    fn default() -> Self {
        let ProbeValidParams {
            c_grid,
            max_iter,
            tol,
            refit,
        } = ProbeValidParams::default();
        Self {
            c_grid,
            max_iter,
            tol,
            refit,
        }
    }
}

impl ProbeParams {
    /// The defaults (see [`ProbeParams::default`]).
    pub fn new() -> Self {
        Self::default()
    }
    /// The values of C (scikit-learn's inverse regularisation strength) to sweep; each
    /// finite and > 0. With more than one, [`crate::probe::fit`] needs a validation set.
    pub fn c_grid(mut self, c_grid: Vec<f64>) -> Self {
        self.c_grid = c_grid;
        self
    }
    /// A single C: no sweep, no validation set needed.
    pub fn c(self, c: f64) -> Self {
        self.c_grid(vec![c])
    }
    /// L-BFGS iteration cap per fit, at least 1 (default 1000). A fit that reaches it is
    /// kept, with [`crate::probe::LinearProbe::converged`] false (scikit-learn warns).
    pub fn max_iter(mut self, max_iter: u64) -> Self {
        self.max_iter = max_iter;
        self
    }
    /// Stop when the L2 norm of the gradient of the per-row objective
    /// `mean(logloss) + |W|^2 / (2 C n)` is below `tol`, finite and > 0 (default 10^-6).
    /// That is scikit-learn's scaling of the objective; it tests the largest gradient entry
    /// instead of the norm, so the same `tol` is at least as strict here. The fit also stops
    /// when an iteration lowers the objective by less than f64's epsilon.
    pub fn tol(mut self, tol: f64) -> Self {
        self.tol = tol;
        self
    }
    /// After the sweep, refit the chosen C on train + val (default true, as in the CLIP
    /// paper); false keeps the train-only fit that was scored on val.
    pub fn refit(mut self, refit: bool) -> Self {
        self.refit = refit;
        self
    }

    /// Validates; the grid comes back sorted ascending (the sweep's order, which its
    /// warm starts and tie-break rely on).
    pub fn check(self) -> Result<ProbeValidParams, ProbeError> {
        let bad = |param, index, reason: String| {
            Err(ProbeError::InvalidParam {
                param,
                index,
                reason,
            })
        };
        if self.c_grid.is_empty() {
            return bad(ProbeParam::CGrid, None, "must hold at least one C".into());
        }
        if let Some((i, c)) = self
            .c_grid
            .iter()
            .enumerate()
            .find(|(_, c)| !(c.is_finite() && **c > 0.0))
        {
            return bad(
                ProbeParam::CGrid,
                Some(i),
                format!("must be finite and > 0, got {c}"),
            );
        }
        if self.max_iter == 0 {
            return bad(ProbeParam::MaxIter, None, "must be >= 1, got 0".into());
        }
        if !(self.tol.is_finite() && self.tol > 0.0) {
            return bad(
                ProbeParam::Tol,
                None,
                format!("must be finite and > 0, got {}", self.tol),
            );
        }
        let mut c_grid = self.c_grid;
        c_grid.sort_by(f64::total_cmp);
        Ok(ProbeValidParams {
            c_grid,
            max_iter: self.max_iter,
            tol: self.tol,
            refit: self.refit,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_grid_is_quarter_decades() {
        let grid = ProbeParams::default().check().unwrap().c_grid;
        assert_eq!(grid.len(), 25);
        assert!((grid[0] - 1e-3).abs() < 1e-18);
        assert_eq!(grid[12], 1.0);
        assert!((grid[24] - 1e3).abs() < 1e-9);
        assert!(grid.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn serde_fills_defaults_and_refuses_unknown_fields() {
        let params: ProbeParams = serde_json::from_str(r#"{"c_grid": [2.0, 0.5]}"#).unwrap();
        let valid = params.check().unwrap();
        assert_eq!(valid.c_grid(), &[0.5, 2.0]);
        assert_eq!(valid.max_iter(), DEFAULT_MAX_ITER);
        assert_eq!(valid.tol(), DEFAULT_TOL);
        let unknown = serde_json::from_str::<ProbeParams>(r#"{"C": 1.0}"#).unwrap_err();
        assert!(unknown.to_string().contains("unknown field"), "{unknown}");
    }

    #[test]
    fn check_names_the_parameter() {
        let cases = [
            (
                ProbeParams::new().c_grid(vec![]),
                "probe parameter c_grid: must hold at least one C",
            ),
            (
                ProbeParams::new().c_grid(vec![1.0, -2.0]),
                "probe parameter c_grid[1]: must be finite and > 0, got -2",
            ),
            (
                ProbeParams::new().c(0.0),
                "probe parameter c_grid[0]: must be finite and > 0, got 0",
            ),
            (
                ProbeParams::new().c(f64::NAN),
                "probe parameter c_grid[0]: must be finite and > 0, got NaN",
            ),
            (
                ProbeParams::new().max_iter(0),
                "probe parameter max_iter: must be >= 1, got 0",
            ),
            (
                ProbeParams::new().tol(0.0),
                "probe parameter tol: must be finite and > 0, got 0",
            ),
        ];
        for (params, message) in cases {
            assert_eq!(params.check().unwrap_err().to_string(), message);
        }
    }
}
