//! Bring-your-own embeddings: the fixture embeddings exported to `.npy` (as another tool would
//! write them) and imported again give the table of the native file; bad inputs are refused
//! with one line and no output.

mod common;

use std::path::Path;
use std::process::Output;

use candle_core::{Device, Tensor};
use softtext::embeddings::Embeddings;

fn softtext(args: &[&str]) -> Output {
    common::softtext_command().args(args).output().unwrap()
}

fn ok(o: Output) -> Output {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    o
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn write_npy(e: &Embeddings, path: &Path) {
    Tensor::from_vec(e.data.clone(), (e.len(), e.dim), &Device::Cpu)
        .unwrap()
        .write_npy(path)
        .unwrap();
}

fn refused(o: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "expected a refusal: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains(needle), "{needle:?} not in {err}");
}

#[test]
fn imported_npy_embeddings_give_the_native_table_and_bad_inputs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let native = d.join("native.safetensors");
    ok(softtext(&[
        "encode-images",
        "--quiet",
        "--clip",
        "fixtures/clip-tiny",
        "--data",
        "folder:fixtures/cifar10-sample",
        "--limit",
        "60",
        "--out",
        s(&native),
    ]));
    let eval_native = d.join("eval-native");
    let table_native = ok(softtext(&[
        "eval",
        "--quiet",
        "--images",
        s(&native),
        "--aux",
        "self",
        "--bootstrap",
        "200",
        "--out",
        s(&eval_native),
    ]))
    .stdout;

    // What another tool hands over: arrays, ids with labels, class names, texts.
    let images = Embeddings::load(&native).unwrap();
    let texts = Embeddings::load(&eval_native.join("texts.safetensors")).unwrap();
    write_npy(&images, &d.join("images.npy"));
    write_npy(&texts, &d.join("texts.npy"));
    let mut meta = String::from("id,label\n");
    for (id, label) in images.ids.iter().zip(images.labels.as_ref().unwrap()) {
        // Labels by name for half the rows: both forms are accepted.
        let label = if label % 2 == 0 {
            images.classes[*label as usize].clone()
        } else {
            label.to_string()
        };
        meta.push_str(&format!("\"{id}\",{label}\n"));
    }
    std::fs::write(d.join("meta.csv"), &meta).unwrap();
    std::fs::write(d.join("classes.txt"), images.classes.join("\n")).unwrap();
    std::fs::write(
        d.join("texts.json"),
        serde_json::to_string(&texts.ids).unwrap(),
    )
    .unwrap();

    let imported = d.join("imported.safetensors");
    let o = ok(softtext(&[
        "import-embeddings",
        "--array",
        s(&d.join("images.npy")),
        "--ids",
        s(&d.join("meta.csv")),
        "--classes",
        s(&d.join("classes.txt")),
        "--model",
        "fixtures/clip-tiny",
        "--out",
        s(&imported),
    ]));
    let said = String::from_utf8_lossy(&o.stderr);
    assert!(said.contains("imported 60 rows x 24 dims"), "{said}");
    let imported_texts = d.join("imported-texts.safetensors");
    ok(softtext(&[
        "import-embeddings",
        "--array",
        s(&d.join("texts.npy")),
        "--texts",
        s(&d.join("texts.json")),
        "--like",
        s(&imported),
        "--model",
        "fixtures/clip-tiny",
        "--out",
        s(&imported_texts),
    ]));
    let back = Embeddings::load(&imported).unwrap();
    assert_eq!(back.ids, images.ids);
    assert_eq!(back.labels, images.labels);
    assert_eq!(back.data, images.data, "unit rows are kept bit for bit");
    assert!(back.info["imported_from"].ends_with("images.npy"));

    let table_imported = ok(softtext(&[
        "eval",
        "--quiet",
        "--images",
        s(&imported),
        "--texts",
        s(&imported_texts),
        "--aux",
        "self",
        "--bootstrap",
        "200",
        "--out",
        s(&d.join("eval-imported")),
    ]))
    .stdout;
    assert_eq!(
        String::from_utf8(table_imported).unwrap(),
        String::from_utf8(table_native).unwrap(),
        "the same table from the imported embeddings"
    );

    // Refusals, each before any output.
    let out = d.join("refused.safetensors");
    let import = |array: &Path, extra: &[&str]| {
        let mut args = vec![
            "import-embeddings",
            "--array",
            s(array),
            "--model",
            "m",
            "--out",
            s(&out),
        ];
        args.extend_from_slice(extra);
        softtext(&args)
    };
    let (meta_csv, classes_txt) = (d.join("meta.csv"), d.join("classes.txt"));
    let image_rows = ["--ids", s(&meta_csv), "--classes", s(&classes_txt)];
    let mut nan = images.clone();
    nan.data[5 * 24 + 3] = f32::NAN;
    write_npy(&nan, &d.join("nan.npy"));
    refused(
        &import(&d.join("nan.npy"), &image_rows),
        "row 5, column 3 is NaN",
    );
    let mut fewer = images.clone();
    fewer.data.truncate(59 * 24);
    fewer.ids.pop();
    write_npy(&fewer, &d.join("fewer.npy"));
    refused(
        &import(&d.join("fewer.npy"), &image_rows),
        "59 rows but 60 ids",
    );
    let twice = meta.replacen(
        &format!("\"{}\"", images.ids[1]),
        &format!("\"{}\"", images.ids[0]),
        1,
    );
    std::fs::write(d.join("twice.csv"), twice).unwrap();
    refused(
        &import(
            &d.join("images.npy"),
            &[
                "--ids",
                s(&d.join("twice.csv")),
                "--classes",
                s(&classes_txt),
            ],
        ),
        "is given twice (rows 0 and 1)",
    );
    let narrow = Tensor::zeros((4, 7), candle_core::DType::F32, &Device::Cpu).unwrap();
    narrow.write_npy(d.join("narrow.npy")).unwrap();
    std::fs::write(d.join("four.txt"), "a\nb\nc\nd\n").unwrap();
    refused(
        &import(
            &d.join("narrow.npy"),
            &["--texts", s(&d.join("four.txt")), "--like", s(&imported)],
        ),
        "rows of 7 dims, but",
    );
    assert!(!out.exists(), "no output from a refused import");
    // Texts of another width at evaluation.
    let mut other = texts.clone();
    other.dim = 12;
    other.data = (0..other.len() * 12)
        .map(|i| if i % 12 == 0 { 1.0 } else { 0.0 })
        .collect();
    write_npy(&other, &d.join("other.npy"));
    let other_texts = d.join("other-texts.safetensors");
    ok(softtext(&[
        "import-embeddings",
        "--array",
        s(&d.join("other.npy")),
        "--texts",
        s(&d.join("texts.json")),
        "--model",
        "m",
        "--out",
        s(&other_texts),
    ]));
    refused(
        &softtext(&[
            "eval",
            "--images",
            s(&imported),
            "--texts",
            s(&other_texts),
            "--aux",
            "self",
            "--out",
            s(&d.join("eval-other")),
        ]),
        "texts of 12 dims, but the images have 24",
    );
}
