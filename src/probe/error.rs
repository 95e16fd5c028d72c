//! The linear probe's error type. Every message is one line that names the parameter or the
//! field of the feature set at fault (`train.labels[12]`, `val.dim`, `c_grid[2]`), because these
//! errors surface from runs on real embedding files.

use thiserror::Error;

use crate::probe::params::ProbeParam;

/// Which feature matrix an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FeatureSet {
    /// The rows the probe is fit on.
    Train,
    /// The hold-out that chooses C.
    Val,
    /// Rows given to [`crate::probe::LinearProbe::predict_proba`] and friends.
    Input,
}

impl FeatureSet {
    /// The name used in messages: `train`, `val` or `input`.
    pub fn name(self) -> &'static str {
        match self {
            FeatureSet::Train => "train",
            FeatureSet::Val => "val",
            FeatureSet::Input => "input",
        }
    }
}

impl std::fmt::Display for FeatureSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Everything that can go wrong validating parameters or features, fitting or predicting.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum ProbeError {
    /// A parameter outside its allowed range, found by [`crate::probe::ProbeParams::check`],
    /// e.g. `probe parameter c_grid[2]: must be finite and > 0, got 0`.
    #[error("probe parameter {}{}: {reason}", param.name(), index.map(|i| format!("[{i}]")).unwrap_or_default())]
    InvalidParam {
        /// The parameter; [`ProbeParam::name`] is its field name.
        param: ProbeParam,
        /// The element at fault, for `c_grid`.
        index: Option<usize>,
        /// The allowed range and the value given.
        reason: String,
    },
    /// Several values of C and no validation set to choose among them.
    #[error(
        "probe parameter c_grid: {candidates} values of C need a validation set to choose among \
         them; give val, or a grid of one C"
    )]
    NeedsValidation {
        /// Length of the grid.
        candidates: usize,
    },
    /// A feature matrix with no rows.
    #[error("{set}.labels: empty; need at least one row")]
    Empty {
        /// The matrix at fault.
        set: FeatureSet,
    },
    /// A row width of zero.
    #[error("{set}.dim: must be >= 1, got 0")]
    ZeroDim {
        /// The matrix at fault.
        set: FeatureSet,
    },
    /// `values` that are not `labels.len()` rows of `dim`.
    #[error("{set}.values: {values} values are not {rows} rows of dim {dim}")]
    Shape {
        /// The matrix at fault.
        set: FeatureSet,
        /// Length of `values`.
        values: usize,
        /// Rows expected (`labels.len()`, or the inferred count for prediction input).
        rows: usize,
        /// Declared row width.
        dim: usize,
    },
    /// Prediction input whose length is not a whole number of rows.
    #[error("{set}.values: {values} values are not whole rows of dim {dim}")]
    Ragged {
        /// The matrix at fault.
        set: FeatureSet,
        /// Length of the values.
        values: usize,
        /// The probe's row width.
        dim: usize,
    },
    /// Fewer than two classes.
    #[error("{set}.classes: must be >= 2, got {classes}")]
    TooFewClasses {
        /// The matrix at fault.
        set: FeatureSet,
        /// The class count given.
        classes: usize,
    },
    /// A label that is not a class index.
    #[error("{set}.labels[{row}]: {label} is not below the class count {classes}")]
    LabelOutOfRange {
        /// The matrix at fault.
        set: FeatureSet,
        /// Row of the label.
        row: usize,
        /// The label.
        label: usize,
        /// The class count.
        classes: usize,
    },
    /// A NaN or infinite feature (the first in row-major order).
    #[error("{set}.values: non-finite value {value} at row {row}, column {col}")]
    NonFinite {
        /// The matrix at fault.
        set: FeatureSet,
        /// Row of the value.
        row: usize,
        /// Column of the value.
        col: usize,
        /// The value.
        value: f32,
    },
    /// A class without training rows: its unpenalised intercept would have no finite
    /// optimum (scikit-learn instead drops the class, which changes the output's columns).
    #[error("train.labels: class {class} has no rows; every class needs at least one")]
    MissingClass {
        /// The class index.
        class: usize,
    },
    /// A matrix whose width or class count differs from the training set's or the fitted
    /// probe's, e.g. `val.dim is 12, but train.dim is 24`.
    #[error("{set}.{field} is {got}, but {against}.{field} is {expected}")]
    Mismatch {
        /// The matrix at fault.
        set: FeatureSet,
        /// `dim` or `classes`.
        field: &'static str,
        /// The value given.
        got: usize,
        /// What it is checked against: `train` or `probe`.
        against: &'static str,
        /// The value there.
        expected: usize,
    },
    /// A probe whose arrays do not fit its `dim` and `classes` (a hand-edited JSON file).
    #[error("linear probe: {0}")]
    InvalidModel(String),
    /// The L-BFGS solver stopped with an error (a line search that found no descent).
    #[error("linear probe: L-BFGS failed at C = {c}: {message}")]
    Solver {
        /// The inverse regularisation strength being fit.
        c: f64,
        /// argmin's message, on one line.
        message: String,
    },
}
