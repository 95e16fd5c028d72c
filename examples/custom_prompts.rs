//! A new relation and a new hard-template set, evaluated beside the paper's:
//!
//! ```text
//! cargo run --release --example custom_prompts -- OUT_DIR
//! ```
//!
//! Encodes the fixture sample with the random-weight fixture CLIP (so the numbers mean
//! nothing about CLIP), then evaluates every protocol with two hard templates and a
//! relation of its own, `{x} is often mistaken for {y}`, and writes `OUT_DIR/table.md`.

use softtext::observe::Silent;
use softtext::prompts::PromptConfigFile;
use softtext::study::{encode_images, evaluate, ClipSpec, Evaluation, ImageEncoding};

/// A prompt configuration as a user writes it (the same TOML as `eval --prompts`).
const PROMPTS: &str = r#"
[hard]
templates = ["a photo of a {}.", "a blurry photo of a {}."]

[[relations]]
name = "look-like"

[[relations]]
name = "mistaken-for"
template = "{x} is often mistaken for {y}"
"#;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args()
        .nth(1)
        .ok_or("usage: custom_prompts OUT_DIR")?;
    let out = std::path::Path::new(&out);
    let encoding = ImageEncoding::new(
        ClipSpec::cpu("fixtures/clip-tiny"),
        "folder:fixtures/cifar10-sample".parse()?,
    );
    let images = encode_images(&encoding, &out.join("images.safetensors"), &Silent)?;

    let mut evaluation = Evaluation::new(&images.path);
    evaluation.prompts = toml::from_str::<PromptConfigFile>(PROMPTS)?;
    let outcome = evaluate(&evaluation, out, &Silent)?;

    for relation in &outcome.report.relations {
        let row = outcome
            .report
            .row(relation, "pair")
            .expect("every relation has a pair row");
        println!("{relation:>12} / pair: {:.2} %", 100.0 * row.accuracy);
    }
    println!(
        "soft texts, e.g. {:?}",
        outcome.texts.ids.iter().find(|t| t.contains("mistaken"))
    );
    println!("table: {}", out.join("table.md").display());
    Ok(())
}
