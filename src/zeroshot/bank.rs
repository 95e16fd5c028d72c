//! Text embeddings looked up by text: the caller encodes [`crate::zeroshot::TextPlan::texts`]
//! with CLIP and hands the rows over here.

use std::collections::HashMap;

use crate::zeroshot::error::ZeroShotError;

/// A `[T, D]` matrix of text embeddings with a text → row index. Rows are L2-normalised on
/// construction (CLIP's text features usually already are; re-normalising makes cosine
/// similarity a plain dot product without trusting the caller).
#[derive(Debug, Clone, PartialEq)]
pub struct TextBank {
    texts: Vec<String>,
    row_by_text: HashMap<String, usize>,
    embeddings: Vec<f32>,
    dim: usize,
}

impl TextBank {
    /// A bank from texts and their `[T, D]` row-major embeddings. Fails on a shape mismatch,
    /// a repeated text, or a zero or non-finite row.
    pub fn new(
        texts: Vec<String>,
        mut embeddings: Vec<f32>,
        dim: usize,
    ) -> Result<Self, ZeroShotError> {
        if dim == 0 || embeddings.len() != texts.len() * dim {
            return Err(ZeroShotError::Shape {
                what: "text embeddings",
                message: format!(
                    "{} values for {} texts of dimension {dim}",
                    embeddings.len(),
                    texts.len()
                ),
            });
        }
        let mut row_by_text: HashMap<String, usize> = HashMap::with_capacity(texts.len());
        for (index, (text, row)) in texts
            .iter()
            .zip(embeddings.chunks_exact_mut(dim))
            .enumerate()
        {
            if let Some(first) = row_by_text.insert(text.clone(), index) {
                return Err(ZeroShotError::DuplicateText {
                    text: text.clone(),
                    first,
                    second: index,
                });
            }
            let problem = |problem: &'static str| ZeroShotError::BadTextEmbedding {
                index,
                text: text.clone(),
                problem,
            };
            if row.iter().any(|value| !value.is_finite()) {
                return Err(problem("not finite"));
            }
            let norm: f64 = row
                .iter()
                .map(|&v| f64::from(v) * f64::from(v))
                .sum::<f64>()
                .sqrt();
            if norm == 0.0 {
                return Err(problem("zero"));
            }
            for value in row.iter_mut() {
                *value = (f64::from(*value) / norm) as f32;
            }
        }
        Ok(TextBank {
            texts,
            row_by_text,
            embeddings,
            dim,
        })
    }

    /// Embedding dimension D.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of texts.
    pub fn len(&self) -> usize {
        self.texts.len()
    }

    /// True when the bank holds no text.
    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }

    /// The texts, in row order.
    pub fn texts(&self) -> &[String] {
        &self.texts
    }

    /// The row of `text`, if present.
    pub fn index_of(&self, text: &str) -> Option<usize> {
        self.row_by_text.get(text).copied()
    }

    /// The (unit) embedding of `text`, if present.
    pub fn embedding(&self, text: &str) -> Option<&[f32]> {
        self.index_of(text).map(|row| self.row(row))
    }

    /// Row `row`.
    pub fn row(&self, row: usize) -> &[f32] {
        &self.embeddings[row * self.dim..(row + 1) * self.dim]
    }

    /// The `[texts.len(), D]` matrix of the given texts, in that order; errors name the
    /// first text the bank lacks.
    pub fn gather<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<f32>, ZeroShotError> {
        let mut matrix: Vec<f32> = Vec::with_capacity(texts.len() * self.dim);
        for text in texts {
            let row: &[f32] =
                self.embedding(text.as_ref())
                    .ok_or_else(|| ZeroShotError::MissingText {
                        text: text.as_ref().to_string(),
                    })?;
            matrix.extend_from_slice(row);
        }
        Ok(matrix)
    }
}
