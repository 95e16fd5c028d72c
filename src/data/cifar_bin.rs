//! `cifar10-bin:PATH`: the official CIFAR-10 binary release.
//!
//! Each batch file is a sequence of 3,073-byte records: one label byte, then the 32x32 red,
//! green and blue planes. `test_batch.bin` is the test split and `data_batch_1..5.bin` the
//! training split; `batches.meta.txt`, when present, names the classes.

use std::path::Path;

use super::release::{parse_names, records, require, Release};
use super::{DataError, Result};
use super::{ImageSource, Sample, Split};
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

const RELEASE: Release<'static> = Release {
    folder: "cifar-10-batches-bin",
    how_to_get:
        "download cifar-10-binary.tar.gz from the CIFAR-10 page, or build with --features download",
};

pub(super) fn load(path: &Path, split: Split) -> Result<(Vec<String>, Vec<Sample>)> {
    let wanted = batch_names(split);
    let needed: Vec<&str> = wanted.iter().map(String::as_str).collect();
    let files = RELEASE.read_files(path, &[&needed[..], &[META]].concat())?;
    let classes = match files.get(META) {
        Some(bytes) => parse_names(path, META, bytes, CIFAR10_CLASSES.len(), "CIFAR-10")?,
        None => CIFAR10_CLASSES.iter().map(|s| s.to_string()).collect(),
    };
    let mut samples = Vec::new();
    for name in &needed {
        let bytes = require(path, &files, name, split, &needed)?;
        samples.extend(parse_batch(path, name, bytes, classes.len())?);
    }
    Ok((classes, samples))
}

fn parse_batch(path: &Path, name: &str, bytes: &[u8], n_classes: usize) -> Result<Vec<Sample>> {
    records(path, name, bytes, RECORD)?
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
