//! The subject-share analysis' error type. Every message is one line naming the parameter,
//! row or text at fault.

use thiserror::Error;

use super::params::SubjectShareParam;

/// Everything that can go wrong checking the parameters or the inputs of the analysis.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum SubjectShareError {
    /// A parameter outside its allowed range, e.g.
    /// `subject share parameter `k`: must be at least 1 (got 0)`.
    #[error("subject share parameter `{}`: {message}", param.name())]
    InvalidParam {
        /// The parameter; [`SubjectShareParam::name`] is its field name.
        param: SubjectShareParam,
        /// What is wrong.
        message: String,
    },
    /// Matrices whose sizes do not fit each other.
    #[error("subject share: {what}: {message}")]
    Shape {
        /// Which input, e.g. `image embeddings`.
        what: &'static str,
        /// What is wrong.
        message: String,
    },
    /// No images to take neighbours from.
    #[error("subject share: the image set is empty")]
    NoImages,
    /// An embedding row that is zero or not finite: it has no direction to compare.
    #[error("subject share: {what} row {index}: embedding is {problem}")]
    BadEmbedding {
        /// `image` or `text`.
        what: &'static str,
        /// Row index.
        index: usize,
        /// `zero` or `not finite`.
        problem: &'static str,
    },
    /// An image label outside the class list.
    #[error("subject share: image {index}: label {label} out of range for {classes} classes")]
    LabelOutOfRange {
        /// Row index.
        index: usize,
        /// The label.
        label: usize,
        /// Number of classes.
        classes: usize,
    },
    /// A soft text whose subject or object is not a class, or relates a class to itself.
    #[error("subject share: text {index} ({text:?}): {message}")]
    BadText {
        /// Position in the soft-text list.
        index: usize,
        /// The text.
        text: String,
        /// What is wrong.
        message: String,
    },
}
