use super::*;

use recur_testdata::shared_data as shared;

#[test]
fn sketchrnn_refuses_a_drawing_of_one_point() {
    let e = Sketch::new(0, vec![[1.0, 2.0, 1.0]]).unwrap_err();
    assert!(e.contains("a drawing of 1 point"), "{e}");
}

#[test]
fn sketchrnn_refuses_nan_and_huge_offsets_and_clips_large_ones() {
    let e = Sketch::new(0, vec![[1.0, f32::NAN, 0.0], [1.0, 1.0, 1.0]]).unwrap_err();
    assert!(e.contains("point 1: a value is not a number"), "{e}");
    let e = Sketch::new(0, vec![[1.0, 0.0, 0.0], [3.0e6, 1.0, 1.0]]).unwrap_err();
    assert!(e.contains("point 2: offset (3000000, 1) is huge"), "{e}");
    let s = Sketch::new(0, vec![[1.0, 0.0, 0.0], [-5000.0, 1.0, 1.0]]).unwrap();
    assert_eq!(s.points[1], [-OFFSET_CLIP, 1.0, 1.0]);
}

#[test]
fn sketchrnn_refuses_an_npz_without_stroke_arrays() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.npz");
    let file = std::fs::File::create(&path).unwrap();
    let mut zip = zip_writer(file);
    zip.finish().unwrap();
    let e = load(&path).unwrap_err().to_string();
    assert!(e.contains("empty.npz") && e.contains("no array of drawings"), "{e}");
}

fn zip_writer(file: std::fs::File) -> ZipStub {
    ZipStub(file)
}

/// The smallest valid zip: an end-of-central-directory record and nothing else.
struct ZipStub(std::fs::File);

impl ZipStub {
    fn finish(&mut self) -> std::io::Result<()> {
        use std::io::Write;
        let mut eocd = vec![0x50, 0x4b, 0x05, 0x06];
        eocd.extend([0u8; 18]);
        self.0.write_all(&eocd)
    }
}

#[test]
fn sketchrnn_folder_of_ndjson_gives_one_class_per_file() {
    let dir = tempfile::tempdir().unwrap();
    for (name, x) in [("alarm-clock", 10), ("face", 20)] {
        let lines: Vec<String> = (0..40)
            .map(|i| {
                format!(
                    r#"{{"word":"w","key_id":"{i}","drawing":[[[{x},{},30],[5,6,9]],[[1,2],[3,4]]]}}"#,
                    x + 1
                )
            })
            .collect();
        std::fs::write(dir.path().join(format!("{name}.ndjson")), lines.join("\n")).unwrap();
    }
    let splits = load(dir.path()).unwrap();
    assert_eq!(splits.classes, ["alarm-clock", "face"]);
    assert_eq!((splits.train.len(), splits.valid.len(), splits.test.len()), (72, 4, 4));
    let first = &splits.train[0];
    assert_eq!(first.points[..2], [[10.0, 5.0, 0.0], [1.0, 1.0, 0.0]]);
    assert_eq!(first.points[3], [-29.0, -6.0, 0.0]);
    assert_eq!(splits.train[40].class, 1);
}

#[test]
fn sketchrnn_scale_and_length_limit_as_magenta() {
    let s = |len: usize| Sketch {
        class: 0,
        points: (0..len).map(|i| [i as f32, -(i as f32), 0.0]).collect(),
    };
    let prepared = prepare(&[s(3), s(9), s(4)], 4, 2.0);
    assert_eq!(prepared.dropped, 1);
    assert_eq!(prepared.sketches[1].points[3], [1.5, -1.5, 0.0]);
    // Values 0, 1, 2 and 0, −1, −2: mean 0, population variance 10/6.
    let std = offset_scale(&[s(3)]).unwrap();
    assert!((std - (10.0f32 / 6.0).sqrt()).abs() < 1e-6);
}

#[test]
fn sketchrnn_reads_the_sheep_npz_splits() {
    let Some(dir) = shared("sketchrnn_aaron_sheep") else {
        return;
    };
    let splits = load(&dir.join("aaron_sheep.npz")).unwrap();
    assert_eq!(splits.classes, ["aaron_sheep"]);
    assert_eq!(
        (splits.train.len(), splits.valid.len(), splits.test.len()),
        (7400, 300, 300)
    );
    assert_eq!(splits.longest(), 250);
    let scale = offset_scale(&splits.train).unwrap();
    // The PyTorch port's numpy std of the same offsets, summed in f64: 18.519826873930498.
    assert!((scale as f64 - 18.519826873930498).abs() < 1e-5, "{scale}");
}

#[test]
fn sketchrnn_reads_a_folder_of_npz_classes_and_omniglot_without_test() {
    if let Some(dir) = shared("quickdraw_sketchrnn_stroke3_4class") {
        let splits = load(&dir).unwrap();
        assert_eq!(splits.classes, ["alarm-clock", "face", "pig", "radio"]);
        // One `sketches` array per file, split 90/5/5 by position.
        assert_eq!(
            (splits.train.len(), splits.valid.len(), splits.test.len()),
            (9000, 500, 500)
        );
        assert_eq!(splits.longest(), 151);
    }
    let Some(dir) = shared("sketchrnn_omniglot") else {
        return;
    };
    let path = dir.join("omniglot.npz");
    let splits = load(&path).unwrap();
    assert_eq!((splits.train.len(), splits.valid.len()), (30_000, 1000));
    assert_eq!(splits.longest(), 157);
    let scale = offset_scale(&splits.train).unwrap();
    assert!((scale as f64 - 53.43704457835193).abs() < 1e-4, "{scale}");
    let e = splits.split("test", &path).unwrap_err().to_string();
    assert!(e.contains("no `test` drawings"), "{e}");
}

#[test]
fn sketchrnn_refuses_a_folder_of_both_kinds_and_one_of_neither() {
    let dir = tempfile::tempdir().unwrap();
    let e = load(dir.path()).unwrap_err().to_string();
    assert!(e.contains("no .npz or .ndjson files in this folder"), "{e}");
    std::fs::write(dir.path().join("a.ndjson"), "").unwrap();
    std::fs::write(dir.path().join("b.npz"), "").unwrap();
    let e = load(dir.path()).unwrap_err().to_string();
    assert!(e.contains("holds both .npz and .ndjson files"), "{e}");
    let e = load(&dir.path().join("missing.npz")).unwrap_err().to_string();
    assert!(e.contains("no such file or folder"), "{e}");
}
