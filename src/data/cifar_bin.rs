//! `cifar10-bin:PATH`: the official CIFAR-10 binary release.
//!
//! Each batch file is a sequence of 3,073-byte records: one label byte, then the 32x32 red,
//! green and blue planes. `test_batch.bin` is the test split and `data_batch_1..5.bin` the
//! training split; `batches.meta.txt`, when present, names the classes.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use super::{DataError, Result};
use super::{ImageSource, Sample, Split};
use crate::artifact::{FileError, IoContext};
use crate::clip::preprocess::RgbImage;

/// CIFAR-10's classes in label order (also alphabetical order); one list for the whole crate.
pub use crate::prompts::CIFAR10_CLASSES;

const SIDE: usize = 32;
const PLANE: usize = SIDE * SIDE;
const RECORD: usize = 1 + 3 * PLANE;
const META: &str = "batches.meta.txt";

fn batch_names(split: Split) -> Vec<String> {
    match split {
        Split::Test => vec!["test_batch.bin".to_string()],
        Split::Train => (1..=5).map(|i| format!("data_batch_{i}.bin")).collect(),
    }
}

pub(super) fn load(path: &Path, split: Split) -> Result<(Vec<String>, Vec<Sample>)> {
    let wanted = batch_names(split);
    let files = read_files(path, &wanted)?;
    let classes = match files.get(META) {
        Some(bytes) => parse_meta(path, bytes)?,
        None => CIFAR10_CLASSES.iter().map(|s| s.to_string()).collect(),
    };
    let mut samples = Vec::new();
    for name in &wanted {
        let bytes = files.get(name).ok_or_else(|| {
            let found: Vec<&str> = files.keys().map(|s| s.as_str()).collect();
            DataError::invalid(format!(
                "{}: {name} not found (the {split} split needs {}; found: {})",
                path.display(),
                wanted.join(", "),
                if found.is_empty() {
                    "nothing".to_string()
                } else {
                    found.join(", ")
                }
            ))
        })?;
        samples.extend(parse_batch(path, name, bytes, classes.len())?);
    }
    Ok((classes, samples))
}

/// Reads the wanted batch files (and the metadata file) from a folder or a tar(.gz),
/// keyed by file name.
fn read_files(path: &Path, wanted: &[String]) -> Result<BTreeMap<String, Vec<u8>>> {
    let keep = |name: &str| name == META || wanted.iter().any(|w| w == name);
    let mut files = BTreeMap::new();
    let meta = std::fs::metadata(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            DataError::Missing(format!(
                "{}: not found (download cifar-10-binary.tar.gz from the CIFAR-10 page, or build with --features download)",
                path.display()
            ))
        } else {
            DataError::Io(FileError::new(path, e))
        }
    })?;
    if meta.is_dir() {
        for dir in [path.to_path_buf(), path.join("cifar-10-batches-bin")] {
            for name in wanted.iter().map(String::as_str).chain([META]) {
                let file = dir.join(name);
                if file.is_file() && !files.contains_key(name) {
                    files.insert(name.to_string(), std::fs::read(&file).at(&file)?);
                }
            }
        }
        return Ok(files);
    }
    let mut reader = BufReader::new(File::open(path).at(path)?);
    // By content, not by name: a download saved under a name without `.gz` is still gzip.
    let gzip = reader.fill_buf().at(path)?.starts_with(&[0x1f, 0x8b]);
    let reader: Box<dyn Read> = if gzip {
        Box::new(flate2::read::GzDecoder::new(reader))
    } else {
        Box::new(reader)
    };
    let corrupt = |e: std::io::Error| {
        DataError::invalid(format!(
            "{}: corrupt or truncated archive: {e}",
            path.display()
        ))
    };
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        let entry_path = entry.path().map_err(corrupt)?.to_path_buf();
        let Some(file_name) = entry_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
        else {
            continue;
        };
        if entry.header().entry_type().is_file() && keep(&file_name) {
            let mut bytes = Vec::with_capacity(entry.size() as usize);
            entry.read_to_end(&mut bytes).map_err(|e| {
                DataError::invalid(format!(
                    "{}: {} is truncated: {e}",
                    path.display(),
                    entry_path.display()
                ))
            })?;
            files.insert(file_name, bytes);
        }
    }
    Ok(files)
}

fn parse_meta(path: &Path, bytes: &[u8]) -> Result<Vec<String>> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| DataError::invalid(format!("{}: {META} is not UTF-8 text", path.display())))?;
    let classes: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    if classes.len() != CIFAR10_CLASSES.len() {
        return Err(DataError::invalid(format!(
            "{}: {META} names {} classes, CIFAR-10 has 10",
            path.display(),
            classes.len()
        )));
    }
    Ok(classes)
}

fn parse_batch(path: &Path, name: &str, bytes: &[u8], n_classes: usize) -> Result<Vec<Sample>> {
    if bytes.is_empty() || bytes.len() % RECORD != 0 {
        return Err(DataError::invalid(format!(
            "{}: {name} has {} bytes, not a whole number of {RECORD}-byte records (record {} is truncated)",
            path.display(),
            bytes.len(),
            bytes.len() / RECORD
        )));
    }
    bytes
        .chunks_exact(RECORD)
        .enumerate()
        .map(|(i, record)| {
            let label = record[0] as usize;
            if label >= n_classes {
                return Err(DataError::invalid(format!(
                    "{}: {name} record {i}: label {label} is out of range 0..{}",
                    path.display(),
                    n_classes - 1
                )));
            }
            let planes = &record[1..];
            let mut pixels = Vec::with_capacity(3 * PLANE);
            for p in 0..PLANE {
                pixels.extend_from_slice(&[planes[p], planes[PLANE + p], planes[2 * PLANE + p]]);
            }
            Ok(Sample {
                id: format!("{name}#{i}"),
                label,
                image: ImageSource::Rgb(RgbImage {
                    width: SIDE,
                    height: SIDE,
                    pixels,
                }),
            })
        })
        .collect()
}
