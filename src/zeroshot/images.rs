//! The evaluated images: embeddings, labels and ids, checked once.

use std::collections::HashMap;

use crate::zeroshot::error::ZeroShotError;

/// Borrowed image embeddings `[N, D]` (row-major f32), labels `[N]` and ids `[N]`.
///
/// Rows need not be exactly unit length: similarities divide by each row's norm, so they are
/// cosines either way. Zero and non-finite rows are rejected.
#[derive(Debug, Clone)]
pub struct ImageSet<'a> {
    embeddings: &'a [f32],
    dim: usize,
    labels: &'a [usize],
    ids: &'a [String],
    inverse_norms: Vec<f32>,
}

impl<'a> ImageSet<'a> {
    /// Checks shapes, ids (unique) and rows (finite, non-zero). Labels are checked against the
    /// class list by [`crate::zeroshot::evaluate`].
    pub fn new(
        embeddings: &'a [f32],
        dim: usize,
        labels: &'a [usize],
        ids: &'a [String],
    ) -> Result<Self, ZeroShotError> {
        let count: usize = labels.len();
        if count == 0 {
            return Err(ZeroShotError::NoImages);
        }
        if dim == 0 || embeddings.len() != count * dim || ids.len() != count {
            return Err(ZeroShotError::Shape {
                what: "image embeddings",
                message: format!(
                    "{} values, {} labels and {} ids do not describe [N, {dim}]",
                    embeddings.len(),
                    count,
                    ids.len()
                ),
            });
        }
        let mut first_by_id: HashMap<&str, usize> = HashMap::with_capacity(count);
        for (index, id) in ids.iter().enumerate() {
            if let Some(first) = first_by_id.insert(id, index) {
                return Err(ZeroShotError::DuplicateImageId {
                    id: id.clone(),
                    first,
                    second: index,
                });
            }
        }
        let mut inverse_norms: Vec<f32> = Vec::with_capacity(count);
        for (index, row) in embeddings.chunks_exact(dim).enumerate() {
            let problem = |problem: &'static str| ZeroShotError::BadImageEmbedding {
                index,
                id: ids[index].clone(),
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
            inverse_norms.push((1.0 / norm) as f32);
        }
        Ok(ImageSet {
            embeddings,
            dim,
            labels,
            ids,
            inverse_norms,
        })
    }

    /// Number of images N.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Never true for a checked set.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Dimension D.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// `[N, D]` embeddings.
    pub fn embeddings(&self) -> &'a [f32] {
        self.embeddings
    }

    /// Labels.
    pub fn labels(&self) -> &'a [usize] {
        self.labels
    }

    /// Ids.
    pub fn ids(&self) -> &'a [String] {
        self.ids
    }

    /// 1 / ‖row‖ per image.
    pub fn inverse_norms(&self) -> &[f32] {
        &self.inverse_norms
    }
}
