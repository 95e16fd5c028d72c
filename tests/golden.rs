//! Golden snapshots of the whole experiment on the committed fixtures: the random-weight
//! CLIP, the 200-image CIFAR-10 test sample and a committed auxiliary-prediction file. Any
//! change to a number in the table fails `cargo test`; `cargo insta review` shows the diff.
//! CI never writes snapshots (insta does not under `CI=true`).
//!
//! `real_experiment` (ignored) runs the paper's experiment on real weights and data:
//! `SOFTTEXT_CLIP=openai/clip-vit-large-patch14 SOFTTEXT_DATA=folder:../shared/data/cifar10-jpeg-test.tar.gz
//!  cargo test --release --test golden -- --ignored --nocapture`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn softtext(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_softtext"))
        .args(args)
        .arg("--quiet")
        .current_dir(root())
        .output()
        .expect("run softtext");
    assert!(
        out.status.success(),
        "softtext {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn encode(clip: &str, data: &str, out: &Path) {
    softtext(&[
        "encode-images",
        "--clip",
        clip,
        "--data",
        data,
        "--split",
        "test",
        "--out",
        out.to_str().unwrap(),
    ]);
}

/// The fixture sample's test split encoded with the fixture CLIP, in a fresh temp folder.
fn encoded_fixture_sample() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("images.safetensors");
    encode(
        "fixtures/clip-tiny",
        "folder:fixtures/cifar10-sample",
        &images,
    );
    (dir, images)
}

fn eval(images: &Path, aux: &str, out: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "eval",
        "--images",
        images.to_str().unwrap(),
        "--aux",
        aux,
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend(extra);
    softtext(&args)
}

#[test]
fn fixture_experiment_table() {
    let (dir, images) = encoded_fixture_sample();

    let aux_file = root().join("fixtures/aux/cifar10-sample-test-aux.json");
    let out = dir.path().join("eval-file");
    let stdout = eval(&images, aux_file.to_str().unwrap(), &out, &[]);
    let table = std::fs::read_to_string(out.join("table.md")).unwrap();
    assert_eq!(stdout, table, "stdout prints the Markdown table");
    // The file path differs between machines; the numbers must not.
    let table = table.replace(
        aux_file.to_str().unwrap(),
        "fixtures/aux/cifar10-sample-test-aux.json",
    );
    insta::assert_snapshot!("fixture_table_aux_file_md", table);
    let csv = std::fs::read_to_string(out.join("table.csv"))
        .unwrap()
        .replace(
            aux_file.to_str().unwrap(),
            "fixtures/aux/cifar10-sample-test-aux.json",
        );
    insta::assert_snapshot!("fixture_table_aux_file_csv", csv);

    for (aux, name) in [
        ("self", "fixture_table_self_md"),
        ("oracle", "fixture_table_oracle_md"),
    ] {
        let out = dir.path().join(format!("eval-{aux}"));
        let table = eval(
            &images,
            aux,
            &out,
            &["--hard", "openai-cifar10", "--lambdas", "0,0.5,1"],
        );
        insta::assert_snapshot!(name, table);
    }

    // The same answer twice.
    let again = eval(
        &images,
        aux_file.to_str().unwrap(),
        &dir.path().join("again"),
        &[],
    );
    assert_eq!(
        again.replace(
            aux_file.to_str().unwrap(),
            "fixtures/aux/cifar10-sample-test-aux.json"
        ),
        std::fs::read_to_string(out.join("table.md"))
            .unwrap()
            .replace(
                aux_file.to_str().unwrap(),
                "fixtures/aux/cifar10-sample-test-aux.json"
            )
    );
}

/// The paper's experiment on real weights and data, printed beside Table 1.
#[test]
#[ignore = "needs SOFTTEXT_CLIP (real CLIP weights) and SOFTTEXT_DATA (CIFAR-10 test set)"]
fn real_experiment() {
    let clip = std::env::var("SOFTTEXT_CLIP").expect("SOFTTEXT_CLIP");
    let data = std::env::var("SOFTTEXT_DATA").expect("SOFTTEXT_DATA");
    let aux = std::env::var("SOFTTEXT_AUX").unwrap_or_else(|_| "self".into());
    let dir = root().join("target/real-experiment");
    let images = dir.join("images.safetensors");
    encode(&clip, &data, &images);
    let table = eval(&images, &aux, &dir.join("eval"), &[]);
    println!("{table}");
    assert!(table.contains("| hard | hard |"), "{table}");
}

#[test]
fn run_json_records_the_prompt_config_that_ran() {
    let (dir, images) = encoded_fixture_sample();
    let prompts = dir.path().join("prompts.toml");
    let classes: Vec<String> = softtext::prompts::CIFAR10_CLASSES
        .iter()
        .map(|c| match *c {
            "horse" => "{ name = \"horse\", article = \"an\" }".to_string(),
            c => format!("{{ name = \"{c}\" }}"),
        })
        .collect();
    std::fs::write(
        &prompts,
        format!(
            "classes = [{}]\nrelations = [{{ name = \"look-like\" }}]\n",
            classes.join(", ")
        ),
    )
    .unwrap();
    let out = dir.path().join("eval");
    eval(
        &images,
        "self",
        &out,
        &["--prompts", prompts.to_str().unwrap()],
    );
    let texts = std::fs::read_to_string(out.join("texts.json")).unwrap();
    assert!(texts.contains("look like an horse"), "the override ran");
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    let recorded = run["prompts_toml"].as_str().unwrap();
    let reloaded = softtext::prompts::PromptConfig::from_toml_str(recorded).unwrap();
    let horse = reloaded.classes().to_specs()[7].clone();
    assert_eq!(horse.name, "horse");
    assert_eq!(
        horse.article,
        Some(softtext::prompts::Article::An),
        "{recorded}"
    );
}

#[test]
fn report_leaves_out_umap_figures_of_an_earlier_evaluation() {
    let (dir, images) = encoded_fixture_sample();
    let out = dir.path().join("eval");
    let out_arg = out.to_str().unwrap();
    eval(&images, "self", &out, &[]);
    softtext(&[
        "umap",
        "--images",
        images.to_str().unwrap(),
        "--eval",
        out_arg,
        "--sets",
        "hard",
        "--epochs",
        "20",
    ]);
    softtext(&["report", "--eval", out_arg]);
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("figures/umap-hard.png"), "{report}");

    // Another evaluation into the same folder: the UMAP on disk no longer describes it.
    eval(&images, "oracle", &out, &[]);
    softtext(&["report", "--eval", out_arg]);
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(!report.contains("figures/umap-hard.png"), "{report}");
    assert!(
        out.join("figures/umap-hard.png").exists(),
        "nothing deleted"
    );
}

#[test]
fn report_of_hard_protocols_only_charts_hard_alone() {
    let (dir, images) = encoded_fixture_sample();
    let out = dir.path().join("eval");
    eval(
        &images,
        "self",
        &out,
        &["--protocols", "hard", "--bootstrap", "0"],
    );
    softtext(&["report", "--eval", out.to_str().unwrap()]);
    assert!(out.join("figures/per-class.png").is_file());
    assert!(out.join("report.html").is_file());
}
