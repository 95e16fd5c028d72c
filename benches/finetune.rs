//! One fine-tuning optimiser step (forward through the text side, backward, update) at
//! batch 256, for each method and for the hard and a soft prompt.
//!
//! Runs on the fixture CLIP everywhere. `SOFTTEXT_BENCH_CLIP=DIR` points it at another
//! Hugging Face CLIP folder instead (e.g. a random ViT-B/32-sized checkpoint from
//! `tools/make_fixtures.py --size vit-b-32 --checkpoint-only --out DIR`), and
//! `SOFTTEXT_BENCH_DEVICE=cuda` runs it on the GPU (a `--features cuda` build).
//! `SOFTTEXT_BENCH_QUICK=1` shortens the measurement.

use candle_core::{DType, Tensor};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use softtext::auxiliary::predictions::AuxPredictions;
use softtext::clip::model::Kernels;
use softtext::clip::{ClipFiles, DeviceKind};
use softtext::finetune::objective::cross_entropy;
use softtext::finetune::optim::Optimiser;
use softtext::finetune::{FinetuneParams, Method, Objective, OptimizerKind, TextSide, TrainPrompt};
use softtext::prompts::{PromptConfig, Relation};

const BATCH: usize = 256;

fn bench(c: &mut Criterion) {
    let clip = std::env::var("SOFTTEXT_BENCH_CLIP").unwrap_or_else(|_| "fixtures/clip-tiny".into());
    let device: DeviceKind = std::env::var("SOFTTEXT_BENCH_DEVICE")
        .unwrap_or_else(|_| "cpu".into())
        .parse()
        .expect("SOFTTEXT_BENCH_DEVICE: cpu or cuda");
    let device = device.device().expect("the bench device");
    let files = ClipFiles::resolve(&clip).expect("a CLIP folder");
    let config = PromptConfig::paper();
    let classes = config.classes().clone();
    let aux = AuxPredictions::read("fixtures/finetune/train-aux.json".as_ref()).unwrap();
    // 256 image rows: the fixture's 300 train ids cycle, their embeddings are random (speed
    // does not depend on the values) in the checkpoint's width.
    let ids: Vec<String> = serde_json::from_str::<serde_json::Value>(
        &std::fs::read_to_string("fixtures/finetune/train-aux.json").unwrap(),
    )
    .unwrap()["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect();
    let aligned = aux.align(&classes, &ids).unwrap();
    let labels: Vec<usize> = (0..BATCH).map(|i| i % classes.len()).collect();
    let rows: Vec<usize> = (0..BATCH).collect();
    let dim = softtext::clip::ClipConfig::from_file(&files.config)
        .unwrap()
        .projection_dim;
    let images = Tensor::randn(0f32, 1.0, (BATCH, dim), &device).unwrap();
    let images = images
        .broadcast_div(
            &images
                .sqr()
                .unwrap()
                .sum_keepdim(1)
                .unwrap()
                .sqrt()
                .unwrap(),
        )
        .unwrap();

    let mut group = c.benchmark_group(format!("finetune-step/{}", files.name));
    if std::env::var_os("SOFTTEXT_BENCH_QUICK").is_some() {
        group
            .sample_size(10)
            .measurement_time(std::time::Duration::from_secs(2));
    } else {
        group.sample_size(10);
    }
    group.throughput(Throughput::Elements(BATCH as u64));
    let methods = [
        (
            "coop",
            FinetuneParams {
                method: Method::Coop,
                n_ctx: 16,
                ..Default::default()
            },
        ),
        (
            "lora",
            FinetuneParams {
                method: Method::Lora,
                rank: 8,
                ..Default::default()
            },
        ),
        (
            "last-k",
            FinetuneParams {
                method: Method::LastK,
                layers: 1,
                ..Default::default()
            },
        ),
    ];
    for (name, params) in methods {
        for prompt in ["hard", "look-like"] {
            let params = FinetuneParams {
                optimizer: OptimizerKind::Adamw,
                prompt: prompt.into(),
                ..params.clone()
            };
            let side =
                TextSide::load(&files, &params, classes.len(), &device, DType::F32, None).unwrap();
            let train_prompt = if prompt == "hard" {
                TrainPrompt::Hard(config.hard_templates()[0].clone())
            } else {
                TrainPrompt::Relation(Relation::named(prompt).unwrap())
            };
            let objective = Objective::new(
                classes.clone(),
                train_prompt,
                Some(aligned.clone()),
                params.method == Method::Coop,
            )
            .unwrap();
            let vars = side
                .trainable()
                .iter()
                .map(|(n, v)| (n.clone(), v.clone()))
                .collect();
            let mut optimiser = Optimiser::new(&params, vars).unwrap();
            group.bench_function(BenchmarkId::new(name, prompt), |b| {
                b.iter(|| {
                    let logits = objective
                        .logits(&side, &images, &rows, Kernels::Differentiable)
                        .unwrap();
                    let (loss, _) = cross_entropy(&logits, &labels).unwrap();
                    optimiser.step(&loss.backward().unwrap(), 1e-4).unwrap();
                    device.synchronize().unwrap();
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
