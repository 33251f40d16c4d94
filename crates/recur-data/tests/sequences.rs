//! Labelled sequence sets on the real `.ts` files in the shared data folder (skipped when it is
//! absent) and on `.npy` arrays written here. Expected counts come from each folder's README.

use recur_data::npy::npy_bytes;
use recur_data::{read_npy_set, read_ts, SequenceSet, SequenceTargets};

/// The shared data folder `name`, from the main checkout or a worktree; `None` (with a message)
/// when it is absent.
use recur_testdata::shared_data as shared;

/// What a README says about one file.
struct Expect {
    cases: usize,
    dims: usize,
    classes: &'static [&'static str],
    per_class: (usize, usize),
    steps: (usize, usize),
}

/// Checks a set read from a real file against its README's numbers.
fn check(set: &SequenceSet, e: &Expect) {
    let what = &set.source;
    assert_eq!(set.len(), e.cases, "{what}: cases");
    assert_eq!(set.dims, e.dims, "{what}: dims");
    assert_eq!((set.min_steps(), set.max_steps()), e.steps, "{what}: length range");
    assert!(set.series.iter().all(|s| s.len() % e.dims == 0), "{what}");
    assert!(
        set.series.iter().flatten().all(|v| v.is_finite()),
        "{what}: @missing false, so no NaN"
    );
    let SequenceTargets::Classes { labels, names } = &set.targets else {
        panic!("{what}: expected classes");
    };
    assert_eq!(names, e.classes, "{what}: class names in @classLabel order");
    assert_eq!(labels.len(), e.cases);
    let mut counts = vec![0usize; names.len()];
    labels.iter().for_each(|&k| counts[k] += 1);
    let (lo, hi) = (counts.iter().min(), counts.iter().max());
    assert_eq!(
        (lo, hi),
        (Some(&e.per_class.0), Some(&e.per_class.1)),
        "{what}: cases per class {counts:?}"
    );
}

#[test]
fn ts_reader_japanese_vowels() {
    let Some(dir) = shared("uea_japanese_vowels") else {
        return;
    };
    let classes = &["1", "2", "3", "4", "5", "6", "7", "8", "9"];
    let train = read_ts(&dir.join("JapaneseVowels_TRAIN.ts")).unwrap();
    #[rustfmt::skip]
    check(&train, &Expect { cases: 270, dims: 12, classes, per_class: (30, 30), steps: (7, 26) });
    // The first data line starts `1.860936,1.891651,...:-0.207383,...` and ends `:1`: step 0
    // holds the first value of each of the 12 dimensions, and its class is the first declared.
    assert_eq!(&train.series[0][..2], &[1.860936, -0.207383]);
    assert_eq!(train.series[0][12], 1.891651);
    assert!(matches!(&train.targets, SequenceTargets::Classes { labels, .. } if labels[0] == 0));
    let test = read_ts(&dir.join("JapaneseVowels_TEST.ts")).unwrap();
    #[rustfmt::skip]
    check(&test, &Expect { cases: 370, dims: 12, classes, per_class: (24, 88), steps: (7, 29) });
}

#[test]
fn ts_reader_pickup_gesture_wiimote_z() {
    let Some(dir) = shared("ucr_pickup_gesture_wiimote_z") else {
        return;
    };
    let classes = &["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"];
    let train = read_ts(&dir.join("PickupGestureWiimoteZ_TRAIN.ts")).unwrap();
    #[rustfmt::skip]
    check(&train, &Expect { cases: 50, dims: 1, classes, per_class: (5, 5), steps: (29, 361) });
    let test = read_ts(&dir.join("PickupGestureWiimoteZ_TEST.ts")).unwrap();
    #[rustfmt::skip]
    check(&test, &Expect { cases: 50, dims: 1, classes, per_class: (5, 5), steps: (37, 324) });
}

#[test]
fn ts_reader_plaid() {
    let Some(dir) = shared("ucr_plaid") else { return };
    let classes = &["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10"];
    let train = read_ts(&dir.join("PLAID_TRAIN.ts")).unwrap();
    #[rustfmt::skip]
    check(&train, &Expect { cases: 537, dims: 1, classes, per_class: (13, 88), steps: (100, 1344) });
    // Current signatures are not normalised: the largest value in the training file is 460.85.
    let top = train.series.iter().flatten().fold(f32::MIN, |m, &v| m.max(v));
    assert_eq!(top, 460.85);
    // The first case (label 0, the first declared class) has 500 values.
    assert_eq!(train.steps(0), 500);
    assert!(matches!(&train.targets, SequenceTargets::Classes { labels, .. } if labels[0] == 0));
    let test = read_ts(&dir.join("PLAID_TEST.ts")).unwrap();
    // The README gives 13–88 per class for the pair; counting the test file's label column
    // gives 13–87.
    #[rustfmt::skip]
    check(&test, &Expect { cases: 537, dims: 1, classes, per_class: (13, 87), steps: (134, 1000) });
}

/// A fresh temporary directory for one test, removed when dropped.
fn temp_dir(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("recur-sequences-{name}-"))
        .tempdir()
        .unwrap()
}

/// Little-endian bytes of values.
fn le<T: Copy, const N: usize>(values: &[T], bytes: fn(T) -> [u8; N]) -> Vec<u8> {
    values.iter().flat_map(|&v| bytes(v)).collect()
}

#[test]
fn sequence_set_from_npy_files() {
    let tmp = temp_dir("files");
    let dir = tmp.path();
    let x: Vec<f32> = (0..2 * 3 * 2).map(|v| v as f32).collect();
    std::fs::write(
        dir.join("x.npy"),
        npy_bytes("<f4", &[2, 3, 2], &le(&x, f32::to_le_bytes)),
    )
    .unwrap();
    std::fs::write(
        dir.join("len.npy"),
        npy_bytes("<i8", &[2], &le(&[3i64, 1], i64::to_le_bytes)),
    )
    .unwrap();
    std::fs::write(
        dir.join("y.npy"),
        npy_bytes("<i4", &[2], &le(&[2i32, 0], i32::to_le_bytes)),
    )
    .unwrap();
    let set = read_npy_set(&dir.join("x.npy"), Some(&dir.join("len.npy")), &dir.join("y.npy")).unwrap();
    assert_eq!(set.dims, 2);
    assert_eq!(set.series, vec![x[..6].to_vec(), x[6..8].to_vec()]);
    assert_eq!((set.steps(0), set.steps(1), set.max_steps()), (3, 1, 3));
    assert_eq!(
        set.targets,
        SequenceTargets::Classes {
            labels: vec![2, 0],
            names: vec!["0".into(), "1".into(), "2".into()]
        }
    );
    // A y whose batch differs from x's names the y file.
    std::fs::write(
        dir.join("y3.npy"),
        npy_bytes("<i4", &[3], &le(&[0i32, 1, 2], i32::to_le_bytes)),
    )
    .unwrap();
    let err = read_npy_set(&dir.join("x.npy"), None, &dir.join("y3.npy"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("y3.npy") && err.contains("batch size 2"), "{err}");
    // A missing file is an error naming it.
    let err = read_npy_set(&dir.join("nope.npy"), None, &dir.join("y.npy"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("nope.npy"), "{err}");
}
