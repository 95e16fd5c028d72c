//! The command line as scripts use it: exact output forms, the embedding cache, and one-line
//! errors with a non-zero exit for every bad input.

mod common;
use common::root;

use std::path::Path;
use std::process::Output;

use softtext::embeddings::{Embeddings, Kind};

fn softtext(args: &[&str]) -> Output {
    common::softtext_command()
        .args(args)
        .current_dir(root())
        .env("HF_HOME", root().join("target/no-hf-home"))
        .env_remove("HF_HUB_CACHE")
        .output()
        .expect("run softtext")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A failure a user can read: non-zero exit, the error as the one last line (status lines
/// may come before it), no panic or backtrace.
fn assert_one_line_error(o: &Output, needles: &[&str]) {
    let err = stderr(o);
    assert!(!o.status.success(), "expected failure, got success: {err}");
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    let errors: Vec<&&str> = lines.iter().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 1, "expected one error line, got: {err}");
    assert!(lines.last().unwrap().starts_with("error: "), "{err}");
    for n in needles {
        assert!(errors[0].contains(n), "{n:?} not in {err:?}");
    }
}

#[test]
fn tokenize_json_prints_77_ids_per_text() {
    let o = softtext(&[
        "tokenize",
        "--json",
        "dog look like a cat",
        "A photo of a CAT.",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let ids: Vec<Vec<u32>> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(ids.len(), 2);
    assert!(ids.iter().all(|r| r.len() == 77));
    // The same ids OpenAI's tokenizer gave for these texts (tools/make_fixtures.py).
    let reference = candle_core::safetensors::load(
        root().join("fixtures/reference/reference.safetensors"),
        &candle_core::Device::Cpu,
    )
    .unwrap();
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("fixtures/reference/reference.json")).unwrap(),
    )
    .unwrap();
    let texts = manifest["texts"].as_array().unwrap();
    let expected = reference["text_ids"].to_vec2::<i64>().unwrap();
    for (row, text) in ids.iter().zip(["dog look like a cat", "A photo of a CAT."]) {
        let i = texts
            .iter()
            .position(|t| t.as_str() == Some(text))
            .unwrap_or_else(|| {
                // Case and punctuation fold to the reference's "a photo of a cat.".
                texts
                    .iter()
                    .position(|t| t.as_str() == Some("a photo of a cat."))
                    .unwrap()
            });
        let want: Vec<u32> = expected[i].iter().map(|&x| x as u32).collect();
        assert_eq!(row, &want, "{text}");
    }
    assert_eq!(ids[0][0], 49406);
    assert!(ids[0][7..].iter().all(|&t| t == 0));
}

#[test]
fn tokenize_refuses_long_text_unless_truncating() {
    let long = "a photo of a big red truck ".repeat(20);
    let o = softtext(&["tokenize", "--json", &long]);
    assert_one_line_error(&o, &["text 1", "--truncate"]);
    let o = softtext(&["tokenize", "--truncate", "--json", &long]);
    assert!(o.status.success());
    let ids: Vec<Vec<u32>> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(ids[0][76], 49407);
    assert_eq!(ids[0][0], 49406);
}

#[test]
fn encode_texts_writes_unit_rows_in_input_order() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("t.safetensors");
    let texts = [
        "a photo of a cat.",
        "dog look like a cat",
        "a photo of a cat.",
    ];
    let mut args = vec![
        "encode-texts",
        "--clip",
        "fixtures/clip-tiny",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend(texts);
    let o = softtext(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let e = Embeddings::load(&out).unwrap();
    assert_eq!(e.kind, Kind::Text);
    assert_eq!(e.ids, texts);
    assert_eq!(e.dim, 24);
    for i in 0..3 {
        let norm: f32 = e.row(i).iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5);
    }
    assert_eq!(e.row(0), e.row(2), "duplicates encode identically");
    assert_ne!(e.row(0), e.row(1));

    let list = dir.path().join("texts.txt");
    std::fs::write(&list, "a photo of a cat.\n\ndog look like a cat\n").unwrap();
    let out2 = dir.path().join("t2.safetensors");
    let o = softtext(&[
        "encode-texts",
        "--clip",
        "fixtures/clip-tiny",
        "--out",
        out2.to_str().unwrap(),
        "--texts-file",
        list.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let e2 = Embeddings::load(&out2).unwrap();
    assert_eq!(e2.ids, &texts[..2]);
    assert_eq!(e2.row(1), e.row(1));
}

#[test]
fn encode_images_caches_and_rebuilds_corrupt_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("img.safetensors");
    let args = [
        "encode-images",
        "--clip",
        "fixtures/clip-tiny",
        "--data",
        "folder:fixtures/cifar10-sample",
        "--split",
        "test",
        "--limit",
        "30",
        "--batch-size",
        "8",
        "--out",
        out.to_str().unwrap(),
    ];
    let o = softtext(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("wrote"), "{}", stderr(&o));
    let first = Embeddings::load(&out).unwrap();
    assert_eq!(first.len(), 30);
    assert_eq!(first.labels.as_ref().unwrap().len(), 30);
    assert_eq!(first.classes.len(), 10);
    assert_eq!(first.ids[0], "test/airplane/0000.jpg");
    assert_eq!(first.info["split"], "test");

    let o = softtext(&args);
    assert!(o.status.success());
    assert!(stderr(&o).contains("up to date"), "{}", stderr(&o));

    // Flip one byte of the tensor data: the checksum catches it and the file is rebuilt.
    let mut bytes = std::fs::read(&out).unwrap();
    let last = bytes.len() - 10;
    bytes[last] ^= 0x55;
    std::fs::write(&out, &bytes).unwrap();
    assert!(Embeddings::load(&out)
        .unwrap_err()
        .to_string()
        .contains("checksum"));
    let o = softtext(&args);
    assert!(stderr(&o).contains("wrote"), "{}", stderr(&o));
    assert_eq!(
        Embeddings::load(&out).unwrap(),
        first,
        "same inputs, same embeddings"
    );

    // Other inputs (a different limit) never reuse the file.
    let mut other = args.to_vec();
    other[8] = "20";
    let o = softtext(&other);
    assert!(stderr(&o).contains("wrote"), "{}", stderr(&o));
    assert_eq!(Embeddings::load(&out).unwrap().len(), 20);
}

#[test]
fn bad_inputs_fail_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.safetensors");
    let out = out.to_str().unwrap();
    let img = |data: &str, split: &str| {
        softtext(&[
            "encode-images",
            "--clip",
            "fixtures/clip-tiny",
            "--data",
            data,
            "--split",
            split,
            "--out",
            out,
        ])
    };
    assert_one_line_error(&img("nope:x", "test"), &["unknown kind \"nope\""]);
    assert_one_line_error(
        &softtext(&[
            "encode-images",
            "--clip",
            "fixtures/clip-tiny",
            "--data",
            "folder:fixtures/cifar10-sample",
            "--out",
            out,
            "--limit",
            "0",
        ]),
        &["--limit", "must be at least 1"],
    );
    // Missing arguments are named on the one line, not only in the usage block.
    assert_one_line_error(
        &softtext(&["encode-images", "--clip", "fixtures/clip-tiny"]),
        &["not provided", "--data <SPEC>", "--out <FILE.safetensors>"],
    );
    assert_one_line_error(
        &img("folder:does/not/exist", "test"),
        &["does/not/exist", "no such"],
    );
    assert_one_line_error(
        &img("cifar10-bin:does/not/exist.tar.gz", "test"),
        &["exist.tar.gz"],
    );
    assert_one_line_error(
        &img("folder:fixtures/cifar10-sample", "valid"),
        &["unknown split \"valid\""],
    );

    let broken = dir.path().join("broken");
    std::fs::create_dir_all(broken.join("test/cat")).unwrap();
    std::fs::write(broken.join("test/cat/0.jpg"), b"\xff\xd8\xff\xe0 truncated").unwrap();
    let o = img(&format!("folder:{}", broken.display()), "test");
    assert_one_line_error(&o, &["test/cat/0.jpg", "cannot decode"]);
    assert!(!std::path::Path::new(out).exists(), "no output on failure");

    let o = softtext(&["encode-texts", "--clip", "no/such-model", "--out", out, "x"]);
    assert_one_line_error(
        &o,
        &[
            "no/such-model",
            "config.json",
            "searched",
            "models--no--such-model",
        ],
    );

    // A checkpoint with a tensor missing is refused, naming the tensor.
    let ckpt = dir.path().join("ckpt");
    std::fs::create_dir_all(&ckpt).unwrap();
    for f in ["config.json", "tokenizer.json", "preprocessor_config.json"] {
        std::fs::copy(root().join("fixtures/clip-tiny").join(f), ckpt.join(f)).unwrap();
    }
    let tensors = candle_core::safetensors::load(
        root().join("fixtures/clip-tiny/model.safetensors"),
        &candle_core::Device::Cpu,
    )
    .unwrap();
    for missing in ["vision_model.embeddings.class_embedding", "logit_scale"] {
        let mut t = tensors.clone();
        t.remove(missing);
        candle_core::safetensors::save(&t, ckpt.join("model.safetensors")).unwrap();
        let o = softtext(&[
            "encode-texts",
            "--clip",
            ckpt.to_str().unwrap(),
            "--out",
            out,
            "x",
        ]);
        assert_one_line_error(&o, &["missing tensor", missing]);
    }
    // A shape that contradicts config.json.
    let mut t = tensors.clone();
    t.insert(
        "visual_projection.weight".into(),
        candle_core::Tensor::zeros((7, 64), candle_core::DType::F32, &candle_core::Device::Cpu)
            .unwrap(),
    );
    candle_core::safetensors::save(&t, ckpt.join("model.safetensors")).unwrap();
    let o = softtext(&[
        "encode-texts",
        "--clip",
        ckpt.to_str().unwrap(),
        "--out",
        out,
        "x",
    ]);
    assert_one_line_error(&o, &["visual_projection.weight", "shape"]);

    let o = softtext(&[
        "encode-texts",
        "--clip",
        "fixtures/clip-tiny",
        "--device",
        "tpu",
        "--out",
        out,
        "x",
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("unknown device"), "{}", stderr(&o));
}

#[test]
fn aux_train_resume_predict_and_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("aux");
    let run = run_dir.to_str().unwrap();
    let train = |extra: &[&str]| {
        let mut args = vec![
            "aux",
            "train",
            "--model",
            "fast",
            "--width-divisor",
            "16",
            "--epochs",
            "2",
            "--batch-size",
            "8",
            "--limit-train",
            "40",
            "--limit-test",
            "20",
            "--eval-every",
            "1",
            "--data",
            "folder:fixtures/cifar10-sample",
            "--out",
            run,
        ];
        args.extend_from_slice(extra);
        softtext(&args)
    };

    // Stopped after one epoch, then resumed to the end.
    let o = train(&["--stop-after", "1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("epoch 1/2"), "{}", stderr(&o));
    assert_one_line_error(&train(&[]), &["checkpoint.safetensors", "resume it"]);
    let o = train(&["--resume"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("epoch 2/2") && !stderr(&o).contains("epoch 1/2"),
        "{}",
        stderr(&o)
    );
    let log = std::fs::read_to_string(run_dir.join("log.csv")).unwrap();
    assert_eq!(log.lines().count(), 3, "{log}");
    assert!(log.starts_with("epoch,lr,train_loss,train_acc,test_acc,images_per_sec,seconds\n"));
    for f in ["checkpoint.safetensors", "curve.png", "curve.svg"] {
        assert!(run_dir.join(f).is_file(), "{f} missing");
    }
    assert_one_line_error(
        &train(&["--resume", "--lr", "0.5"]),
        &[
            "checkpoint.safetensors",
            "other settings (lr: checkpoint",
            "now 0.5)",
        ],
    );

    let checkpoint = run_dir.join("checkpoint.safetensors");
    let predictions = dir.path().join("aux.csv");
    let predict = |checkpoint: &std::path::Path| {
        softtext(&[
            "aux",
            "predict",
            "--checkpoint",
            checkpoint.to_str().unwrap(),
            "--data",
            "folder:fixtures/cifar10-sample",
            "--top-k",
            "3",
            "--out",
            predictions.to_str().unwrap(),
        ])
    };
    let o = predict(&checkpoint);
    assert!(o.status.success(), "{}", stderr(&o));
    let read = softtext::auxiliary::predictions::AuxPredictions::read(&predictions).unwrap();
    assert_eq!((read.len(), read.k()), (200, 3));
    let images = softtext::data::Dataset::load(
        &"folder:fixtures/cifar10-sample".parse().unwrap(),
        softtext::data::Split::Test,
        None,
    )
    .unwrap();
    let ids: Vec<&str> = read.rows().iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        images.ids().iter().map(String::as_str).collect::<Vec<_>>()
    );

    // A truncated checkpoint is refused by name, and no prediction file is written.
    let bytes = std::fs::read(&checkpoint).unwrap();
    let broken = dir.path().join("broken.safetensors");
    std::fs::write(&broken, &bytes[..bytes.len() / 2]).unwrap();
    std::fs::remove_file(&predictions).unwrap();
    assert_one_line_error(&predict(&broken), &["broken.safetensors"]);
    assert!(!predictions.exists());
}

#[test]
fn closed_stdout_pipe_ends_without_a_panic() {
    use std::io::Read;
    use std::process::Stdio;
    let words: Vec<String> = (0..20_000).map(|i| format!("word{i}")).collect();
    let mut child = common::softtext_command()
        .arg("tokenize")
        .args(&words)
        .current_dir(root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run softtext");
    // Like `| head -c 64`: read a little, then close the pipe while softtext still writes.
    let mut first = [0u8; 64];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(String::from_utf8_lossy(&first).starts_with("49406 "));
    let err = stderr(&out);
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
    assert!(
        !out.status.success(),
        "softtext cannot have printed every line"
    );
}

#[test]
fn eval_names_a_mistyped_aux_source() {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("images.safetensors");
    let o = softtext(&[
        "encode-images",
        "--quiet",
        "--clip",
        "fixtures/clip-tiny",
        "--data",
        "folder:fixtures/cifar10-sample",
        "--limit",
        "20",
        "--out",
        images.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let eval_dir = dir.path().join("eval");
    let eval = |aux: &str, out: &Path, extra: &[&str]| {
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
    };
    assert_one_line_error(
        &eval("selff", &eval_dir, &[]),
        &["--aux \"selff\"", "not `self`, `oracle`"],
    );
    let a_file = dir.path().join("a-file");
    std::fs::write(&a_file, b"").unwrap();
    assert_one_line_error(
        &eval("self", &a_file, &[]),
        &["a-file", "is a file; give a folder"],
    );
    assert_one_line_error(
        &eval("self", &eval_dir, &["--lambdas", "1.5"]),
        &["--lambdas (blend_lambdas[0]): 1.5 is outside [0, 1]"],
    );
}

/// `eval` adds the subject-share section to table.json without changing what readers of the
/// zero-shot report see, and `report` turns it into a section with its figure.
#[test]
fn eval_writes_the_subject_share_section_and_report_shows_it() {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("images.safetensors");
    let o = softtext(&[
        "encode-images",
        "--quiet",
        "--clip",
        "fixtures/clip-tiny",
        "--data",
        "folder:fixtures/cifar10-sample",
        "--limit",
        "40",
        "--out",
        images.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = dir.path().join("eval");
    let eval = |extra: &[&str]| {
        let mut args = vec![
            "eval",
            "--quiet",
            "--images",
            images.to_str().unwrap(),
            "--aux",
            "self",
            "--bootstrap",
            "0",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend(extra);
        softtext(&args)
    };
    assert_one_line_error(
        &eval(&["--subject-share-k", "0"]),
        &["--subject-share-k: must be at least 1 (got 0)"],
    );
    let o = eval(&["--subject-share-k", "500"]);
    assert!(o.status.success(), "{}", stderr(&o));

    let text = std::fs::read_to_string(out.join("table.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let shares = &json["subject_share"];
    assert_eq!(shares["k"], 40, "k is capped at the 40 images");
    assert_eq!(shares["k_requested"], 500);
    // `self` plans every ordered pair of distinct classes for each of the 3 relations.
    assert_eq!(shares["count"], 270);
    assert_eq!(shares["all_texts_listed"], true);
    assert_eq!(shares["texts"].as_array().unwrap().len(), 270);
    let relations: Vec<&str> = shares["relations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["relation"].as_str().unwrap())
        .collect();
    assert_eq!(relations, ["like", "look-like", "resemble"]);
    for r in shares["relations"].as_array().unwrap() {
        let histogram: u64 = r["histogram"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .sum();
        assert_eq!(histogram, r["defined"].as_u64().unwrap());
        assert_eq!(r["lowest"].as_array().unwrap().len(), 10);
    }
    assert_eq!(
        shares["named"],
        serde_json::json!(["automobile look like a truck", "dog look like a cat"])
    );
    // Readers of the zero-shot report alone see what they saw before: the section is one
    // extra key after the report's own, which are unchanged.
    let report: softtext::zeroshot::EvalReport = serde_json::from_str(&text).unwrap();
    let cut = text
        .find(",\n  \"subject_share\": ")
        .expect("the section is last");
    let before: serde_json::Value =
        serde_json::from_str(&format!("{}\n}}\n", &text[..cut])).unwrap();
    let mut without = json.clone();
    without.as_object_mut().unwrap().remove("subject_share");
    assert_eq!(before, without);
    let rewritten: serde_json::Value =
        serde_json::from_str(&softtext::zeroshot::to_json(&report)).unwrap();
    assert_eq!(
        rewritten.as_object().unwrap().len(),
        before.as_object().unwrap().len()
    );

    let o = softtext(&["report", "--quiet", "--eval", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("## Subject share"), "{md}");
    assert!(md.contains("| look-like | 90 |"), "{md}");
    assert!(md.contains("| dog look like a cat | look-like |"), "{md}");
    assert!(out.join("figures/subject-share.png").is_file());
    assert!(out.join("figures/subject-share.svg").is_file());
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("<h2>Subject share</h2>"));
    let folder = softtext::study::read_eval(&out).unwrap();
    assert_eq!(folder.subject_share.unwrap().k, 40);

    // An evaluation written before the section existed still reports, without it.
    let mut old = json.clone();
    old.as_object_mut().unwrap().remove("subject_share");
    std::fs::write(
        out.join("table.json"),
        serde_json::to_string_pretty(&old).unwrap(),
    )
    .unwrap();
    assert!(softtext::study::read_eval(&out)
        .unwrap()
        .subject_share
        .is_none());
    let o = softtext(&["report", "--quiet", "--eval", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(!md.contains("## Subject share"), "{md}");
}
