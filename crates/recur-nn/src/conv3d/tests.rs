//! conv3d: finite-difference gradients for each geometry, padded clips against each clip
//! alone, and output sizes as Keras computes them.

use super::*;
use crate::config::LayerConfig;
use crate::conv2d::tests::built;
use crate::gradcheck::{check_gradients, check_padding_matches_alone, random_seq};

const FRAME: Frame = Frame {
    height: 4,
    width: 3,
    channels: 2,
};

/// A conv3d of 3 filters with `settings`, built for clips of [`FRAME`]s.
fn conv3d(settings: &str) -> Box<dyn Layer<f64>> {
    built(
        &format!(r#"{{"type": "conv3d", "filters": 3, {settings}}}"#),
        Shape::frames(FRAME, true),
    )
}

#[test]
fn conv3d_gradients_match_finite_differences() {
    for settings in [
        r#""kernel_size": 3, "padding": "same", "activation": "tanh""#,
        r#""kernel_size": [2, 2, 3]"#,
        r#""kernel_size": [3, 2, 2], "strides": [2, 1, 2], "padding": "same", "activation": "sigmoid""#,
        r#""kernel_size": [2, 2, 1], "dilation_rate": [2, 1, 1], "activation": "relu""#,
        r#""kernel_size": 1"#,
    ] {
        let x = random_seq(2, 5, FRAME.len(), &[5, 3], 1);
        check_gradients(conv3d(settings).as_mut(), &x, 1e-5);
    }
}

/// Clips of 5, 2 and 4 frames in one padded batch give what each gives alone: outputs, input
/// gradients and weight gradients, for `same` (each clip keeps its length) and `valid` (each
/// is shortened by the kernel's span) and strides along time.
#[test]
fn conv3d_padded_clips_match_each_clip_alone() {
    for settings in [
        r#""kernel_size": 3, "padding": "same", "activation": "relu""#,
        r#""kernel_size": [2, 3, 3], "strides": [2, 1, 1], "padding": "same", "activation": "tanh""#,
        r#""kernel_size": [2, 2, 2]"#,
        r#""kernel_size": [2, 1, 1], "strides": 2"#,
    ] {
        let x = random_seq(3, 5, FRAME.len(), &[5, 2, 4], 2);
        check_padding_matches_alone(conv3d(settings).as_mut(), &x);
    }
}

/// Output sizes follow Keras along each axis (`valid` ⌊(n − span)/s⌋ + 1, `same` ⌈n/s⌉), per
/// clip along time; a window larger than a frame is refused by name.
#[test]
fn conv3d_output_sizes_follow_keras() {
    let shape = |settings: &str| {
        let json = format!(r#"{{"type": "conv3d", "filters": 4, {settings}}}"#);
        let config: LayerConfig = serde_json::from_str(&json).unwrap();
        config
            .output_shape(Shape::frames(FRAME, true))
            .map(|s| s.frame.unwrap())
    };
    let frame = |height, width| Frame {
        height,
        width,
        channels: 4,
    };
    assert_eq!(shape(r#""kernel_size": [5, 3, 3]"#), Ok(frame(2, 1)));
    assert_eq!(
        shape(r#""kernel_size": 3, "strides": 2, "padding": "same""#),
        Ok(frame(2, 2))
    );
    assert!(shape(r#""kernel_size": 5"#)
        .unwrap_err()
        .contains("does not fit in a 4×3 frame"));
    assert!(shape(r#""kernel_size": [0, 1, 1]"#)
        .unwrap_err()
        .contains("kernel_size must be at least 1"));
    let steps = |kernel, strides, padding| Window3d::new([kernel, 1, 1], [strides, 1, 1], [1; 3], padding).steps(7);
    assert_eq!(steps(3, 1, Padding2d::Same), (7, 1));
    assert_eq!(steps(3, 2, Padding2d::Same), (4, 1));
    assert_eq!(steps(3, 1, Padding2d::Valid), (5, 0));
    assert_eq!(steps(8, 1, Padding2d::Valid), (0, 0));
}

/// A conv3d given one frame per sequence or vectors is refused with the way out named; sizes
/// are a number or three.
#[test]
fn conv3d_needs_a_sequence_of_frames() {
    let config: LayerConfig = serde_json::from_str(r#"{"type": "conv3d", "filters": 4, "kernel_size": 3}"#).unwrap();
    let one_frame = config.output_shape(Shape::frames(FRAME, false)).unwrap_err();
    assert!(one_frame.contains("not in time_distributed"), "{one_frame}");
    let vectors = config.output_shape(Shape::sequence(40)).unwrap_err();
    assert!(vectors.contains("takes a sequence of frames"), "{vectors}");
    for bad in ["[3, 3]", "[3, 3, 3, 3]", "\"3\""] {
        let json = format!(r#"{{"type": "conv3d", "filters": 2, "kernel_size": {bad}}}"#);
        let e = serde_json::from_str::<LayerConfig>(&json).unwrap_err().to_string();
        assert!(e.contains("or [time, rows, columns]"), "{bad}: {e}");
    }
}

/// A conv3d whose kernel spans one step is conv2d on every frame: the same weights give the
/// same values.
#[test]
fn conv3d_of_one_step_is_conv2d_on_every_frame() {
    let mut three = conv3d(r#""kernel_size": [1, 3, 2], "padding": "same", "activation": "tanh""#);
    let mut two = built(
        r#"{"type": "time_distributed", "layer": {"type": "conv2d", "filters": 3, "kernel_size": [3, 2], "padding": "same", "activation": "tanh"}}"#,
        Shape::frames(FRAME, true),
    );
    for (p3, p2) in three.params_mut().into_iter().zip(two.params_mut()) {
        p2.value.clone_from(&p3.value);
    }
    let x = random_seq(2, 3, FRAME.len(), &[3, 2], 3);
    let a = crate::gradcheck::forward(three.as_ref(), &x).0;
    let b = crate::gradcheck::forward(two.as_ref(), &x).0;
    crate::gradcheck::assert_close(&a.data, &b.data, "conv3d vs conv2d");
}

/// Batch norm over a batch of clips is PyTorch's `BatchNorm3d` with padding left out: each
/// channel normalised over every real pixel of every real step (mean 0, variance 1 there),
/// padded steps left zero, and a padded batch's gradients are those of its finite differences.
#[test]
fn batch_norm_over_clips_uses_real_steps_and_pixels_only() {
    let mut bn = built(
        r#"{"type": "batch_norm", "epsilon": 1e-12}"#,
        Shape::frames(FRAME, true),
    );
    let x = random_seq(3, 4, FRAME.len(), &[4, 1, 2], 8);
    let y = crate::gradcheck::forward(bn.as_ref(), &x).0;
    let c = FRAME.channels;
    for ch in 0..c {
        let real: Vec<f64> = (0..3)
            .flat_map(|b| (0..x.lengths[b]).map(move |t| (b, t)))
            .flat_map(|(b, t)| y.step(b, t).iter().skip(ch).step_by(c).copied().collect::<Vec<_>>())
            .collect();
        assert_eq!(real.len(), 7 * FRAME.pixels());
        let mean = real.iter().sum::<f64>() / real.len() as f64;
        let var = real.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / real.len() as f64;
        assert!(
            mean.abs() < 1e-9 && (var - 1.0).abs() < 1e-9,
            "channel {ch}: mean {mean}, var {var}"
        );
    }
    assert!(y.step(1, 1).iter().chain(y.step(2, 3)).all(|&v| v == 0.0));
    check_gradients(bn.as_mut(), &x, 1e-5);
    check_padding_matches_alone(bn.as_mut(), &random_seq(1, 3, FRAME.len(), &[2], 9));
}

/// A long, wide clip (38 real steps of 40, 64×64×8 frames) gives the convolution's
/// definition, summed tap by tap, at its first, last and middle steps.
#[test]
fn conv3d_of_a_long_clip_matches_the_definition() {
    let frame = Frame {
        height: 64,
        width: 64,
        channels: 8,
    };
    let json = r#"{"type": "conv3d", "filters": 2, "kernel_size": 3, "padding": "same"}"#;
    let layer = built(json, Shape::frames(frame, true));
    let (len, time) = (38, 40);
    let x = random_seq(1, time, frame.len(), &[len], 10);
    let y = crate::gradcheck::forward(layer.as_ref(), &x).0;
    let (w, bias) = (&layer.params()[0].value, &layer.params()[1].value);
    let at = |t: isize, r: isize, c: isize, ch: usize| {
        let inside = (0..len as isize).contains(&t) && (0..64).contains(&r) && (0..64).contains(&c);
        if inside {
            x.step(0, t as usize)[(r as usize * 64 + c as usize) * 8 + ch]
        } else {
            0.0
        }
    };
    for (t, r, c) in [(0, 0, 0), (20, 31, 63), (29, 5, 7), (37, 63, 10)] {
        for o in 0..2 {
            let mut want = bias[o];
            for (i, &v) in w[o * 216..(o + 1) * 216].iter().enumerate() {
                let (ch, dt, dr, dc) = (i / 27, (i / 9) % 3, (i / 3) % 3, i % 3);
                want += v * at(t + dt as isize - 1, r + dr as isize - 1, c + dc as isize - 1, ch);
            }
            let got = y.step(0, t as usize)[(r as usize * 64 + c as usize) * 2 + o];
            assert!(
                (got - want).abs() < 1e-9,
                "step {t} pixel ({r}, {c}) filter {o}: {got} vs {want}"
            );
        }
    }
    assert_eq!(y.lengths, [len]);
    assert!(y.step(0, 39).iter().all(|&v| v == 0.0));
}

/// The video models of `bench/` (the 3D CNN and the frame CNN feeding an LSTM, timed against
/// PyTorch) are valid configs giving two class scores per clip.
#[test]
fn video_configs_in_bench_compile() {
    let bench = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench");
    for name in ["video_c3d.json", "video_frame_lstm.json"] {
        let text = std::fs::read_to_string(bench.join(name)).expect("bench config");
        let config = crate::config::ModelConfig::from_json(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(config.output_shape().unwrap(), Shape::vector(2), "{name}");
    }
}
