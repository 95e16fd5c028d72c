//! Evaluation-mode inference: accuracy on a split during training, and the per-image
//! top-k file (softmax probabilities, best first) that the soft-text protocols read.

use std::path::Path;

use candle_core::{DType, Device, Tensor, D};
use candle_nn::{ModuleT, VarBuilder, VarMap};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::augment::{batch, Augment, Images};
use super::checkpoint::Checkpoint;
use super::Model;
use super::{ClassifierError, Result};
use crate::auxiliary::predictions::{AuxPredictions, AuxRow};
use crate::data::Dataset;

/// Runs `model` in evaluation mode over all images in order and hands each batch's
/// `[B, classes]` logits to `visit` with the index of its first image.
pub(crate) fn for_each_logits(
    model: &Model,
    images: &Images,
    batch_size: usize,
    device: &Device,
    mut visit: impl FnMut(usize, &Tensor) -> Result<()>,
) -> Result<()> {
    // Without augmentation `batch` draws nothing from the RNG.
    let mut unused = ChaCha8Rng::seed_from_u64(0);
    let indices: Vec<usize> = (0..images.len()).collect();
    for (chunk_index, chunk) in indices.chunks(batch_size.max(1)).enumerate() {
        let (x, _) = batch(images, chunk, Augment::NONE, &mut unused, device)?;
        let logits = model.forward_t(&x, false)?;
        visit(chunk_index * batch_size.max(1), &logits)?;
    }
    Ok(())
}

/// Top-1 accuracy in evaluation mode.
pub(crate) fn accuracy(
    model: &Model,
    images: &Images,
    batch_size: usize,
    device: &Device,
) -> Result<f64> {
    let mut correct = 0usize;
    for_each_logits(model, images, batch_size, device, |start, logits| {
        let predicted: Vec<u32> = logits.argmax(D::Minus1)?.to_vec1()?;
        let labels = &images.labels[start..start + predicted.len()];
        correct += predicted.iter().zip(labels).filter(|(p, l)| p == l).count();
        Ok(())
    })?;
    Ok(correct as f64 / images.len().max(1) as f64)
}

/// Loads a checkpoint's model, ready for evaluation.
pub fn load_model(checkpoint: &Checkpoint, device: &Device) -> Result<Model> {
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, device);
    let model = Model::new(&checkpoint.meta.config, vb).map_err(|e| {
        ClassifierError::checkpoint(
            checkpoint.path(),
            crate::diagnostics::without_backtrace(e).to_string(),
        )
    })?;
    checkpoint.load_weights(&varmap)?;
    Ok(model)
}

/// Each image's `top_k` classes by softmax probability, best first (ties go to the lower
/// class index), keyed by the dataset's image ids. The dataset's class list must be the
/// checkpoint's.
pub fn predict(
    checkpoint: &Path,
    data: &Dataset,
    top_k: usize,
    device: &Device,
    batch_size: usize,
) -> Result<AuxPredictions> {
    predict_with(
        &Checkpoint::read(checkpoint)?,
        data,
        top_k,
        device,
        batch_size,
    )
}

/// [`predict`] from a checkpoint already read (e.g. to look up its classes first).
pub fn predict_with(
    checkpoint: &Checkpoint,
    data: &Dataset,
    top_k: usize,
    device: &Device,
    batch_size: usize,
) -> Result<AuxPredictions> {
    let classes = &checkpoint.meta.classes;
    if !(2..=classes.len()).contains(&top_k) {
        return Err(ClassifierError::invalid(format!(
            "top-k must be between 2 and the number of classes ({}), is {top_k}",
            classes.len()
        )));
    }
    if batch_size == 0 {
        return Err(ClassifierError::invalid("batch size must be at least 1"));
    }
    if &data.classes != classes {
        return Err(ClassifierError::checkpoint(
            checkpoint.path(),
            format!(
                "trained on classes {classes:?}, but {} has {:?}",
                data.spec, data.classes
            ),
        ));
    }
    let model = load_model(checkpoint, device)?;
    let images = Images::decode(data)?;
    let mut rows: Vec<AuxRow> = Vec::with_capacity(data.len());
    for_each_logits(&model, &images, batch_size, device, |start, logits| {
        let probabilities: Vec<Vec<f32>> = candle_nn::ops::softmax_last_dim(logits)?.to_vec2()?;
        for (offset, p) in probabilities.into_iter().enumerate() {
            let mut order: Vec<usize> = (0..p.len()).collect();
            // Stable sort: equal probabilities keep class order.
            order.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
            order.truncate(top_k);
            rows.push(AuxRow {
                id: data.samples[start + offset].id.clone(),
                scores: order.iter().map(|&c| p[c]).collect(),
                topk: order,
            });
        }
        Ok(())
    })?;
    Ok(AuxPredictions::new(rows, Some(classes.clone()))?)
}
