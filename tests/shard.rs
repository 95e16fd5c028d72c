//! Sharded encoding as a cluster runs it: three concurrent `encode-images --shard I/3`
//! processes, then `merge-embeddings`, must equal one unsharded run; merges of the wrong
//! shards are refused with one line and write nothing.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use softtext::embeddings::Embeddings;

fn softtext() -> Command {
    common::softtext_command()
}

fn encode(out: &Path, extra: &[&str]) -> Command {
    encode_limited(out, "90", extra)
}

fn encode_limited(out: &Path, limit: &str, extra: &[&str]) -> Command {
    let mut command = softtext();
    command
        .args([
            "encode-images",
            "--quiet",
            "--clip",
            "fixtures/clip-tiny",
            "--data",
            "folder:fixtures/cifar10-sample",
            "--limit",
            limit,
            "--batch-size",
            "16",
            "--out",
        ])
        .arg(out)
        .args(extra);
    command
}

fn ok(o: Output) -> Output {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    o
}

fn merge(out: &Path, shards: &[&Path]) -> Output {
    softtext()
        .arg("merge-embeddings")
        .arg(out)
        .args(shards)
        .output()
        .unwrap()
}

fn one_line_error(o: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "expected a refusal: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: ") && err.contains(needle),
        "{needle:?} not in {err}"
    );
}

#[test]
fn three_concurrent_shards_merge_into_the_unsharded_file() {
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole.safetensors");
    ok(encode(&whole, &[]).output().unwrap());

    let shards: Vec<PathBuf> = (0..3)
        .map(|i| dir.path().join(format!("shard-{i}.safetensors")))
        .collect();
    let children: Vec<_> = shards
        .iter()
        .enumerate()
        .map(|(i, path)| {
            // The middle shard finds its slice the way a Slurm array task does.
            let mut command = if i == 1 {
                let mut c = encode(path, &[]);
                c.env("SLURM_ARRAY_TASK_ID", "2")
                    .env("SLURM_ARRAY_TASK_MIN", "1")
                    .env("SLURM_ARRAY_TASK_COUNT", "3");
                c
            } else {
                encode(path, &["--shard", &format!("{i}/3")])
            };
            command.spawn().unwrap()
        })
        .collect();
    for child in children {
        let status = child.wait_with_output().unwrap();
        ok(status);
    }
    let rows: Vec<usize> = shards
        .iter()
        .map(|p| Embeddings::load(p).unwrap().len())
        .collect();
    // 90 images in batches of 16 are 6 batches, 2 per shard.
    assert_eq!(rows, [32, 32, 26]);

    let merged = dir.path().join("merged.safetensors");
    // In any order.
    ok(merge(&merged, &[&shards[2], &shards[0], &shards[1]]));
    let (a, b) = (
        Embeddings::load(&whole).unwrap(),
        Embeddings::load(&merged).unwrap(),
    );
    assert_eq!(a.ids, b.ids);
    assert_eq!(a.labels, b.labels);
    assert_eq!(a.classes, b.classes);
    assert_eq!(
        a.key, b.key,
        "the merged file is the unsharded run's, cache key included"
    );
    assert_eq!(a.info, b.info);
    let bits = |e: &Embeddings| e.data.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&a), bits(&b), "tensors bit for bit");
    // The unsharded command finds the merged file up to date.
    let o = ok(encode(&merged, &[]).output().unwrap());
    assert!(o.stderr.is_empty() || String::from_utf8_lossy(&o.stderr).contains("up to date"));
    let o = ok(softtext()
        .args(["encode-images", "--clip", "fixtures/clip-tiny"])
        .args([
            "--data",
            "folder:fixtures/cifar10-sample",
            "--limit",
            "90",
            "--out",
        ])
        .arg(&merged)
        .output()
        .unwrap());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("up to date"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    // Refusals, each before anything is written.
    let refused = dir.path().join("refused.safetensors");
    one_line_error(
        &merge(&refused, &[&shards[0], &shards[2]]),
        "rows 32..64 are in no shard",
    );
    one_line_error(
        &merge(&refused, &[&shards[0], &shards[1]]),
        "rows 64..90 are in no shard",
    );
    one_line_error(
        &merge(&refused, &[&shards[0], &shards[0], &shards[1], &shards[2]]),
        "overlap",
    );
    one_line_error(&merge(&refused, &[&whole]), "not a shard file");
    // Another run: a different --limit is a different dataset manifest.
    let other = dir.path().join("other-0.safetensors");
    ok(encode_limited(&other, "60", &["--shard", "0/3"])
        .output()
        .unwrap());
    one_line_error(
        &merge(&refused, &[&other, &shards[1], &shards[2]]),
        "a shard of another run",
    );
    // Another split count.
    let halves = dir.path().join("half-1.safetensors");
    ok(encode(&halves, &["--shard", "1/2"]).output().unwrap());
    one_line_error(&merge(&refused, &[&shards[0], &halves]), "shard 1 of 2");
    assert!(!refused.exists(), "no output from a refused merge");

    let o = encode(&refused, &["--shard", "3/3"]).output().unwrap();
    one_line_error(&o, "needs 0 <= I < N");
}
