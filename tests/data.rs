//! Dataset loaders: the same images through every container, stable ids and order, and one
//! clear error for each kind of bad input.

use std::io::Write;
use std::path::{Path, PathBuf};

use softtext::data::{DataError, DataSpec, Dataset, ImageSource, Split, CIFAR10_CLASSES};

fn sample_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/cifar10-sample")
}

fn tar_of(dir: &Path, out: &Path, gzip: bool) {
    let file = std::fs::File::create(out).unwrap();
    let writer: Box<dyn Write> = if gzip {
        Box::new(flate2::write::GzEncoder::new(
            file,
            flate2::Compression::fast(),
        ))
    } else {
        Box::new(file)
    };
    let mut builder = tar::Builder::new(writer);
    // A prefix folder above SPLIT, as many archives have.
    builder.append_dir_all("cifar10", dir).unwrap();
    builder.into_inner().unwrap().flush().unwrap();
}

fn load(spec: &str, split: Split) -> Result<Dataset, DataError> {
    Dataset::load(&spec.parse::<DataSpec>().unwrap(), split, None)
}

fn err(spec: &str, split: Split) -> String {
    load(spec, split).unwrap_err().to_string()
}

#[test]
fn folder_directory_tar_and_tar_gz_agree() {
    let dir = tempfile::tempdir().unwrap();
    let (tar, tgz) = (dir.path().join("s.tar"), dir.path().join("s.tar.gz"));
    tar_of(&sample_dir(), &tar, false);
    tar_of(&sample_dir(), &tgz, true);
    let a = load(&format!("folder:{}", sample_dir().display()), Split::Test).unwrap();
    let b = load(&format!("folder:{}", tar.display()), Split::Test).unwrap();
    let c = load(&format!("folder:{}", tgz.display()), Split::Test).unwrap();
    assert_eq!(a.len(), 200);
    assert_eq!(a.classes, CIFAR10_CLASSES.map(String::from).to_vec());
    assert_eq!(a.samples[0].id, "test/airplane/0000.jpg");
    assert_eq!(a.samples[199].id, "test/truck/0019.jpg");
    for d in [&b, &c] {
        assert_eq!(
            d.ids()
                .iter()
                .map(|id| id.trim_start_matches("cifar10/"))
                .collect::<Vec<_>>(),
            a.ids()
        );
        assert_eq!(d.labels(), a.labels());
    }
    // The manifest hash covers ids, so the archive with a prefix folder differs, but the
    // same archive read twice does not.
    assert_eq!(
        b.manifest_hash(),
        load(&format!("folder:{}", tar.display()), Split::Test)
            .unwrap()
            .manifest_hash()
    );
    assert_eq!(a.image(0).unwrap().width, 32);
    let train = load(&format!("folder:{}", sample_dir().display()), Split::Train).unwrap();
    assert_eq!(train.len(), 300);
}

#[test]
fn class_list_fixes_order_and_must_match() {
    let spec: DataSpec = format!("folder:{}", sample_dir().display())
        .parse()
        .unwrap();
    let mut reversed: Vec<String> = CIFAR10_CLASSES
        .iter()
        .rev()
        .map(|s| s.to_string())
        .collect();
    let d = Dataset::load(&spec, Split::Test, Some(&reversed)).unwrap();
    assert_eq!(d.samples[0].id, "test/truck/0000.jpg");
    assert_eq!(d.samples[0].label, 0);
    reversed.pop();
    let e = Dataset::load(&spec, Split::Test, Some(&reversed))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("\"airplane\"") && e.contains("not in the class list"),
        "{e}"
    );
}

#[test]
fn balanced_limit_keeps_every_class() {
    let mut d = load(&format!("folder:{}", sample_dir().display()), Split::Test).unwrap();
    d.balanced_limit(25);
    assert_eq!(d.len(), 25);
    let mut per_class = [0; 10];
    for s in &d.samples {
        per_class[s.label] += 1;
    }
    assert!(per_class.iter().all(|&n| n == 2 || n == 3), "{per_class:?}");
    d.balanced_limit(0);
    assert_eq!(d.len(), 0, "a limit of 0 keeps nothing");
}

#[test]
fn folder_errors_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("test/cat")).unwrap();
    std::fs::create_dir_all(root.join("test/dog")).unwrap();
    std::fs::write(root.join("test/cat/1.jpg"), b"not a jpeg").unwrap();
    let spec = format!("folder:{}", root.display());
    let e = err(&spec, Split::Test);
    assert!(e.contains("\"dog\" has no images"), "{e}");
    let e = err(&spec, Split::Train);
    assert!(
        e.contains("no \"train\" split") && e.contains("found splits: test"),
        "{e}"
    );

    std::fs::write(root.join("test/dog/2.png"), b"also not an image").unwrap();
    let d = load(&spec, Split::Test).unwrap();
    let e = d.image(0).unwrap_err().to_string();
    assert!(
        e.contains("test/cat/1.jpg") && e.contains("cannot decode"),
        "{e}"
    );

    let e = err(
        &format!("folder:{}", root.join("missing.tar.gz").display()),
        Split::Test,
    );
    assert!(e.contains("missing.tar.gz") && e.contains("no such"), "{e}");
    let plain = root.join("list.txt");
    std::fs::write(&plain, "x").unwrap();
    assert!(err(&format!("folder:{}", plain.display()), Split::Test).contains(".tar.gz"));

    // A truncated archive.
    let tgz = root.join("cut.tar.gz");
    tar_of(&sample_dir(), &tgz, true);
    let bytes = std::fs::read(&tgz).unwrap();
    std::fs::write(&tgz, &bytes[..bytes.len() / 2]).unwrap();
    let e = err(&format!("folder:{}", tgz.display()), Split::Test);
    assert!(
        e.contains("cut.tar.gz") && (e.contains("truncated") || e.contains("corrupt")),
        "{e}"
    );
}

/// A synthetic batch file in the official record layout: label, then R, G, B planes.
fn batch(records: &[(u8, [u8; 3])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (label, rgb) in records {
        out.push(*label);
        for c in rgb {
            out.extend(std::iter::repeat_n(*c, 1024));
        }
    }
    out
}

#[test]
fn cifar_binary_release_folder_and_archive() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("cifar-10-batches-bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(
        bin.join("test_batch.bin"),
        batch(&[(3, [10, 20, 30]), (9, [1, 2, 3])]),
    )
    .unwrap();
    for i in 1..=5 {
        std::fs::write(
            bin.join(format!("data_batch_{i}.bin")),
            batch(&[(i, [i, 0, 0])]),
        )
        .unwrap();
    }
    std::fs::write(
        bin.join("batches.meta.txt"),
        CIFAR10_CLASSES.join("\n") + "\n\n",
    )
    .unwrap();

    for spec in [
        format!("cifar10-bin:{}", dir.path().display()),
        format!("cifar10-bin:{}", bin.display()),
    ] {
        let d = load(&spec, Split::Test).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d.samples[0].id, "test_batch.bin#0");
        assert_eq!(d.samples[0].label, 3);
        let img = d.image(0).unwrap();
        assert_eq!((img.width, img.height), (32, 32));
        assert_eq!(&img.pixels[..6], &[10, 20, 30, 10, 20, 30]);
        let train = load(&spec, Split::Train).unwrap();
        assert_eq!(train.labels(), vec![1, 2, 3, 4, 5]);
    }

    let tgz = dir.path().join("cifar-10-binary.tar.gz");
    tar_of_prefixless(&bin, &tgz);
    let d = load(&format!("cifar10-bin:{}", tgz.display()), Split::Test).unwrap();
    assert!(matches!(d.samples[1].image, ImageSource::Rgb(_)));
    assert_eq!(d.samples[1].label, 9);
    // gzip is recognised by its bytes: a download stored under a name without `.gz`.
    let unnamed = dir.path().join("cifar-download");
    std::fs::copy(&tgz, &unnamed).unwrap();
    let d = load(&format!("cifar10-bin:{}", unnamed.display()), Split::Test).unwrap();
    assert_eq!(d.samples[1].label, 9);
}

#[cfg(unix)]
#[test]
fn symlinked_class_folders_are_classes() {
    let sample = sample_dir();
    let dir = tempfile::tempdir().unwrap();
    let split = dir.path().join("test");
    std::fs::create_dir_all(&split).unwrap();
    for class in ["cat", "dog"] {
        std::os::unix::fs::symlink(sample.join("test").join(class), split.join(class)).unwrap();
    }
    let d = load(&format!("folder:{}", dir.path().display()), Split::Test).unwrap();
    assert_eq!(
        d.classes.iter().map(String::as_str).collect::<Vec<_>>(),
        ["cat", "dog"]
    );
    assert!(!d.is_empty() && d.labels().contains(&1));
}

fn tar_of_prefixless(dir: &Path, out: &Path) {
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(out).unwrap(),
        flate2::Compression::fast(),
    );
    let mut builder = tar::Builder::new(gz);
    builder.append_dir_all("cifar-10-batches-bin", dir).unwrap();
    builder.into_inner().unwrap().finish().unwrap();
}

#[test]
fn cifar_binary_errors_name_file_and_record() {
    let dir = tempfile::tempdir().unwrap();
    let spec = format!("cifar10-bin:{}", dir.path().display());
    let e = err(&spec, Split::Test);
    assert!(e.contains("test_batch.bin not found"), "{e}");

    let mut truncated = batch(&[(1, [0, 0, 0]), (2, [0, 0, 0])]);
    truncated.truncate(3073 + 100);
    std::fs::write(dir.path().join("test_batch.bin"), &truncated).unwrap();
    let e = err(&spec, Split::Test);
    assert!(
        e.contains("test_batch.bin has 3173 bytes") && e.contains("record 1 is truncated"),
        "{e}"
    );

    std::fs::write(
        dir.path().join("test_batch.bin"),
        batch(&[(1, [0; 3]), (12, [0; 3])]),
    )
    .unwrap();
    let e = err(&spec, Split::Test);
    assert!(e.contains("record 1: label 12"), "{e}");

    let e = err(
        &format!("cifar10-bin:{}", dir.path().join("nope.tar.gz").display()),
        Split::Test,
    );
    assert!(e.contains("nope.tar.gz: not found"), "{e}");
}

#[test]
fn errors_say_whether_data_is_missing_or_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let absent = format!("folder:{}", dir.path().join("absent").display());
    assert!(matches!(
        load(&absent, Split::Test),
        Err(DataError::Missing(_))
    ));
    std::fs::create_dir_all(dir.path().join("train/cat")).unwrap();
    std::fs::write(dir.path().join("train/cat/a.png"), b"x").unwrap();
    let no_test = format!("folder:{}", dir.path().display());
    assert!(matches!(
        load(&no_test, Split::Test),
        Err(DataError::Invalid(_))
    ));
    // The crate error renders a module error exactly as the module does.
    let e = load(&no_test, Split::Test).unwrap_err();
    let message = e.to_string();
    assert_eq!(softtext::Error::from(e).to_string(), message);
    let bad_spec = "nope:x".parse::<DataSpec>().unwrap_err();
    assert!(matches!(bad_spec, DataError::Invalid(_)), "{bad_spec:?}");
}
