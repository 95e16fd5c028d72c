//! GPU correctness: f16 and bf16 CUDA embeddings against the f32 CPU embeddings of the same
//! checkpoint on the fixture images and prompts (cosine >= 0.9995 for f16, >= 0.999 for bf16).
//! Without a CUDA build or a GPU the test reports that it was skipped and passes; the
//! GPU machine runs it from `tools/run-gpu.sh`.

use std::path::PathBuf;

use softtext::clip::{Clip, ClipFiles, DeviceKind, Overflow, Precision, RgbImage};

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let n = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (n(a) * n(b))
}

#[test]
fn half_precision_cuda_matches_f32_cpu() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = std::env::var("SOFTTEXT_GPU_CLIP")
        .unwrap_or_else(|_| root.join("fixtures/clip-tiny").display().to_string());
    let files = ClipFiles::resolve(&dir).unwrap();
    if let Err(e) = DeviceKind::Cuda.device() {
        eprintln!("SKIPPED half_precision_cuda_matches_f32_cpu: {e}");
        return;
    }
    let reference = Clip::load(&files, DeviceKind::Cpu, Precision::F32).unwrap();
    let images: Vec<RgbImage> = std::fs::read_dir(root.join("fixtures/cifar10-sample/test/cat"))
        .unwrap()
        .map(|e| RgbImage::open(&e.unwrap().path()).unwrap())
        .collect();
    let mut pixels = Vec::new();
    for img in &images {
        reference
            .preprocess
            .pixel_values_into(img, &mut pixels)
            .unwrap();
    }
    let texts = [
        "a photo of a cat.",
        "dog look like a cat",
        "automobile look like a truck",
    ];
    let ids = reference
        .tokenizer
        .encode_all(&texts, Overflow::Error)
        .unwrap();
    let want_images = reference
        .encode_pixel_values(pixels.clone(), images.len())
        .unwrap();
    let want_texts = reference.encode_token_ids(&ids).unwrap();
    let dim = reference.dim();
    for (precision, bound) in [(Precision::F16, 0.9995f32), (Precision::Bf16, 0.999)] {
        let gpu = Clip::load(&files, DeviceKind::Cuda, precision).unwrap();
        let got_images = gpu
            .encode_pixel_values(pixels.clone(), images.len())
            .unwrap();
        let got_texts = gpu.encode_token_ids(&ids).unwrap();
        for (name, got, want) in [
            ("image", &got_images, &want_images),
            ("text", &got_texts, &want_texts),
        ] {
            let worst = got
                .chunks_exact(dim)
                .zip(want.chunks_exact(dim))
                .map(|(a, b)| cosine(a, b))
                .fold(1.0f32, f32::min);
            eprintln!("{precision} {name} embeddings: min cosine vs f32 CPU = {worst:.6}");
            assert!(worst >= bound, "{precision} {name}: {worst} < {bound}");
        }
    }
}
