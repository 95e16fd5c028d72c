//! The CIFAR-100 and STL-10 binary releases, `folder:` display names (`classnames.txt`) and
//! CMYK / YCCK JPEGs, on the synthetic files of `tools/make_datasets.py` in
//! `fixtures/datasets/`: counts, class names, labels, ids, known pixels through the archive
//! and the extracted folder, and one clear one-line error for each kind of bad input.

use std::path::{Path, PathBuf};

use softtext::clip::preprocess::RgbImage;
use softtext::data::{DataError, DataSpec, Dataset, Split, STL10_CLASSES};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/datasets")
}

fn cifar100_tgz() -> PathBuf {
    fixtures().join("cifar100/cifar-100-binary.tar.gz")
}

fn stl10_tgz() -> PathBuf {
    fixtures().join("stl10/stl10_binary.tar.gz")
}

fn load(spec: &str, split: Split) -> Result<Dataset, DataError> {
    Dataset::load(&spec.parse::<DataSpec>().unwrap(), split, None)
}

/// The error of loading `spec`, checked to be one line naming `names` (the file, ...).
fn one_line_error(spec: &str, split: Split, names: &[&str]) -> String {
    let e = load(spec, split).unwrap_err().to_string();
    assert!(!e.contains('\n'), "not one line: {e}");
    for name in names {
        assert!(e.contains(name), "{e:?} does not name {name:?}");
    }
    e
}

/// Extracts a committed `.tar.gz` into `dir` (the release's folder layout).
fn extract(tgz: &Path, dir: &Path) {
    let file = std::fs::File::open(tgz).unwrap();
    tar::Archive::new(flate2::read::GzDecoder::new(file))
        .unpack(dir)
        .unwrap();
}

/// The label lists `tools/make_datasets.py` wrote beside an archive.
fn labels_json(path: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join(path)).unwrap()).unwrap()
}

fn as_labels(value: &serde_json::Value, minus: i64) -> Vec<i64> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap() - minus)
        .collect()
}

/// `tools/make_datasets.py`'s `cifar_pattern`: R = 7x, G = 7y + 3, B = 255 - 3x - 2y.
fn assert_cifar_pattern(img: &RgbImage) {
    assert_eq!((img.width, img.height), (32, 32));
    for y in 0..32 {
        for x in 0..32 {
            let at = (y * 32 + x) * 3;
            assert_eq!(
                &img.pixels[at..at + 3],
                &[
                    (7 * x) as u8,
                    (7 * y + 3) as u8,
                    (255 - 3 * x - 2 * y) as u8
                ],
                "pixel row {y} column {x}"
            );
        }
    }
}

/// `tools/make_datasets.py`'s `stl_pattern`: R = 2x, G = 2y + 1, B = 255 where x > y.
fn assert_stl_pattern(img: &RgbImage) {
    assert_eq!((img.width, img.height), (96, 96));
    for y in 0..96 {
        for x in 0..96 {
            let at = (y * 96 + x) * 3;
            let b = if x > y { 255 } else { 0 };
            assert_eq!(
                &img.pixels[at..at + 3],
                &[(2 * x) as u8, (2 * y + 1) as u8, b],
                "pixel row {y} column {x}"
            );
        }
    }
}

#[test]
fn cifar100_archive_and_folder_agree() {
    let labels = labels_json("cifar100/labels.json");
    let tgz = format!("cifar100-bin:{}", cifar100_tgz().display());
    let test = load(&tgz, Split::Test).unwrap();
    assert_eq!(test.len(), 200);
    assert_eq!(test.classes.len(), 100);
    assert_eq!(
        (test.classes[0].as_str(), test.classes[99].as_str()),
        ("apple", "worm")
    );
    // Underscores become spaces: these names fill prompts.
    for name in [
        "aquarium fish",
        "maple tree",
        "pickup truck",
        "sweet pepper",
    ] {
        assert!(test.classes.iter().any(|c| c == name), "{name}");
    }
    assert!(test.classes.iter().all(|c| !c.contains('_')));
    assert_eq!(test.labels(), as_labels(&labels["test_fine"], 0));
    assert_eq!(test.samples[0].id, "test.bin#0");
    assert_eq!(test.samples[199].id, "test.bin#199");
    assert_cifar_pattern(&test.image(0).unwrap());
    let train = load(&tgz, Split::Train).unwrap();
    assert_eq!(train.len(), 100);
    assert_eq!(train.labels(), as_labels(&labels["train_fine"], 0));
    assert_eq!(train.samples[5].id, "train.bin#5");

    let dir = tempfile::tempdir().unwrap();
    extract(&cifar100_tgz(), dir.path());
    for folder in [
        dir.path().to_path_buf(),
        dir.path().join("cifar-100-binary"),
    ] {
        let d = load(&format!("cifar100-bin:{}", folder.display()), Split::Test).unwrap();
        assert_eq!(d.ids(), test.ids());
        assert_eq!(d.labels(), test.labels());
        assert_eq!(d.classes, test.classes);
        assert_cifar_pattern(&d.image(0).unwrap());
        // Same ids, labels, classes and pixels: the same content hash.
        assert_eq!(d.manifest_hash(), test.manifest_hash());
    }
}

#[test]
fn cifar100_coarse_labels_are_selectable() {
    let labels = labels_json("cifar100/labels.json");
    let fine = load(
        &format!("cifar100-bin:{}", cifar100_tgz().display()),
        Split::Test,
    )
    .unwrap();
    let coarse = load(
        &format!("cifar100-coarse-bin:{}", cifar100_tgz().display()),
        Split::Test,
    )
    .unwrap();
    assert_eq!(coarse.classes.len(), 20);
    assert_eq!(coarse.classes[0], "aquatic mammals");
    assert!(coarse
        .classes
        .iter()
        .any(|c| c == "large man-made outdoor things"));
    assert_eq!(coarse.labels(), as_labels(&labels["test_coarse"], 0));
    assert_eq!(coarse.ids(), fine.ids());
    // Every fine class sits in one superclass: "maple tree" in "trees".
    let maple = fine.classes.iter().position(|c| c == "maple tree").unwrap() as i64;
    let trees = coarse.classes.iter().position(|c| c == "trees").unwrap() as i64;
    for (f, c) in fine.labels().iter().zip(coarse.labels()) {
        if *f == maple {
            assert_eq!(c, trees);
        }
    }
    assert_ne!(coarse.manifest_hash(), fine.manifest_hash());
}

#[test]
fn cifar100_errors_name_file_and_record() {
    let dir = tempfile::tempdir().unwrap();
    extract(&cifar100_tgz(), dir.path());
    let bin = dir.path().join("cifar-100-binary");
    let spec = format!("cifar100-bin:{}", dir.path().display());
    let path = dir.path().display().to_string();
    let original = std::fs::read(bin.join("test.bin")).unwrap();

    // Truncated: one record and 100 bytes.
    std::fs::write(bin.join("test.bin"), &original[..3074 + 100]).unwrap();
    let e = one_line_error(&spec, Split::Test, &[&path, "test.bin has 3174 bytes"]);
    assert!(e.contains("record 1 is truncated"), "{e}");

    // Label out of range: fine label 100 in record 1, coarse label 20 in record 2.
    let mut bad = original.clone();
    bad[3074 + 1] = 100;
    std::fs::write(bin.join("test.bin"), &bad).unwrap();
    one_line_error(
        &spec,
        Split::Test,
        &[
            &path,
            "test.bin record 1: fine label 100 is out of range 0..99",
        ],
    );
    let mut bad = original.clone();
    bad[2 * 3074] = 20;
    std::fs::write(bin.join("test.bin"), &bad).unwrap();
    // Checked whichever labelling is read.
    one_line_error(
        &spec,
        Split::Test,
        &["test.bin record 2: coarse label 20 is out of range 0..19"],
    );
    std::fs::write(bin.join("test.bin"), &original).unwrap();
    assert_eq!(load(&spec, Split::Test).unwrap().len(), 200);

    // Wrong size of the class-name file, then no class-name file.
    let names = std::fs::read_to_string(bin.join("fine_label_names.txt")).unwrap();
    let fewer: Vec<&str> = names.lines().skip(1).collect();
    std::fs::write(bin.join("fine_label_names.txt"), fewer.join("\n")).unwrap();
    one_line_error(
        &spec,
        Split::Test,
        &[
            &path,
            "fine_label_names.txt names 99 classes, CIFAR-100 (fine labels) has 100",
        ],
    );
    std::fs::remove_file(bin.join("fine_label_names.txt")).unwrap();
    one_line_error(&spec, Split::Test, &["fine_label_names.txt not found"]);
    // The coarse labelling does not need the fine names.
    let coarse = format!("cifar100-coarse-bin:{}", dir.path().display());
    assert_eq!(load(&coarse, Split::Test).unwrap().classes.len(), 20);
    std::fs::remove_file(bin.join("train.bin")).unwrap();
    one_line_error(&coarse, Split::Train, &["train.bin not found"]);

    let absent = format!("cifar100-bin:{}", dir.path().join("nope.tar.gz").display());
    assert!(matches!(
        load(&absent, Split::Test),
        Err(DataError::Missing(_))
    ));
    one_line_error(
        &absent,
        Split::Test,
        &["nope.tar.gz: not found", "cifar-100-binary.tar.gz"],
    );
}

#[test]
fn stl10_archive_and_folder_agree_and_orientation_is_the_official_readers() {
    let labels = labels_json("stl10/labels.json");
    let tgz = format!("stl10-bin:{}", stl10_tgz().display());
    let test = load(&tgz, Split::Test).unwrap();
    assert_eq!(test.len(), 20);
    assert_eq!(test.classes, STL10_CLASSES.map(String::from).to_vec());
    assert_eq!(
        test.labels(),
        as_labels(&labels["test"], 1),
        "labels 1..=10 become 0..=9"
    );
    assert_eq!(test.samples[0].id, "test_X.bin#0");
    assert_stl_pattern(&test.image(0).unwrap());
    let train = load(&tgz, Split::Train).unwrap();
    assert_eq!(
        train.len(),
        10,
        "the unlabelled images are not the train split"
    );
    assert_eq!(train.labels(), as_labels(&labels["train"], 1));
    assert_eq!(train.samples[9].id, "train_X.bin#9");

    let dir = tempfile::tempdir().unwrap();
    extract(&stl10_tgz(), dir.path());
    let folder = dir.path().join("stl10_binary");
    for path in [dir.path().to_path_buf(), folder.clone()] {
        let d = load(&format!("stl10-bin:{}", path.display()), Split::Test).unwrap();
        assert_eq!(d.ids(), test.ids());
        assert_eq!(d.labels(), test.labels());
        assert_stl_pattern(&d.image(0).unwrap());
        assert_eq!(d.manifest_hash(), test.manifest_hash());
    }
    // Without class_names.txt the names are STL-10's own.
    std::fs::remove_file(folder.join("class_names.txt")).unwrap();
    let d = load(&format!("stl10-bin:{}", folder.display()), Split::Test).unwrap();
    assert_eq!(d.classes, test.classes);
}

#[test]
fn stl10_errors_name_file_and_record() {
    let dir = tempfile::tempdir().unwrap();
    extract(&stl10_tgz(), dir.path());
    let bin = dir.path().join("stl10_binary");
    let spec = format!("stl10-bin:{}", bin.display());
    let path = bin.display().to_string();
    let images = std::fs::read(bin.join("test_X.bin")).unwrap();
    let labels = std::fs::read(bin.join("test_y.bin")).unwrap();

    std::fs::write(bin.join("test_X.bin"), &images[..27648 * 3 + 5]).unwrap();
    let e = one_line_error(&spec, Split::Test, &[&path, "test_X.bin has 82949 bytes"]);
    assert!(e.contains("record 3 is truncated"), "{e}");
    std::fs::write(bin.join("test_X.bin"), &images).unwrap();

    for bad_label in [0u8, 11] {
        let mut bad = labels.clone();
        bad[3] = bad_label;
        std::fs::write(bin.join("test_y.bin"), &bad).unwrap();
        one_line_error(
            &spec,
            Split::Test,
            &[
                &path,
                &format!("test_y.bin record 3: label {bad_label} is out of range 1..=10"),
            ],
        );
    }
    // Wrong size: one label short.
    std::fs::write(bin.join("test_y.bin"), &labels[..19]).unwrap();
    one_line_error(
        &spec,
        Split::Test,
        &[
            &path,
            "test_y.bin has 19 labels but test_X.bin has 20 images",
        ],
    );
    std::fs::write(bin.join("test_y.bin"), &labels).unwrap();
    std::fs::write(bin.join("class_names.txt"), "airplane\nbird\n").unwrap();
    one_line_error(
        &spec,
        Split::Test,
        &[&path, "class_names.txt names 2 classes, STL-10 has 10"],
    );
    std::fs::remove_file(bin.join("class_names.txt")).unwrap();
    std::fs::remove_file(bin.join("train_y.bin")).unwrap();
    one_line_error(&spec, Split::Train, &["train_y.bin not found"]);
}

const NAMED: [&str; 3] = ["tench", "English springer", "cassette player"];

#[test]
fn folder_classnames_txt_names_the_classes() {
    let root = fixtures().join("folder-named");
    let spec = format!("folder:{}", root.display());
    let d = load(&spec, Split::Test).unwrap();
    assert_eq!(d.classes, NAMED.map(String::from).to_vec());
    assert_eq!(d.len(), 6);
    assert_eq!(d.samples[0].id, "test/n01440764/n01440764_0.png");
    assert_eq!(d.samples[2].id, "test/n02102040/n02102040_0.png");
    assert_eq!(d.labels(), vec![0, 0, 1, 1, 2, 2]);
    assert_eq!(d.image(0).unwrap().width, 8);
    assert_eq!(load(&spec, Split::Train).unwrap().classes, d.classes);

    // A class list is in display names, and may reorder them.
    let reversed: Vec<String> = NAMED.iter().rev().map(|s| s.to_string()).collect();
    let r = Dataset::load(&spec.parse().unwrap(), Split::Test, Some(&reversed)).unwrap();
    assert_eq!(r.samples[0].id, "test/n02979186/n02979186_0.png");
    assert_eq!(r.samples[0].label, 0);
    let folders = ["n01440764", "n02102040", "n02979186"].map(String::from);
    let e = Dataset::load(&spec.parse().unwrap(), Split::Test, Some(&folders))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("\"n01440764\" is listed but has no folder"),
        "{e}"
    );

    // In an archive with a prefix folder above SPLIT, classnames.txt sits beside SPLIT.
    let dir = tempfile::tempdir().unwrap();
    let tgz = dir.path().join("named.tar.gz");
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&tgz).unwrap(),
        flate2::Compression::fast(),
    );
    let mut builder = tar::Builder::new(gz);
    builder.append_dir_all("imagenet-mini", &root).unwrap();
    builder.into_inner().unwrap().finish().unwrap();
    let a = load(&format!("folder:{}", tgz.display()), Split::Test).unwrap();
    assert_eq!(a.classes, d.classes);
    assert_eq!(a.labels(), d.labels());
    assert_eq!(
        a.samples[0].id,
        "imagenet-mini/test/n01440764/n01440764_0.png"
    );
}

#[test]
fn bad_classnames_txt_is_a_one_line_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for split in ["train", "test"] {
        for class in ["a", "b"] {
            std::fs::create_dir_all(root.join(split).join(class)).unwrap();
            std::fs::write(root.join(split).join(class).join("x.png"), b"png").unwrap();
        }
    }
    let spec = format!("folder:{}", root.display());
    let names = root.join("classnames.txt");
    for (text, expected) in [
        (
            "only one\n",
            "classnames.txt: 1 names for the 2 class folders of split test",
        ),
        (
            "one\ntwo\nthree\n",
            "classnames.txt: 3 names for the 2 class folders",
        ),
        ("\nsecond\n", "classnames.txt: line 1 is empty"),
        (
            "same\nsame\n",
            "classnames.txt: line 2 repeats line 1's name \"same\"",
        ),
    ] {
        std::fs::write(&names, text).unwrap();
        one_line_error(&spec, Split::Test, &[&root.display().to_string(), expected]);
    }
    // Trailing blank lines and surrounding spaces are fine.
    std::fs::write(&names, " first \nsecond\n\n\n").unwrap();
    let d = load(&spec, Split::Test).unwrap();
    assert_eq!(d.classes, ["first", "second"]);
    // A classnames.txt elsewhere (inside a split) is not the dataset's.
    std::fs::remove_file(&names).unwrap();
    std::fs::write(root.join("test/classnames.txt"), "x\ny\n").unwrap();
    assert_eq!(load(&spec, Split::Test).unwrap().classes, ["a", "b"]);
}

#[test]
fn cmyk_and_ycck_jpegs_decode_as_pil_converts_them() {
    let dir = fixtures().join("jpeg");
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("info.json")).unwrap()).unwrap();
    for (name, transform) in [("cmyk", Some(0)), ("cmyk-noadobe", None), ("ycck", Some(2))] {
        let meta = &info[format!("{name}.jpg")];
        assert_eq!(meta["mode"], "CMYK");
        assert_eq!(meta["adobe_transform"].as_i64(), transform, "{name}");
        let img = RgbImage::open(&dir.join(format!("{name}.jpg")))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let reference = std::fs::read(dir.join(format!("{name}.rgb"))).unwrap();
        assert_eq!((img.width, img.height), (24, 16), "{name}");
        let differing = img
            .pixels
            .iter()
            .zip(&reference)
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(differing, 0, "{name}: {differing} bytes differ from PIL's");
        assert_eq!(img.pixels, reference, "{name}");
    }
}
