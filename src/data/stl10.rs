//! `stl10-bin:PATH`: the official STL-10 binary release, `stl10_binary.tar.gz` or its
//! extracted `stl10_binary/` folder.
//!
//! `test_X.bin` / `train_X.bin` hold 96x96 images as 27,648-byte records: the red, green
//! and blue planes, each stored column by column (MATLAB order: the official reader
//! reshapes to `(N, 3, 96, 96)` and transposes to `(N, 96, 96, 3)` with axes `(0, 3, 2,
//! 1)`). `test_y.bin` / `train_y.bin` hold one label byte per image, `1..=10`; labels here
//! are those minus one. `class_names.txt`, when present, names the classes, else
//! [`STL10_CLASSES`]. The 100,000 `unlabeled_X.bin` images are never read (the archive
//! stream skips them).

use std::path::Path;

use super::release::{parse_names, records, require, Release};
use super::{DataError, Result};
use super::{ImageSource, Sample, Split};
use crate::clip::preprocess::RgbImage;

/// STL-10's classes in label order (label byte minus one), as in `class_names.txt`.
pub const STL10_CLASSES: [&str; 10] = [
    "airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck",
];

const SIDE: usize = 96;
const PLANE: usize = SIDE * SIDE;
const RECORD: usize = 3 * PLANE;
const NAMES: &str = "class_names.txt";

const RELEASE: Release<'static> = Release {
    folder: "stl10_binary",
    how_to_get: "download stl10_binary.tar.gz from the STL-10 page (https://cs.stanford.edu/~acoates/stl10/)",
};

pub(super) fn load(path: &Path, split: Split) -> Result<(Vec<String>, Vec<Sample>)> {
    let (images, labels) = match split {
        Split::Train => ("train_X.bin", "train_y.bin"),
        Split::Test => ("test_X.bin", "test_y.bin"),
    };
    let needed = [images, labels];
    let files = RELEASE.read_files(path, &[images, labels, NAMES])?;
    let classes = match files.get(NAMES) {
        Some(bytes) => parse_names(path, NAMES, bytes, STL10_CLASSES.len(), "STL-10")?,
        None => STL10_CLASSES.iter().map(|s| s.to_string()).collect(),
    };
    let image_bytes = require(path, &files, images, split, &needed)?;
    let label_bytes = require(path, &files, labels, split, &needed)?;
    let records = records(path, images, image_bytes, RECORD)?;
    if records.len() != label_bytes.len() {
        return Err(DataError::invalid(format!(
            "{}: {labels} has {} labels but {images} has {} images",
            path.display(),
            label_bytes.len(),
            records.len()
        )));
    }
    let samples = records
        .zip(label_bytes)
        .enumerate()
        .map(|(i, (record, &label))| {
            if !(1..=classes.len()).contains(&(label as usize)) {
                return Err(DataError::invalid(format!(
                    "{}: {labels} record {i}: label {label} is out of range 1..={}",
                    path.display(),
                    classes.len()
                )));
            }
            Ok(Sample {
                id: format!("{images}#{i}"),
                label: label as usize - 1,
                image: ImageSource::Rgb(from_column_major(record)),
            })
        })
        .collect::<Result<Vec<Sample>>>()?;
    Ok((classes, samples))
}

/// A record's pixels, row-major RGB: the value at row `y`, column `x` of channel `c` is
/// stored at `c * 96 * 96 + x * 96 + y`.
fn from_column_major(record: &[u8]) -> RgbImage {
    let mut pixels = Vec::with_capacity(RECORD);
    for y in 0..SIDE {
        for x in 0..SIDE {
            for c in 0..3 {
                pixels.push(record[c * PLANE + x * SIDE + y]);
            }
        }
    }
    RgbImage {
        width: SIDE,
        height: SIDE,
        pixels,
    }
}
