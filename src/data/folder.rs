//! `folder:PATH` datasets: `SPLIT/CLASS/IMAGE` in a directory or a (gzipped) tar stream,
//! with an optional `classnames.txt` of display names beside the `SPLIT` folders.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use super::{DataError, Result};
use super::{ImageSource, Sample, Split};
use crate::artifact::{FileError, IoContext};

/// A file found under `SPLIT/CLASS/`, with the split and class it sits in.
struct Entry {
    split: String,
    class: String,
    id: String,
    bytes: Vec<u8>,
}

/// The file of display names, one per class folder in sorted order.
const CLASS_NAMES: &str = "classnames.txt";

/// What a scan saw: image files, the `SPLIT/CLASS` folders (empty ones included), the
/// folders above each `SPLIT` and every `classnames.txt` (by the folder it is in).
#[derive(Default)]
struct Scan {
    entries: Vec<Entry>,
    class_dirs: BTreeSet<(String, String)>,
    /// `(SPLIT, the folder SPLIT is in)`, `""` for the top.
    split_parents: BTreeSet<(String, String)>,
    /// `(folder, path, bytes)` of each `classnames.txt`.
    class_names: Vec<(String, String, Vec<u8>)>,
}

impl Scan {
    /// Records `rel` (a `/`-separated path) if it sits at `.../SPLIT/CLASS/FILE`, or its
    /// folder if it is `.../SPLIT/CLASS`.
    fn add(
        &mut self,
        rel: &str,
        is_dir: bool,
        bytes: impl FnOnce() -> Result<Vec<u8>>,
    ) -> Result<()> {
        let parts: Vec<&str> = rel
            .split('/')
            .filter(|p| !p.is_empty() && *p != ".")
            .collect();
        if parts.iter().any(|p| p.starts_with('.')) {
            return Ok(()); // hidden files and folders (.DS_Store, ._resource forks)
        }
        let n = parts.len();
        if is_dir {
            if n >= 2 {
                self.class_dirs
                    .insert((parts[n - 2].to_string(), parts[n - 1].to_string()));
                self.split_parents
                    .insert((parts[n - 2].to_string(), parts[..n - 2].join("/")));
            }
            return Ok(());
        }
        if n >= 1 && parts[n - 1] == CLASS_NAMES {
            self.class_names
                .push((parts[..n - 1].join("/"), parts.join("/"), bytes()?));
            return Ok(());
        }
        if n < 3 {
            return Ok(());
        }
        let (split, class) = (parts[n - 3].to_string(), parts[n - 2].to_string());
        self.class_dirs.insert((split.clone(), class.clone()));
        self.split_parents
            .insert((split.clone(), parts[..n - 3].join("/")));
        self.entries.push(Entry {
            split,
            class,
            id: parts.join("/"),
            bytes: bytes()?,
        });
        Ok(())
    }
}

pub(super) fn load(
    path: &Path,
    split: Split,
    classes: Option<&[String]>,
) -> Result<(Vec<String>, Vec<Sample>)> {
    let scan = scan(path)?;
    let wanted = split.as_str();
    let splits: BTreeSet<&str> = scan.class_dirs.iter().map(|(s, _)| s.as_str()).collect();
    if !splits.contains(wanted) {
        let found: Vec<&str> = splits.into_iter().collect();
        return Err(DataError::invalid(format!(
            "{}: no {wanted:?} split (expected SPLIT/CLASS/IMAGE; found splits: {})",
            path.display(),
            if found.is_empty() {
                "none".to_string()
            } else {
                found.join(", ")
            }
        )));
    }
    let found_classes: BTreeSet<String> = scan
        .class_dirs
        .iter()
        .filter(|(s, _)| s == wanted)
        .map(|(_, c)| c.clone())
        .collect();
    // Display names: classnames.txt's lines, else the folder names themselves.
    let display: Vec<String> = match class_names_file(path, &scan, wanted)? {
        Some((file, bytes)) => parse_class_names(path, file, bytes, &found_classes, wanted)?,
        None => found_classes.iter().cloned().collect(),
    };
    let classes: Vec<String> = match classes {
        None => display.clone(),
        Some(list) => {
            for c in list {
                if !display.contains(c) {
                    return Err(DataError::invalid(format!(
                        "{}: class {c:?} is listed but has no folder in split {wanted}",
                        path.display()
                    )));
                }
            }
            if let Some(extra) = display.iter().find(|c| !list.contains(c)) {
                return Err(DataError::invalid(format!(
                    "{}: split {wanted} has a folder {extra:?} that is not in the class list",
                    path.display()
                )));
            }
            list.to_vec()
        }
    };
    let label_of_display: BTreeMap<&str, usize> = classes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i))
        .collect();
    let index: BTreeMap<&str, usize> = found_classes
        .iter()
        .zip(&display)
        .map(|(folder, name)| (folder.as_str(), label_of_display[name.as_str()]))
        .collect();
    let mut samples: Vec<Sample> = scan
        .entries
        .into_iter()
        .filter(|e| e.split == wanted)
        .map(|e| Sample {
            label: index[e.class.as_str()],
            id: e.id,
            image: ImageSource::Encoded(e.bytes),
        })
        .collect();
    let mut counts = vec![0usize; classes.len()];
    for s in &samples {
        counts[s.label] += 1;
    }
    if let Some(empty) = counts.iter().position(|&n| n == 0) {
        return Err(DataError::invalid(format!(
            "{}: class {:?} has no images in split {wanted}",
            path.display(),
            classes[empty]
        )));
    }
    samples.sort_by(|a, b| (a.label, &a.id).cmp(&(b.label, &b.id)));
    Ok((classes, samples))
}

/// The `classnames.txt` beside the folders of split `wanted`, if there is one.
fn class_names_file<'s>(
    path: &Path,
    scan: &'s Scan,
    wanted: &str,
) -> Result<Option<(&'s str, &'s [u8])>> {
    let beside: Vec<&(String, String, Vec<u8>)> = scan
        .class_names
        .iter()
        .filter(|(folder, _, _)| {
            scan.split_parents
                .contains(&(wanted.to_string(), folder.clone()))
        })
        .collect();
    match beside.as_slice() {
        [] => Ok(None),
        [(_, file, bytes)] => Ok(Some((file.as_str(), bytes.as_slice()))),
        several => Err(DataError::invalid(format!(
            "{}: several {CLASS_NAMES} beside {wanted} folders: {}",
            path.display(),
            several
                .iter()
                .map(|(_, file, _)| file.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// One display name per class folder, in folder order; trailing blank lines are ignored,
/// any other blank line, a repeated name or a count other than the folders' is an error
/// naming the file (and line).
fn parse_class_names(
    path: &Path,
    file: &str,
    bytes: &[u8],
    folders: &BTreeSet<String>,
    wanted: &str,
) -> Result<Vec<String>> {
    let at = |what: String| DataError::invalid(format!("{}: {file}: {what}", path.display()));
    let text = std::str::from_utf8(bytes).map_err(|_| at("not UTF-8 text".to_string()))?;
    let mut names: Vec<&str> = text.lines().map(str::trim).collect();
    while names.last() == Some(&"") {
        names.pop();
    }
    if names.len() != folders.len() {
        return Err(at(format!(
            "{} names for the {} class folders of split {wanted} (one name a line, in sorted folder order)",
            names.len(),
            folders.len()
        )));
    }
    for (i, name) in names.iter().enumerate() {
        if name.is_empty() {
            return Err(at(format!("line {} is empty", i + 1)));
        }
        if let Some(first) = names[..i].iter().position(|n| n == name) {
            return Err(at(format!(
                "line {} repeats line {}'s name {name:?}",
                i + 1,
                first + 1
            )));
        }
    }
    Ok(names.into_iter().map(String::from).collect())
}

fn scan(path: &Path) -> Result<Scan> {
    let meta = std::fs::metadata(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            DataError::Missing(format!("{}: no such folder or archive", path.display()))
        } else {
            DataError::Io(FileError::new(path, e))
        }
    })?;
    let mut scan = Scan::default();
    if meta.is_dir() {
        walk(path, "", &mut scan)?;
        return Ok(scan);
    }
    let name = path.to_string_lossy();
    let file = BufReader::new(File::open(path).at(path)?);
    if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
        read_tar(path, flate2::read::GzDecoder::new(file), &mut scan)?;
    } else if name.ends_with(".tar") {
        read_tar(path, file, &mut scan)?;
    } else {
        return Err(DataError::invalid(format!(
            "{}: folder: data must be a directory, a .tar or a .tar.gz",
            path.display()
        )));
    }
    Ok(scan)
}

fn walk(root: &Path, rel: &str, scan: &mut Scan) -> Result<()> {
    let dir = root.join(rel);
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .at(&dir)?
        .collect::<std::io::Result<_>>()
        .at(&dir)?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let child = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let path = entry.path();
        // metadata() follows symbolic links: a class folder linked in from elsewhere is a
        // class, not a stray file to skip.
        let is_dir = std::fs::metadata(&path).at(&path)?.is_dir();
        scan.add(&child, is_dir, || Ok(std::fs::read(&path).at(&path)?))?;
        if is_dir {
            walk(root, &child, scan)?;
        }
    }
    Ok(())
}

fn read_tar<R: Read>(path: &Path, reader: R, scan: &mut Scan) -> Result<()> {
    let mut archive = tar::Archive::new(reader);
    let mut last = String::from("(start of archive)");
    let corrupt = |last: &str, e: std::io::Error| {
        DataError::invalid(format!(
            "{}: corrupt or truncated archive after entry {last}: {e}",
            path.display()
        ))
    };
    for (n, entry) in archive
        .entries()
        .map_err(|e| corrupt(&last, e))?
        .enumerate()
    {
        let mut entry = entry.map_err(|e| corrupt(&last, e))?;
        let rel = entry
            .path()
            .map_err(|e| corrupt(&last, e))?
            .to_string_lossy()
            .into_owned();
        let kind = entry.header().entry_type();
        if kind.is_dir() || kind.is_file() {
            let size = entry.size() as usize;
            scan.add(&rel, kind.is_dir(), || {
                let mut bytes = Vec::with_capacity(size);
                entry.read_to_end(&mut bytes).map_err(|e| {
                    DataError::invalid(format!(
                        "{}: entry {} ({rel}) is truncated: {e}",
                        path.display(),
                        n + 1
                    ))
                })?;
                Ok(bytes)
            })?;
        }
        last = rel;
    }
    Ok(())
}
