//! The one error type of the zero-shot engine. Every message names the parameter, text,
//! image or file at fault, because these errors surface from CLI runs on real data.

use thiserror::Error;

use crate::auxiliary::predictions::AuxError;
use crate::prompts::PromptError;
use crate::zeroshot::params::EvalParam;

/// Everything that can go wrong planning texts or evaluating protocols.
///
/// Not `Clone` or `PartialEq`: [`ZeroShotError::Aux`] can carry an [`std::io::Error`].
#[derive(Debug, Error)]
pub enum ZeroShotError {
    /// An evaluation parameter outside its allowed range, e.g.
    /// `parameter blend_lambdas[3]: 1.5 is outside [0, 1]`.
    #[error("parameter {}{}: {message}", param.name(), index_suffix(*index))]
    InvalidParam {
        /// The parameter; [`EvalParam::name`] is its field name.
        param: EvalParam,
        /// The element at fault, for list parameters (`blend_lambdas`).
        index: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// Auxiliary predictions that do not fit the evaluated images or classes.
    #[error("auxiliary predictions: {0}")]
    Aux(#[from] AuxError),
    /// A soft text could not be rendered.
    #[error("prompts: {0}")]
    Prompt(#[from] PromptError),
    /// A matrix whose length is not a multiple of its row width, or widths that disagree.
    #[error("{what}: {message}")]
    Shape {
        /// Which matrix, e.g. `image embeddings`.
        what: &'static str,
        /// What is wrong.
        message: String,
    },
    /// An image embedding row that is zero or not finite.
    #[error("image {index} (id {id:?}): embedding is {problem}")]
    BadImageEmbedding {
        /// Row index.
        index: usize,
        /// Image id.
        id: String,
        /// `zero` or `not finite`.
        problem: &'static str,
    },
    /// A text embedding row that is zero or not finite.
    #[error("text bank row {index} ({text:?}): embedding is {problem}")]
    BadTextEmbedding {
        /// Row index.
        index: usize,
        /// The text.
        text: String,
        /// `zero` or `not finite`.
        problem: &'static str,
    },
    /// The same text twice in a text bank.
    #[error("text bank row {second} repeats row {first}: {text:?}")]
    DuplicateText {
        /// The text.
        text: String,
        /// First row.
        first: usize,
        /// Repeat.
        second: usize,
    },
    /// A planned text that the text bank lacks: encode `plan.texts()` into the bank.
    #[error("text bank has no embedding for planned text {text:?}")]
    MissingText {
        /// The text.
        text: String,
    },
    /// An image label outside the class list.
    #[error("image {index} (id {id:?}): label {label} out of range for {class_count} classes")]
    LabelOutOfRange {
        /// Row index.
        index: usize,
        /// Image id.
        id: String,
        /// The label.
        label: usize,
        /// Number of classes.
        class_count: usize,
    },
    /// The same image id twice in the image set.
    #[error("image {second} repeats the id of image {first}: {id:?}")]
    DuplicateImageId {
        /// The id.
        id: String,
        /// First row.
        first: usize,
        /// Repeat.
        second: usize,
    },
    /// No images to evaluate.
    #[error("the image set is empty")]
    NoImages,
    /// Fewer than 2 classes: soft texts relate two classes.
    #[error("evaluation needs at least 2 classes (soft texts relate two), the class list has {0}")]
    TooFewClasses(usize),
}

/// `[i]` after a list parameter's name, nothing for a scalar one.
fn index_suffix(index: Option<usize>) -> String {
    index.map(|index| format!("[{index}]")).unwrap_or_default()
}
