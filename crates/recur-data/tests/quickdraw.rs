//! Quick, Draw! readers on generated files (always) and on the shared real data (when present):
//! labels come from `word`, raw ink simplifies like Google's simplified files, `.bin` round-trips,
//! and bad drawings are reported with file and line, skipped or fatal with `strict`.

use recur_data::quickdraw::{binary, load, ndjson, synth, LoadError, LoadOptions};
use std::collections::HashMap;
use std::path::PathBuf;

use recur_testdata::shared_data as shared;

/// A fresh, empty folder, removed when dropped.
fn temp_dir(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("recur-qd-{name}-"))
        .tempdir()
        .unwrap()
}

#[test]
fn bad_lines_are_skipped_and_counted_or_fatal_when_strict() {
    let tmp = temp_dir("bad");
    let d = tmp.path();
    let good = ndjson::to_line(&synth::generate(1, 1)[0]);
    let lines = [
        good.as_str(),
        "{not json",
        r#"{"word":"cat","key_id":"1","drawing":[]}"#,
        r#"{"word":"cat","key_id":"2","drawing":[[[1,2,3],[1,2]]]}"#,
        r#"{"word":"cat","key_id":"3","drawing":[[[1e30,2],[1,2]]]}"#,
        r#"{"key_id":"4","drawing":[[[1,2],[1,2]]]}"#,
    ];
    let file = d.join("mixed.ndjson");
    std::fs::write(&file, lines.join("\n")).unwrap();
    let input = vec![file.display().to_string()];
    let (drawings, report) = load(&input, &LoadOptions::default()).unwrap();
    assert_eq!((drawings.len(), report.skipped), (1, 5));
    let messages: Vec<String> = report.problems.iter().map(|p| p.to_string()).collect();
    let expect = [
        ":2: not a JSON object",
        ":3: empty drawing",
        ":4: stroke 0 has 3 x but 2 y values",
        ":5: stroke 0: absurd coordinate",
        ":6: missing `word`",
    ];
    for (m, e) in messages.iter().zip(expect) {
        assert!(m.contains("mixed.ndjson") && m.contains(e), "{m} lacks {e}");
    }
    let strict = LoadOptions {
        strict: true,
        ..LoadOptions::default()
    };
    let err = load(&input, &strict).unwrap_err();
    assert!(
        matches!(err, LoadError::Strict(_)) && err.to_string().contains("mixed.ndjson:2"),
        "{err}"
    );
    for (path, needle) in [("nope.ndjson", "no such file"), ("x/*.ndjson", "matches no file")] {
        let e = load(&[d.join(path).display().to_string()], &LoadOptions::default()).unwrap_err();
        assert!(e.to_string().contains(needle), "{e}");
    }
    std::fs::write(d.join("notes.txt"), "hi").unwrap();
    let e = load(&[d.join("notes.txt").display().to_string()], &LoadOptions::default()).unwrap_err();
    assert!(e.to_string().contains("unsupported file type"), "{e}");
}

#[test]
fn binary_round_trips_and_truncation_is_reported() {
    let tmp = temp_dir("bin");
    let d = tmp.path();
    let drawings: Vec<_> = synth::generate(3, 2).into_iter().filter(|d| d.word == "star").collect();
    let bytes: Vec<u8> = drawings.iter().flat_map(binary::to_record).collect();
    std::fs::write(d.join("star.bin"), &bytes).unwrap();
    let (back, report) = load(&[d.join("star.bin").display().to_string()], &LoadOptions::default()).unwrap();
    assert_eq!(report.skipped, 0);
    assert_eq!(back.len(), 3);
    assert_eq!(back[1].strokes, drawings[1].strokes);
    std::fs::write(d.join("star.bin"), &bytes[..bytes.len() - 3]).unwrap();
    let (back, report) = load(&[d.join("star.bin").display().to_string()], &LoadOptions::default()).unwrap();
    assert_eq!((back.len(), report.skipped), (2, 1));
    assert!(report.problems[0].message.contains("ends inside a record"));
}

#[test]
fn simplified_16class_labels_come_from_the_word() {
    let Some(dir) = shared("quickdraw_simplified_16class") else {
        return;
    };
    let options = LoadOptions {
        max_per_class: Some(50),
        recognized_only: true,
        ..LoadOptions::default()
    };
    let (drawings, report) = load(&[dir.display().to_string()], &options).unwrap();
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for d in &drawings {
        *counts.entry(d.word.as_str()).or_default() += 1;
        assert!(d.recognized);
    }
    assert_eq!(counts.len(), 16);
    assert_eq!(counts["bicycle"], 50, "bycicle.ndjson holds bicycles");
    assert_eq!(report.skipped, 0);
    let glob = format!("{}/c*.ndjson", dir.display());
    let (drawings, _) = load(&[glob], &options).unwrap();
    let words: std::collections::BTreeSet<&str> = drawings.iter().map(|d| d.word.as_str()).collect();
    assert_eq!(
        words.into_iter().collect::<Vec<_>>(),
        ["calculator", "camera", "cat", "computer", "crayon"]
    );
}

/// Raw ink simplified here matches Google's simplified file for the same drawings.
#[test]
fn raw_simplifies_like_the_published_simplified_files() {
    let (Some(raw), Some(simple)) = (
        shared("quickdraw_345class_first24_raw"),
        shared("quickdraw_345class_first25_simplified"),
    ) else {
        return;
    };
    let files: Vec<String> = ["cat", "bicycle", "The Eiffel Tower", "snowflake"]
        .iter()
        .map(|w| format!("{w}.ndjson"))
        .collect();
    let load_all = |dir: &PathBuf| {
        let inputs: Vec<String> = files.iter().map(|f| dir.join(f).display().to_string()).collect();
        load(&inputs, &LoadOptions::default()).unwrap().0
    };
    let reference: HashMap<String, _> = load_all(&simple).into_iter().map(|d| (d.key_id.clone(), d)).collect();
    let (mut compared, mut same_points, mut close) = (0, 0, 0);
    for d in load_all(&raw) {
        let Some(r) = reference.get(&d.key_id) else { continue };
        compared += 1;
        assert_eq!(d.word, r.word);
        let (a, b): (Vec<_>, Vec<_>) = (d.strokes.concat(), r.strokes.concat());
        same_points += usize::from(a.len() == b.len());
        let worst = a
            .iter()
            .zip(&b)
            .map(|(p, q)| (p[0] - q[0]).abs().max((p[1] - q[1]).abs()))
            .fold(0.0, f32::max);
        close += usize::from(a.len() == b.len() && worst <= 1.0);
    }
    eprintln!("{close} of {compared} match within 1 px ({same_points} same length)");
    assert!(compared >= 40, "only {compared} drawings in both sets");
    // Google's exact resampling is unpublished; most drawings still match point for point.
    assert!(
        close * 10 >= compared * 7,
        "{close} of {compared} match within 1 px ({same_points} same length)"
    );
}

/// sketch-rnn `.npz` files (Python pickles of int16 stroke-3 arrays) decode in Rust: every
/// drawing of the published test splits, with point counts as documented.
#[test]
fn sketch_rnn_npz_files_decode() {
    let Some(dir) = shared("quickdraw_sketchrnn_stroke3_4class") else {
        return;
    };
    let (drawings, report) = load(&[dir.display().to_string()], &LoadOptions::default()).unwrap();
    assert_eq!(report.skipped, 0, "{:?}", report.problems);
    let mut counts: HashMap<&str, (usize, usize)> = HashMap::new();
    for d in &drawings {
        let e = counts.entry(d.word.as_str()).or_default();
        e.0 += 1;
        e.1 += d.points();
        let max = d.strokes.iter().flatten().fold(0f32, |m, p| m.max(p[0]).max(p[1]));
        assert!((max - 255.0).abs() < 1e-3, "scaled to the 0-255 frame");
    }
    assert_eq!(counts.len(), 4);
    // The README gives the mean points per drawing: face 65.3, pig 87.4.
    let mean = |w: &str| counts[w].1 as f64 / counts[w].0 as f64;
    assert_eq!(counts["alarm clock"].0, 2500);
    assert!((mean("face") - 65.3).abs() < 0.1 && (mean("pig") - 87.4).abs() < 0.1);
    let Some(sheep) = shared("sketchrnn_aaron_sheep") else {
        return;
    };
    let (sheep, _) = load(
        &[sheep.join("aaron_sheep.npz").display().to_string()],
        &LoadOptions::default(),
    )
    .unwrap();
    assert!(
        sheep.len() > 7000,
        "train, valid and test members are all read: {}",
        sheep.len()
    );
}
