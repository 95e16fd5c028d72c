//! Hard against soft prompts on image embeddings, in a few lines of the zero-shot engine:
//!
//! ```text
//! cargo run --release --example zero_shot                 # the committed fixtures
//! cargo run --release --example zero_shot -- IMAGES.safetensors CLIP
//! ```
//!
//! `IMAGES.safetensors` is an image embedding file (`softtext encode-images`), `CLIP` the
//! checkpoint that encoded it. Without arguments the fixture sample is encoded first with the
//! random-weight fixture CLIP, so the accuracies exercise the code and mean nothing about
//! CLIP.

use softtext::clip::{Clip, ClipFiles, DeviceKind, Overflow, Precision};
use softtext::embeddings::encode::encode_texts;
use softtext::embeddings::Embeddings;
use softtext::observe::Silent;
use softtext::prompts::PromptConfigFile;
use softtext::study::{encode_images, prompt_config, ClipSpec, ImageEncoding};
use softtext::zeroshot::{evaluate, plan_texts, AuxSource, EvalParams, ImageSet, TextBank};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (images, model) = match args.as_slice() {
        [images, model] => (Embeddings::load(images.as_ref())?, model.clone()),
        [] => {
            let model = "fixtures/clip-tiny".to_string();
            let encoding = ImageEncoding::new(
                ClipSpec::cpu(&model),
                "folder:fixtures/cifar10-sample".parse()?,
            );
            let out = std::env::temp_dir().join("softtext-zero-shot-example.safetensors");
            (encode_images(&encoding, &out, &Silent)?.embeddings, model)
        }
        _ => return Err("usage: zero_shot [IMAGES.safetensors CLIP]".into()),
    };
    let clip = Clip::load(
        &ClipFiles::resolve(&model)?,
        DeviceKind::Cpu,
        Precision::F32,
    )?;

    // The paper's prompts; the auxiliary top-2 of each image from CLIP's own hard ranking.
    let prompts = prompt_config(PromptConfigFile::default(), &images.classes)?;
    let params = EvalParams::default().check()?;
    let aux = AuxSource::SelfRanking;
    let plan = plan_texts(&params, &prompts, &aux)?;
    let texts = encode_texts(&clip, plan.texts(), Overflow::Error, 256, &Silent)?;
    let bank = TextBank::new(plan.texts().to_vec(), texts, clip.dim())?;

    let labels: Vec<usize> = images
        .labels
        .iter()
        .flatten()
        .map(|&l| l as usize)
        .collect();
    let image_set = ImageSet::new(&images.data, images.dim, &labels, &images.ids)?;
    let report = evaluate(&params, &prompts, &image_set, &aux, &bank)?;

    println!("{} images, {} classes", report.images, report.classes.len());
    if softtext::study::files_are_random(&clip.files) {
        println!("(a random-weight fixture CLIP: these numbers exercise the code, not CLIP)");
    }
    for (set, protocol) in [
        ("hard", "hard"),
        ("like", "pair"),
        ("look-like", "pair"),
        ("resemble", "pair"),
    ] {
        if let Some(row) = report.row(set, protocol) {
            println!(
                "{set:>10} / {protocol:<5} {:6.2} %  (95% CI {:.2} – {:.2}, McNemar p vs hard {:.3})",
                100.0 * row.accuracy,
                100.0 * row.ci_low.unwrap_or(f64::NAN),
                100.0 * row.ci_high.unwrap_or(f64::NAN),
                row.mcnemar.p_value
            );
        }
    }
    Ok(())
}
