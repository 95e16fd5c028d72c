//! Class and text scores read out of the shared similarity matrix.

use serde::{Deserialize, Serialize};

use crate::zeroshot::plan::TextPlan;
use crate::zeroshot::similarity::SimilarityMatrix;

/// Which texts score the soft protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PromptSet {
    /// Hard prompts only (the `hard` and `hard-top2` protocols).
    Hard,
    /// One relation, by index into the config's relations.
    Relation(usize),
    /// Every relation: a soft score is the mean of the relations' similarities. Because
    /// similarity is linear in the text embedding this equals the similarity with the
    /// (un-renormalised) mean of the relations' unit embeddings; the plain mean is used
    /// rather than re-normalising, so pairs whose phrasings disagree are not boosted by a
    /// short mean vector.
    RelationsMean,
}

/// Read-only scores for every image: hard class scores, and soft text scores on demand.
#[derive(Debug, Clone)]
pub struct Scores<'a> {
    similarities: &'a SimilarityMatrix,
    soft_table: &'a [u32],
    class_count: usize,
    relation_count: usize,
    /// `[N, C]` hard-prompt scores.
    hard: Vec<f32>,
}

impl<'a> Scores<'a> {
    /// Hard class scores from the matrix: for class c with template texts t, the cosine with
    /// the re-normalised mean template embedding, `Σ_t sim(t) / ‖Σ_t e_t‖`;
    /// `hard_scales[c]` is `1 / ‖Σ_t e_t‖` (1 for a single unit template).
    pub fn new(
        similarities: &'a SimilarityMatrix,
        plan: &'a TextPlan,
        hard_scales: &[f32],
    ) -> Self {
        let class_count: usize = plan.class_count();
        let mut hard: Vec<f32> = Vec::with_capacity(similarities.rows() * class_count);
        for image in 0..similarities.rows() {
            let row: &[f32] = similarities.row(image);
            for (class, &scale) in hard_scales.iter().enumerate() {
                let sum: f32 = plan.hard_columns(class).iter().map(|&col| row[col]).sum();
                hard.push(sum * scale);
            }
        }
        Scores {
            similarities,
            soft_table: plan.soft_table(),
            class_count,
            relation_count: plan.relation_names().len(),
            hard,
        }
    }

    /// Number of images.
    pub fn image_count(&self) -> usize {
        self.similarities.rows()
    }

    /// Number of classes.
    pub fn class_count(&self) -> usize {
        self.class_count
    }

    /// `[N, C]` hard scores.
    pub fn hard_matrix(&self) -> &[f32] {
        &self.hard
    }

    /// Image `image`'s hard scores by class.
    #[inline]
    pub fn hard_row(&self, image: usize) -> &[f32] {
        &self.hard[image * self.class_count..(image + 1) * self.class_count]
    }

    /// Score of image `image` against T(x, y) under `set` (which must not be `Hard`).
    /// The text must have been planned.
    #[inline]
    pub fn soft(&self, image: usize, set: PromptSet, x: usize, y: usize) -> f32 {
        let row: &[f32] = self.similarities.row(image);
        let column = |relation: usize| -> usize {
            let index: u32 =
                self.soft_table[(relation * self.class_count + x) * self.class_count + y];
            debug_assert!(
                index != u32::MAX,
                "soft text ({x}, {y}, {relation}) was not planned"
            );
            index as usize
        };
        match set {
            PromptSet::Relation(relation) => row[column(relation)],
            PromptSet::RelationsMean => {
                let sum: f32 = (0..self.relation_count)
                    .map(|relation| row[column(relation)])
                    .sum();
                sum / self.relation_count as f32
            }
            PromptSet::Hard => panic!("soft score requested for the hard prompt set"),
        }
    }
}
