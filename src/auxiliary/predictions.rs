//! Auxiliary predictions: each image's top-k classes (with scores) from some other classifier,
//! keyed by image id. Soft texts relate an image's top-2 classes, so these files are the input
//! of every soft protocol.
//!
//! # File formats (chosen by extension when reading and writing)
//!
//! Every format holds the same thing: rows of `(id, topk, scores)` where `topk` lists class
//! indices (labels of the evaluated class list) best first and `scores[i]` belongs to
//! `topk[i]`. All rows have the same k ≥ 2. Scores are only reported and checked (finite);
//! the protocols use the rank order, never the score values.
//!
//! * **JSON** (`.json`):
//!   ```json
//!   {"format": "aux-predictions-v1",
//!    "classes": ["airplane", "automobile", ...],
//!    "predictions": [{"id": "test/cat/0000.jpg", "topk": [3, 5], "scores": [0.91, 0.05]}, ...]}
//!   ```
//!   `format` and `classes` are optional; when `classes` is present it must equal the evaluated
//!   class list. Unknown keys are rejected. Rows are located as `predictions[i]` in errors.
//!   JSON has no NaN; a `null` score is read as NaN (and rejected).
//! * **CSV** (`.csv`): RFC 4180 (comma separated; a field containing a comma, quote, CR or LF
//!   is quoted, quotes doubled), header `id,top1,score1,top2,score2,...,topK,scoreK`, one row
//!   per image. Rows are located as `line L` (1-based physical line where the record starts;
//!   the header is line 1).
//! * **safetensors** (`.safetensors`): tensors `topk` `[N, K]` I64 and `scores` `[N, K]` F32;
//!   metadata `softtext.format` = `aux-predictions-v1`, `softtext.ids` = JSON array of the N
//!   ids in row order, optional `softtext.classes` = JSON array of class names. Rows are
//!   located as `row i`.
//!
//! Writing is atomic: the bytes go to a temporary file beside the target, are synced, and
//! the temporary file is renamed over the target, so a reader never sees half a file.
//!
//! # Validation
//! Reading checks what a file can get wrong on its own: k < 2, ragged rows, topk/scores
//! length mismatch, non-finite score, a class repeated within a row, a negative class, a
//! repeated id. [`AuxPredictions::align`] then checks the rows against the evaluated image set
//! and class list: class index out of range, unknown image id, missing image, class-name
//! mismatch. Every error names the file and the row (line, index or id).

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::prompts::ClassList;

/// Value of the `format` key (JSON) and `softtext.format` metadata (safetensors).
pub const FORMAT: &str = "aux-predictions-v1";
const META_FORMAT: &str = "softtext.format";
const META_IDS: &str = "softtext.ids";
const META_CLASSES: &str = "softtext.classes";

/// What can go wrong reading, validating or writing auxiliary predictions. `file` is the path
/// as given (or `<memory>`), `location` the row (`line 7`, `predictions[3]`, `row 3`).
///
/// Not `Clone` or `PartialEq`, because [`AuxError::Io`] keeps the [`std::io::Error`] (its
/// kind and OS code stay available through [`std::error::Error::source`]).
#[derive(Debug, Error)]
pub enum AuxError {
    /// The file could not be read or written.
    #[error("{file}: {source}")]
    Io {
        /// The file.
        file: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// An extension other than `.json`, `.csv`, `.safetensors`.
    #[error("{file}: unknown auxiliary-prediction format (use .json, .csv or .safetensors)")]
    UnknownFormat {
        /// The file.
        file: String,
    },
    /// The file does not parse, or does not match its schema.
    #[error("{file}: {message}")]
    Syntax {
        /// The file.
        file: String,
        /// What is wrong and where (line and column, field or tensor name).
        message: String,
    },
    /// The file holds no rows.
    #[error("{file}: no predictions")]
    Empty {
        /// The file.
        file: String,
    },
    /// A row with fewer than two classes: soft texts need a top-2.
    #[error("{file}: {location} (id {id:?}): needs at least 2 classes, found {found}")]
    TooFewClasses {
        /// The file.
        file: String,
        /// The row.
        location: String,
        /// The row's image id.
        id: String,
        /// How many classes it has.
        found: usize,
    },
    /// A row whose k differs from the first row's.
    #[error(
        "{file}: {location} (id {id:?}): has {found} classes but earlier rows have {expected}"
    )]
    RaggedRow {
        /// The file.
        file: String,
        /// The row.
        location: String,
        /// The row's image id.
        id: String,
        /// k of the first row.
        expected: usize,
        /// k of this row.
        found: usize,
    },
    /// `topk` and `scores` of one row differ in length.
    #[error("{file}: {location} (id {id:?}): {classes} classes but {scores} scores")]
    ScoreCountMismatch {
        /// The file.
        file: String,
        /// The row.
        location: String,
        /// The row's image id.
        id: String,
        /// Length of `topk`.
        classes: usize,
        /// Length of `scores`.
        scores: usize,
    },
    /// A NaN or infinite score.
    #[error("{file}: {location} (id {id:?}): score {rank} is {value} (must be finite)")]
    NonFiniteScore {
        /// The file.
        file: String,
        /// The row.
        location: String,
        /// The row's image id.
        id: String,
        /// 1-based rank of the score.
        rank: usize,
        /// The value.
        value: f32,
    },
    /// A class index that is negative or not an integer.
    #[error("{file}: {location} (id {id:?}): class {rank} is {value:?}, not a class index")]
    InvalidClassIndex {
        /// The file.
        file: String,
        /// The row.
        location: String,
        /// The row's image id.
        id: String,
        /// 1-based rank.
        rank: usize,
        /// The value as written.
        value: String,
    },
    /// A class index ≥ the number of classes.
    #[error("{file}: {location} (id {id:?}): class index {class} out of range for {class_count} classes")]
    ClassOutOfRange {
        /// The file.
        file: String,
        /// The row.
        location: String,
        /// The row's image id.
        id: String,
        /// The index.
        class: usize,
        /// Number of evaluated classes.
        class_count: usize,
    },
    /// The same class twice in one row.
    #[error("{file}: {location} (id {id:?}): class {class} appears twice")]
    DuplicateClassInRow {
        /// The file.
        file: String,
        /// The row.
        location: String,
        /// The row's image id.
        id: String,
        /// The repeated class.
        class: usize,
    },
    /// The same image id in two rows.
    #[error("{file}: {location}: id {id:?} repeats {first_location}")]
    DuplicateId {
        /// The file.
        file: String,
        /// The repeat.
        location: String,
        /// The id.
        id: String,
        /// The first occurrence.
        first_location: String,
    },
    /// A row whose id is not in the evaluated image set.
    #[error("{file}: {location}: unknown image id {id:?} (not in the evaluated image set)")]
    UnknownImage {
        /// The file.
        file: String,
        /// The row.
        location: String,
        /// The id.
        id: String,
    },
    /// An evaluated image with no row.
    #[error("{file}: no prediction for image id {id:?}")]
    MissingImage {
        /// The file.
        file: String,
        /// The image id.
        id: String,
    },
    /// The file's class list differs from the evaluated one.
    #[error("{file}: classes {found:?} differ from the evaluated classes {expected:?}")]
    ClassListMismatch {
        /// The file.
        file: String,
        /// The evaluated class names.
        expected: Vec<String>,
        /// The file's class names.
        found: Vec<String>,
    },
}

/// One image's auxiliary prediction.
#[derive(Debug, Clone, PartialEq)]
pub struct AuxRow {
    /// Image id, e.g. `test/cat/0000.jpg`.
    pub id: String,
    /// Class indices, best first, pairwise distinct.
    pub topk: Vec<usize>,
    /// `scores[i]` belongs to `topk[i]`; finite.
    pub scores: Vec<f32>,
}

/// Validated auxiliary predictions: k ≥ 2 for every row, same k everywhere, unique ids,
/// finite scores, no class twice in a row. Row order is the file's.
#[derive(Debug, Clone, PartialEq)]
pub struct AuxPredictions {
    file: String,
    classes: Option<Vec<String>>,
    rows: Vec<AuxRow>,
    locations: Vec<String>,
    k: usize,
}

/// Auxiliary predictions in the order of an evaluated image set.
#[derive(Debug, Clone, PartialEq)]
pub struct AlignedAux {
    k: usize,
    /// `[N, k]` row-major class indices.
    topk: Vec<usize>,
}

impl AlignedAux {
    /// Rows given directly in image order (for built-in sources and tests); every row must
    /// have `k` distinct entries, `k ≥ 2`.
    pub(crate) fn from_rows(k: usize, topk: Vec<usize>) -> Self {
        assert!(
            k >= 2 && topk.len() % k == 0,
            "AlignedAux needs k >= 2 and [N, k] rows"
        );
        AlignedAux { k, topk }
    }

    /// k.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.topk.len() / self.k
    }

    /// True when there are no images.
    pub fn is_empty(&self) -> bool {
        self.topk.is_empty()
    }

    /// Image `image`'s classes, best first.
    pub fn row(&self, image: usize) -> &[usize] {
        &self.topk[image * self.k..(image + 1) * self.k]
    }

    /// Image `image`'s top-2 (a, b).
    pub fn top2(&self, image: usize) -> (usize, usize) {
        let row: &[usize] = self.row(image);
        (row[0], row[1])
    }

    /// All rows, `[N, k]` row-major.
    pub fn as_flat(&self) -> &[usize] {
        &self.topk
    }
}

impl AuxPredictions {
    /// Predictions from rows held in memory; rows are located as `rows[i]` in errors.
    pub fn new(rows: Vec<AuxRow>, classes: Option<Vec<String>>) -> Result<Self, AuxError> {
        let locations: Vec<String> = (0..rows.len()).map(|i| format!("rows[{i}]")).collect();
        Self::validated("<memory>".to_string(), classes, rows, locations)
    }

    /// Reads a file, choosing the format by its extension.
    pub fn read(path: &Path) -> Result<Self, AuxError> {
        let file: String = path.display().to_string();
        let format: FileFormat = FileFormat::of(path)?;
        let bytes: Vec<u8> = fs::read(path).map_err(|source| AuxError::Io {
            file: file.clone(),
            source,
        })?;
        match format {
            FileFormat::Json | FileFormat::Csv => {
                let text: &str = std::str::from_utf8(&bytes).map_err(|error| AuxError::Syntax {
                    file: file.clone(),
                    message: format!("not UTF-8: {error}"),
                })?;
                if format == FileFormat::Json {
                    Self::from_json_str(text, &file)
                } else {
                    Self::from_csv_str(text, &file)
                }
            }
            FileFormat::Safetensors => Self::from_safetensors_bytes(&bytes, &file),
        }
    }

    /// Writes a file atomically, choosing the format by its extension.
    pub fn write(&self, path: &Path) -> Result<(), AuxError> {
        let bytes: Vec<u8> = match FileFormat::of(path)? {
            FileFormat::Json => self.to_json_string().into_bytes(),
            FileFormat::Csv => self.to_csv_string().into_bytes(),
            FileFormat::Safetensors => self.to_safetensors_bytes(),
        };
        write_atomic(path, &bytes)
    }

    /// Parses the JSON format; `file` names the source in errors.
    pub fn from_json_str(text: &str, file: &str) -> Result<Self, AuxError> {
        let document: JsonDocument =
            serde_json::from_str(text).map_err(|error| AuxError::Syntax {
                file: file.to_string(),
                message: error.to_string(),
            })?;
        if let Some(format) = &document.format {
            if format != FORMAT {
                return Err(AuxError::Syntax {
                    file: file.to_string(),
                    message: format!("format is {format:?}, expected {FORMAT:?}"),
                });
            }
        }
        let mut rows: Vec<AuxRow> = Vec::with_capacity(document.predictions.len());
        let mut locations: Vec<String> = Vec::with_capacity(document.predictions.len());
        for (index, row) in document.predictions.into_iter().enumerate() {
            let location: String = format!("predictions[{index}]");
            let topk: Vec<usize> = row
                .topk
                .iter()
                .enumerate()
                .map(|(rank, &value)| {
                    usize::try_from(value).map_err(|_| AuxError::InvalidClassIndex {
                        file: file.to_string(),
                        location: location.clone(),
                        id: row.id.clone(),
                        rank: rank + 1,
                        value: value.to_string(),
                    })
                })
                .collect::<Result<_, _>>()?;
            let scores: Vec<f32> = row
                .scores
                .iter()
                .map(|score| score.map_or(f32::NAN, |value| value as f32))
                .collect();
            rows.push(AuxRow {
                id: row.id,
                topk,
                scores,
            });
            locations.push(location);
        }
        Self::validated(file.to_string(), document.classes, rows, locations)
    }

    /// Parses the CSV format; `file` names the source in errors.
    pub fn from_csv_str(text: &str, file: &str) -> Result<Self, AuxError> {
        let syntax = |message: String| AuxError::Syntax {
            file: file.to_string(),
            message,
        };
        let records: Vec<CsvRecord> = parse_csv(text).map_err(syntax)?;
        let Some((header, body)) = records.split_first() else {
            return Err(AuxError::Empty {
                file: file.to_string(),
            });
        };
        let k: usize = check_csv_header(&header.fields).map_err(syntax)?;
        let mut rows: Vec<AuxRow> = Vec::with_capacity(body.len());
        let mut locations: Vec<String> = Vec::with_capacity(body.len());
        for record in body {
            let location: String = format!("line {}", record.line);
            let fields: &[String] = &record.fields;
            let id: String = fields[0].clone();
            if fields.len() != 1 + 2 * k {
                if fields.len() < 5 {
                    return Err(AuxError::TooFewClasses {
                        file: file.to_string(),
                        location,
                        id,
                        // Complete (class, score) pairs: a class without its score does
                        // not count, or 4 fields would read as "needs 2, found 2".
                        found: fields.len().saturating_sub(1) / 2,
                    });
                }
                return Err(syntax(format!(
                    "{location}: {} fields, the header has {}",
                    fields.len(),
                    1 + 2 * k
                )));
            }
            let mut topk: Vec<usize> = Vec::with_capacity(k);
            let mut scores: Vec<f32> = Vec::with_capacity(k);
            for rank in 0..k {
                let class_field: &str = fields[1 + 2 * rank].trim();
                let class: usize =
                    class_field
                        .parse()
                        .map_err(|_| AuxError::InvalidClassIndex {
                            file: file.to_string(),
                            location: location.clone(),
                            id: id.clone(),
                            rank: rank + 1,
                            value: class_field.to_string(),
                        })?;
                let score_field: &str = fields[2 + 2 * rank].trim();
                let score: f32 = score_field.parse().map_err(|_| {
                    syntax(format!(
                        "{location} (id {id:?}): score{} is {score_field:?}, not a number",
                        rank + 1
                    ))
                })?;
                topk.push(class);
                scores.push(score);
            }
            rows.push(AuxRow { id, topk, scores });
            locations.push(location);
        }
        Self::validated(file.to_string(), None, rows, locations)
    }

    /// Parses the safetensors format; `file` names the source in errors.
    pub fn from_safetensors_bytes(bytes: &[u8], file: &str) -> Result<Self, AuxError> {
        let syntax = |message: String| AuxError::Syntax {
            file: file.to_string(),
            message,
        };
        let tensors: SafeTensors<'_> =
            SafeTensors::deserialize(bytes).map_err(|error| syntax(error.to_string()))?;
        let (_, header) =
            SafeTensors::read_metadata(bytes).map_err(|error| syntax(error.to_string()))?;
        let metadata: HashMap<String, String> = header.metadata().clone().unwrap_or_default();
        match metadata.get(META_FORMAT) {
            Some(format) if format == FORMAT => {}
            other => {
                return Err(syntax(format!(
                    "metadata {META_FORMAT} is {other:?}, expected {FORMAT:?}"
                )))
            }
        }
        let ids: Vec<String> = metadata
            .get(META_IDS)
            .ok_or_else(|| syntax(format!("metadata {META_IDS} is missing")))
            .and_then(|json| {
                serde_json::from_str(json)
                    .map_err(|error| syntax(format!("metadata {META_IDS}: {error}")))
            })?;
        let classes: Option<Vec<String>> = metadata
            .get(META_CLASSES)
            .map(|json| {
                serde_json::from_str(json)
                    .map_err(|error| syntax(format!("metadata {META_CLASSES}: {error}")))
            })
            .transpose()?;
        let topk_view: TensorView<'_> = tensors
            .tensor("topk")
            .map_err(|error| syntax(format!("tensor topk: {error}")))?;
        let scores_view: TensorView<'_> = tensors
            .tensor("scores")
            .map_err(|error| syntax(format!("tensor scores: {error}")))?;
        let shape: Vec<usize> = topk_view.shape().to_vec();
        if topk_view.dtype() != Dtype::I64 || shape.len() != 2 {
            return Err(syntax(format!(
                "tensor topk must be [N, K] I64, found {:?} {:?}",
                topk_view.shape(),
                topk_view.dtype()
            )));
        }
        if scores_view.dtype() != Dtype::F32 || scores_view.shape() != shape.as_slice() {
            return Err(syntax(format!(
                "tensor scores must be {shape:?} F32 like topk, found {:?} {:?}",
                scores_view.shape(),
                scores_view.dtype()
            )));
        }
        let (count, k) = (shape[0], shape[1]);
        if ids.len() != count {
            return Err(syntax(format!(
                "metadata {META_IDS} has {} ids for {count} rows",
                ids.len()
            )));
        }
        let classes_flat: Vec<i64> = topk_view
            .data()
            .chunks_exact(8)
            .map(|bytes| i64::from_le_bytes(bytes.try_into().expect("8-byte chunk")))
            .collect();
        let scores_flat: Vec<f32> = scores_view
            .data()
            .chunks_exact(4)
            .map(|bytes| f32::from_le_bytes(bytes.try_into().expect("4-byte chunk")))
            .collect();
        let mut rows: Vec<AuxRow> = Vec::with_capacity(count);
        let mut locations: Vec<String> = Vec::with_capacity(count);
        for (index, id) in ids.into_iter().enumerate() {
            let location: String = format!("row {index}");
            let span = index * k..(index + 1) * k;
            let topk: Vec<usize> = classes_flat[span.clone()]
                .iter()
                .enumerate()
                .map(|(rank, &value)| {
                    usize::try_from(value).map_err(|_| AuxError::InvalidClassIndex {
                        file: file.to_string(),
                        location: location.clone(),
                        id: id.clone(),
                        rank: rank + 1,
                        value: value.to_string(),
                    })
                })
                .collect::<Result<_, _>>()?;
            rows.push(AuxRow {
                id,
                topk,
                scores: scores_flat[span].to_vec(),
            });
            locations.push(location);
        }
        Self::validated(file.to_string(), classes, rows, locations)
    }

    /// The JSON format, pretty-printed.
    pub fn to_json_string(&self) -> String {
        let document = JsonDocumentOut {
            format: FORMAT,
            classes: self.classes.as_deref(),
            predictions: self
                .rows
                .iter()
                .map(|row| JsonRowOut {
                    id: &row.id,
                    topk: &row.topk,
                    scores: &row.scores,
                })
                .collect(),
        };
        let mut text: String =
            serde_json::to_string_pretty(&document).expect("predictions serialise");
        text.push('\n');
        text
    }

    /// The CSV format (LF line ends; scores in shortest round-trip form).
    pub fn to_csv_string(&self) -> String {
        let mut text: String = String::from("id");
        for rank in 1..=self.k {
            let _ = write!(text, ",top{rank},score{rank}");
        }
        text.push('\n');
        for row in &self.rows {
            text.push_str(&csv_field(&row.id));
            for (class, score) in row.topk.iter().zip(&row.scores) {
                let _ = write!(text, ",{class},{score}");
            }
            text.push('\n');
        }
        text
    }

    /// The safetensors format.
    pub fn to_safetensors_bytes(&self) -> Vec<u8> {
        let count: usize = self.rows.len();
        let topk_bytes: Vec<u8> = self
            .rows
            .iter()
            .flat_map(|row| row.topk.iter().map(|&class| class as i64))
            .flat_map(i64::to_le_bytes)
            .collect();
        let score_bytes: Vec<u8> = self
            .rows
            .iter()
            .flat_map(|row| row.scores.iter().copied())
            .flat_map(f32::to_le_bytes)
            .collect();
        let shape: Vec<usize> = vec![count, self.k];
        let tensors = [
            (
                "topk",
                TensorView::new(Dtype::I64, shape.clone(), &topk_bytes).expect("topk shape"),
            ),
            (
                "scores",
                TensorView::new(Dtype::F32, shape, &score_bytes).expect("scores shape"),
            ),
        ];
        let mut metadata: HashMap<String, String> = HashMap::new();
        metadata.insert(META_FORMAT.to_string(), FORMAT.to_string());
        let ids: Vec<&str> = self.rows.iter().map(|row| row.id.as_str()).collect();
        metadata.insert(
            META_IDS.to_string(),
            serde_json::to_string(&ids).expect("ids serialise"),
        );
        if let Some(classes) = &self.classes {
            metadata.insert(
                META_CLASSES.to_string(),
                serde_json::to_string(classes).expect("classes serialise"),
            );
        }
        safetensors::serialize(tensors, Some(metadata)).expect("safetensors serialise")
    }

    /// The rows, in file order.
    pub fn rows(&self) -> &[AuxRow] {
        &self.rows
    }

    /// The class names the file declares, if any.
    pub fn classes(&self) -> Option<&[String]> {
        self.classes.as_deref()
    }

    /// Returns a copy that declares `classes` (written to JSON and safetensors).
    pub fn with_classes(mut self, classes: Option<Vec<String>>) -> Self {
        self.classes = classes;
        self
    }

    /// The k of every row (≥ 2).
    pub fn k(&self) -> usize {
        self.k
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Never true for a validated file; provided for API symmetry.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Where the predictions came from (a path, or `<memory>`).
    pub fn file(&self) -> &str {
        &self.file
    }

    /// Checks the declared class names (if any) and every class index against `classes`.
    pub fn check_classes(&self, classes: &ClassList) -> Result<(), AuxError> {
        if let Some(found) = &self.classes {
            let expected: Vec<String> = classes.names().map(str::to_string).collect();
            if *found != expected {
                return Err(AuxError::ClassListMismatch {
                    file: self.file.clone(),
                    expected,
                    found: found.clone(),
                });
            }
        }
        for (row, location) in self.rows.iter().zip(&self.locations) {
            if let Some(&class) = row.topk.iter().find(|&&class| class >= classes.len()) {
                return Err(AuxError::ClassOutOfRange {
                    file: self.file.clone(),
                    location: location.clone(),
                    id: row.id.clone(),
                    class,
                    class_count: classes.len(),
                });
            }
        }
        Ok(())
    }

    /// Checks the rows against the evaluated images (`ids`, in evaluation order) and classes
    /// and returns the predictions in image order.
    pub fn align(&self, classes: &ClassList, ids: &[String]) -> Result<AlignedAux, AuxError> {
        self.check_classes(classes)?;
        let image_by_id: HashMap<&str, usize> = ids
            .iter()
            .enumerate()
            .map(|(index, id)| (id.as_str(), index))
            .collect();
        let mut row_by_image: Vec<Option<usize>> = vec![None; ids.len()];
        for (row_index, (row, location)) in self.rows.iter().zip(&self.locations).enumerate() {
            let Some(&image) = image_by_id.get(row.id.as_str()) else {
                return Err(AuxError::UnknownImage {
                    file: self.file.clone(),
                    location: location.clone(),
                    id: row.id.clone(),
                });
            };
            row_by_image[image] = Some(row_index);
        }
        let mut topk: Vec<usize> = Vec::with_capacity(ids.len() * self.k);
        for (image, row_index) in row_by_image.iter().enumerate() {
            let Some(row_index) = row_index else {
                return Err(AuxError::MissingImage {
                    file: self.file.clone(),
                    id: ids[image].clone(),
                });
            };
            topk.extend_from_slice(&self.rows[*row_index].topk);
        }
        Ok(AlignedAux { k: self.k, topk })
    }

    fn validated(
        file: String,
        classes: Option<Vec<String>>,
        rows: Vec<AuxRow>,
        locations: Vec<String>,
    ) -> Result<Self, AuxError> {
        let Some(first) = rows.first() else {
            return Err(AuxError::Empty { file });
        };
        let k: usize = first.topk.len();
        let mut first_location_by_id: HashMap<&str, &str> = HashMap::new();
        for (row, location) in rows.iter().zip(&locations) {
            let context = || (file.clone(), location.clone(), row.id.clone());
            if row.topk.len() < 2 {
                let (file, location, id) = context();
                return Err(AuxError::TooFewClasses {
                    file,
                    location,
                    id,
                    found: row.topk.len(),
                });
            }
            if row.scores.len() != row.topk.len() {
                let (file, location, id) = context();
                return Err(AuxError::ScoreCountMismatch {
                    file,
                    location,
                    id,
                    classes: row.topk.len(),
                    scores: row.scores.len(),
                });
            }
            if row.topk.len() != k {
                let (file, location, id) = context();
                return Err(AuxError::RaggedRow {
                    file,
                    location,
                    id,
                    expected: k,
                    found: row.topk.len(),
                });
            }
            if let Some(rank) = row.scores.iter().position(|score| !score.is_finite()) {
                let (file, location, id) = context();
                return Err(AuxError::NonFiniteScore {
                    file,
                    location,
                    id,
                    rank: rank + 1,
                    value: row.scores[rank],
                });
            }
            let mut seen: HashSet<usize> = HashSet::with_capacity(k);
            if let Some(&class) = row.topk.iter().find(|&&class| !seen.insert(class)) {
                let (file, location, id) = context();
                return Err(AuxError::DuplicateClassInRow {
                    file,
                    location,
                    id,
                    class,
                });
            }
            if let Some(first_location) = first_location_by_id.insert(&row.id, location) {
                let (file, location, id) = context();
                return Err(AuxError::DuplicateId {
                    file,
                    location,
                    id,
                    first_location: first_location.to_string(),
                });
            }
        }
        Ok(AuxPredictions {
            file,
            classes,
            rows,
            locations,
            k,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileFormat {
    Json,
    Csv,
    Safetensors,
}

impl FileFormat {
    /// Every format with its file extension: the one list the readers, writers and the
    /// study's source parser share.
    const BY_EXTENSION: [(&'static str, FileFormat); 3] = [
        ("json", FileFormat::Json),
        ("csv", FileFormat::Csv),
        ("safetensors", FileFormat::Safetensors),
    ];

    fn of(path: &Path) -> Result<Self, AuxError> {
        let extension = path.extension().and_then(|ext| ext.to_str());
        Self::BY_EXTENSION
            .iter()
            .find(|(name, _)| Some(*name) == extension)
            .map(|&(_, format)| format)
            .ok_or_else(|| AuxError::UnknownFormat {
                file: path.display().to_string(),
            })
    }
}

/// Whether `path` names an auxiliary prediction file by its extension (`.json`, `.csv` or
/// `.safetensors`).
pub fn is_prediction_file(path: &Path) -> bool {
    FileFormat::of(path).is_ok()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonDocument {
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    classes: Option<Vec<String>>,
    predictions: Vec<JsonRow>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonRow {
    id: String,
    // i64 so that a negative index is reported as such rather than as a type error.
    topk: Vec<i64>,
    // Option because JSON cannot spell NaN; `null` is how a NaN usually arrives.
    scores: Vec<Option<f64>>,
}

#[derive(Serialize)]
struct JsonDocumentOut<'a> {
    format: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    classes: Option<&'a [String]>,
    predictions: Vec<JsonRowOut<'a>>,
}

#[derive(Serialize)]
struct JsonRowOut<'a> {
    id: &'a str,
    topk: &'a [usize],
    scores: &'a [f32],
}

struct CsvRecord {
    line: usize,
    fields: Vec<String>,
}

/// RFC 4180 parsing of a whole document; empty lines are skipped. Each record remembers the
/// physical line it starts on, because a quoted field may span lines.
fn parse_csv(text: &str) -> Result<Vec<CsvRecord>, String> {
    let mut records: Vec<CsvRecord> = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line: usize = 1;
    while chars.peek().is_some() {
        let start_line: usize = line;
        let mut fields: Vec<String> = Vec::new();
        let mut field: String = String::new();
        let mut at_field_start: bool = true;
        loop {
            match chars.next() {
                None => break,
                Some('\n') => {
                    line += 1;
                    break;
                }
                Some('\r') if chars.peek() == Some(&'\n') => {}
                Some(',') => {
                    fields.push(std::mem::take(&mut field));
                    at_field_start = true;
                }
                Some('"') if at_field_start => {
                    loop {
                        match chars.next() {
                            None => return Err(format!("line {start_line}: unterminated quote")),
                            Some('"') if chars.peek() == Some(&'"') => {
                                chars.next();
                                field.push('"');
                            }
                            Some('"') => break,
                            Some(other) => {
                                if other == '\n' {
                                    line += 1;
                                }
                                field.push(other);
                            }
                        }
                    }
                    if !matches!(chars.peek(), None | Some(',' | '\n' | '\r')) {
                        return Err(format!(
                            "line {line}: text after a closing quote (quote the whole field)"
                        ));
                    }
                    at_field_start = false;
                }
                Some('"') => {
                    return Err(format!(
                        "line {line}: quote inside an unquoted field (quote the field, double the quote)"
                    ))
                }
                Some(other) => {
                    field.push(other);
                    at_field_start = false;
                }
            }
        }
        fields.push(field);
        let blank: bool = fields.len() == 1 && fields[0].is_empty();
        if !blank {
            records.push(CsvRecord {
                line: start_line,
                fields,
            });
        }
    }
    Ok(records)
}

/// Checks `id,top1,score1,...` and returns K.
fn check_csv_header(fields: &[String]) -> Result<usize, String> {
    let k: usize = fields.len().saturating_sub(1) / 2;
    let expected: Vec<String> = std::iter::once("id".to_string())
        .chain((1..=k).flat_map(|rank| [format!("top{rank}"), format!("score{rank}")]))
        .collect();
    let found: Vec<&str> = fields.iter().map(|field| field.trim()).collect();
    if k < 2 || found != expected {
        return Err(format!(
            "line 1: header must be id,top1,score1,top2,score2[,top3,score3...], found {:?}",
            fields.join(",")
        ));
    }
    Ok(k)
}

/// One CSV field, quoted when it contains a comma, quote, CR or LF (quotes doubled).
pub(crate) fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_string()
    }
}

/// Writes `bytes` to `path` with [`crate::artifact::replace_file`] (temporary, sync, rename).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), AuxError> {
    crate::artifact::replace_file(path, bytes).map_err(|source| AuxError::Io {
        file: path.display().to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, topk: &[usize], scores: &[f32]) -> AuxRow {
        AuxRow {
            id: id.to_string(),
            topk: topk.to_vec(),
            scores: scores.to_vec(),
        }
    }

    #[test]
    fn csv_parser_handles_quotes_and_crlf() {
        let records: Vec<CsvRecord> =
            parse_csv("a,\"b,c\"\r\n\n\"x\"\"y\",\"multi\nline\"\nlast,1").unwrap();
        assert_eq!(records.len(), 3);
        assert_eq!(records[0].fields, ["a", "b,c"]);
        assert_eq!(records[1].line, 3);
        assert_eq!(records[1].fields, ["x\"y", "multi\nline"]);
        assert_eq!(records[2].line, 5);
        assert!(parse_csv("a,b\"c").is_err());
        assert!(parse_csv("\"abc").is_err());
    }

    #[test]
    fn align_orders_rows_like_the_images() {
        let predictions: AuxPredictions = AuxPredictions::new(
            vec![
                row("b", &[1, 2], &[0.6, 0.3]),
                row("a", &[0, 1], &[0.9, 0.1]),
            ],
            None,
        )
        .unwrap();
        let classes: ClassList = ClassList::new(["x", "y", "z"]).unwrap();
        let aligned: AlignedAux = predictions
            .align(&classes, &["a".to_string(), "b".to_string()])
            .unwrap();
        assert_eq!(aligned.as_flat(), &[0, 1, 1, 2]);
        assert_eq!(aligned.top2(1), (1, 2));
    }
}
