//! `softtext reproduce` on configs/demo.toml: every stage runs, a rerun does no work, and a
//! changed setting recomputes only what depends on it.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn reproduce(config: &std::path::Path, out: &std::path::Path) -> (String, f64) {
    let started = Instant::now();
    let o = Command::new(env!("CARGO_BIN_EXE_softtext"))
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

#[test]
fn demo_runs_caches_and_recomputes_only_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    let config = root().join("configs/demo.toml");
    let (first, _) = reproduce(&config, &out);
    assert!(first.contains("[4/4] report"), "{first}");
    for f in [
        "table.md",
        "table.csv",
        "table.json",
        "report.html",
        "report.md",
        "figures/umap-hard.png",
        "figures/umap-look-like.svg",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        html.contains("RANDOM weights"),
        "the demo report must flag the random-weight model"
    );
    let before = manifest(&out);

    let (second, seconds) = reproduce(&config, &out);
    assert_eq!(second.matches("up to date").count(), 4, "{second}");
    assert!(
        seconds < 2.0,
        "a rerun with nothing changed took {seconds:.2}s"
    );
    let after = manifest(&out);
    for stage in ["1-images", "2-eval", "3-umap", "4-report"] {
        assert_eq!(
            after["stages"][stage]["key"],
            before["stages"][stage]["key"]
        );
        assert_eq!(after["stages"][stage]["cached"], true, "{stage}");
    }

    // Another UMAP seed: images and evaluation are reused, figures and report recomputed.
    let changed = dir.path().join("changed.toml");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("seed = 42", "seed = 7");
    std::fs::write(&changed, text).unwrap();
    let (third, _) = reproduce(&changed, &out);
    assert_eq!(third.matches("up to date").count(), 2, "{third}");
    let last = manifest(&out);
    assert_eq!(last["stages"]["2-eval"]["cached"], true);
    assert_eq!(last["stages"]["3-umap"]["cached"], false);
    assert_ne!(
        last["stages"]["3-umap"]["key"],
        before["stages"]["3-umap"]["key"]
    );
}

#[test]
fn bad_configs_are_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    let demo = std::fs::read_to_string(root().join("configs/demo.toml")).unwrap();
    let run = |text: &str| {
        std::fs::write(&config, text).unwrap();
        let o = Command::new(env!("CARGO_BIN_EXE_softtext"))
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
    assert!(e.contains("unknown field `colour`"), "{e}");
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
