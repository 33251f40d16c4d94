//! Pooling over clips: finite-difference gradients, padded clips against each clip alone, and
//! the values of a small hand-worked clip.

use super::*;
use crate::conv2d::tests::built;
use crate::gradcheck::{check_gradients, check_padding_matches_alone, forward, random_seq};

const FRAME: Frame = Frame {
    height: 4,
    width: 3,
    channels: 2,
};

const POOLS: [&str; 7] = [
    r#"{"type": "max_pool3d"}"#,
    r#"{"type": "avg_pool3d"}"#,
    r#"{"type": "max_pool3d", "pool_size": [3, 2, 2], "strides": [1, 2, 1], "padding": "same"}"#,
    r#"{"type": "avg_pool3d", "pool_size": [2, 3, 2], "strides": 1, "padding": "same"}"#,
    r#"{"type": "avg_pool3d", "pool_size": [1, 2, 2]}"#,
    r#"{"type": "global_avg_pool3d"}"#,
    r#"{"type": "global_max_pool3d"}"#,
];

#[test]
fn pool3d_gradients_match_finite_differences() {
    for json in POOLS {
        let mut layer = built(json, Shape::frames(FRAME, true));
        check_gradients(layer.as_mut(), &random_seq(2, 5, FRAME.len(), &[5, 3], 4), 1e-5);
    }
}

/// Clips of 5, 2 and 4 frames pooled in one padded batch give what each gives alone: a window
/// never reaches into another clip's padding, and a clip's output length is its own.
#[test]
fn pool3d_padded_clips_match_each_clip_alone() {
    for json in POOLS {
        let mut layer = built(json, Shape::frames(FRAME, true));
        check_padding_matches_alone(layer.as_mut(), &random_seq(3, 5, FRAME.len(), &[5, 2, 4], 5));
    }
}

/// One channel, clips of 2×2 frames holding 0, 1, 2…: a 2×2×2 window's max and mean, a
/// `same` window at a clip's end that sees only its real step, and the global pools over a
/// clip of 3 steps padded to 4.
#[test]
fn pool3d_values_of_a_worked_clip() {
    let frame = Frame {
        height: 2,
        width: 2,
        channels: 1,
    };
    let x = Seq::new((0..16).map(f64::from).collect(), 1, 4, 4, vec![3]).unwrap();
    let run = |json: &str| forward(built(json, Shape::frames(frame, true)).as_ref(), &x).0;
    let max = run(r#"{"type": "max_pool3d"}"#);
    assert_eq!(
        (max.data.as_slice(), max.lengths.as_slice()),
        ([7.0, 0.0].as_slice(), [1].as_slice())
    );
    assert_eq!(run(r#"{"type": "avg_pool3d"}"#).data, [3.5, 0.0]);
    // `same` over 3 steps with windows of 2 every 2: the second window holds step 2 alone.
    let same = run(r#"{"type": "avg_pool3d", "pool_size": [2, 2, 2], "padding": "same"}"#);
    assert_eq!(
        (same.data.as_slice(), same.lengths.as_slice()),
        ([3.5, 9.5].as_slice(), [2].as_slice())
    );
    assert_eq!(run(r#"{"type": "global_avg_pool3d"}"#).data, [5.5]);
    assert_eq!(run(r#"{"type": "global_max_pool3d"}"#).data, [11.0]);
}

/// A 3D pooling given one frame per sequence is refused with the way out named.
#[test]
fn pool3d_needs_a_sequence_of_frames() {
    for json in POOLS {
        let config: crate::config::LayerConfig = serde_json::from_str(json).unwrap();
        let e = config.output_shape(Shape::frames(FRAME, false)).unwrap_err();
        assert!(e.contains("not in time_distributed"), "{json}: {e}");
    }
}
