//! Auxiliary-prediction files: round trips in every format and every bad input the issue
//! names, each error naming the row (line, index or id).

use softtext::auxiliary::predictions::{AuxError, AuxPredictions, AuxRow};
use softtext::prompts::ClassList;

fn classes() -> ClassList {
    ClassList::new(["cat", "dog", "ship"]).unwrap()
}

fn ids(names: &[&str]) -> Vec<String> {
    names.iter().map(|name| name.to_string()).collect()
}

fn sample() -> AuxPredictions {
    AuxPredictions::new(
        vec![
            AuxRow {
                id: "test/cat/0000.jpg".to_string(),
                topk: vec![0, 1],
                scores: vec![0.91, 0.05],
            },
            AuxRow {
                id: "odd, \"quoted\" id".to_string(),
                topk: vec![2, 0],
                scores: vec![0.5, 0.25],
            },
        ],
        Some(vec!["cat".into(), "dog".into(), "ship".into()]),
    )
    .unwrap()
}

#[test]
fn every_format_round_trips_through_an_atomic_write() {
    let folder = tempfile::tempdir().unwrap();
    let original: AuxPredictions = sample();
    for extension in ["json", "csv", "safetensors"] {
        let path = folder.path().join(format!("aux.{extension}"));
        original.write(&path).unwrap();
        let reread: AuxPredictions = AuxPredictions::read(&path).unwrap();
        assert_eq!(reread.rows(), original.rows(), "{extension}");
        if extension != "csv" {
            assert_eq!(reread.classes(), original.classes(), "{extension}");
        }
        // No temporary file is left behind.
        let leftovers: Vec<_> = std::fs::read_dir(folder.path())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|entry| entry.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
    }
    let aligned = original
        .align(
            &classes(),
            &ids(&["odd, \"quoted\" id", "test/cat/0000.jpg"]),
        )
        .unwrap();
    assert_eq!(aligned.as_flat(), &[2, 0, 0, 1]);
    assert!(matches!(
        AuxPredictions::read(std::path::Path::new("aux.txt")),
        Err(AuxError::UnknownFormat { .. })
    ));
}

#[test]
fn csv_documented_layout_parses() {
    let text = "id,top1,score1,top2,score2,top3,score3\na.jpg,1,0.7,0,0.2,2,0.1\n\"b,1.jpg\",2,0.6,1,0.3,0,0.1\n";
    let predictions = AuxPredictions::from_csv_str(text, "aux.csv").unwrap();
    assert_eq!(predictions.k(), 3);
    assert_eq!(predictions.rows()[1].id, "b,1.jpg");
    assert_eq!(predictions.to_csv_string(), text);
}

#[test]
fn a_missing_file_keeps_the_io_error() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("absent.json");
    let error = AuxPredictions::read(&path).unwrap_err();
    let AuxError::Io { file, source } = &error else {
        panic!("expected AuxError::Io, got {error:?}");
    };
    assert_eq!(file, &path.display().to_string());
    // The kind survives, so a caller can tell "not found" from "permission denied".
    assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
    // The message is the path, then the operating system's text, as before the error kept
    // its source.
    assert_eq!(error.to_string(), format!("{}: {source}", path.display()));
    assert!(std::error::Error::source(&error).is_some());
}

fn error_text(result: Result<AuxPredictions, AuxError>) -> String {
    result.unwrap_err().to_string()
}

#[test]
fn unknown_image_id_names_the_row() {
    let predictions = AuxPredictions::from_csv_str(
        "id,top1,score1,top2,score2\na.jpg,0,0.9,1,0.1\nzzz.jpg,1,0.8,2,0.1\n",
        "aux.csv",
    )
    .unwrap();
    let error = predictions
        .align(&classes(), &ids(&["a.jpg", "b.jpg"]))
        .unwrap_err();
    assert!(matches!(error, AuxError::UnknownImage { .. }));
    let message = error.to_string();
    assert!(
        message.contains("aux.csv: line 3") && message.contains("zzz.jpg"),
        "{message}"
    );
}

#[test]
fn missing_image_names_the_id() {
    let predictions =
        AuxPredictions::from_csv_str("id,top1,score1,top2,score2\na.jpg,0,0.9,1,0.1\n", "aux.csv")
            .unwrap();
    let message = predictions
        .align(&classes(), &ids(&["a.jpg", "b.jpg"]))
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("no prediction for image id \"b.jpg\""),
        "{message}"
    );
}

#[test]
fn class_index_out_of_range_names_the_row() {
    let predictions = AuxPredictions::from_json_str(
        r#"{"predictions": [{"id": "a", "topk": [0, 1], "scores": [0.5, 0.4]},
                             {"id": "b", "topk": [1, 7], "scores": [0.5, 0.4]}]}"#,
        "aux.json",
    )
    .unwrap();
    let error = predictions
        .align(&classes(), &ids(&["a", "b"]))
        .unwrap_err();
    assert!(matches!(
        error,
        AuxError::ClassOutOfRange {
            class: 7,
            class_count: 3,
            ..
        }
    ));
    let message = error.to_string();
    assert!(
        message.contains("predictions[1]") && message.contains("\"b\""),
        "{message}"
    );
    let negative = error_text(AuxPredictions::from_json_str(
        r#"{"predictions": [{"id": "a", "topk": [0, -1], "scores": [0.5, 0.4]}]}"#,
        "aux.json",
    ));
    assert!(
        negative.contains("predictions[0]") && negative.contains("-1"),
        "{negative}"
    );
}

#[test]
fn fewer_than_two_classes_names_the_row() {
    let json = error_text(AuxPredictions::from_json_str(
        r#"{"predictions": [{"id": "a", "topk": [0, 1], "scores": [0.5, 0.4]},
                             {"id": "b", "topk": [2], "scores": [0.9]}]}"#,
        "aux.json",
    ));
    assert!(
        json.contains("predictions[1]") && json.contains("at least 2 classes"),
        "{json}"
    );
    let csv = error_text(AuxPredictions::from_csv_str(
        "id,top1,score1,top2,score2\na,0,0.9,1,0.1\nb,2,0.9\n",
        "aux.csv",
    ));
    assert!(
        csv.contains("line 3") && csv.contains("at least 2 classes"),
        "{csv}"
    );
    let dangling = error_text(AuxPredictions::from_csv_str(
        "id,top1,score1,top2,score2,top3,score3\na,0,0.9,1\n",
        "aux.csv",
    ));
    assert!(
        dangling.contains("line 2") && dangling.contains("at least 2 classes, found 1"),
        "{dangling}"
    );
    let header = error_text(AuxPredictions::from_csv_str(
        "id,top1,score1\na,0,0.9\n",
        "aux.csv",
    ));
    assert!(header.contains("line 1"), "{header}");
}

#[test]
fn nan_score_names_the_row() {
    let csv = error_text(AuxPredictions::from_csv_str(
        "id,top1,score1,top2,score2\na,0,0.9,1,0.1\nb,1,NaN,2,0.1\n",
        "aux.csv",
    ));
    assert!(csv.contains("line 3") && csv.contains("NaN"), "{csv}");
    let json = error_text(AuxPredictions::from_json_str(
        r#"{"predictions": [{"id": "a", "topk": [0, 1], "scores": [0.5, null]}]}"#,
        "aux.json",
    ));
    assert!(
        json.contains("predictions[0]") && json.contains("score 2 is NaN"),
        "{json}"
    );
    let rows = sample().rows().to_vec();
    let bytes = AuxPredictions::new(vec![rows[0].clone()], None)
        .unwrap()
        .to_safetensors_bytes();
    // Patch the NaN into the serialised scores to exercise the safetensors reader.
    let mut patched = bytes.clone();
    let needle = 0.91f32.to_le_bytes();
    let at = patched
        .windows(4)
        .position(|window| window == needle)
        .unwrap();
    patched[at..at + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    let safetensors = error_text(AuxPredictions::from_safetensors_bytes(
        &patched,
        "aux.safetensors",
    ));
    assert!(
        safetensors.contains("row 0") && safetensors.contains("NaN"),
        "{safetensors}"
    );
}

#[test]
fn duplicates_name_both_rows() {
    let id = error_text(AuxPredictions::from_csv_str(
        "id,top1,score1,top2,score2\na,0,0.9,1,0.1\na,1,0.9,2,0.1\n",
        "aux.csv",
    ));
    assert!(
        id.contains("line 3") && id.contains("repeats line 2"),
        "{id}"
    );
    let class = error_text(AuxPredictions::from_csv_str(
        "id,top1,score1,top2,score2\na,1,0.9,1,0.1\n",
        "aux.csv",
    ));
    assert!(
        class.contains("line 2") && class.contains("class 1 appears twice"),
        "{class}"
    );
}

#[test]
fn class_list_mismatch_and_bad_syntax_are_reported() {
    let predictions = AuxPredictions::from_json_str(
        r#"{"classes": ["cat", "dog"], "predictions": [{"id": "a", "topk": [0, 1], "scores": [0.5, 0.4]}]}"#,
        "aux.json",
    )
    .unwrap();
    assert!(matches!(
        predictions.align(&classes(), &ids(&["a"])),
        Err(AuxError::ClassListMismatch { .. })
    ));
    let syntax = error_text(AuxPredictions::from_json_str(
        "{\"predictions\": [\n{\"id\": \"a\", \"topk\": [0, 1], \"scores\": [NaN, 0.1]}]}",
        "aux.json",
    ));
    assert!(syntax.contains("line 2"), "{syntax}");
    let unknown_key = error_text(AuxPredictions::from_json_str(
        r#"{"predictions": [], "extra": 1}"#,
        "aux.json",
    ));
    assert!(unknown_key.contains("unknown field"), "{unknown_key}");
}
