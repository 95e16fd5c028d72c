//! The evaluation report: one row per prompt set × protocol (× k or λ), with everything the
//! table writers print.
//!
//! Accuracies, interval bounds and paper values are fractions in [0, 1] here and in the CSV
//! and JSON writers; only the Markdown writer shows percentages.
//!
//! # The `paper` column
//! The paper's Table 1 (CIFAR-10 test, ViT-L/14) is attached only when the class list is
//! exactly the CIFAR-10 classes in label order:
//! * `hard` protocol on prompt set `hard`, when the hard templates are exactly the paper's
//!   single `a photo of a {}.`: 96.19 %;
//! * protocols `pair`, `all` and `vocab` on prompt set `like`, `look-like` or `resemble`:
//!   85.56 %, 95.19 %, 91.48 %. The paper does not say how per-image soft texts become a
//!   decision, so the value sits on every reading of it; combinations (`topk-mean`, blends)
//!   and `hard-top2` are not in the paper and get none.
//!
//! The value is the paper's regardless of the model that produced the embeddings.
//!
//! The paper reports CIFAR-10 only, so every other dataset's column is empty: CIFAR-100
//! (fine or coarse), STL-10 (whose ten classes are not CIFAR-10's: `car` and `monkey`
//! for `automobile` and `frog`, in another order), a `folder:` dataset with other or
//! reordered classes. The test is the class list, the only thing the report knows of the
//! data; a CIFAR-10 class list from other images (the committed sample, the `train` split)
//! still gets the paper's numbers, as a reference and not a like-for-like comparison.

use serde::{Deserialize, Serialize};

use crate::prompts::{ClassList, PromptConfig, CIFAR10_CLASSES, PAPER_HARD_TEMPLATE};
use crate::zeroshot::metrics::McNemar;
use crate::zeroshot::params::ProtocolKind;

/// The paper's Table 1 accuracies (fractions) by prompt-set name.
pub const PAPER_TABLE1: [(&str, f64); 4] = [
    ("hard", 0.9619),
    ("like", 0.8556),
    ("look-like", 0.9519),
    ("resemble", 0.9148),
];

/// Where the auxiliary predictions came from and how good they are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuxSummary {
    /// `self`, `oracle` or `file:<path>`.
    pub source: String,
    /// k of every row.
    pub k: usize,
    /// Fraction of images whose label is the auxiliary top-1.
    pub top1_accuracy: f64,
    /// Fraction of images whose label is in the auxiliary top-2: the ceiling of `pair`,
    /// `hard-top2` and `blend-pair`.
    pub top2_accuracy: f64,
}

/// Bootstrap settings used for the intervals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BootstrapSummary {
    /// Resamples (0: no intervals).
    pub resamples: usize,
    /// Confidence level.
    pub confidence: f64,
    /// ChaCha8 seed.
    pub seed: u64,
}

/// One row of the results table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultRow {
    /// `hard`, a relation name, or `relations-mean`.
    pub prompt_set: String,
    /// Protocol name, e.g. `blend-all`.
    pub protocol: String,
    /// Partners averaged (`topk-mean` only).
    pub k: Option<usize>,
    /// Weight of the soft score (blends only).
    pub lambda: Option<f64>,
    /// Top-1 accuracy.
    pub accuracy: f64,
    /// Correctly classified images.
    pub correct: usize,
    /// Images evaluated.
    pub n: usize,
    /// Lower bound of the bootstrap interval.
    pub ci_low: Option<f64>,
    /// Upper bound of the bootstrap interval.
    pub ci_high: Option<f64>,
    /// Exact McNemar test against `hard`.
    pub mcnemar: McNemar,
    /// The paper's Table 1 value, where it applies.
    pub paper: Option<f64>,
    /// Whether the protocol reads which auxiliary class is top-1 (see
    /// [`ProtocolKind::reads_aux_order`]).
    pub reads_aux_order: bool,
    /// Accuracy per true class (`None`: no images of that class).
    pub per_class_accuracy: Vec<Option<f64>>,
    /// Confusion counts, `[true][predicted]`.
    pub confusion: Vec<Vec<u64>>,
    /// Per-image predictions in image order (not serialised).
    #[serde(skip)]
    pub predictions: Vec<usize>,
}

impl ResultRow {
    /// Protocol label with its parameter, e.g. `topk-mean(3)`.
    pub fn protocol_label(&self) -> String {
        match (self.k, self.lambda) {
            (Some(k), _) => format!("{}({k})", self.protocol),
            (_, Some(lambda)) => format!("{}({lambda})", self.protocol),
            _ => self.protocol.clone(),
        }
    }
}

/// The full result of [`crate::zeroshot::evaluate`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// Whether the class list is CIFAR-10's (and so the `paper` column is filled).
    pub dataset_is_cifar10: bool,
    /// Class names in label order.
    pub classes: Vec<String>,
    /// Images evaluated.
    pub images: usize,
    /// Hard templates.
    pub hard_templates: Vec<String>,
    /// Relation names.
    pub relations: Vec<String>,
    /// Unique texts planned (and looked up in the bank).
    pub texts_planned: usize,
    /// Auxiliary predictions.
    pub aux: AuxSummary,
    /// Bootstrap settings.
    pub bootstrap: BootstrapSummary,
    /// The rows, hard first, then each relation, then `relations-mean`.
    pub rows: Vec<ResultRow>,
    /// Each image's auxiliary (top-1, top-2), in image order, exactly as the protocols read
    /// them, so `texts.json` and the figures name the soft texts that were evaluated. Not
    /// serialised: one pair per image would swamp `table.json`.
    #[serde(skip)]
    pub aux_top2: Vec<(usize, usize)>,
}

impl EvalReport {
    /// The row of `prompt_set` and protocol label (e.g. `"look-like"`, `"blend-all(0.5)"`).
    pub fn row(&self, prompt_set: &str, protocol_label: &str) -> Option<&ResultRow> {
        self.rows
            .iter()
            .find(|row| row.prompt_set == prompt_set && row.protocol_label() == protocol_label)
    }
}

/// Whether `classes` are CIFAR-10's, in label order.
pub fn is_cifar10(classes: &ClassList) -> bool {
    classes.names().eq(CIFAR10_CLASSES)
}

/// The paper value for a row, under the rules in the module documentation.
pub fn paper_value(config: &PromptConfig, prompt_set: &str, kind: ProtocolKind) -> Option<f64> {
    if !is_cifar10(config.classes()) {
        return None;
    }
    let applies: bool = match kind {
        ProtocolKind::Hard => {
            prompt_set == "hard"
                && config.hard_templates().len() == 1
                && config.hard_templates()[0].as_str() == PAPER_HARD_TEMPLATE
        }
        ProtocolKind::Pair | ProtocolKind::All | ProtocolKind::Vocab => prompt_set != "hard",
        _ => false,
    };
    if !applies {
        return None;
    }
    PAPER_TABLE1
        .iter()
        .find(|(name, _)| *name == prompt_set)
        .map(|&(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prompts::{ClassSpec, PromptConfigFile};

    fn config(classes: &[&str]) -> PromptConfig {
        PromptConfig::try_from(PromptConfigFile {
            classes: Some(classes.iter().map(|&c| ClassSpec::new(c)).collect()),
            ..PromptConfigFile::default()
        })
        .unwrap()
    }

    #[test]
    fn only_cifar10s_class_list_gets_the_papers_numbers() {
        let cifar10 = config(&CIFAR10_CLASSES);
        assert_eq!(
            paper_value(&cifar10, "hard", ProtocolKind::Hard),
            Some(0.9619)
        );
        assert_eq!(
            paper_value(&cifar10, "look-like", ProtocolKind::All),
            Some(0.9519)
        );
        assert_eq!(paper_value(&cifar10, "like", ProtocolKind::TopkMean), None);
        // STL-10's classes, CIFAR-100's first fine classes, and CIFAR-10's classes
        // reordered: no row gets a value.
        let stl10 = config(&crate::data::STL10_CLASSES);
        let cifar100 = config(&["apple", "aquarium fish", "baby", "bear", "beaver"]);
        let mut reversed = CIFAR10_CLASSES;
        reversed.reverse();
        let reordered = config(&reversed);
        for other in [&stl10, &cifar100, &reordered] {
            assert!(!is_cifar10(other.classes()));
            for set in ["hard", "like", "look-like", "resemble"] {
                for kind in ProtocolKind::ALL {
                    assert_eq!(paper_value(other, set, kind), None, "{set} {kind:?}");
                }
            }
        }
    }
}
