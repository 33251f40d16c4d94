//! The `.npy` reading of labelled sets: shapes, lengths, targets and every refusal.

use super::*;

fn f32s(shape: &[usize], v: Vec<f32>) -> NpyArray {
    NpyArray {
        shape: shape.to_vec(),
        data: NpyData::F32(v),
    }
}

fn i64s(shape: &[usize], v: Vec<i64>) -> NpyArray {
    NpyArray {
        shape: shape.to_vec(),
        data: NpyData::I64(v),
    }
}

/// x `[2, 3, 2]` holding 0..12.
fn x() -> NpyArray {
    f32s(&[2, 3, 2], (0..12).map(|v| v as f32).collect())
}

/// The message of a build that must fail.
fn error(x: &NpyArray, lengths: Option<&NpyArray>, y: &NpyArray) -> String {
    from_npy_arrays(x, lengths, y, "set").unwrap_err().to_string()
}

#[test]
fn sequence_set_classes_with_lengths() {
    let lengths = NpyArray {
        shape: vec![2],
        data: NpyData::I32(vec![2, 3]),
    };
    let set = from_npy_arrays(&x(), Some(&lengths), &i64s(&[2], vec![1, 4]), "set").unwrap();
    assert_eq!(
        (set.len(), set.dims, set.steps(0), set.steps(1), set.max_steps()),
        (2, 2, 2, 3, 3)
    );
    assert_eq!(set.series[0], vec![0.0, 1.0, 2.0, 3.0]);
    assert_eq!(set.series[1], vec![6.0, 7.0, 8.0, 9.0, 10.0, 11.0]);
    let names: Vec<String> = (0..5).map(|k| k.to_string()).collect();
    assert_eq!(
        set.targets,
        SequenceTargets::Classes {
            labels: vec![1, 4],
            names
        }
    );
    assert_eq!(set.source, "set");
    assert!(!set.targets.per_step());
}

#[test]
fn sequence_set_rank2_x_and_values() {
    let x = NpyArray {
        shape: vec![2, 3],
        data: NpyData::F64(vec![1.0, 2.0, f64::NAN, 4.0, 5.0, 6.0]),
    };
    let set = from_npy_arrays(&x, None, &f32s(&[2], vec![0.5, -1.0]), "set").unwrap();
    assert_eq!((set.dims, set.steps(0)), (1, 3));
    assert!(set.series[0][2].is_nan(), "NaN in x is a missing value");
    assert_eq!(
        set.targets,
        SequenceTargets::Values {
            width: 1,
            values: vec![0.5, -1.0]
        }
    );
    let set = from_npy_arrays(&x, None, &f32s(&[2, 2], vec![1.0, 2.0, 3.0, 4.0]), "set").unwrap();
    assert_eq!(
        set.targets,
        SequenceTargets::Values {
            width: 2,
            values: vec![1.0, 2.0, 3.0, 4.0]
        }
    );
}

#[test]
fn sequence_set_per_step_targets_ignore_padding() {
    let lengths = i64s(&[2], vec![1, 3]);
    // Padding labels (-1) and padding values (NaN) beyond a sequence's length are ignored.
    let y = i64s(&[2, 3], vec![2, -1, -1, 0, 1, 0]);
    let set = from_npy_arrays(&x(), Some(&lengths), &y, "set").unwrap();
    let names = vec!["0".to_string(), "1".into(), "2".into()];
    assert_eq!(
        set.targets,
        SequenceTargets::StepClasses {
            labels: vec![vec![2], vec![0, 1, 0]],
            names
        }
    );
    assert!(set.targets.per_step());
    let y = f32s(&[2, 3, 1], vec![0.5, f32::NAN, f32::NAN, 1.0, 2.0, 3.0]);
    let set = from_npy_arrays(&x(), Some(&lengths), &y, "set").unwrap();
    assert_eq!(
        set.targets,
        SequenceTargets::StepValues {
            width: 1,
            values: vec![vec![0.5], vec![1.0, 2.0, 3.0]]
        }
    );
}

/// Every input read as declared: a 2-D array is one vector per example for a static
/// input, and per-step targets of a model with no sequence input keep y's own steps.
#[test]
fn sequence_set_reads_static_vectors_with_per_step_targets() {
    let v = f32s(&[2, 3], (0..6).map(|v| v as f32).collect());
    let input = |array| ArrayInput {
        array,
        layout: InputLayout::Vectors,
        file: "v",
        name: Some("v"),
    };
    let y = f32s(&[2, 4, 1], (0..8).map(|v| v as f32).collect());
    let set = build_inputs(&[input(&v)], None, Some((&y, "y"))).unwrap();
    assert_eq!((set.dims, set.sequential, set.steps(0)), (3, false, 1));
    assert_eq!(set.series[1], vec![3.0, 4.0, 5.0]);
    assert!(matches!(&set.targets, SequenceTargets::StepValues { width: 1, values } if values[0].len() == 4));
    let sequences = x();
    let err = build_inputs(&[input(&sequences)], None, Some((&y, "y")))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("input `v`: the model takes one vector per example here"),
        "{err}"
    );
    let lengths = i64s(&[2], vec![1, 2]);
    let err = build_inputs(&[input(&v)], Some((&lengths, "l")), Some((&y, "y")))
        .unwrap_err()
        .to_string();
    assert!(err.contains("every input of this model is one vector"), "{err}");
}

#[test]
fn sequence_set_npy_errors() {
    let y = i64s(&[2], vec![0, 1]);
    let err = error(&i64s(&[2, 3], vec![0; 6]), None, &y);
    assert!(
        err.contains("set (x): x must be float32 or float64, not int64"),
        "{err}"
    );
    let err = error(&f32s(&[12], vec![0.0; 12]), None, &y);
    assert!(err.contains("x must be [batch, time, features]"), "{err}");
    let err = error(&f32s(&[0, 3], vec![]), None, &y);
    assert!(err.contains("empty dimension"), "{err}");
    let mut inf = x();
    if let NpyData::F32(v) = &mut inf.data {
        v[9] = f32::INFINITY;
    }
    let err = error(&inf, None, &y);
    assert!(err.contains("x[1, 1, 1] is infinite"), "{err}");
    let err = error(&f32s(&[2, 3, 2], vec![0.0; 5]), None, &y);
    assert!(err.contains("does not match its 5 values"), "{err}");
    let err = error(&x(), Some(&i64s(&[2], vec![1, 4])), &y);
    assert!(err.contains("set (lengths): lengths[1] = 4 is outside 1..=3"), "{err}");
    let err = error(&x(), Some(&i64s(&[2], vec![0, 1])), &y);
    assert!(err.contains("lengths[0] = 0"), "{err}");
    let err = error(&x(), Some(&i64s(&[3], vec![1, 1, 1])), &y);
    assert!(err.contains("lengths must have shape [2]"), "{err}");
    let err = error(&x(), Some(&f32s(&[2], vec![1.0, 1.0])), &y);
    assert!(err.contains("lengths must be int32 or int64, not float32"), "{err}");
    let err = error(&x(), None, &i64s(&[3], vec![0, 1, 2]));
    assert!(
        err.contains("set (y): y has shape [3], but its first dimension must be the batch size 2"),
        "{err}"
    );
    let err = error(&x(), None, &i64s(&[2], vec![0, -1]));
    assert!(err.contains("label -1 at y[1] is not a class index"), "{err}");
    let err = error(&x(), None, &i64s(&[2], vec![0, 1 << 40]));
    assert!(err.contains("is not a class index"), "{err}");
    let err = error(&x(), None, &f32s(&[2], vec![0.0, f32::NAN]));
    assert!(err.contains("y[1, 0] is NaN"), "{err}");
    let err = error(&x(), None, &f32s(&[2], vec![f32::INFINITY, 0.0]));
    assert!(err.contains("y[0, 0] is inf"), "{err}");
    let err = error(&x(), None, &i64s(&[2, 3, 1], vec![0; 6]));
    assert!(err.contains("y of int64 with shape [2, 3, 1] is not a target"), "{err}");
    let err = error(&x(), None, &i64s(&[2, 4], vec![0; 8]));
    assert!(err.contains("is not a target"), "{err}");
    let err = error(&x(), None, &f32s(&[2, 3, 1], vec![0.0, 1.0, f32::NAN, 0.0, 0.0, 0.0]));
    assert!(err.contains("y[0, 2, 0] is NaN"), "{err}");
    let err = error(&x(), None, &i64s(&[2, 3], vec![0, 0, -2, 0, 0, 0]));
    assert!(err.contains("label -2 at y[0, 2]"), "{err}");
}
