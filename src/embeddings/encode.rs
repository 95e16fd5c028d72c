//! Turning a dataset split or a list of texts into embeddings, batched, with each unique text
//! encoded once and image decoding overlapped with the encoder; and the cache keys that
//! tell, before any model is loaded, whether an embedding file is up to date.

use std::collections::HashMap;
use std::sync::mpsc::sync_channel;

use rayon::prelude::*;

use super::{Embeddings, EmbeddingsError, Kind};
use crate::artifact::content_key;
use crate::clip::{Clip, DeviceKind, LazyClip, Overflow, Precision, Preprocess};
use crate::data::Dataset;
use crate::observe::Observer;

type Result<T, E = EmbeddingsError> = std::result::Result<T, E>;

/// One part of a cache key: the value as JSON.
fn part<T: serde::Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).expect("cache key parts serialise")
}

/// The inputs that determine an image embedding file; their hash is its cache key.
/// `fingerprint` is [`crate::clip::ClipFiles::fingerprint`] (or [`LazyClip::fingerprint`]),
/// `dataset_hash` [`Dataset::manifest_hash`]: nothing here needs the model loaded.
pub fn image_cache_key(
    fingerprint: &str,
    preprocess: &Preprocess,
    precision: Precision,
    device: DeviceKind,
    dataset_hash: &str,
) -> String {
    content_key(
        "softtext-image-embeddings-v2",
        &[
            part(fingerprint),
            part(preprocess),
            part(&precision),
            part(&device),
            part(dataset_hash),
        ],
    )
}

/// The inputs that determine a text embedding file; their hash is its cache key.
pub fn text_cache_key(
    fingerprint: &str,
    precision: Precision,
    device: DeviceKind,
    texts: &[String],
) -> String {
    content_key(
        "softtext-text-embeddings-v2",
        &[
            part(fingerprint),
            part(&precision),
            part(&device),
            part(texts),
        ],
    )
}

/// Image embeddings of every sample, in dataset order, `[len, dim]` row-major.
///
/// A producer thread decodes and preprocesses the next batch (in parallel over its images)
/// while the current batch is encoded. Progress goes to `observer`, in images.
pub fn encode_dataset(
    clip: &Clip,
    dataset: &Dataset,
    batch_size: usize,
    observer: &dyn Observer,
) -> Result<Vec<f32>> {
    let batch_size = batch_size.max(1);
    let n = dataset.len();
    let dim = clip.dim();
    let progress = observer.progress(n as u64, "images");
    progress.message("encoding");
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
            progress.advance(count as u64);
        }
        Ok(())
    })?;
    progress.finish();
    if out.len() != n * dim {
        return Err(EmbeddingsError::invalid(format!(
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
        .map(|i| -> Result<Vec<f32>> { Ok(clip.preprocess.pixel_values(&dataset.image(i)?)?) })
        .collect::<Result<_>>()?;
    Ok(per_image.concat())
}

/// Embeddings for `texts` in input order; duplicates are encoded once. Texts are batched by
/// token length, so short prompts are not padded to the longest one in the list. Progress
/// goes to `observer`, in unique texts.
pub fn encode_texts<S: AsRef<str>>(
    clip: &Clip,
    texts: &[S],
    overflow: Overflow,
    batch_size: usize,
    observer: &dyn Observer,
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
    let progress = observer.progress(unique.len() as u64, "texts");
    progress.message("encoding");
    for chunk in order.chunks(batch_size.max(1)) {
        let batch: Vec<Vec<u32>> = chunk.iter().map(|&i| ids[i].clone()).collect();
        let encoded = clip.encode_token_ids(&batch)?;
        for (row, &i) in encoded.chunks_exact(dim).zip(chunk) {
            unique_embeddings[i * dim..(i + 1) * dim].copy_from_slice(row);
        }
        progress.advance(chunk.len() as u64);
    }
    progress.finish();
    Ok(row_of
        .iter()
        .flat_map(|&u| unique_embeddings[u * dim..(u + 1) * dim].iter().copied())
        .collect())
}

/// A text embedding file's content for `texts`, in input order, with `info` as its
/// descriptive metadata; `key` is left empty for the caller to fill in.
pub fn text_embeddings(
    clip: &Clip,
    texts: &[String],
    overflow: Overflow,
    batch_size: usize,
    info: HashMap<String, String>,
    observer: &dyn Observer,
) -> Result<Embeddings> {
    let data = encode_texts(clip, texts, overflow, batch_size, observer)?;
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

/// Text embeddings for `texts`, read from `cache` when it holds exactly these texts from this
/// checkpoint, otherwise encoded and written there. The key is decided from the checkpoint's
/// fingerprint, so the model is loaded only on a miss. Returns the embeddings and whether
/// they came from the cache.
pub fn cached_text_embeddings(
    clip: &LazyClip,
    texts: &[String],
    batch_size: usize,
    cache: &std::path::Path,
    observer: &dyn Observer,
) -> Result<(Embeddings, bool)> {
    let fingerprint = clip.fingerprint()?;
    let key = text_cache_key(fingerprint, clip.precision(), clip.device(), texts);
    if let Some(hit) = Embeddings::load_if_fresh(cache, &key) {
        return Ok((hit, true));
    }
    let info = HashMap::from([
        ("model".to_string(), clip.files().name.clone()),
        ("dtype".to_string(), clip.precision().to_string()),
        ("device".to_string(), clip.device().to_string()),
        ("version".to_string(), crate::VERSION.to_string()),
        ("checkpoint_hash".to_string(), fingerprint.to_string()),
    ]);
    let model = clip.get()?;
    let mut embeddings =
        text_embeddings(model, texts, Overflow::Error, batch_size, info, observer)?;
    embeddings.key = key;
    embeddings.save(cache)?;
    Ok((embeddings, false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clip::ClipFiles;
    use crate::observe::Silent;
    use std::path::Path;

    const TINY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/clip-tiny");

    /// `fixtures/clip-tiny` laid out as a Hugging Face cache entry: every file a link into
    /// `blobs/`, the weights' blob named by a (made-up) SHA-256.
    #[cfg(unix)]
    fn hub_copy(root: &Path) -> (ClipFiles, std::path::PathBuf) {
        let repo = root.join("models--org--tiny");
        let blobs = repo.join("blobs");
        let snapshot = repo.join("snapshots/abc");
        std::fs::create_dir_all(&blobs).unwrap();
        std::fs::create_dir_all(&snapshot).unwrap();
        let mut weights_blob = None;
        for (i, name) in [
            "config.json",
            "tokenizer.json",
            "preprocessor_config.json",
            "model.safetensors",
        ]
        .into_iter()
        .enumerate()
        {
            let blob = if name == "model.safetensors" {
                "e3".repeat(32)
            } else {
                format!("git{i}")
            };
            std::fs::copy(Path::new(TINY).join(name), blobs.join(&blob)).unwrap();
            std::os::unix::fs::symlink(Path::new("../../blobs").join(&blob), snapshot.join(name))
                .unwrap();
            if name == "model.safetensors" {
                weights_blob = Some(blobs.join(&blob));
            }
        }
        (
            ClipFiles::in_dir("org/tiny", &snapshot).unwrap(),
            weights_blob.unwrap(),
        )
    }

    #[cfg(unix)]
    #[test]
    fn a_cache_hit_needs_no_weights() {
        let root = tempfile::tempdir().unwrap();
        let (files, blob) = hub_copy(root.path());
        let cache = root.path().join("texts.safetensors");
        let texts = vec!["a photo of a cat.".to_string(), "a dog".to_string()];

        let clip = LazyClip::new(files.clone(), DeviceKind::Cpu, Precision::F32);
        let (first, cached) = cached_text_embeddings(&clip, &texts, 8, &cache, &Silent).unwrap();
        assert!(!cached && clip.is_loaded());
        assert_eq!(first.ids, texts);

        // The weights are now unusable, yet the same checkpoint identity finds the file
        // without loading (or reading) them.
        std::fs::write(&blob, b"not a safetensors file").unwrap();
        let clip = LazyClip::new(files.clone(), DeviceKind::Cpu, Precision::F32);
        let (again, cached) = cached_text_embeddings(&clip, &texts, 8, &cache, &Silent).unwrap();
        assert!(cached);
        assert!(!clip.is_loaded(), "a hit must not load the model");
        assert_eq!(again.data, first.data);
        assert!(clip.get().is_err(), "the corrupt weights cannot load");

        // Other texts miss, and the miss is where the model is loaded.
        let clip = LazyClip::new(files, DeviceKind::Cpu, Precision::F32);
        let other = vec!["a bird".to_string()];
        let err = cached_text_embeddings(&clip, &other, 8, &cache, &Silent).unwrap_err();
        assert!(matches!(err, EmbeddingsError::Clip(_)), "{err:?}");
        assert!(err.to_string().contains("model.safetensors"), "{err}");
    }

    #[test]
    fn keys_change_with_each_input() {
        let preprocess = Preprocess::openai(224);
        let base = image_cache_key("fp", &preprocess, Precision::F32, DeviceKind::Cpu, "data");
        let mut other = preprocess.clone();
        other.resize_shortest = 256;
        for changed in [
            image_cache_key("fp2", &preprocess, Precision::F32, DeviceKind::Cpu, "data"),
            image_cache_key("fp", &other, Precision::F32, DeviceKind::Cpu, "data"),
            image_cache_key("fp", &preprocess, Precision::F16, DeviceKind::Cpu, "data"),
            image_cache_key("fp", &preprocess, Precision::F32, DeviceKind::Cuda, "data"),
            image_cache_key("fp", &preprocess, Precision::F32, DeviceKind::Cpu, "data2"),
        ] {
            assert_ne!(changed, base);
        }
        assert_eq!(
            base,
            image_cache_key("fp", &preprocess, Precision::F32, DeviceKind::Cpu, "data")
        );
        let texts = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let key = text_cache_key("fp", Precision::F32, DeviceKind::Cpu, &texts(&["ab", "c"]));
        assert_ne!(
            key,
            text_cache_key("fp", Precision::F32, DeviceKind::Cpu, &texts(&["a", "bc"]))
        );
        assert_ne!(
            key,
            text_cache_key("fp", Precision::Bf16, DeviceKind::Cpu, &texts(&["ab", "c"]))
        );
        assert_ne!(key, base);
    }

    #[test]
    fn lazy_preprocessing_is_read_without_the_weights() {
        let root = tempfile::tempdir().unwrap();
        for name in ["config.json", "tokenizer.json", "preprocessor_config.json"] {
            std::fs::copy(Path::new(TINY).join(name), root.path().join(name)).unwrap();
        }
        std::fs::write(root.path().join("model.safetensors"), b"garbage").unwrap();
        let files = ClipFiles::in_dir("tiny", root.path()).unwrap();
        let clip = LazyClip::new(files.clone(), DeviceKind::Cpu, Precision::F32);
        let loaded = crate::clip::Clip::load(
            &ClipFiles::resolve(TINY).unwrap(),
            DeviceKind::Cpu,
            Precision::F32,
        )
        .unwrap();
        assert_eq!(*clip.preprocess().unwrap(), loaded.preprocess);
        assert!(!clip.is_loaded());
        assert_eq!(
            Preprocess::for_checkpoint(&files).unwrap(),
            loaded.preprocess
        );
    }
}
