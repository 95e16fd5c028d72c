//! The import stage: an external `[N, D]` feature array with its ids, labels and class names
//! (or its texts) into a softtext embedding file; see [`crate::embeddings::import`].

use std::path::{Path, PathBuf};

use super::error::StudyError;
use crate::embeddings::import::{import_images, import_texts, FeatureArray, ImportSummary};
use crate::embeddings::Embeddings;
use crate::error::Result;
use crate::observe::Observer;

/// What the rows of an imported array are.
#[derive(Debug, Clone, PartialEq)]
pub enum ImportRows {
    /// Images: `meta` gives each row's id and label (CSV with `id` and `label` columns, or
    /// JSON: `[{"id": …, "label": …}]` or `{"ids": […], "labels": […]}`; a label is a class
    /// index or a class name), `classes` the class names in label order (one per line, or a
    /// JSON array).
    Images {
        /// Ids and labels.
        meta: PathBuf,
        /// Class names.
        classes: PathBuf,
    },
    /// Texts: the text of each row (one per line, or a JSON array).
    Texts {
        /// The texts.
        texts: PathBuf,
    },
}

/// One import.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddingImport {
    /// The `.npy`, `.npz` or `.safetensors` file.
    pub array: PathBuf,
    /// The array's name in an `.npz` or safetensors file holding several.
    pub array_name: Option<String>,
    /// What the rows are.
    pub rows: ImportRows,
    /// The encoder that made the features, recorded as the file's model.
    pub model: String,
    /// An embedding file the import must match in width (e.g. the images texts are
    /// imported for).
    pub like: Option<PathBuf>,
}

fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| {
        StudyError::Io {
            path: path.to_path_buf(),
            source,
        }
        .into()
    })
}

fn bad(path: &Path, message: impl std::fmt::Display) -> crate::Error {
    StudyError::Input(format!("{}: {message}", path.display())).into()
}

/// A list of strings: a JSON array, or one per line (see [`read_lines`]).
fn read_list(path: &Path) -> Result<Vec<String>> {
    if path.extension().is_some_and(|e| e == "json") {
        let text = read_text(path)?;
        return serde_json::from_str(&text)
            .map_err(|e| bad(path, format!("{e} (a JSON array of strings is needed)")));
    }
    read_lines(path)
}

/// The lines of a text file, one item each: blank lines skipped, a trailing CR stripped
/// (files written on Windows).
pub fn read_lines(path: &Path) -> Result<Vec<String>> {
    Ok(read_text(path)?
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.trim().is_empty())
        .map(String::from)
        .collect())
}

/// One CSV record, with RFC 4180 quoting (doubled quotes inside quoted fields).
fn csv_record(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                fields.last_mut().expect("one field").push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(String::new()),
            (c, _) => fields.last_mut().expect("one field").push(c),
        }
    }
    fields
}

/// Ids and raw labels (an index or a class name) from a CSV or JSON file.
fn read_meta(path: &Path) -> Result<Vec<(String, String)>> {
    let text = read_text(path)?;
    if path.extension().is_some_and(|e| e == "json") {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Label {
            Index(usize),
            Name(String),
        }
        #[derive(serde::Deserialize)]
        struct Row {
            id: String,
            label: Label,
        }
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Meta {
            Rows(Vec<Row>),
            Columns {
                ids: Vec<String>,
                labels: Vec<Label>,
            },
        }
        let label = |l: Label| match l {
            Label::Index(i) => i.to_string(),
            Label::Name(n) => n,
        };
        let meta: Meta = serde_json::from_str(&text).map_err(|e| {
            bad(path, format!("{e} (expected [{{\"id\": …, \"label\": …}}] or {{\"ids\": […], \"labels\": […]}})"))
        })?;
        return Ok(match meta {
            Meta::Rows(rows) => rows.into_iter().map(|r| (r.id, label(r.label))).collect(),
            Meta::Columns { ids, labels } => {
                if ids.len() != labels.len() {
                    return Err(bad(
                        path,
                        format!("{} ids but {} labels", ids.len(), labels.len()),
                    ));
                }
                ids.into_iter().zip(labels.into_iter().map(label)).collect()
            }
        });
    }
    let mut lines = text.lines().map(|l| l.trim_end_matches('\r'));
    let header = csv_record(lines.next().unwrap_or(""));
    let column = |name: &str| {
        header.iter().position(|h| h.trim() == name).ok_or_else(|| {
            bad(
                path,
                format!(
                    "line 1: no `{name}` column (columns: {})",
                    header.join(", ")
                ),
            )
        })
    };
    let (id_col, label_col) = (column("id")?, column("label")?);
    let mut rows = Vec::new();
    for (i, line) in lines.enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let fields = csv_record(line);
        match (fields.get(id_col), fields.get(label_col)) {
            (Some(id), Some(label)) => rows.push((id.clone(), label.trim().to_string())),
            _ => {
                return Err(bad(
                    path,
                    format!("line {}: fewer fields than the header", i + 2),
                ))
            }
        }
    }
    Ok(rows)
}

/// Imports an external feature array into `out` (written only when every check passed) and
/// returns the file's content with what the import did.
pub fn import_embeddings(
    params: &EmbeddingImport,
    out: &Path,
    observer: &dyn Observer,
) -> Result<(Embeddings, ImportSummary)> {
    let array = FeatureArray::read(&params.array, params.array_name.as_deref())?;
    if let Some(like) = &params.like {
        let reference = Embeddings::load(like)?;
        if reference.dim != array.dim {
            return Err(StudyError::Input(format!(
                "{}: rows of {} dims, but {} has {}; both must come from one model",
                params.array.display(),
                array.dim,
                like.display(),
                reference.dim
            ))
            .into());
        }
    }
    let (embeddings, summary) = match &params.rows {
        ImportRows::Images { meta, classes } => {
            let classes = read_list(classes)?;
            let rows = read_meta(meta)?;
            let mut ids = Vec::with_capacity(rows.len());
            let mut labels = Vec::with_capacity(rows.len());
            for (i, (id, label)) in rows.into_iter().enumerate() {
                let index = match label.parse::<usize>() {
                    Ok(index) => index,
                    Err(_) => classes.iter().position(|c| *c == label).ok_or_else(|| {
                        bad(meta, format!("row {i} (id {id:?}): label {label:?} is neither a class index nor one of the class names"))
                    })?,
                };
                ids.push(id);
                labels.push(index);
            }
            import_images(array, ids, labels, classes, &params.model)?
        }
        ImportRows::Texts { texts } => import_texts(array, read_list(texts)?, &params.model)?,
    };
    embeddings.save(out)?;
    observer.status(&format!(
        "imported {} rows x {} dims from {} into {}; {} L2-normalised (row norms {:.4} – {:.4})",
        summary.rows,
        summary.dim,
        params.array.display(),
        out.display(),
        match summary.normalised {
            0 => "none needed to be".to_string(),
            n => format!("{n} rows"),
        },
        summary.norm_range.0,
        summary.norm_range.1
    ));
    Ok((embeddings, summary))
}

#[cfg(test)]
mod tests {
    use super::csv_record;

    #[test]
    fn csv_records_follow_rfc_4180_quoting() {
        assert_eq!(csv_record("a,b"), ["a", "b"]);
        assert_eq!(
            csv_record("\"a,b\",\"say \"\"hi\"\"\",c"),
            ["a,b", "say \"hi\"", "c"]
        );
        assert_eq!(csv_record(""), [""]);
    }
}
