//! conv2d: finite-difference gradients for each geometry, the variable-length rule through
//! `time_distributed`, and output sizes as Keras computes them.

use super::*;
use crate::config::LayerConfig;
use crate::gradcheck::{check_gradients, check_padding_matches_alone, random_seq};

/// A layer built from its JSON settings for `input`, as a model builds it.
pub(crate) fn built(json: &str, input: Shape) -> Box<dyn Layer<f64>> {
    let config: LayerConfig = serde_json::from_str(json).expect("test config parses");
    config.output_shape(input).expect("test config fits its input");
    config.build(input, Some(&mut Rng::new(3)))
}

/// `batch` random frames of `frame`'s shape, one per sequence.
pub(crate) fn random_frames(batch: usize, frame: Frame, seed: u64) -> Seq<f64> {
    let mut x = random_seq(batch, 1, frame.len(), &vec![1; batch], seed);
    x.sequential = false;
    x
}

const FRAME: Frame = Frame {
    height: 5,
    width: 4,
    channels: 2,
};

#[test]
fn conv2d_gradients_match_finite_differences() {
    let input = Shape::frames(FRAME, false);
    for settings in [
        r#""kernel_size": 3"#,
        r#""kernel_size": [2, 3], "padding": "same", "activation": "tanh""#,
        r#""kernel_size": 3, "strides": 2, "padding": "same""#,
        r#""kernel_size": [2, 2], "strides": [1, 2], "dilation_rate": 2, "activation": "sigmoid""#,
        r#""kernel_size": 1"#,
    ] {
        let mut layer = built(&format!(r#"{{"type": "conv2d", "filters": 3, {settings}}}"#), input);
        check_gradients(layer.as_mut(), &random_frames(2, FRAME, 1), 1e-5);
    }
}

#[test]
fn conv2d_in_time_distributed_keeps_the_variable_length_rule() {
    let input = Shape::frames(FRAME, true);
    let json = r#"{"type": "time_distributed", "layer": {"type": "conv2d", "filters": 3, "kernel_size": 3, "padding": "same", "activation": "tanh"}}"#;
    let mut layer = built(json, input);
    let x = random_seq(3, 4, FRAME.len(), &[4, 2, 3], 2);
    check_gradients(layer.as_mut(), &x, 1e-5);
    check_padding_matches_alone(layer.as_mut(), &x);
}

/// Output sizes follow Keras: `valid` ⌊(n − span)/s⌋ + 1, `same` ⌈n/s⌉; a window larger
/// than the frame is refused by name.
#[test]
fn conv2d_output_sizes_follow_keras() {
    let shape = |settings: &str| {
        let config: LayerConfig =
            serde_json::from_str(&format!(r#"{{"type": "conv2d", "filters": 4, {settings}}}"#)).unwrap();
        config
            .output_shape(Shape::frames(FRAME, false))
            .map(|s| s.frame.unwrap())
    };
    let frame = |height, width| Frame {
        height,
        width,
        channels: 4,
    };
    assert_eq!(shape(r#""kernel_size": 3"#), Ok(frame(3, 2)));
    assert_eq!(
        shape(r#""kernel_size": 3, "strides": 2, "padding": "same""#),
        Ok(frame(3, 2))
    );
    assert_eq!(
        shape(r#""kernel_size": [2, 1], "dilation_rate": [3, 1]"#),
        Ok(frame(2, 4))
    );
    assert!(shape(r#""kernel_size": 6"#)
        .unwrap_err()
        .contains("does not fit in a 5×4 frame"));
    assert!(shape(r#""kernel_size": 0"#)
        .unwrap_err()
        .contains("kernel_size must be at least 1"));
    // A frame of 2^20 values whose `same` kernel spans a whole column would need 2^30 im2col
    // values per frame: refused before anything is allocated.
    let tall = Frame {
        height: 1024,
        width: 1024,
        channels: 1,
    };
    let json = r#"{"type": "conv2d", "filters": 1, "kernel_size": [1024, 1], "padding": "same"}"#;
    let config: LayerConfig = serde_json::from_str(json).unwrap();
    let e = config.output_shape(Shape::frames(tall, false)).unwrap_err();
    assert!(e.contains("im2col values per frame"), "{e}");
}

/// A conv2d over a sequence or a vector is refused with the way out named.
#[test]
fn conv2d_needs_one_frame_per_value() {
    let config: LayerConfig = serde_json::from_str(r#"{"type": "conv2d", "filters": 4, "kernel_size": 3}"#).unwrap();
    let over_time = config.output_shape(Shape::frames(FRAME, true)).unwrap_err();
    assert!(over_time.contains("wrap it in time_distributed"), "{over_time}");
    let vectors = config.output_shape(Shape::sequence(40)).unwrap_err();
    assert!(vectors.contains("takes frames"), "{vectors}");
}

/// Batch norm over frames, inside time_distributed or on the sequence itself, normalises each
/// channel over every real pixel of every real frame: the same values and gradients either
/// way, and its finite-difference check holds with padding.
#[test]
fn batch_norm_over_frames_is_the_same_in_time_distributed() {
    let input = Shape::frames(FRAME, true);
    let mut direct = built(r#"{"type": "batch_norm"}"#, input);
    let mut wrapped = built(
        r#"{"type": "time_distributed", "layer": {"type": "batch_norm"}}"#,
        input,
    );
    let x = random_seq(3, 4, FRAME.len(), &[4, 1, 3], 6);
    let (a, tape_a) = crate::gradcheck::forward(direct.as_ref(), &x);
    let (b, tape_b) = crate::gradcheck::forward(wrapped.as_ref(), &x);
    crate::gradcheck::assert_close(&a.data, &b.data, "outputs");
    let (_, dy) = crate::gradcheck::weighted_loss(&a, 3);
    let da = direct.backward(tape_a, dy.clone(), true);
    let db = wrapped.backward(tape_b, dy, true);
    crate::gradcheck::assert_close(&da.data, &db.data, "input gradients");
    check_gradients(direct.as_mut(), &x, 1e-5);
}

/// A size that is neither a whole number nor a pair is refused saying what is wanted.
#[test]
fn conv2d_sizes_that_are_not_a_number_or_a_pair_are_named() {
    for bad in ["[3]", "\"3\"", "-1", "[3, 3, 3]", "2.5"] {
        let json = format!(r#"{{"type": "conv2d", "filters": 2, "kernel_size": {bad}}}"#);
        let e = serde_json::from_str::<LayerConfig>(&json).unwrap_err().to_string();
        assert!(e.contains("a whole number (3) or [rows, columns]"), "{bad}: {e}");
    }
    let ok: LayerConfig = serde_json::from_str(r#"{"type": "conv2d", "filters": 2, "kernel_size": [3, 5]}"#).unwrap();
    assert_eq!(
        serde_json::to_string(&ok).unwrap(),
        r#"{"type":"conv2d","filters":2,"kernel_size":[3,5],"strides":1,"dilation_rate":1,"padding":"valid","activation":"linear"}"#
    );
}
