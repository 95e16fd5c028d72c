//! softtext's CLIP against candle-transformers' `ClipModel` on the same checkpoint: where
//! candle's model is right (f32, every tensor present) both must agree, which cross-checks
//! the weight mapping independently of the Python reference. candle's model is built from
//! hand-written configs; softtext reads `config.json`.

use std::path::PathBuf;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::clip as candle_clip;
use softtext::clip::{Clip, ClipFiles, DeviceKind, Overflow, Precision, RgbImage};

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let n = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (n(a) * n(b))
}

#[test]
fn agrees_with_candle_transformers_clip() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/clip-tiny");
    let files = ClipFiles::resolve(dir.to_str().unwrap()).unwrap();
    let ours = Clip::load(&files, DeviceKind::Cpu, Precision::F32).unwrap();
    let c = &ours.model.config;
    let config = candle_clip::ClipConfig {
        text_config: candle_clip::text_model::ClipTextConfig {
            vocab_size: c.text_config.vocab_size,
            embed_dim: c.text_config.hidden_size,
            activation: candle_clip::text_model::Activation::QuickGelu,
            intermediate_size: c.text_config.intermediate_size,
            max_position_embeddings: c.text_config.max_position_embeddings,
            pad_with: None,
            num_hidden_layers: c.text_config.num_hidden_layers,
            num_attention_heads: c.text_config.num_attention_heads,
            projection_dim: c.projection_dim,
        },
        vision_config: candle_clip::vision_model::ClipVisionConfig {
            embed_dim: c.vision_config.hidden_size,
            activation: candle_clip::text_model::Activation::QuickGelu,
            intermediate_size: c.vision_config.intermediate_size,
            num_hidden_layers: c.vision_config.num_hidden_layers,
            num_attention_heads: c.vision_config.num_attention_heads,
            projection_dim: c.projection_dim,
            num_channels: 3,
            image_size: c.vision_config.image_size,
            patch_size: c.vision_config.patch_size,
        },
        logit_scale_init_value: 2.6592,
        image_size: c.vision_config.image_size,
    };
    let vb = unsafe {
        VarBuilder::from_mmaped_safetensors(&[&files.weights], DType::F32, &Device::Cpu).unwrap()
    };
    let theirs = candle_clip::ClipModel::new(vb, &config).unwrap();

    let texts = [
        "a photo of a cat.",
        "automobile look like a truck",
        "dog look like a cat",
    ];
    let ids = ours.tokenizer.encode_all(&texts, Overflow::Error).unwrap();
    let ids_tensor = Tensor::new(ids.clone(), &Device::Cpu).unwrap();
    let theirs_text = theirs
        .get_text_features(&ids_tensor)
        .unwrap()
        .to_vec2::<f32>()
        .unwrap();
    let ours_text = ours.encode_token_ids(&ids).unwrap();
    let dim = ours.dim();
    for (i, row) in theirs_text.iter().enumerate() {
        let cos = cosine(&ours_text[i * dim..(i + 1) * dim], row);
        assert!(cos > 1.0 - 1e-5, "text {i}: cosine {cos}");
    }

    let image = RgbImage::open(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/cifar10-sample/test/cat/0000.jpg"),
    )
    .unwrap();
    let pixels = ours.preprocess.pixel_values(&image).unwrap();
    let size = c.vision_config.image_size;
    let pv = Tensor::from_vec(pixels.clone(), (1, 3, size, size), &Device::Cpu).unwrap();
    let theirs_image = theirs
        .get_image_features(&pv)
        .unwrap()
        .to_vec2::<f32>()
        .unwrap();
    let ours_image = ours.encode_pixel_values(pixels, 1).unwrap();
    let cos = cosine(&ours_image, &theirs_image[0]);
    assert!(cos > 1.0 - 1e-5, "image: cosine {cos}");
}
