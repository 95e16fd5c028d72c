//! What a batch is trained on: each image's text per class (docs/finetune.md, "Texts and
//! logits"), the logits and the cross-entropy.

use std::collections::HashMap;

use candle_core::{DType, Tensor, D};

use super::error::FinetuneError;
use super::text::{TextItem, TextSide};
use crate::auxiliary::predictions::AlignedAux;
use crate::clip::model::Kernels;
use crate::prompts::{render_soft_text, ClassList, HardTemplate, Relation};

type Result<T, E = FinetuneError> = std::result::Result<T, E>;

/// The prompt each class is scored with.
#[derive(Debug, Clone)]
pub enum TrainPrompt {
    /// One text per class from a hard template (CoOp replaces the template by its context,
    /// so there the text is just `{class}.`).
    Hard(HardTemplate),
    /// Per image, class c related to its partner from the image's auxiliary top-2, as the
    /// `all` protocol scores it.
    Relation(Relation),
}

impl TrainPrompt {
    /// `hard` or the relation's name.
    pub fn name(&self) -> &str {
        match self {
            Self::Hard(_) => "hard",
            Self::Relation(relation) => relation.name(),
        }
    }
}

/// Texts and labels of one dataset, ready to score batches of its images.
#[derive(Debug)]
pub struct Objective {
    classes: ClassList,
    prompt: TrainPrompt,
    /// Per image of the file: its top-2 classes (relations only).
    aux: Option<AlignedAux>,
    /// CoOp puts its context where the hard template's words were.
    replaces_template: bool,
}

impl Objective {
    /// `aux` must be given for a relation and be aligned with the image file's rows.
    pub fn new(
        classes: ClassList,
        prompt: TrainPrompt,
        aux: Option<AlignedAux>,
        replaces_template: bool,
    ) -> Result<Self> {
        if matches!(prompt, TrainPrompt::Relation(_)) && aux.is_none() {
            return Err(FinetuneError::Input(format!(
                "prompt {}: soft texts need each image's top-2 classes; pass --aux",
                prompt.name()
            )));
        }
        Ok(Self {
            classes,
            prompt,
            aux,
            replaces_template,
        })
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.classes.len()
    }

    /// The prompt.
    pub fn prompt(&self) -> &TrainPrompt {
        &self.prompt
    }

    /// The unique texts of a batch of image rows and, row-major `[batch, classes]`, the
    /// index of each (image, class) text among them.
    pub fn texts(&self, rows: &[usize]) -> Result<(Vec<TextItem>, Vec<u32>)> {
        let classes = self.classes.len();
        match &self.prompt {
            TrainPrompt::Hard(template) => {
                let items = self
                    .classes
                    .iter()
                    .enumerate()
                    .map(|(subject, class)| TextItem {
                        text: if self.replaces_template {
                            format!("{}.", class.name())
                        } else {
                            template.render(class.name())
                        },
                        subject,
                    })
                    .collect();
                let index = (0..rows.len()).flat_map(|_| 0..classes as u32).collect();
                Ok((items, index))
            }
            TrainPrompt::Relation(relation) => {
                let aux = self.aux.as_ref().expect("checked in new");
                let mut items: Vec<TextItem> = Vec::new();
                let mut seen: HashMap<String, u32> = HashMap::new();
                let mut index = Vec::with_capacity(rows.len() * classes);
                for &row in rows {
                    let (a, b) = aux.top2(row);
                    for class in 0..classes {
                        let partner = if class == a { b } else { a };
                        let text = render_soft_text(&self.classes, class, partner, relation)?.text;
                        let next = items.len() as u32;
                        let slot = *seen.entry(text.clone()).or_insert_with(|| {
                            items.push(TextItem {
                                text,
                                subject: class,
                            });
                            next
                        });
                        index.push(slot);
                    }
                }
                Ok((items, index))
            }
        }
    }

    /// `exp(logit_scale) * cos(image, text)` per image and class, `[batch, classes]`, for
    /// `images` (L2-normalised, `[batch, dim]`, in the side's dtype) at file rows `rows`.
    pub fn logits(
        &self,
        side: &TextSide,
        images: &Tensor,
        rows: &[usize],
        kernels: Kernels,
    ) -> Result<Tensor> {
        let (items, index) = self.texts(rows)?;
        let features = side.features(&items, kernels)?;
        let scale = side.logit_scale();
        let logits = match self.prompt {
            // The same texts for every image: one matrix product.
            TrainPrompt::Hard(_) => images.matmul(&features.t()?)?,
            TrainPrompt::Relation(_) => {
                let (batch, dim) = images.dims2()?;
                let index = Tensor::from_vec(index, batch * self.classes(), images.device())?;
                let texts =
                    features
                        .index_select(&index, 0)?
                        .reshape((batch, self.classes(), dim))?;
                texts.broadcast_mul(&images.unsqueeze(1)?)?.sum(D::Minus1)?
            }
        };
        Ok((logits * scale)?)
    }
}

/// Mean cross-entropy of `logits [batch, classes]` against `labels`, and how many argmaxes
/// were right (ties to the lower class).
pub fn cross_entropy(logits: &Tensor, labels: &[usize]) -> Result<(Tensor, usize)> {
    let targets: Vec<u32> = labels.iter().map(|&l| l as u32).collect();
    let targets = Tensor::from_vec(targets, labels.len(), logits.device())?;
    let loss = candle_nn::loss::cross_entropy(logits, &targets)?;
    let correct = correct_count(logits, labels)?;
    Ok((loss, correct))
}

/// How many rows of `logits` have their highest value at the label.
pub fn correct_count(logits: &Tensor, labels: &[usize]) -> Result<usize> {
    let scores = logits.to_dtype(DType::F64)?.to_vec2::<f64>()?;
    Ok(scores
        .iter()
        .zip(labels)
        .filter(|(row, &label)| argmax(row) == label)
        .count())
}

fn argmax(row: &[f64]) -> usize {
    let mut best = 0;
    for (class, &score) in row.iter().enumerate() {
        if score > row[best] {
            best = class;
        }
    }
    best
}
