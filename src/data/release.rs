//! Reading the named files of an official binary release (CIFAR-10, CIFAR-100, STL-10):
//! from its extracted folder or, as a stream, from its `.tar` / `.tar.gz`.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use super::{DataError, Result};
use crate::artifact::{FileError, IoContext};

/// Where a release's files may be and what to say when it is absent.
pub(super) struct Release<'a> {
    /// The folder the archive extracts to (`cifar-10-batches-bin`), also looked in when
    /// the path is the folder above it.
    pub folder: &'a str,
    /// The [`DataError::Missing`] message's advice, after `PATH: not found`.
    pub how_to_get: &'a str,
}

impl Release<'_> {
    /// The files named in `wanted` that are present, keyed by file name: read from
    /// `path/` or `path/FOLDER/` when `path` is a folder, else streamed from the tar
    /// (gzipped or not, recognised by content) at `path`, whatever folder they sit in.
    pub(super) fn read_files(
        &self,
        path: &Path,
        wanted: &[&str],
    ) -> Result<BTreeMap<String, Vec<u8>>> {
        let mut files = BTreeMap::new();
        let meta = std::fs::metadata(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                DataError::Missing(format!(
                    "{}: not found ({})",
                    path.display(),
                    self.how_to_get
                ))
            } else {
                DataError::Io(FileError::new(path, e))
            }
        })?;
        if meta.is_dir() {
            for dir in [path.to_path_buf(), path.join(self.folder)] {
                for &name in wanted {
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
            // Entries not wanted (STL-10's 2.6 GB unlabeled_X.bin) are skipped unread.
            if entry.header().entry_type().is_file() && wanted.contains(&file_name.as_str()) {
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
}

/// The file `name` among `files`, or an error listing what the split needs and what was
/// found.
pub(super) fn require<'f>(
    path: &Path,
    files: &'f BTreeMap<String, Vec<u8>>,
    name: &str,
    split: super::Split,
    needed: &[&str],
) -> Result<&'f [u8]> {
    files.get(name).map(Vec::as_slice).ok_or_else(|| {
        let found: Vec<&str> = files.keys().map(|s| s.as_str()).collect();
        DataError::invalid(format!(
            "{}: {name} not found (the {split} split needs {}; found: {})",
            path.display(),
            needed.join(", "),
            if found.is_empty() {
                "nothing".to_string()
            } else {
                found.join(", ")
            }
        ))
    })
}

/// Class names from a text file of one name per line (blank lines and surrounding spaces
/// ignored); exactly `expected` names, no repeats.
pub(super) fn parse_names(
    path: &Path,
    file: &str,
    bytes: &[u8],
    expected: usize,
    dataset: &str,
) -> Result<Vec<String>> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| DataError::invalid(format!("{}: {file} is not UTF-8 text", path.display())))?;
    let names: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    if names.len() != expected {
        return Err(DataError::invalid(format!(
            "{}: {file} names {} classes, {dataset} has {expected}",
            path.display(),
            names.len()
        )));
    }
    for (i, name) in names.iter().enumerate() {
        if names[..i].contains(name) {
            return Err(DataError::invalid(format!(
                "{}: {file} names {name:?} twice",
                path.display()
            )));
        }
    }
    Ok(names)
}

/// `bytes` split into `size`-byte records; the error names the file, its length and the
/// truncated record.
pub(super) fn records<'b>(
    path: &Path,
    name: &str,
    bytes: &'b [u8],
    size: usize,
) -> Result<std::slice::ChunksExact<'b, u8>> {
    if bytes.is_empty() || bytes.len() % size != 0 {
        return Err(DataError::invalid(format!(
            "{}: {name} has {} bytes, not a whole number of {size}-byte records (record {} is truncated)",
            path.display(),
            bytes.len(),
            bytes.len() / size
        )));
    }
    Ok(bytes.chunks_exact(size))
}

/// A `side`×`side` image from its red, green and blue planes, each row-major.
pub(super) fn rgb_from_planes(planes: &[u8], side: usize) -> crate::clip::preprocess::RgbImage {
    let plane = side * side;
    let mut pixels = Vec::with_capacity(3 * plane);
    for p in 0..plane {
        pixels.extend_from_slice(&[planes[p], planes[plane + p], planes[2 * plane + p]]);
    }
    crate::clip::preprocess::RgbImage {
        width: side,
        height: side,
        pixels,
    }
}
