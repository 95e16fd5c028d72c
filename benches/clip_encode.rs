//! CLIP batch-encoding throughput (images/s, texts/s).
//!
//! With `--features cuda` and a GPU: ViT-L/14 image encoding at batch 32/64/128/256 and text
//! encoding at batch 256/1024, in f16 and bf16. Everywhere else: the same benches with a
//! ViT-B/32-sized model at small batches on the CPU, so `cargo bench` runs on any machine.
//! Weights are random (throughput does not depend on their values); shapes are the real
//! models'. Every timed iteration ends with a device synchronisation, so GPU work is counted
//! in full.
//!
//! `SOFTTEXT_BENCH_QUICK=1` shortens the measurement (used by CI smoke runs).

use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{Init, VarBuilder};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use softtext::clip::{ClipConfig, ClipModel};

/// Random weights of whatever shape the model asks for.
struct RandomWeights;

impl SimpleBackend for RandomWeights {
    fn get(
        &self,
        s: Shape,
        _name: &str,
        _h: Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        Tensor::randn(0f32, 0.02, s, dev)?.to_dtype(dtype)
    }

    fn get_unchecked(
        &self,
        _name: &str,
        _dtype: DType,
        _dev: &Device,
    ) -> candle_core::Result<Tensor> {
        candle_core::bail!("random weights need a shape")
    }

    fn contains_tensor(&self, _name: &str) -> bool {
        true
    }
}

/// The `config.json` architecture fields of OpenAI's checkpoints.
fn config(name: &str) -> ClipConfig {
    let json = match name {
        "vit-b-32" => {
            r#"{"projection_dim": 512,
            "text_config": {"hidden_size": 512, "intermediate_size": 2048, "num_hidden_layers": 12, "num_attention_heads": 8, "eos_token_id": 2},
            "vision_config": {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12, "image_size": 224, "patch_size": 32}}"#
        }
        "vit-l-14" => {
            r#"{"projection_dim": 768,
            "text_config": {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12, "eos_token_id": 2},
            "vision_config": {"hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 24, "num_attention_heads": 16, "image_size": 224, "patch_size": 14}}"#
        }
        other => panic!("unknown bench model {other}"),
    };
    serde_json::from_str(json).expect("bench config")
}

fn model(name: &str, dtype: DType, device: &Device) -> ClipModel {
    let vb = VarBuilder::from_backend(Box::new(RandomWeights), dtype, device.clone());
    ClipModel::new(vb, &config(name)).expect("random model")
}

/// Token rows like the study's prompts: start, 8 word pieces, end, zero padding.
fn prompt_ids(batch: usize) -> Vec<Vec<u32>> {
    (0..batch)
        .map(|i| {
            let mut row = vec![49406];
            row.extend((0..8).map(|k| 320 + ((i * 7 + k * 13) % 4000) as u32));
            row.push(49407);
            row.resize(77, 0);
            row
        })
        .collect()
}

struct Setup {
    device: Device,
    label: &'static str,
    model: &'static str,
    dtypes: Vec<DType>,
    image_batches: Vec<usize>,
    text_batches: Vec<usize>,
}

fn setups() -> Vec<Setup> {
    let mut out = Vec::new();
    #[cfg(feature = "cuda")]
    if let Ok(device) = Device::new_cuda(0) {
        out.push(Setup {
            device,
            label: "cuda",
            model: "vit-l-14",
            dtypes: vec![DType::F16, DType::BF16],
            image_batches: vec![32, 64, 128, 256],
            text_batches: vec![256, 1024],
        });
    }
    if out.is_empty() {
        out.push(Setup {
            device: Device::Cpu,
            label: "cpu",
            model: "vit-b-32",
            dtypes: vec![DType::F32],
            image_batches: vec![1, 8],
            text_batches: vec![32, 256],
        });
    }
    out
}

fn bench_encode(c: &mut Criterion) {
    let quick = std::env::var_os("SOFTTEXT_BENCH_QUICK").is_some();
    for setup in setups() {
        for &dtype in &setup.dtypes {
            let clip = model(setup.model, dtype, &setup.device);
            let size = clip.config.vision_config.image_size;
            let mut group = c.benchmark_group(format!(
                "clip_encode/{}/{}/{:?}",
                setup.label, setup.model, dtype
            ));
            group.sample_size(10);
            if quick {
                group.measurement_time(std::time::Duration::from_secs(2));
                group.warm_up_time(std::time::Duration::from_millis(500));
            }
            for &batch in &setup.image_batches {
                let pixels = Tensor::randn(0f32, 1.0, (batch, 3, size, size), &setup.device)
                    .and_then(|t| t.to_dtype(dtype))
                    .expect("pixels");
                group.throughput(Throughput::Elements(batch as u64));
                group.bench_with_input(BenchmarkId::new("images", batch), &pixels, |b, px| {
                    b.iter(|| {
                        let out = clip.image_features(px).expect("encode");
                        setup.device.synchronize().expect("sync");
                        out
                    })
                });
            }
            for &batch in &setup.text_batches {
                let ids = prompt_ids(batch);
                group.throughput(Throughput::Elements(batch as u64));
                group.bench_with_input(BenchmarkId::new("texts", batch), &ids, |b, ids| {
                    b.iter(|| {
                        let out = clip.text_features(ids, &setup.device).expect("encode");
                        setup.device.synchronize().expect("sync");
                        out
                    })
                });
            }
            group.finish();
        }
    }
}

criterion_group!(benches, bench_encode);
criterion_main!(benches);
