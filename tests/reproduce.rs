//! `softtext reproduce` on configs/demo.toml: every stage runs, a rerun does no work, and a
//! changed setting recomputes only what depends on it.

mod common;
use common::root;

use std::process::Stdio;
use std::time::{Duration, Instant};

fn reproduce(config: &std::path::Path, out: &std::path::Path) -> (String, f64) {
    let started = Instant::now();
    let o = common::softtext_command()
        .args(["reproduce", "--offline", "--config"])
        .arg(config)
        .arg("--out")
        .arg(out)
        .current_dir(root())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{stderr}");
    (stderr, started.elapsed().as_secs_f64())
}

fn manifest(out: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap()
}

/// Epochs in the aux-train log of a (possibly running) demo output folder: the log's data
/// rows (the log is written atomically after each epoch's checkpoint), 0 before the first.
fn epochs_logged(out: &std::path::Path) -> usize {
    std::fs::read_dir(out.join("aux"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|d| std::fs::read_to_string(d.path().join("log.csv")).ok())
        .map(|log| log.lines().count().saturating_sub(1))
        .max()
        .unwrap_or(0)
}

/// Starts a demo run and kills it as soon as the auxiliary classifier has checkpointed its
/// first epoch (a log row is written after the checkpoint); fails if the run ends, or has
/// not trained an epoch within the time limit, before it could be killed. Returns the epochs
/// logged when it was killed.
///
/// Measured on a 2-core machine shared with other builds: the first epoch is logged 7 to 11 s
/// after the start and each epoch takes 7 to 18 s, so polling every 20 ms kills the run
/// during its second epoch, long before the tenth.
fn start_and_kill_during_training(config: &std::path::Path, out: &std::path::Path) -> usize {
    let mut child = common::softtext_command()
        .args(["reproduce", "--offline", "--quiet", "--config"])
        .arg(config)
        .arg("--out")
        .arg(out)
        .current_dir(root())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let limit = Duration::from_secs(600);
    loop {
        let epochs = epochs_logged(out);
        if epochs >= 1 {
            child.kill().unwrap();
            child.wait().unwrap();
            eprintln!(
                "killed the demo run after {epochs} epoch(s), {:.1} s in",
                started.elapsed().as_secs_f64()
            );
            return epochs;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "the run to be killed ended ({status}) before it checkpointed an epoch, or \
                 between two polls; the kill was never tested"
            );
        }
        if started.elapsed() > limit {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("no epoch trained within {limit:?}; the kill was never tested");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn demo_survives_a_kill_caches_and_recomputes_only_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let config = root().join("configs/demo.toml");

    let killed_after = start_and_kill_during_training(&config, &out);
    assert!(
        (1..10).contains(&killed_after),
        "killed after {killed_after} of 10 epochs: not during training"
    );
    let (first, _) = reproduce(&config, &out);
    assert!(
        first.contains("resuming"),
        "the rerun after the kill did not resume the checkpoint: {first}"
    );
    // aux-train, aux-predict, images, train-images, aux-predict-train, finetune, eval, umap,
    // report.
    assert!(first.contains("[9/9] report"), "{first}");
    for f in [
        "aux/predictions.json",
        "table.md",
        "table.csv",
        "table.json",
        "report.html",
        "report.md",
        "figures/umap-hard.png",
        "figures/umap-look-like.svg",
        "figures/subject-share.png",
        "figures/subject-share.svg",
        "train-images.safetensors",
        "aux/train-predictions.json",
        "finetune/finetuned.safetensors",
        "finetune/finetune.json",
        "finetune/log.csv",
        "finetune/curve.png",
        "texts-finetuned.safetensors",
        "figures/subject-share-finetuned.png",
        "figures/umap-coop+look-like.png",
        "figures/umap-coop+hard.svg",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    // The [finetune] stage's rows sit beside the base rows, with the linear probe.
    let table_md = std::fs::read_to_string(out.join("table.md")).unwrap();
    for row in [
        "| hard | hard |",
        "| coop/hard | hard |",
        "| coop/look-like | all |",
        "| linear-probe | probe(C=",
    ] {
        assert!(table_md.contains(row), "{row} missing:\n{table_md}");
    }
    // The subject share of the demo's soft texts (the [eval.subject_share] defaults), in
    // table.json and the report.
    let table: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("table.json")).unwrap()).unwrap();
    let shares = &table["subject_share"];
    assert_eq!(
        (shares["k"].as_u64(), shares["images"].as_u64()),
        (Some(50), Some(200))
    );
    assert_eq!(shares["relations"].as_array().unwrap().len(), 3);
    assert_eq!(
        shares["named"],
        serde_json::json!(["automobile look like a truck", "dog look like a cat"])
    );
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("## Subject share"), "{md}");
    assert!(md.contains("## Fine-tuned text side (coop)"), "{md}");
    assert!(
        md.contains("## Subject share, fine-tuned text side"),
        "{md}"
    );
    assert!(
        md.contains("| automobile look like a truck | look-like |"),
        "{md}"
    );
    let before = manifest(&out);
    let train_folder = before["stages"]["aux-train"]["outputs"][0]
        .as_str()
        .unwrap()
        .trim_end_matches("/checkpoint.safetensors")
        .to_string();
    let log = std::fs::read_to_string(out.join(&train_folder).join("log.csv")).unwrap();
    let epochs: Vec<&str> = log
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(
        epochs,
        (1..=10).map(|e| e.to_string()).collect::<Vec<_>>(),
        "one log row per epoch, in order, across the kill"
    );
    assert!(out.join(&train_folder).join("curve.png").is_file());
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        html.contains("random-weight fixture CLIP on the 200-image CIFAR-10 test sample"),
        "the config's description is in the report"
    );
    assert!(
        html.contains("RANDOM weights"),
        "the demo report must flag the random-weight model"
    );

    let (second, seconds) = reproduce(&config, &out);
    assert_eq!(second.matches("up to date").count(), 9, "{second}");
    assert!(
        seconds < 2.0,
        "a rerun with nothing changed took {seconds:.2}s"
    );
    let after = manifest(&out);
    for stage in [
        "aux-train",
        "aux-predict",
        "images",
        "train-images",
        "aux-predict-train",
        "finetune",
        "eval",
        "umap",
        "report",
    ] {
        assert_eq!(
            after["stages"][stage]["key"],
            before["stages"][stage]["key"]
        );
        assert_eq!(after["stages"][stage]["cached"], true, "{stage}");
    }

    // A deleted figure is an output missing: its stages run again and restore it.
    let outputs: Vec<String> = after["stages"]["umap"]["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o.as_str().unwrap().to_string())
        .collect();
    for wanted in ["figures/umap-like.svg", "umap/umap-resemble.csv"] {
        assert!(outputs.iter().any(|o| o == wanted), "{wanted} not recorded");
    }
    std::fs::remove_file(out.join("figures/umap-like.svg")).unwrap();
    std::fs::remove_file(out.join("figures/per-class.svg")).unwrap();
    let (restored, _) = reproduce(&config, &out);
    assert_eq!(restored.matches("up to date").count(), 7, "{restored}");
    assert!(out.join("figures/umap-like.svg").is_file());
    assert!(out.join("figures/per-class.svg").is_file());

    // Another UMAP seed: the classifier, images and evaluation are reused, figures and
    // report recomputed.
    let changed = dir.path().join("changed.toml");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("seed = 42", "seed = 7");
    std::fs::write(&changed, text).unwrap();
    let (third, _) = reproduce(&changed, &out);
    assert_eq!(third.matches("up to date").count(), 7, "{third}");
    let last = manifest(&out);
    assert_eq!(last["stages"]["aux-train"]["cached"], true);
    assert_eq!(last["stages"]["eval"]["cached"], true);
    assert_eq!(last["stages"]["umap"]["cached"], false);
    assert_ne!(
        last["stages"]["umap"]["key"],
        before["stages"]["umap"]["key"]
    );

    // Evaluation-only training settings do not decide the weights: nothing retrains.
    let eval_only = dir.path().join("eval-only.toml");
    let text = std::fs::read_to_string(&changed)
        .unwrap()
        .replace("eval_every = 5", "eval_every = 2")
        .replace("eval_batch_size = 256", "eval_batch_size = 64");
    std::fs::write(&eval_only, text).unwrap();
    let (fourth, _) = reproduce(&eval_only, &out);
    assert_eq!(fourth.matches("up to date").count(), 9, "{fourth}");

    // A checkpoint replaced in place (here: trained with another seed) invalidates the
    // predictions and everything after them, though the training stage stays up to date.
    let other = dir.path().join("other-seed");
    let o = common::softtext_command()
        .args([
            "aux",
            "train",
            "--quiet",
            "--model",
            "fast",
            "--width-divisor",
            "8",
            "--epochs",
            "1",
            "--limit-train",
            "100",
            "--eval-every",
            "0",
            "--seed",
            "1",
            "--data",
            "folder:fixtures/cifar10-sample",
            "--out",
        ])
        .arg(&other)
        .current_dir(root())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let predictions_before = std::fs::read(out.join("aux/predictions.json")).unwrap();
    std::fs::copy(
        other.join("checkpoint.safetensors"),
        out.join(&train_folder).join("checkpoint.safetensors"),
    )
    .unwrap();
    reproduce(&eval_only, &out);
    let replaced = manifest(&out);
    assert_eq!(replaced["stages"]["aux-train"]["cached"], true);
    assert_eq!(replaced["stages"]["aux-predict"]["cached"], false);
    // The train-split predictions come from the same checkpoint: they are redone too.
    assert_eq!(replaced["stages"]["aux-predict-train"]["cached"], false);
    assert_ne!(
        std::fs::read(out.join("aux/predictions.json")).unwrap(),
        predictions_before
    );
}

#[test]
fn bad_configs_are_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    let demo = std::fs::read_to_string(root().join("configs/demo.toml")).unwrap();
    let run = |text: &str| {
        std::fs::write(&config, text).unwrap();
        let o = common::softtext_command()
            .args(["reproduce", "--offline", "--quiet", "--config"])
            .arg(&config)
            .arg("--out")
            .arg(dir.path().join("out"))
            .current_dir(root())
            .output()
            .unwrap();
        assert!(!o.status.success());
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let e = run(&demo.replace("[umap]\n", "[umap]\ncolour = \"red\"\n"));
    // One line that points at the offending key, not the parser's multi-line caret drawing.
    let colour_line = demo.lines().position(|l| l == "[umap]").unwrap() + 2;
    assert!(
        e.contains(&format!(
            "line {colour_line}, column 1: unknown field `colour`"
        )),
        "{e}"
    );
    assert_eq!(e.trim_end().lines().count(), 1, "{e}");
    let e = run(&demo.replace("epochs = 10", "epochs = 10\nwarmup = 3"));
    assert!(e.contains("unknown field `warmup`"), "{e}");
    let report_section = "[report]\nprotocol = \"pair\"";
    assert!(
        demo.contains(report_section),
        "demo.toml's [report] section moved"
    );
    let e = run(&demo.replace(report_section, "[report]\nprotocol = \"pairs\""));
    assert!(
        e.contains("[report] protocol \"pairs\" is not a soft protocol"),
        "{e}"
    );
    let e = run(&demo.replace(report_section, "[report]\nprotocol = \"blend-all\""));
    assert!(e.contains("e.g. \"blend-all(0.5)\""), "{e}");
    let e = run(&demo.replace("protocols = []", "protocols = [\"hard\", \"vocab\"]"));
    assert!(
        e.contains("not among [eval] protocols (hard, vocab)"),
        "{e}"
    );
    let e = run(&demo.replace("source = \"train\"", "source = \"slef\""));
    assert!(
        e.contains("[auxiliary] source \"slef\": use \"train\""),
        "{e}"
    );
    let e = run(&demo.replace("# limit = 1000", "limit = 0"));
    assert!(e.contains("[data] limit must be at least 1"), "{e}");
    let e = run(&demo.replace("source = \"train\"", "source = \"self\""));
    assert!(e.contains("only read with source = \"train\""), "{e}");
    let e = run(&demo.replace("batch_size = 16", "batch_size = 1"));
    assert!(
        e.contains("[auxiliary.train]: batch size must be at least 2"),
        "{e}"
    );
    let e = run(&demo.replace(
        "# train_data = \"folder:...\"",
        "train_data = \"folder:nowhere/train\"",
    ));
    assert!(
        e.contains("[auxiliary] train_data folder:nowhere/train"),
        "{e}"
    );
    let e = run(&demo.replace("fixtures/clip-tiny", "no-such-org/no-such-model"));
    assert!(
        e.contains("no-such-org/no-such-model") && e.contains("searched"),
        "{e}"
    );
    let e = run(&demo.replace(
        "folder:fixtures/cifar10-sample",
        "cifar10-bin:nowhere/cifar-10-binary.tar.gz",
    ));
    assert!(
        e.contains("nowhere/cifar-10-binary.tar.gz does not exist"),
        "{e}"
    );
    assert!(
        !dir.path().join("out/images.safetensors").exists(),
        "no work before the checks"
    );
}

#[test]
fn every_shipped_config_parses() {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(root().join("configs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let config = softtext::study::StudyConfig::from_file(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            names.push(config.name);
        }
    }
    names.sort();
    assert_eq!(
        names,
        [
            "cifar100",
            "demo",
            "demo-cifar100",
            "paper",
            "quick",
            "smoke",
            "stl10"
        ]
    );
}

#[test]
fn paper_config_offline_names_everything_missing_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("paper");
    let o = common::softtext_command()
        .args([
            "reproduce",
            "--offline",
            "--config",
            "configs/paper.toml",
            "--out",
        ])
        .arg(&out)
        .current_dir(root())
        .env("HF_HOME", dir.path().join("empty-hf-home"))
        .env_remove("HF_HUB_CACHE")
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(e.contains("openai/clip-vit-large-patch14"), "{e}");
    if !cfg!(feature = "cuda") {
        assert!(e.contains("built without CUDA"), "{e}");
    }
    if !root().join("data/cifar-10-binary.tar.gz").exists() {
        assert!(e.contains("cifar-10-binary.tar.gz does not exist"), "{e}");
    }
    assert!(
        !out.exists(),
        "nothing may be written before the checks pass"
    );
}
