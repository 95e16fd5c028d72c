//! `softtext finetune` and `eval --finetuned` as a user runs them: the documented few-shot
//! command, bad input refused in one line with no output, a merged Hugging Face folder that
//! encodes like the adapters it came from, and a killed run that resumes bit for bit.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use common::{root, softtext_command};

const TRAIN: &str = "fixtures/finetune/train-embeddings.safetensors";
const TRAIN_AUX: &str = "fixtures/finetune/train-aux.json";

fn run(args: &[&str]) -> Output {
    softtext_command().args(args).output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The one-line error of a failed run, which must also have left `out` absent.
fn refused(args: &[&str], out: &Path) -> String {
    let output = run(args);
    assert!(!output.status.success(), "{args:?} succeeded");
    let text = stderr(&output);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "not one line: {text}");
    assert!(
        !text.contains("panicked") && !text.contains("backtrace"),
        "{text}"
    );
    assert!(!out.exists(), "{} was written", out.display());
    lines[0].to_string()
}

#[test]
fn documented_sixteen_shot_coop_runs_within_a_minute_and_is_then_up_to_date() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("coop");
    // The README's command.
    let command = &[
        "finetune",
        "--images",
        TRAIN,
        "--method",
        "coop",
        "--ctx-init",
        "a photo of a",
        "--shots",
        "16",
        "--epochs",
        "20",
        "--out",
        path(&out),
    ];
    let started = Instant::now();
    let output = run(command);
    let seconds = started.elapsed().as_secs_f64();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(seconds < 60.0, "took {seconds:.1}s");
    for file in [
        "finetuned.safetensors",
        "finetune.json",
        "log.csv",
        "curve.png",
        "curve.svg",
    ] {
        assert!(out.join(file).is_file(), "{file} missing");
    }
    let log = std::fs::read_to_string(out.join("log.csv")).unwrap();
    // 16 shots x 10 classes at batch 32: 5 steps per epoch, 20 epochs.
    assert_eq!(log.lines().count(), 1 + 100);
    // The header and one validation accuracy per epoch.
    let evaluated = log
        .lines()
        .filter(|l| l.split(',').nth(4) != Some(""))
        .count();
    assert_eq!(evaluated, 1 + 20);
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("finetune.json")).unwrap()).unwrap();
    assert_eq!(info["train_images"], 160);
    assert_eq!(info["val_images"], 30);
    assert_eq!(info["context_words"], "a photo of a");

    let before = std::fs::read(out.join("finetuned.safetensors")).unwrap();
    let again = run(command);
    assert!(again.status.success());
    assert!(stderr(&again).contains("up to date"), "{}", stderr(&again));
    assert_eq!(
        std::fs::read(out.join("finetuned.safetensors")).unwrap(),
        before
    );
}

/// A copy of the fixture CLIP that differs in one preprocessing byte: another checkpoint.
fn other_checkpoint(dir: &Path) -> PathBuf {
    let copy = dir.join("other-clip");
    std::fs::create_dir_all(&copy).unwrap();
    for entry in std::fs::read_dir(root().join("fixtures/clip-tiny")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), copy.join(entry.file_name())).unwrap();
    }
    let config = copy.join("preprocessor_config.json");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push('\n');
    std::fs::write(config, text).unwrap();
    copy
}

#[test]
fn bad_input_is_one_line_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("never");
    let long_init = vec!["word"; 80].join(" ");
    let other = other_checkpoint(dir.path());
    // (flags after `finetune --images TRAIN`, what the line must say)
    let cases: [(Vec<&str>, &[&str]); 5] = [
        (
            vec!["--ctx-init", &long_init],
            &["--ctx-init", "80 context tokens"],
        ),
        (
            vec!["--shots", "40"],
            &["--shots", "only 27 training images"],
        ),
        (
            vec!["--method", "lora", "--rank", "0"],
            &["error: --rank: must be at least 1, is 0"],
        ),
        (vec!["--clip", path(&other)], &["another checkpoint"]),
        (vec!["--prompt", "look-like"], &["--aux"]),
    ];
    for (flags, expected) in cases {
        let mut args = vec!["finetune", "--images", TRAIN, "--out", path(&out)];
        args.extend(flags);
        let line = refused(&args, &out);
        for part in expected {
            assert!(line.contains(part), "{args:?}: {line}");
        }
    }

    let line = refused(
        &[
            "finetune",
            "--images",
            TRAIN,
            "--clip",
            path(&other),
            "--out",
            path(&out),
        ],
        &out,
    );
    assert!(line.contains("another checkpoint"), "{line}");

    let line = refused(
        &[
            "finetune",
            "--images",
            TRAIN,
            "--prompt",
            "look-like",
            "--out",
            path(&out),
        ],
        &out,
    );
    assert!(line.contains("--aux"), "{line}");

    // --finetuned trained from another checkpoint than the evaluated images'.
    let trained = dir.path().join("trained-elsewhere");
    let images = dir.path().join("other-train.safetensors");
    let encode = run(&[
        "encode-images",
        "-q",
        "--clip",
        path(&other),
        "--data",
        "folder:fixtures/cifar10-sample",
        "--split",
        "train",
        "--limit",
        "40",
        "--out",
        path(&images),
    ]);
    assert!(encode.status.success(), "{}", stderr(&encode));
    let trained_run = run(&[
        "finetune",
        "-q",
        "--images",
        path(&images),
        "--ctx-init",
        "a photo of a",
        "--steps",
        "1",
        "--val-fraction",
        "0",
        "--out",
        path(&trained),
    ]);
    assert!(trained_run.status.success(), "{}", stderr(&trained_run));
    let eval_out = dir.path().join("eval");
    let line = refused(
        &[
            "eval",
            "--images",
            TRAIN,
            "--aux",
            "self",
            "--protocols",
            "hard",
            "--finetuned",
            path(&trained),
            "--out",
            path(&eval_out),
        ],
        &eval_out,
    );
    assert!(
        line.contains("--finetuned") && line.contains("another checkpoint"),
        "{line}"
    );
}

#[test]
fn lora_clip_folder_encodes_like_its_adapters_and_eval_adds_finetuned_rows() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("lora");
    let output = run(&[
        "finetune",
        "-q",
        "--images",
        TRAIN,
        "--method",
        "lora",
        "--rank",
        "4",
        "--prompt",
        "look-like",
        "--aux",
        TRAIN_AUX,
        "--optimizer",
        "adamw",
        "--lr",
        "0.01",
        "--epochs",
        "2",
        "--out",
        path(&out),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let texts = ["a photo of a cat.", "dog look like a cat"];
    let encode = |clip: &Path, file: &Path| {
        let mut args = vec![
            "encode-texts",
            "-q",
            "--clip",
            path(clip),
            "--out",
            path(file),
        ];
        args.extend(texts);
        let output = run(&args);
        assert!(output.status.success(), "{}", stderr(&output));
        softtext::embeddings::Embeddings::load(file).unwrap()
    };
    let merged = encode(&out.join("clip"), &dir.path().join("merged.safetensors"));
    let base = encode(
        &root().join("fixtures/clip-tiny"),
        &dir.path().join("base.safetensors"),
    );
    // The adapters themselves, applied by the library.
    let adapted = softtext::finetune::FinetunedText::open(&out, softtext::clip::DeviceKind::Cpu)
        .unwrap()
        .encode(
            &texts
                .iter()
                .map(|t| softtext::finetune::TextItem {
                    text: t.to_string(),
                    subject: 0,
                })
                .collect::<Vec<_>>(),
            8,
        )
        .unwrap();
    let worst = |a: &[f32], b: &[f32]| a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
    assert!(
        worst(&merged.data, &adapted) < 1e-5,
        "merged folder vs adapters: {}",
        worst(&merged.data, &adapted)
    );
    assert!(
        worst(&merged.data, &base.data) > 1e-4,
        "training changed nothing"
    );

    let eval_out = dir.path().join("eval");
    let images = dir.path().join("test.safetensors");
    assert!(run(&[
        "encode-images",
        "-q",
        "--clip",
        "fixtures/clip-tiny",
        "--data",
        "folder:fixtures/cifar10-sample",
        "--out",
        path(&images)
    ])
    .status
    .success());
    let output = run(&[
        "eval",
        "-q",
        "--images",
        path(&images),
        "--aux",
        "fixtures/aux/cifar10-sample-test-aux.json",
        "--protocols",
        "hard,all",
        "--bootstrap",
        "50",
        "--finetuned",
        path(&out),
        "--out",
        path(&eval_out),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let table = String::from_utf8(output.stdout).unwrap();
    for row in [
        "| hard | hard |",
        "| lora/hard | hard |",
        "| lora/look-like | all |",
    ] {
        assert!(table.contains(row), "{row} missing from\n{table}");
    }
}

/// Waits for `path` to exist, up to `limit`.
fn wait_for(path: &Path, limit: Duration) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if path.exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

#[test]
fn a_killed_run_resumes_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let args = |out: &Path| -> Vec<String> {
        [
            "finetune",
            "--images",
            TRAIN,
            "--method",
            "last-k",
            "--layers",
            "2",
            "--prompt",
            "look-like",
            "--aux",
            TRAIN_AUX,
            "--optimizer",
            "adamw",
            "--lr",
            "0.001",
            "--batch-size",
            "4",
            "--epochs",
            "12",
            "--out",
            path(out),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let whole = dir.path().join("whole");
    assert!(
        run(&args(&whole).iter().map(String::as_str).collect::<Vec<_>>())
            .status
            .success()
    );

    let resumed = dir.path().join("resumed");
    let mut child = softtext_command()
        .args(args(&resumed))
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let checkpoint = resumed.join("checkpoint.safetensors");
    assert!(
        wait_for(&checkpoint, Duration::from_secs(120)),
        "no checkpoint appeared"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !resumed.join("finetune.json").exists(),
        "the run finished before it was killed"
    );

    let output: Output = softtext_command().args(args(&resumed)).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains("resuming"), "{}", stderr(&output));
    for file in ["finetuned.safetensors", "log.csv"] {
        assert_eq!(
            std::fs::read(whole.join(file)).unwrap(),
            std::fs::read(resumed.join(file)).unwrap(),
            "{file} differs after resuming"
        );
    }
    let whole_clip = std::fs::read(whole.join("clip/model.safetensors")).unwrap();
    assert_eq!(
        whole_clip,
        std::fs::read(resumed.join("clip/model.safetensors")).unwrap()
    );
}
