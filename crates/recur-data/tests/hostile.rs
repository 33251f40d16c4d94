//! Regression tests for inputs a mutation sweep found crashing or exhausting the readers: each
//! is now a clear error, or a drawing skipped with its file and line and counted.

mod common;

use common::{object_npy, sample_stroke3, stroke3_npz, temp_dir, zip};
use recur_data::quickdraw::{binary, load, Drawing, LoadOptions, MAX_POINTS};

fn load_one(path: &std::path::Path) -> Result<(Vec<Drawing>, recur_data::quickdraw::LoadReport), String> {
    load(&[path.display().to_string()], &LoadOptions::default()).map_err(|e| e.to_string())
}

#[test]
fn npz_valid_fixture_reads() {
    let tmp = temp_dir("npz-ok");
    let d = tmp.path();
    let path = d.join("square.npz");
    std::fs::write(&path, stroke3_npz(&sample_stroke3())).unwrap();
    let (drawings, report) = load_one(&path).unwrap();
    assert_eq!((drawings.len(), report.skipped), (3, 0), "{:?}", report.problems);
    assert_eq!(drawings[0].word, "square");
    assert_eq!(drawings[0].points(), 4);
}

/// A 10-byte member `\x93NUMPY\x02\x00v\x00` used to index out of bounds.
#[test]
fn npz_member_shorter_than_its_header_is_an_error() {
    let tmp = temp_dir("npz-short");
    let d = tmp.path();
    let path = d.join("short.npz");
    std::fs::write(&path, zip(&[("train.npy", b"\x93NUMPY\x02\x00v\x00".to_vec())])).unwrap();
    let e = load_one(&path).unwrap_err();
    assert!(e.contains("short.npz") && e.contains("train: truncated"), "{e}");
    let mut header = b"\x93NUMPY\x01\x00\xff\x00{'descr': '|O'".to_vec();
    header.truncate(20);
    std::fs::write(&path, zip(&[("train.npy", header)])).unwrap();
    assert!(load_one(&path).unwrap_err().contains("truncated header"));
}

/// `\x80\x02)` then 200,000 × `\x85` inside an object array used to overflow the stack.
#[test]
fn npz_deeply_nested_pickle_is_an_error() {
    let tmp = temp_dir("npz-deep");
    let d = tmp.path();
    let path = d.join("deep.npz");
    let mut pickle = b"\x80\x02)".to_vec();
    pickle.extend(std::iter::repeat_n(0x85u8, 200_000));
    pickle.push(b'.');
    std::fs::write(&path, zip(&[("train.npy", object_npy(&pickle, 1))])).unwrap();
    let e = load_one(&path).unwrap_err();
    assert!(e.contains("train: the pickle nests deeper than"), "{e}");
}

/// A `.bin` record of 50 strokes × 65,535 points used to reach the renderer whole (1.3 GB).
#[test]
fn binary_drawing_with_too_many_points_is_skipped_and_counted() {
    let tmp = temp_dir("bin-long");
    let d = tmp.path();
    let path = d.join("cat.bin");
    let long = Drawing {
        word: "cat".into(),
        key_id: "1".into(),
        recognized: true,
        countrycode: "ZZ".into(),
        strokes: vec![(0..65_535).map(|i| [(i % 256) as f32, 7.0]).collect(); 50],
    };
    let short = Drawing {
        key_id: "2".into(),
        strokes: vec![vec![[0.0, 0.0], [9.0, 9.0]]],
        ..long.clone()
    };
    let mut bytes = binary::to_record(&long);
    bytes.extend(binary::to_record(&short));
    std::fs::write(&path, bytes).unwrap();
    let (drawings, report) = load_one(&path).unwrap();
    assert_eq!((drawings.len(), report.skipped), (1, 1));
    let p = &report.problems[0];
    assert!(
        p.line == 1 && p.message.contains(&format!("more than the {MAX_POINTS}")),
        "{p}"
    );
}

/// A raw drawing spanning less than 1e-36 used to turn NaN and fail the whole file.
#[test]
fn ndjson_raw_drawing_of_tiny_span_is_skipped_with_its_line() {
    let tmp = temp_dir("raw-tiny");
    let d = tmp.path();
    let path = d.join("raw.ndjson");
    let good = r#"{"word":"cat","key_id":"1","drawing":[[[0.5,100.5],[0,50],[0,1]]]}"#;
    let tiny = r#"{"word":"cat","key_id":"2","drawing":[[[0,5e-37],[0,1e-37],[0,1]]]}"#;
    let zigzag: Vec<String> = (0..4000).map(|i| format!("{}", (i % 2) * 900)).collect();
    let ys: Vec<String> = (0..4000).map(|i| format!("{}", i as f64 * 1e-3)).collect();
    let long = format!(
        r#"{{"word":"cat","key_id":"3","drawing":[[[{}],[{}]]]}}"#,
        zigzag.join(","),
        ys.join(",")
    );
    std::fs::write(&path, format!("{good}\n{tiny}\n{long}\n")).unwrap();
    let (drawings, report) = load_one(&path).unwrap();
    assert_eq!((drawings.len(), report.skipped), (1, 2), "{:?}", report.problems);
    assert_eq!(report.problems[0].line, 2);
    assert!(report.problems[0].message.contains("too little to scale"));
    assert_eq!(report.problems[1].line, 3);
    assert!(report.problems[1].message.contains("ink"), "{}", report.problems[1]);
}
