//! Pooling over frames: finite-difference gradients, the variable-length rule through
//! `time_distributed`, and the values of a small hand-worked frame.

use super::*;
use crate::conv2d::tests::{built, random_frames};
use crate::gradcheck::{check_gradients, check_padding_matches_alone, forward, random_seq};

const FRAME: Frame = Frame {
    height: 5,
    width: 4,
    channels: 3,
};

#[test]
fn pool2d_gradients_match_finite_differences() {
    let input = Shape::frames(FRAME, false);
    for json in [
        r#"{"type": "max_pool2d"}"#,
        r#"{"type": "max_pool2d", "pool_size": 3, "strides": 1}"#,
        r#"{"type": "avg_pool2d", "pool_size": [2, 3], "strides": [2, 1]}"#,
        r#"{"type": "avg_pool2d", "pool_size": 2, "padding": "same"}"#,
        r#"{"type": "max_pool2d", "pool_size": 3, "strides": 2, "padding": "same"}"#,
        r#"{"type": "global_avg_pool2d"}"#,
        r#"{"type": "global_max_pool2d"}"#,
    ] {
        let mut layer = built(json, input);
        check_gradients(layer.as_mut(), &random_frames(2, FRAME, 4), 1e-5);
    }
}

#[test]
fn pool2d_in_time_distributed_keeps_the_variable_length_rule() {
    let input = Shape::frames(FRAME, true);
    for inner in [r#"{"type": "max_pool2d"}"#, r#"{"type": "global_avg_pool2d"}"#] {
        let mut layer = built(&format!(r#"{{"type": "time_distributed", "layer": {inner}}}"#), input);
        let x = random_seq(3, 3, FRAME.len(), &[3, 1, 2], 5);
        check_gradients(layer.as_mut(), &x, 1e-5);
        check_padding_matches_alone(layer.as_mut(), &x);
    }
}

/// One channel of 4×4 values 0..16: 2×2 max and mean windows, and the global pools.
#[test]
fn pool2d_values_of_a_worked_frame() {
    let frame = Frame {
        height: 4,
        width: 4,
        channels: 1,
    };
    let x = Seq::vectors((0..16).map(f64::from).collect(), 1, 16).unwrap();
    let run = |json: &str| forward(built(json, Shape::frames(frame, false)).as_ref(), &x).0.data;
    assert_eq!(run(r#"{"type": "max_pool2d"}"#), [5.0, 7.0, 13.0, 15.0]);
    assert_eq!(run(r#"{"type": "avg_pool2d"}"#), [2.5, 4.5, 10.5, 12.5]);
    assert_eq!(run(r#"{"type": "global_max_pool2d"}"#), [15.0]);
    assert_eq!(run(r#"{"type": "global_avg_pool2d"}"#), [7.5]);
    // `same` over 4 columns with windows of 3 every 2: the last window has two real cells.
    assert_eq!(
        run(r#"{"type": "avg_pool2d", "pool_size": [1, 3], "strides": [4, 2], "padding": "same"}"#),
        [1.0, 2.5]
    );
}
