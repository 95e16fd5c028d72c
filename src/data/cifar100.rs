//! `cifar100-bin:PATH` and `cifar100-coarse-bin:PATH`: the official CIFAR-100 binary
//! release, `cifar-100-binary.tar.gz` or its extracted `cifar-100-binary/` folder.
//!
//! `train.bin` (the training split) and `test.bin` (the test split) are sequences of
//! 3,074-byte records: the coarse label byte, the fine label byte, then the 32x32 red,
//! green and blue planes. The class names come from `fine_label_names.txt` (100 names) or
//! `coarse_label_names.txt` (20), one a line; underscores become spaces (`maple_tree` is
//! the class `maple tree`), since the names fill prompts.

use std::path::Path;

use super::release::{parse_names, records, require, rgb_from_planes, Release};
use super::{Cifar100Label, DataError, Result};
use super::{ImageSource, Sample, Split};

const SIDE: usize = 32;
const RECORD: usize = 2 + 3 * SIDE * SIDE;

const RELEASE: Release<'static> = Release {
    folder: "cifar-100-binary",
    how_to_get: "download cifar-100-binary.tar.gz from the CIFAR-100 page (https://www.cs.toronto.edu/~kriz/cifar.html)",
};

impl Cifar100Label {
    /// The release's class-name file for this labelling.
    fn names_file(self) -> &'static str {
        match self {
            Cifar100Label::Fine => "fine_label_names.txt",
            Cifar100Label::Coarse => "coarse_label_names.txt",
        }
    }

    /// How many classes the labelling has.
    pub fn class_count(self) -> usize {
        match self {
            Cifar100Label::Fine => 100,
            Cifar100Label::Coarse => 20,
        }
    }
}

pub(super) fn load(
    path: &Path,
    split: Split,
    label: Cifar100Label,
) -> Result<(Vec<String>, Vec<Sample>)> {
    let batch = match split {
        Split::Train => "train.bin",
        Split::Test => "test.bin",
    };
    let names = label.names_file();
    let needed = [batch, names];
    let files = RELEASE.read_files(path, &needed)?;
    let names_bytes = require(path, &files, names, split, &needed)?;
    let dataset = match label {
        Cifar100Label::Fine => "CIFAR-100 (fine labels)",
        Cifar100Label::Coarse => "CIFAR-100 (coarse labels)",
    };
    let classes: Vec<String> = parse_names(path, names, names_bytes, label.class_count(), dataset)?
        .into_iter()
        .map(|name| name.replace('_', " "))
        .collect();
    let bytes = require(path, &files, batch, split, &needed)?;
    let samples = records(path, batch, bytes, RECORD)?
        .enumerate()
        .map(|(i, record)| {
            // Both label bytes are checked, whichever labelling is read.
            for (kind, value) in [
                (Cifar100Label::Coarse, record[0]),
                (Cifar100Label::Fine, record[1]),
            ] {
                if value as usize >= kind.class_count() {
                    return Err(DataError::invalid(format!(
                        "{}: {batch} record {i}: {kind} label {value} is out of range 0..{}",
                        path.display(),
                        kind.class_count() - 1
                    )));
                }
            }
            let value = match label {
                Cifar100Label::Coarse => record[0],
                Cifar100Label::Fine => record[1],
            } as usize;
            Ok(Sample {
                id: format!("{batch}#{i}"),
                label: value,
                image: ImageSource::Rgb(rgb_from_planes(&record[2..], SIDE)),
            })
        })
        .collect::<Result<Vec<Sample>>>()?;
    Ok((classes, samples))
}
