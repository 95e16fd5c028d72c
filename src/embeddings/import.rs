//! Bring-your-own embeddings: features made by other tools (open_clip, a cluster pipeline)
//! turned into softtext's embedding files, so every protocol, interval and figure runs on
//! them without re-encoding.
//!
//! Inputs are an `[N, D]` float array (`.npy`, `.npz` or a plain safetensors file) plus, for
//! images, an id and a label per row and the class names, or, for texts, the text of each
//! row. Everything is checked before anything is written: shape, finiteness, one id per row,
//! no repeated id or text, labels that name a class. Rows are L2-normalised (the import says
//! how many were not of unit norm), and the file records where it came from.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};

use super::{Embeddings, EmbeddingsError, Kind};
use crate::artifact::content_key;

/// Rows whose norm is within this of 1 are already unit vectors and are kept bit for bit.
const UNIT_TOLERANCE: f64 = 1e-5;

/// An `[N, D]` float array read from a file, as f32, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureArray {
    /// Row-major values.
    pub data: Vec<f32>,
    /// Rows.
    pub rows: usize,
    /// Columns (the embedding width).
    pub dim: usize,
    /// The file, for messages and provenance.
    pub source: PathBuf,
    /// The array's name inside an `.npz` or safetensors file.
    pub name: Option<String>,
    /// BLAKE3 of the file's bytes.
    pub digest: String,
}

impl FeatureArray {
    /// Reads the array `name` (or the file's only array) from a `.npy`, `.npz` or
    /// `.safetensors` file; f16, f32 and f64 arrays are accepted.
    pub fn read(path: &Path, name: Option<&str>) -> Result<Self, EmbeddingsError> {
        let bad = |message: String| EmbeddingsError::Format {
            path: path.to_path_buf(),
            message,
        };
        let bytes = std::fs::read(path).map_err(|e| crate::artifact::FileError::new(path, e))?;
        let digest = blake3::hash(&bytes).to_hex().to_string();
        let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        let named: Vec<(String, Tensor)> = match extension {
            "npy" => vec![(
                String::new(),
                Tensor::read_npy(path)
                    .map_err(|e| bad(format!("not a readable .npy file ({e})")))?,
            )],
            "npz" => Tensor::read_npz(path)
                .map_err(|e| bad(format!("not a readable .npz file ({e})")))?,
            "safetensors" => candle_core::safetensors::load_buffer(&bytes, &Device::Cpu)
                .map_err(|e| bad(format!("not a readable safetensors file ({e})")))?
                .into_iter()
                .collect(),
            other => {
                return Err(bad(format!(
                    "unknown array format {other:?}; use .npy, .npz or .safetensors"
                )))
            }
        };
        let mut names: Vec<&str> = named.iter().map(|(n, _)| n.as_str()).collect();
        names.sort();
        let (array_name, tensor) = match name {
            Some(wanted) => named.iter().find(|(n, _)| n == wanted).ok_or_else(|| {
                bad(format!(
                    "no array named {wanted:?} (arrays: {})",
                    names.join(", ")
                ))
            })?,
            None if named.len() == 1 => &named[0],
            None => {
                return Err(bad(format!(
                    "holds {} arrays ({}); name one with --array-name",
                    named.len(),
                    names.join(", ")
                )))
            }
        };
        let shape = tensor.dims().to_vec();
        let [rows, dim] = shape[..] else {
            return Err(bad(format!(
                "array {array_name:?} has shape {shape:?}; an [N, D] array is needed"
            )));
        };
        if !matches!(
            tensor.dtype(),
            DType::F16 | DType::BF16 | DType::F32 | DType::F64
        ) {
            return Err(bad(format!(
                "array {array_name:?} is {:?}; a float array is needed",
                tensor.dtype()
            )));
        }
        if rows == 0 || dim == 0 {
            return Err(bad(format!(
                "array {array_name:?} is empty ({rows} x {dim})"
            )));
        }
        let data = tensor
            .to_dtype(DType::F32)
            .and_then(|t| t.flatten_all())
            .and_then(|t| t.to_vec1::<f32>())
            .map_err(|e| bad(format!("array {array_name:?}: {e}")))?;
        Ok(Self {
            data,
            rows,
            dim,
            source: path.to_path_buf(),
            name: (!array_name.is_empty()).then(|| array_name.clone()),
            digest,
        })
    }

    /// An array already in memory (`data` row-major, `rows * dim` values).
    pub fn from_rows(data: Vec<f32>, rows: usize, dim: usize, source: impl Into<PathBuf>) -> Self {
        let mut bytes = Vec::with_capacity(data.len() * 4);
        for x in &data {
            bytes.extend_from_slice(&x.to_le_bytes());
        }
        Self {
            data,
            rows,
            dim,
            source: source.into(),
            name: None,
            digest: blake3::hash(&bytes).to_hex().to_string(),
        }
    }
}

/// What an import did, for the caller to report.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportSummary {
    /// Rows imported.
    pub rows: usize,
    /// Embedding width.
    pub dim: usize,
    /// Rows that were not of unit norm and were L2-normalised.
    pub normalised: usize,
    /// The smallest and largest row norm found.
    pub norm_range: (f64, f64),
}

/// Checks every value and L2-normalises the rows that are not unit vectors.
fn checked_unit_rows(array: &mut FeatureArray) -> Result<ImportSummary, EmbeddingsError> {
    let bad = |message: String| EmbeddingsError::Format {
        path: array.source.clone(),
        message,
    };
    if array.data.len() != array.rows * array.dim {
        return Err(bad(format!(
            "{} values do not form {} rows of {}",
            array.data.len(),
            array.rows,
            array.dim
        )));
    }
    let mut normalised = 0;
    let (mut low, mut high) = (f64::INFINITY, 0f64);
    for (row, values) in array.data.chunks_exact_mut(array.dim).enumerate() {
        if let Some(col) = values.iter().position(|x| !x.is_finite()) {
            return Err(bad(format!(
                "row {row}, column {col} is {} (embeddings must be finite)",
                values[col]
            )));
        }
        let norm = values
            .iter()
            .map(|&x| f64::from(x).powi(2))
            .sum::<f64>()
            .sqrt();
        if norm == 0.0 {
            return Err(bad(format!(
                "row {row} is the zero vector; it has no direction"
            )));
        }
        low = low.min(norm);
        high = high.max(norm);
        if (norm - 1.0).abs() > UNIT_TOLERANCE {
            normalised += 1;
            for x in values.iter_mut() {
                *x = (f64::from(*x) / norm) as f32;
            }
        }
    }
    Ok(ImportSummary {
        rows: array.rows,
        dim: array.dim,
        normalised,
        norm_range: (low, high),
    })
}

/// The provenance every imported file records.
fn provenance(array: &FeatureArray, model: &str) -> HashMap<String, String> {
    let mut info = HashMap::from([
        ("model".to_string(), model.to_string()),
        (
            "imported_from".to_string(),
            array.source.display().to_string(),
        ),
        ("imported_blake3".to_string(), array.digest.clone()),
        ("version".to_string(), crate::VERSION.to_string()),
    ]);
    if let Some(name) = &array.name {
        info.insert("imported_array".to_string(), name.clone());
    }
    info
}

/// An image embedding file from an external array: `ids[i]` and `labels[i]` (indices into
/// `classes`) describe row `i`; `model` names the encoder that made the features.
pub fn import_images(
    mut array: FeatureArray,
    ids: Vec<String>,
    labels: Vec<usize>,
    classes: Vec<String>,
    model: &str,
) -> Result<(Embeddings, ImportSummary), EmbeddingsError> {
    let at = array.source.display().to_string();
    if ids.len() != array.rows {
        return Err(EmbeddingsError::invalid(format!(
            "{at}: {} rows but {} ids; one id per row is needed",
            array.rows,
            ids.len()
        )));
    }
    if labels.len() != ids.len() {
        return Err(EmbeddingsError::invalid(format!(
            "{} labels for {} ids",
            labels.len(),
            ids.len()
        )));
    }
    if classes.is_empty() {
        return Err(EmbeddingsError::invalid("no class names given"));
    }
    let mut seen = HashMap::new();
    for (row, id) in ids.iter().enumerate() {
        if let Some(first) = seen.insert(id.as_str(), row) {
            return Err(EmbeddingsError::invalid(format!(
                "id {id:?} is given twice (rows {first} and {row}); ids must be unique"
            )));
        }
    }
    if let Some((row, &label)) = labels.iter().enumerate().find(|(_, &l)| l >= classes.len()) {
        return Err(EmbeddingsError::invalid(format!(
            "row {row} (id {:?}): label {label} is not one of the {} classes",
            ids[row],
            classes.len()
        )));
    }
    let summary = checked_unit_rows(&mut array)?;
    let key = content_key(
        "softtext-imported-images-v1",
        &[array.digest.as_str(), &format!("{:?}", array.name), model],
    );
    let embeddings = Embeddings {
        kind: Kind::Image,
        dim: array.dim,
        info: provenance(&array, model),
        data: array.data,
        ids,
        labels: Some(labels.iter().map(|&l| l as i64).collect()),
        classes,
        key,
    };
    Ok((embeddings, summary))
}

/// A text embedding file from an external array: `texts[i]` is the text of row `i`.
pub fn import_texts(
    mut array: FeatureArray,
    texts: Vec<String>,
    model: &str,
) -> Result<(Embeddings, ImportSummary), EmbeddingsError> {
    let at = array.source.display().to_string();
    if texts.len() != array.rows {
        return Err(EmbeddingsError::invalid(format!(
            "{at}: {} rows but {} texts; one text per row is needed",
            array.rows,
            texts.len()
        )));
    }
    let mut seen = HashSet::new();
    if let Some(text) = texts.iter().find(|t| !seen.insert(t.as_str())) {
        return Err(EmbeddingsError::invalid(format!(
            "text {text:?} is given twice; texts must be unique"
        )));
    }
    let summary = checked_unit_rows(&mut array)?;
    let key = content_key(
        "softtext-imported-texts-v1",
        &[array.digest.as_str(), &format!("{:?}", array.name), model],
    );
    let embeddings = Embeddings {
        kind: Kind::Text,
        dim: array.dim,
        info: provenance(&array, model),
        data: array.data,
        ids: texts,
        labels: None,
        classes: Vec::new(),
        key,
    };
    Ok((embeddings, summary))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn array(data: Vec<f32>, rows: usize, dim: usize) -> FeatureArray {
        FeatureArray::from_rows(data, rows, dim, "features.npy")
    }

    #[test]
    fn normalises_rows_that_are_not_unit_and_keeps_unit_rows_bit_for_bit() {
        let unit = 1.0f32 / 3f32.sqrt();
        let (e, summary) = import_images(
            array(vec![3.0, 4.0, 0.0, unit, unit, unit], 2, 3),
            vec!["a".into(), "b".into()],
            vec![0, 1],
            vec!["cat".into(), "dog".into()],
            "my-model",
        )
        .unwrap();
        assert_eq!(summary.normalised, 1);
        assert_eq!(summary.norm_range.1, 5.0);
        assert_eq!(&e.data[..3], &[0.6, 0.8, 0.0]);
        assert_eq!(&e.data[3..], &[unit, unit, unit]);
        assert_eq!(e.info["model"], "my-model");
        assert_eq!(e.info["imported_from"], "features.npy");
    }

    #[test]
    fn refuses_nan_zero_rows_wrong_counts_duplicates_and_bad_labels() {
        let classes = || vec!["cat".to_string(), "dog".to_string()];
        let ids = || vec!["a".to_string(), "b".to_string()];
        let err = |r: Result<(Embeddings, ImportSummary), EmbeddingsError>| {
            r.map(|_| ()).unwrap_err().to_string()
        };
        let nan = err(import_images(
            array(vec![1.0, f32::NAN, 1.0, 0.0], 2, 2),
            ids(),
            vec![0, 1],
            classes(),
            "m",
        ));
        assert!(nan.contains("row 0, column 1 is NaN"), "{nan}");
        let zero = err(import_images(
            array(vec![0.0, 0.0, 1.0, 0.0], 2, 2),
            ids(),
            vec![0, 1],
            classes(),
            "m",
        ));
        assert!(zero.contains("row 0 is the zero vector"), "{zero}");
        let count = err(import_images(
            array(vec![1.0, 0.0, 1.0, 0.0], 2, 2),
            vec!["a".into()],
            vec![0],
            classes(),
            "m",
        ));
        assert!(count.contains("2 rows but 1 ids"), "{count}");
        let twice = err(import_images(
            array(vec![1.0, 0.0, 1.0, 0.0], 2, 2),
            vec!["a".into(), "a".into()],
            vec![0, 1],
            classes(),
            "m",
        ));
        assert!(
            twice.contains("id \"a\" is given twice (rows 0 and 1)"),
            "{twice}"
        );
        let label = err(import_images(
            array(vec![1.0, 0.0, 1.0, 0.0], 2, 2),
            ids(),
            vec![0, 2],
            classes(),
            "m",
        ));
        assert!(
            label.contains("label 2 is not one of the 2 classes"),
            "{label}"
        );
        let texts = err(import_texts(
            array(vec![1.0, 0.0, 1.0, 0.0], 2, 2),
            vec!["x".into(), "x".into()],
            "m",
        ));
        assert!(texts.contains("text \"x\" is given twice"), "{texts}");
    }
}
