//! Turning a dataset split or a list of texts into embeddings, batched, with each unique text
//! encoded once and image decoding overlapped with the encoder.

use std::collections::HashMap;
use std::sync::mpsc::sync_channel;

use rayon::prelude::*;

use super::{Embeddings, Kind};
use crate::clip::{Clip, DeviceKind, Overflow};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::progress;

/// The inputs that determine an image embedding file; their hash is its cache key.
pub fn image_cache_key(
    checkpoint_hash: &str,
    clip: &Clip,
    device: DeviceKind,
    dataset_hash: &str,
) -> String {
    let mut h = blake3::Hasher::new();
    h.update(b"softtext-image-embeddings-v1\0");
    for part in [
        checkpoint_hash,
        &format!("{:?}", clip.preprocess),
        &clip.precision.to_string(),
        &device.to_string(),
        dataset_hash,
    ] {
        h.update(&(part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().to_hex().to_string()
}

/// Image embeddings of every sample, in dataset order, `[len, dim]` row-major.
///
/// A producer thread decodes and preprocesses the next batch (in parallel over its images)
/// while the current batch is encoded.
pub fn encode_dataset(clip: &Clip, dataset: &Dataset, batch_size: usize) -> Result<Vec<f32>> {
    let batch_size = batch_size.max(1);
    let n = dataset.len();
    let dim = clip.dim();
    let bar = progress::bar(n as u64, "images");
    bar.set_message("encoding");
    let mut out = Vec::with_capacity(n * dim);
    std::thread::scope(|scope| -> Result<()> {
        let (tx, rx) = sync_channel::<Result<(Vec<f32>, usize)>>(2);
        scope.spawn(move || {
            for start in (0..n).step_by(batch_size) {
                let end = (start + batch_size).min(n);
                let batch = prepare_batch(clip, dataset, start..end).map(|px| (px, end - start));
                let failed = batch.is_err();
                if tx.send(batch).is_err() || failed {
                    break;
                }
            }
        });
        for batch in rx {
            let (pixels, count) = batch?;
            out.extend(clip.encode_pixel_values(pixels, count)?);
            bar.inc(count as u64);
        }
        Ok(())
    })?;
    bar.finish_and_clear();
    if out.len() != n * dim {
        return Err(Error::invalid(format!(
            "encoded {} of {n} images",
            out.len() / dim.max(1)
        )));
    }
    Ok(out)
}

fn prepare_batch(
    clip: &Clip,
    dataset: &Dataset,
    range: std::ops::Range<usize>,
) -> Result<Vec<f32>> {
    let per_image: Vec<Vec<f32>> = range
        .into_par_iter()
        .map(|i| clip.preprocess.pixel_values(&dataset.image(i)?))
        .collect::<Result<_>>()?;
    Ok(per_image.concat())
}

/// Embeddings for `texts` in input order; duplicates are encoded once. Texts are batched by
/// token length, so short prompts are not padded to the longest one in the list.
pub fn encode_texts<S: AsRef<str>>(
    clip: &Clip,
    texts: &[S],
    overflow: Overflow,
    batch_size: usize,
) -> Result<Vec<f32>> {
    let mut unique: Vec<&str> = Vec::new();
    let mut slot: HashMap<&str, usize> = HashMap::new();
    let row_of: Vec<usize> = texts
        .iter()
        .map(|t| {
            let t = t.as_ref();
            *slot.entry(t).or_insert_with(|| {
                unique.push(t);
                unique.len() - 1
            })
        })
        .collect();
    let ids = clip.tokenizer.encode_all(&unique, overflow)?;
    let length = |row: &[u32]| {
        row.iter()
            .position(|&t| t == clip.tokenizer.end_id())
            .unwrap_or(0)
    };
    let mut order: Vec<usize> = (0..unique.len()).collect();
    order.sort_by_key(|&i| (length(&ids[i]), i));

    let dim = clip.dim();
    let mut unique_embeddings = vec![0f32; unique.len() * dim];
    let bar = progress::bar(unique.len() as u64, "texts");
    bar.set_message("encoding");
    for chunk in order.chunks(batch_size.max(1)) {
        let batch: Vec<Vec<u32>> = chunk.iter().map(|&i| ids[i].clone()).collect();
        let encoded = clip.encode_token_ids(&batch)?;
        for (row, &i) in encoded.chunks_exact(dim).zip(chunk) {
            unique_embeddings[i * dim..(i + 1) * dim].copy_from_slice(row);
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    Ok(row_of
        .iter()
        .flat_map(|&u| unique_embeddings[u * dim..(u + 1) * dim].iter().copied())
        .collect())
}

/// A text embedding file's content for `texts`, in input order.
pub fn text_embeddings(
    clip: &Clip,
    texts: &[String],
    overflow: Overflow,
    batch_size: usize,
    info: HashMap<String, String>,
) -> Result<Embeddings> {
    let data = encode_texts(clip, texts, overflow, batch_size)?;
    Ok(Embeddings {
        kind: Kind::Text,
        dim: clip.dim(),
        data,
        ids: texts.to_vec(),
        labels: None,
        classes: Vec::new(),
        key: String::new(),
        info,
    })
}

/// The inputs that determine a text embedding file; their hash is its cache key.
pub fn text_cache_key(
    checkpoint_hash: &str,
    clip: &Clip,
    device: DeviceKind,
    texts: &[String],
) -> String {
    let mut h = blake3::Hasher::new();
    h.update(b"softtext-text-embeddings-v1\0");
    for part in [
        checkpoint_hash,
        &clip.precision.to_string(),
        &device.to_string(),
    ] {
        h.update(&(part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    for t in texts {
        h.update(&(t.len() as u64).to_le_bytes());
        h.update(t.as_bytes());
    }
    h.finalize().to_hex().to_string()
}

/// Text embeddings for `texts`, read from `cache` when it holds exactly these texts from this
/// checkpoint, otherwise encoded and written there. Returns the embeddings and whether they
/// came from the cache.
pub fn cached_text_embeddings(
    clip: &Clip,
    checkpoint_hash: &str,
    device: DeviceKind,
    texts: &[String],
    batch_size: usize,
    cache: &std::path::Path,
) -> Result<(Embeddings, bool)> {
    let key = text_cache_key(checkpoint_hash, clip, device, texts);
    if let Some(hit) = Embeddings::load_if_fresh(cache, &key) {
        return Ok((hit, true));
    }
    let mut info = HashMap::from([
        ("model".to_string(), clip.files.name.clone()),
        ("dtype".to_string(), clip.precision.to_string()),
        ("device".to_string(), device.to_string()),
        ("version".to_string(), crate::VERSION.to_string()),
        ("checkpoint_hash".to_string(), checkpoint_hash.to_string()),
    ]);
    info.shrink_to_fit();
    let mut embeddings = text_embeddings(clip, texts, Overflow::Error, batch_size, info)?;
    embeddings.key = key;
    embeddings.save(cache)?;
    Ok((embeddings, false))
}
