//! Image datasets behind one `--data KIND:PATH` syntax.
//!
//! * `folder:PATH`: a directory, `.tar` or `.tar.gz` laid out `SPLIT/CLASS/IMAGE` (any
//!   prefix folders above `SPLIT` are ignored); archives are read as a stream, never
//!   extracted. Classes are sorted by folder name unless a class list is given. A
//!   `classnames.txt` beside the `SPLIT` folders gives each class folder, in that sorted
//!   order, a display name, one a line (ImageNet's WordNet ids `n01440764` → `tench`): the
//!   display names are then the class names (prompts, class lists), and a line count other
//!   than the number of class folders is an error.
//! * `cifar10-bin:PATH`: the official CIFAR-10 binary release, `cifar-10-binary.tar.gz` or
//!   its extracted `cifar-10-batches-bin/` folder.
//! * `cifar100-bin:PATH`: the official CIFAR-100 binary release, `cifar-100-binary.tar.gz`
//!   or its extracted `cifar-100-binary/` folder, with its 100 fine labels
//!   (`fine_label_names.txt`); `cifar100-coarse-bin:PATH` reads the same files with the 20
//!   coarse labels (`coarse_label_names.txt`). Underscores in the names become spaces
//!   (`maple_tree` → `maple tree`). [`DataSpec::with_cifar100_label`] switches an
//!   existing spec.
//! * `stl10-bin:PATH`: the official STL-10 binary release, `stl10_binary.tar.gz` or its
//!   extracted `stl10_binary/` folder (the `train` split is the 5,000 labelled training
//!   images; the unlabelled ones are never read).
//!
//! Every sample keeps a stable id (its path inside the folder or archive, or
//! `BATCH_FILE#RECORD`, e.g. `test.bin#17`, `test_X.bin#17`), and samples are ordered by
//! class, then id, for folders, and by batch file, then record, for the binary releases. Images are decoded lazily so a 10,000
//! image split costs its compressed size in memory until it is encoded.
//!
//! The pipeline's first stage: [`Dataset::load`] reads a split, and
//! [`crate::embeddings::encode::encode_dataset`] and the auxiliary classifier consume it;
//! [`Dataset::manifest_hash`] is what their cache keys know the data by.

mod cifar100;
mod cifar_bin;
mod folder;
mod release;
mod stl10;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::artifact::FileError;
use crate::clip::preprocess::RgbImage;

/// What can go wrong reading a dataset; every message names the folder, archive, file or
/// record at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// A file could not be read.
    #[error(transparent)]
    Io(#[from] FileError),
    /// The dataset is not where the spec says; the message says how to get it.
    #[error("{0}")]
    Missing(String),
    /// Data that is present but wrong (layout, record, image, class list, `--data` spec).
    #[error("{0}")]
    Invalid(String),
}

impl DataError {
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid(message.into())
    }
}

type Result<T, E = DataError> = std::result::Result<T, E>;

pub use cifar_bin::CIFAR10_CLASSES;
pub use stl10::STL10_CLASSES;

/// Which of CIFAR-100's two labellings a `cifar100-bin:` dataset uses.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Cifar100Label {
    /// The 100 classes (`fine_label_names.txt`), the usual benchmark.
    #[default]
    Fine,
    /// The 20 superclasses (`coarse_label_names.txt`).
    Coarse,
}

impl Cifar100Label {
    /// `fine` or `coarse`.
    pub fn as_str(self) -> &'static str {
        match self {
            Cifar100Label::Fine => "fine",
            Cifar100Label::Coarse => "coarse",
        }
    }
}

impl fmt::Display for Cifar100Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Cifar100Label {
    type Err = DataError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "fine" => Ok(Cifar100Label::Fine),
            "coarse" => Ok(Cifar100Label::Coarse),
            other => Err(DataError::invalid(format!(
                "unknown CIFAR-100 label {other:?} (use fine or coarse)"
            ))),
        }
    }
}

/// Where a dataset is and how it is laid out: a parsed `--data KIND:PATH`, which
/// [`fmt::Display`] writes back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataSpec {
    /// `cifar10-bin:PATH`: `cifar-10-binary.tar.gz` or its extracted folder.
    CifarBin(PathBuf),
    /// `folder:PATH`: a directory, `.tar` or `.tar.gz` laid out `SPLIT/CLASS/IMAGE`.
    Folder(PathBuf),
    /// `cifar100-bin:PATH` (fine labels) or `cifar100-coarse-bin:PATH` (coarse labels):
    /// `cifar-100-binary.tar.gz` or its extracted folder.
    Cifar100Bin {
        /// The archive or folder.
        path: PathBuf,
        /// Which labels (and class names) are read.
        label: Cifar100Label,
    },
    /// `stl10-bin:PATH`: `stl10_binary.tar.gz` or its extracted folder.
    Stl10Bin(PathBuf),
}

impl FromStr for DataSpec {
    type Err = DataError;

    fn from_str(spec: &str) -> Result<Self> {
        let (kind, path) = spec.split_once(':').ok_or_else(|| {
            DataError::invalid(format!(
                "--data {spec:?}: expected KIND:PATH, e.g. folder:cifar10-jpeg-test.tar.gz, cifar10-bin:cifar-10-binary.tar.gz or cifar100-bin:cifar-100-binary.tar.gz"
            ))
        })?;
        if path.is_empty() {
            return Err(DataError::invalid(format!(
                "--data {spec:?}: PATH is empty"
            )));
        }
        match kind {
            "folder" => Ok(DataSpec::Folder(path.into())),
            "cifar10-bin" => Ok(DataSpec::CifarBin(path.into())),
            "cifar100-bin" => Ok(DataSpec::Cifar100Bin {
                path: path.into(),
                label: Cifar100Label::Fine,
            }),
            "cifar100-coarse-bin" => Ok(DataSpec::Cifar100Bin {
                path: path.into(),
                label: Cifar100Label::Coarse,
            }),
            "stl10-bin" => Ok(DataSpec::Stl10Bin(path.into())),
            other => Err(DataError::invalid(format!(
                "--data {spec:?}: unknown kind {other:?} (use folder:, cifar10-bin:, cifar100-bin:, cifar100-coarse-bin: or stl10-bin:)"
            ))),
        }
    }
}

impl fmt::Display for DataSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataSpec::CifarBin(p) => write!(f, "cifar10-bin:{}", p.display()),
            DataSpec::Folder(p) => write!(f, "folder:{}", p.display()),
            DataSpec::Cifar100Bin {
                path,
                label: Cifar100Label::Fine,
            } => write!(f, "cifar100-bin:{}", path.display()),
            DataSpec::Cifar100Bin {
                path,
                label: Cifar100Label::Coarse,
            } => write!(f, "cifar100-coarse-bin:{}", path.display()),
            DataSpec::Stl10Bin(p) => write!(f, "stl10-bin:{}", p.display()),
        }
    }
}

impl DataSpec {
    /// The `PATH` part.
    pub fn path(&self) -> &Path {
        match self {
            DataSpec::CifarBin(p) | DataSpec::Folder(p) | DataSpec::Stl10Bin(p) => p,
            DataSpec::Cifar100Bin { path, .. } => path,
        }
    }

    /// The official release's archive name, for messages about missing data
    /// (`cifar-10-binary.tar.gz`, `cifar-100-binary.tar.gz`, `stl10_binary.tar.gz`); `None`
    /// for `folder:` data. Only `cifar10-bin:` data can be downloaded.
    pub fn official_archive(&self) -> Option<&'static str> {
        match self {
            DataSpec::CifarBin(_) => Some("cifar-10-binary.tar.gz"),
            DataSpec::Cifar100Bin { .. } => Some("cifar-100-binary.tar.gz"),
            DataSpec::Stl10Bin(_) => Some("stl10_binary.tar.gz"),
            DataSpec::Folder(_) => None,
        }
    }

    /// The same CIFAR-100 data with `label`'s labelling (what a `--label fine|coarse`
    /// option or a `[data] label` field would apply); an error for any other kind of data.
    pub fn with_cifar100_label(self, label: Cifar100Label) -> Result<Self> {
        match self {
            DataSpec::Cifar100Bin { path, .. } => Ok(DataSpec::Cifar100Bin { path, label }),
            other => Err(DataError::invalid(format!(
                "--data {other}: a {label} labelling applies only to cifar100-bin: data"
            ))),
        }
    }
}

/// Which part of a dataset: `train` or `test` (the folder name in `folder:` data).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// The training split (the auxiliary classifier's training data).
    Train,
    /// The test split (the one the study evaluates on).
    Test,
}

impl Split {
    /// `train` or `test`.
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Split {
    type Err = DataError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "train" => Ok(Split::Train),
            "test" => Ok(Split::Test),
            other => Err(DataError::invalid(format!(
                "unknown split {other:?} (use train or test)"
            ))),
        }
    }
}

/// An image as stored: compressed file bytes, or raw pixels (the binary release).
#[derive(Debug, Clone)]
pub enum ImageSource {
    /// An image file's bytes (JPEG, PNG, ...), decoded on demand.
    Encoded(Vec<u8>),
    /// Decoded pixels.
    Rgb(RgbImage),
}

/// One labelled image of a split.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Stable id: the path inside the folder or archive, or `BATCH_FILE#RECORD`.
    pub id: String,
    /// Index into [`Dataset::classes`].
    pub label: usize,
    /// The image, not yet decoded where the source is compressed.
    pub image: ImageSource,
}

/// One split of a dataset, samples ordered by class then id (folders) or by batch file then
/// record (the binary release).
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The `--data` spec it was read from.
    pub spec: DataSpec,
    /// Which split this is.
    pub split: Split,
    /// Class names in label order.
    pub classes: Vec<String>,
    /// The images with their ids and labels.
    pub samples: Vec<Sample>,
}

impl Dataset {
    /// Reads the split. `classes` fixes the class list and order for `folder:` data (every
    /// listed class must be present, and no other; with a `classnames.txt`, the list names
    /// display names). [`DataError::Missing`] when nothing is
    /// at the spec's path; other errors name the file or record at fault.
    pub fn load(spec: &DataSpec, split: Split, classes: Option<&[String]>) -> Result<Self> {
        let (classes, samples) = match spec {
            DataSpec::Folder(path) => folder::load(path, split, classes)?,
            DataSpec::CifarBin(path) => cifar_bin::load(path, split)?,
            DataSpec::Cifar100Bin { path, label } => cifar100::load(path, split, *label)?,
            DataSpec::Stl10Bin(path) => stl10::load(path, split)?,
        };
        Ok(Self {
            spec: spec.clone(),
            split,
            classes,
            samples,
        })
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Keeps at most `n` samples, taken round-robin over classes so that every class stays
    /// represented (dataset order is class-major, so a plain prefix would hold one class).
    pub fn balanced_limit(&mut self, n: usize) {
        if n == 0 {
            self.samples.clear();
            return;
        }
        if n >= self.samples.len() {
            return;
        }
        let mut by_class: Vec<Vec<Sample>> = vec![Vec::new(); self.classes.len()];
        for s in self.samples.drain(..) {
            by_class[s.label].push(s);
        }
        let mut cursors: Vec<std::vec::IntoIter<Sample>> =
            by_class.into_iter().map(|v| v.into_iter()).collect();
        let mut kept = Vec::with_capacity(n);
        'outer: loop {
            let mut any = false;
            for c in cursors.iter_mut() {
                if let Some(s) = c.next() {
                    kept.push(s);
                    any = true;
                    if kept.len() == n {
                        break 'outer;
                    }
                }
            }
            if !any {
                break;
            }
        }
        kept.sort_by(|a, b| (a.label, &a.id).cmp(&(b.label, &b.id)));
        self.samples = kept;
    }

    /// Decoded RGB pixels of sample `index`; the error names the sample and the container.
    pub fn image(&self, index: usize) -> Result<RgbImage> {
        let sample = &self.samples[index];
        match &sample.image {
            ImageSource::Rgb(img) => Ok(img.clone()),
            ImageSource::Encoded(bytes) => RgbImage::decode(bytes).map_err(|e| {
                DataError::invalid(format!(
                    "{}: image {}: cannot decode: {e}",
                    self.spec.path().display(),
                    sample.id
                ))
            }),
        }
    }

    /// Content hash of the split: ids, labels, class names and every image's bytes.
    /// Two datasets with the same manifest produce the same embeddings.
    pub fn manifest_hash(&self) -> String {
        let mut h = blake3::Hasher::new();
        h.update(b"softtext-dataset-v1\0");
        h.update(self.split.as_str().as_bytes());
        for c in &self.classes {
            h.update(&(c.len() as u64).to_le_bytes());
            h.update(c.as_bytes());
        }
        for s in &self.samples {
            h.update(&(s.id.len() as u64).to_le_bytes());
            h.update(s.id.as_bytes());
            h.update(&(s.label as u64).to_le_bytes());
            match &s.image {
                ImageSource::Encoded(b) => {
                    h.update(&(b.len() as u64).to_le_bytes());
                    h.update(b);
                }
                ImageSource::Rgb(img) => {
                    h.update(&(img.width as u64).to_le_bytes());
                    h.update(&(img.height as u64).to_le_bytes());
                    h.update(&img.pixels);
                }
            }
        }
        h.finalize().to_hex().to_string()
    }

    /// Each sample's label, in sample order (i64, as embedding files store them).
    pub fn labels(&self) -> Vec<i64> {
        self.samples.iter().map(|s| s.label as i64).collect()
    }

    /// Each sample's id, in sample order.
    pub fn ids(&self) -> Vec<String> {
        self.samples.iter().map(|s| s.id.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_specs() {
        assert_eq!(
            "folder:a/b.tar.gz".parse::<DataSpec>().unwrap(),
            DataSpec::Folder("a/b.tar.gz".into())
        );
        assert_eq!(
            "cifar10-bin:x".parse::<DataSpec>().unwrap(),
            DataSpec::CifarBin("x".into())
        );
        for (text, spec) in [
            (
                "cifar100-bin:c.tgz",
                DataSpec::Cifar100Bin {
                    path: "c.tgz".into(),
                    label: Cifar100Label::Fine,
                },
            ),
            (
                "cifar100-coarse-bin:c",
                DataSpec::Cifar100Bin {
                    path: "c".into(),
                    label: Cifar100Label::Coarse,
                },
            ),
            ("stl10-bin:s", DataSpec::Stl10Bin("s".into())),
        ] {
            assert_eq!(text.parse::<DataSpec>().unwrap(), spec);
            assert_eq!(spec.to_string(), text, "Display writes the spec back");
        }
        let fine: DataSpec = "cifar100-bin:c".parse().unwrap();
        assert_eq!(
            fine.clone()
                .with_cifar100_label(Cifar100Label::Coarse)
                .unwrap()
                .to_string(),
            "cifar100-coarse-bin:c"
        );
        let e = DataSpec::Stl10Bin("s".into())
            .with_cifar100_label(Cifar100Label::Coarse)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("stl10-bin:s") && e.contains("cifar100-bin:"),
            "{e}"
        );
        assert_eq!(
            "coarse".parse::<Cifar100Label>().unwrap(),
            Cifar100Label::Coarse
        );
        assert!("medium".parse::<Cifar100Label>().is_err());
        for bad in ["folder:", "nope:x", "plainpath", "cifar100-bin:"] {
            let err = bad.parse::<DataSpec>().unwrap_err().to_string();
            assert!(err.contains(bad), "{err}");
        }
        assert!("valid".parse::<Split>().is_err());
    }
}
