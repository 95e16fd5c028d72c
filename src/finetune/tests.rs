//! The gradient reaching CoOp's context, checked against central finite differences in f64.

use candle_core::{DType, Device, Tensor};

use super::objective::{cross_entropy, Objective, TrainPrompt};
use super::params::{FinetuneParams, Method};
use super::text::{TextSide, CONTEXT_TENSOR};
use crate::clip::model::Kernels;
use crate::clip::ClipFiles;
use crate::embeddings::Embeddings;
use crate::prompts::PromptConfig;

fn fixture(path: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// The loss of the first 16 train images under the context values `context`.
fn loss_at(side: &TextSide, objective: &Objective, images: &Tensor, labels: &[usize]) -> f64 {
    let rows: Vec<usize> = (0..labels.len()).collect();
    let logits = objective
        .logits(side, images, &rows, Kernels::Differentiable)
        .unwrap();
    let (loss, _) = cross_entropy(&logits, labels).unwrap();
    loss.to_scalar::<f64>().unwrap()
}

#[test]
fn context_gradient_matches_finite_differences_in_f64() {
    let files = ClipFiles::resolve(fixture("fixtures/clip-tiny").to_str().unwrap()).unwrap();
    let params = FinetuneParams {
        method: Method::Coop,
        n_ctx: 3,
        csc: true,
        ..Default::default()
    };
    let side = TextSide::load(&files, &params, 10, &Device::Cpu, DType::F64, None).unwrap();
    let config = PromptConfig::paper();
    let template = config.hard_templates()[0].clone();
    let objective = Objective::new(
        config.classes().clone(),
        TrainPrompt::Hard(template),
        None,
        true,
    )
    .unwrap();
    let embeddings =
        Embeddings::load(&fixture("fixtures/finetune/train-embeddings.safetensors")).unwrap();
    // Every 19th image: all ten classes, so each class's context gets a gradient.
    let picked: Vec<usize> = (0..16).map(|i| (i * 19) % embeddings.len()).collect();
    let labels: Vec<usize> = picked
        .iter()
        .map(|&r| embeddings.labels.as_ref().unwrap()[r] as usize)
        .collect();
    let rows: Vec<f64> = picked
        .iter()
        .flat_map(|&r| embeddings.row(r).iter().map(|&v| v as f64))
        .collect();
    let images = Tensor::from_vec(rows, (picked.len(), embeddings.dim), &Device::Cpu).unwrap();

    let context = side.trainable()[CONTEXT_TENSOR].clone();
    let rows: Vec<usize> = (0..labels.len()).collect();
    let logits = objective
        .logits(&side, &images, &rows, Kernels::Differentiable)
        .unwrap();
    let (loss, _) = cross_entropy(&logits, &labels).unwrap();
    let grads = loss.backward().unwrap();
    let analytic: Vec<f64> = grads
        .get(&context)
        .expect("the context has a gradient")
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let start: Vec<f64> = context.flatten_all().unwrap().to_vec1().unwrap();
    let shape = context.dims().to_vec();
    let step = 1e-5;
    let mut worst: f64 = 0.0;
    // Elements spread over classes, positions and width.
    for element in (0..start.len()).step_by(start.len() / 23) {
        let at = |delta: f64| {
            let mut moved = start.clone();
            moved[element] += delta;
            context
                .set(&Tensor::from_vec(moved, shape.as_slice(), &Device::Cpu).unwrap())
                .unwrap();
            loss_at(&side, &objective, &images, &labels)
        };
        let numeric = (at(step) - at(-step)) / (2.0 * step);
        let scale = analytic.iter().fold(0.0f64, |m, g| m.max(g.abs()));
        let diff = (numeric - analytic[element]).abs() / scale;
        worst = worst.max(diff);
        assert!(
            diff < 1e-7,
            "element {element}: finite difference {numeric:e}, autograd {:e}",
            analytic[element]
        );
    }
    assert!(worst > 0.0 || analytic.iter().all(|&g| g == 0.0));
}
