//! The subject share: where a soft text lies among the images, as one number.
//!
//! The paper's Figure 4 says that `automobile look like a truck` lies between the
//! automobile and the truck images, while `dog look like a cat` falls among the cat images.
//! For a soft text T(x, y) ("x REL y") take its k nearest image embeddings (cosine), and let
//! share(c) be the fraction of them with true class c. The **subject share** is
//!
//! ```text
//! share(x) / (share(x) + share(y))
//! ```
//!
//! 1 when the text sits among x's images, 0 when it is pulled into y's, ½ when the two
//! classes are equally near. When neither class is among the neighbours it is **undefined**:
//! such texts are counted apart and no value is made up for them.
//!
//! * **k** is [`SubjectShareParams::k`] (50 by default), capped at the number of images.
//! * **Ties**: neighbours are ranked by cosine, highest first; images with exactly the same
//!   cosine are taken in image order (lower index first), so the result never depends on
//!   the thread count or the sort. Cosines come from the zero-shot engine's similarity
//!   kernel ([`crate::zeroshot::similarity_matrix`]), which uses fused multiply-adds where
//!   the CPU has them: on near-ties the two kinds of machine can rank differently.
//! * **Cost**: one `[T, D] × [D, N]` product, in chunks of texts so that memory stays at
//!   about 64 MB of similarities whatever T is (at least 64 texts a chunk), then a linear-time
//!   partial selection of the k nearest per text, in parallel.
//!
//! ```
//! use softtext::subject_share::{subject_share, ImageRows, SoftText, SubjectShareParams};
//!
//! // Two classes on two axes; one text among the cats, one halfway.
//! let classes = ["cat".to_string(), "dog".to_string()];
//! let images = [1.0, 0.0, 1.0, 0.1, 0.0, 1.0, 0.1, 1.0];
//! let labels = [0, 0, 1, 1];
//! let rows = ImageRows { embeddings: &images, dim: 2, labels: &labels, classes: &classes };
//! let soft = [
//!     SoftText::new("dog look like a cat", 1, 0, "look-like"),
//!     SoftText::new("cat look like a dog", 0, 1, "look-like"),
//! ];
//! let texts = [1.0, 0.0, 1.0, 1.0];
//! let params = SubjectShareParams::default().k(2).check()?;
//! let report = subject_share(&params, &rows, &texts, &soft)?;
//! assert_eq!(report.text("dog look like a cat").unwrap().share, Some(0.0));
//! assert_eq!(report.text("cat look like a dog").unwrap().share, Some(0.5));
//! assert_eq!(report.relations[0].median, Some(0.25));
//! # Ok::<(), softtext::subject_share::SubjectShareError>(())
//! ```

mod error;
mod params;

pub use error::SubjectShareError;
pub use params::{SubjectShareParam, SubjectShareParams, ValidSubjectShareParams, PAPER_TEXTS};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::zeroshot::catalogue::TextCatalogue;
use crate::zeroshot::similarity_matrix;

/// Bins of [`RelationShare::histogram`]: [0, 0.1), [0.1, 0.2), …, [0.9, 1].
pub const HISTOGRAM_BINS: usize = 10;

/// Similarities held at once, at most (unless 64 texts need more): 64 MB of f32.
const CHUNK_VALUES: usize = 1 << 24;
/// Fewest texts per chunk, so that the product keeps every core busy.
const MIN_CHUNK_TEXTS: usize = 64;

/// Borrowed image embeddings `[N, D]` (row-major; need not be unit length), their labels
/// `[N]` and the class names the labels index.
#[derive(Debug, Clone, Copy)]
pub struct ImageRows<'a> {
    /// `[N, D]` embeddings.
    pub embeddings: &'a [f32],
    /// D.
    pub dim: usize,
    /// True class of each image, an index into `classes`.
    pub labels: &'a [usize],
    /// Class names in label order.
    pub classes: &'a [String],
}

/// One soft text "x REL y" and what it relates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SoftText {
    /// The text as encoded, e.g. `dog look like a cat`.
    pub text: String,
    /// The subject class x, an index into the class list.
    pub x: usize,
    /// The object class y.
    pub y: usize,
    /// The relation's name, e.g. `look-like`.
    pub relation: String,
}

impl SoftText {
    /// A soft text relating class `x` to class `y`.
    pub fn new(text: impl Into<String>, x: usize, y: usize, relation: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            x,
            y,
            relation: relation.into(),
        }
    }

    /// Every soft text of an evaluation's `texts.json`, in catalogue order (vocabulary
    /// order: by (x, y), relation inner); its class indices are the evaluation's.
    pub fn from_catalogue(catalogue: &TextCatalogue) -> Vec<SoftText> {
        catalogue
            .texts
            .iter()
            .filter_map(|entry| {
                entry
                    .object
                    .map(|y| SoftText::new(&entry.text, entry.subject, y, &entry.set))
            })
            .collect()
    }
}

/// One text's neighbourhood.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextShare {
    /// The text.
    pub text: String,
    /// Its relation.
    pub relation: String,
    /// The subject class's name.
    pub x: String,
    /// The object class's name.
    pub y: String,
    /// share(x) / (share(x) + share(y)); `None` when neither class is among the neighbours.
    pub share: Option<f64>,
    /// Fraction of the k nearest images whose class is x.
    pub share_x: f64,
    /// Fraction of the k nearest images whose class is y.
    pub share_y: f64,
}

/// The shares of one relation's texts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RelationShare {
    /// The relation's name.
    pub relation: String,
    /// Its soft texts.
    pub count: usize,
    /// Texts with a defined share (x or y among the neighbours).
    pub defined: usize,
    /// Texts with neither class among the neighbours; left out of every statistic below.
    pub undefined: usize,
    /// Mean share (`None` when no share is defined).
    pub mean: Option<f64>,
    /// Median share.
    pub median: Option<f64>,
    /// First quartile (linear interpolation between order statistics, as numpy's default).
    pub q1: Option<f64>,
    /// Third quartile.
    pub q3: Option<f64>,
    /// Defined shares per bin [0, 0.1), [0.1, 0.2), …, [0.9, 1] (the last bin holds 1).
    pub histogram: [usize; HISTOGRAM_BINS],
    /// The texts with the lowest defined shares, lowest first (equal shares in text order):
    /// the ones pulled furthest into their object class.
    pub lowest: Vec<TextShare>,
}

/// The subject-share analysis of one set of text embeddings (the `subject_share` section of
/// `table.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubjectShareReport {
    /// Neighbours taken per text: [`SubjectShareParams::k`] capped at the image count.
    pub k: usize,
    /// k as asked for.
    pub k_requested: usize,
    /// Images the neighbours were taken from.
    pub images: usize,
    /// Soft texts analysed.
    pub count: usize,
    /// One entry per relation, in order of first appearance among the texts.
    pub relations: Vec<RelationShare>,
    /// Whether [`SubjectShareReport::texts`] lists every text (at most
    /// [`SubjectShareParams::list_limit`] of them) or only the named ones.
    pub all_texts_listed: bool,
    /// The texts of [`SubjectShareParams::texts`] that were analysed, in that order.
    pub named: Vec<String>,
    /// Per-text shares, in input order: every text, or only the named ones (see
    /// [`SubjectShareReport::all_texts_listed`]).
    pub texts: Vec<TextShare>,
}

impl SubjectShareReport {
    /// The listed share of `text`, if any.
    pub fn text(&self, text: &str) -> Option<&TextShare> {
        self.texts.iter().find(|t| t.text == text)
    }

    /// The entry of `relation`, if any.
    pub fn relation(&self, relation: &str) -> Option<&RelationShare> {
        self.relations.iter().find(|r| r.relation == relation)
    }
}

/// The subject share of every soft text in `soft`, whose embeddings are the rows of `texts`
/// (`[soft.len(), D]`, row-major, in the same order; need not be unit length), among the
/// k nearest `images`.
///
/// Fails on sizes that do not fit, a zero or non-finite row, a label or class index out of
/// range, or a text that relates a class to itself.
pub fn subject_share(
    params: &ValidSubjectShareParams,
    images: &ImageRows<'_>,
    texts: &[f32],
    soft: &[SoftText],
) -> Result<SubjectShareReport, SubjectShareError> {
    let scales = check_inputs(images, texts, soft)?;
    let k = params.k().min(images.labels.len());
    let chunk_texts = (CHUNK_VALUES / images.labels.len()).max(MIN_CHUNK_TEXTS);
    let counts = neighbour_counts(images, &scales, texts, soft, k, chunk_texts);
    let shares: Vec<TextShare> = soft
        .iter()
        .zip(&counts)
        .map(|(text, &(count_x, count_y))| text_share(text, images.classes, count_x, count_y, k))
        .collect();
    Ok(summarise(
        params,
        images.labels.len(),
        k,
        soft,
        &counts,
        shares,
    ))
}

/// 1 / ‖row‖ of every image and every text.
struct Scales {
    images: Vec<f32>,
    texts: Vec<f32>,
}

/// Checks every input; returns the rows' inverse norms.
fn check_inputs(
    images: &ImageRows<'_>,
    texts: &[f32],
    soft: &[SoftText],
) -> Result<Scales, SubjectShareError> {
    let (dim, count) = (images.dim, images.labels.len());
    if count == 0 {
        return Err(SubjectShareError::NoImages);
    }
    if dim == 0 || images.embeddings.len() != count * dim {
        return Err(SubjectShareError::Shape {
            what: "image embeddings",
            message: format!(
                "{} values and {count} labels do not describe [N, {dim}]",
                images.embeddings.len()
            ),
        });
    }
    if texts.len() != soft.len() * dim {
        return Err(SubjectShareError::Shape {
            what: "text embeddings",
            message: format!(
                "{} values for {} texts of dimension {dim}",
                texts.len(),
                soft.len()
            ),
        });
    }
    let classes = images.classes.len();
    if let Some((index, &label)) = images
        .labels
        .iter()
        .enumerate()
        .find(|(_, &l)| l >= classes)
    {
        return Err(SubjectShareError::LabelOutOfRange {
            index,
            label,
            classes,
        });
    }
    for (index, text) in soft.iter().enumerate() {
        let bad = |message: String| SubjectShareError::BadText {
            index,
            text: text.text.clone(),
            message,
        };
        if text.x >= classes || text.y >= classes {
            return Err(bad(format!(
                "classes ({}, {}) out of range for {classes} classes",
                text.x, text.y
            )));
        }
        if text.x == text.y {
            return Err(bad(format!(
                "relates class {} to itself; a soft text relates two classes",
                text.x
            )));
        }
    }
    Ok(Scales {
        images: inverse_norms(images.embeddings, dim, "image")?,
        texts: inverse_norms(texts, dim, "text")?,
    })
}

/// 1 / ‖row‖ of every row, refusing zero and non-finite rows.
fn inverse_norms(
    rows: &[f32],
    dim: usize,
    what: &'static str,
) -> Result<Vec<f32>, SubjectShareError> {
    rows.chunks_exact(dim)
        .enumerate()
        .map(|(index, row)| {
            let bad = |problem| SubjectShareError::BadEmbedding {
                what,
                index,
                problem,
            };
            if row.iter().any(|v| !v.is_finite()) {
                return Err(bad("not finite"));
            }
            let norm: f64 = row
                .iter()
                .map(|&v| f64::from(v) * f64::from(v))
                .sum::<f64>()
                .sqrt();
            if norm == 0.0 {
                return Err(bad("zero"));
            }
            Ok((1.0 / norm) as f32)
        })
        .collect()
}

/// For each text, how many of its k nearest images are of class x and of class y; the
/// similarities are computed `chunk_texts` texts at a time.
fn neighbour_counts(
    images: &ImageRows<'_>,
    scales: &Scales,
    texts: &[f32],
    soft: &[SoftText],
    k: usize,
    chunk_texts: usize,
) -> Vec<(u32, u32)> {
    let (dim, count) = (images.dim, images.labels.len());
    let mut counts: Vec<(u32, u32)> = Vec::with_capacity(soft.len());
    for (chunk, chunk_soft) in soft.chunks(chunk_texts).enumerate() {
        let first = chunk * chunk_texts;
        let rows = &texts[first * dim..(first + chunk_soft.len()) * dim];
        // Rows are texts (scaled to unit length by the kernel), columns raw images: each
        // text's similarities are then one contiguous row to select from.
        let dots = similarity_matrix(
            rows,
            &scales.texts[first..first + chunk_soft.len()],
            images.embeddings,
            dim,
        );
        let chunk_counts: Vec<(u32, u32)> = chunk_soft
            .par_iter()
            .enumerate()
            .map_init(
                || Vec::with_capacity(count),
                |ranked: &mut Vec<(f32, u32)>, (row, text)| {
                    ranked.clear();
                    // `+ 0.0` turns a -0 into +0: `total_cmp` orders the two, and equal
                    // cosines must tie whatever sign of zero the kernel produces.
                    ranked.extend(
                        dots.row(row)
                            .iter()
                            .zip(&scales.images)
                            .enumerate()
                            .map(|(image, (&dot, &scale))| (dot * scale + 0.0, image as u32)),
                    );
                    let nearest = nearest(ranked, k);
                    let mut pair = (0u32, 0u32);
                    for &(_, image) in nearest {
                        let label = images.labels[image as usize];
                        if label == text.x {
                            pair.0 += 1;
                        } else if label == text.y {
                            pair.1 += 1;
                        }
                    }
                    pair
                },
            )
            .collect();
        counts.extend(chunk_counts);
    }
    counts
}

/// The k nearest of `ranked` (cosine, image index), in no particular order: highest cosine
/// first, equal cosines by lower image index, so the set is unique.
fn nearest(ranked: &mut [(f32, u32)], k: usize) -> &[(f32, u32)] {
    if k < ranked.len() {
        ranked.select_nth_unstable_by(k - 1, |a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    }
    &ranked[..k]
}

fn text_share(
    text: &SoftText,
    classes: &[String],
    count_x: u32,
    count_y: u32,
    k: usize,
) -> TextShare {
    let near = count_x + count_y;
    TextShare {
        text: text.text.clone(),
        relation: text.relation.clone(),
        x: classes[text.x].clone(),
        y: classes[text.y].clone(),
        share: (near > 0).then(|| f64::from(count_x) / f64::from(near)),
        share_x: f64::from(count_x) / k as f64,
        share_y: f64::from(count_y) / k as f64,
    }
}

fn summarise(
    params: &ValidSubjectShareParams,
    images: usize,
    k: usize,
    soft: &[SoftText],
    counts: &[(u32, u32)],
    shares: Vec<TextShare>,
) -> SubjectShareReport {
    let mut names: Vec<&str> = Vec::new();
    for text in soft {
        if !names.contains(&text.relation.as_str()) {
            names.push(&text.relation);
        }
    }
    let relations = names
        .iter()
        .map(|&name| {
            let members: Vec<usize> = (0..soft.len())
                .filter(|&i| soft[i].relation == name)
                .collect();
            relation_share(params, name, &members, counts, &shares)
        })
        .collect();
    let all_texts_listed = soft.len() <= params.list_limit();
    let named: Vec<String> = params
        .texts()
        .iter()
        .filter(|named| soft.iter().any(|t| &t.text == *named))
        .cloned()
        .collect();
    let texts = if all_texts_listed {
        shares
    } else {
        shares
            .into_iter()
            .filter(|share| named.contains(&share.text))
            .collect()
    };
    SubjectShareReport {
        k,
        k_requested: params.k(),
        images,
        count: soft.len(),
        relations,
        all_texts_listed,
        named,
        texts,
    }
}

fn relation_share(
    params: &ValidSubjectShareParams,
    name: &str,
    members: &[usize],
    counts: &[(u32, u32)],
    shares: &[TextShare],
) -> RelationShare {
    let mut histogram = [0usize; HISTOGRAM_BINS];
    // (share, text index) of the defined texts, lowest first, equal shares in text order.
    let mut defined: Vec<(f64, usize)> = Vec::with_capacity(members.len());
    for &i in members {
        let (count_x, count_y) = counts[i];
        if let Some(share) = shares[i].share {
            // The bin from the counts, not the float, so 0.3 lands in [0.3, 0.4) exactly.
            let bin = (HISTOGRAM_BINS * count_x as usize) / (count_x + count_y) as usize;
            histogram[bin.min(HISTOGRAM_BINS - 1)] += 1;
            defined.push((share, i));
        }
    }
    defined.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let sorted: Vec<f64> = defined.iter().map(|&(share, _)| share).collect();
    RelationShare {
        relation: name.to_string(),
        count: members.len(),
        defined: defined.len(),
        undefined: members.len() - defined.len(),
        mean: (!sorted.is_empty()).then(|| sorted.iter().sum::<f64>() / sorted.len() as f64),
        median: quantile(&sorted, 0.5),
        q1: quantile(&sorted, 0.25),
        q3: quantile(&sorted, 0.75),
        histogram,
        lowest: defined
            .iter()
            .take(params.lowest())
            .map(|&(_, i)| shares[i].clone())
            .collect(),
    }
}

/// The `p` quantile of ascending `sorted` by linear interpolation between the order
/// statistics at (n − 1)·p (numpy's default, R's type 7).
fn quantile(sorted: &[f64], p: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let position = p * last as f64;
    let (low, high) = (position.floor() as usize, position.ceil() as usize);
    let fraction = position - low as f64;
    Some(sorted[low] + (sorted[high] - sorted[low]) * fraction)
}

#[cfg(test)]
mod tests;
