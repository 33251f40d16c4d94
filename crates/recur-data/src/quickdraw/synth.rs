//! The embedded default data set: generated doodles of simple classes, drawn with human-like
//! jitter, varied size, aspect, rotation, stroke order and direction, then simplified exactly as
//! Google simplified the real drawings, so they flow through the same code as real data.

use super::simplify::simplify_raw;
use super::{Drawing, Stroke};
use recur_core::Rng;
use std::f32::consts::PI;

/// The generated classes.
pub const CLASSES: [&str; 12] = [
    "arrow",
    "circle",
    "heart",
    "house",
    "lightning",
    "smiley",
    "spiral",
    "square",
    "star",
    "triangle",
    "envelope",
    "zigzag",
];

fn arc(cx: f32, cy: f32, rx: f32, ry: f32, from: f32, to: f32, steps: usize) -> Stroke {
    (0..=steps)
        .map(|i| {
            let a = from + (to - from) * i as f32 / steps as f32;
            [cx + rx * a.cos(), cy + ry * a.sin()]
        })
        .collect()
}

fn line(points: &[[f32; 2]]) -> Stroke {
    points.to_vec()
}

/// The ideal strokes of a class in a unit-ish frame (y grows downwards, as on screen).
fn template(class: &str, rng: &mut Rng) -> Vec<Stroke> {
    let mut u = |lo: f32, hi: f32| lo + (hi - lo) * rng.uniform() as f32;
    match class {
        "circle" => {
            let start = u(0.0, 2.0 * PI);
            vec![arc(0.5, 0.5, 0.5, 0.5, start, start + 2.0 * PI * u(1.0, 1.08), 48)]
        }
        "square" => vec![line(&[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.0, 0.0]])],
        "triangle" => vec![line(&[[0.5, 0.0], [1.0, 0.9], [0.0, 0.9], [0.5, 0.0]])],
        "star" => {
            let pts: Vec<[f32; 2]> = (0..=5)
                .map(|i| {
                    let a = -PI / 2.0 + i as f32 * 4.0 * PI / 5.0;
                    [0.5 + 0.5 * a.cos(), 0.5 + 0.5 * a.sin()]
                })
                .collect();
            vec![pts]
        }
        "spiral" => {
            let turns = u(2.0, 3.5);
            vec![(0..=90)
                .map(|i| {
                    let t = i as f32 / 90.0;
                    let a = t * turns * 2.0 * PI;
                    [0.5 + 0.5 * t * a.cos(), 0.5 + 0.5 * t * a.sin()]
                })
                .collect()]
        }
        "zigzag" => {
            let n = 3 + (u(0.0, 4.0) as usize);
            vec![(0..=n)
                .map(|i| [i as f32 / n as f32, if i % 2 == 0 { 0.7 } else { 0.3 }])
                .collect()]
        }
        "house" => vec![
            line(&[[0.1, 0.45], [0.1, 1.0], [0.9, 1.0], [0.9, 0.45], [0.1, 0.45]]),
            line(&[[0.0, 0.5], [0.5, 0.0], [1.0, 0.5]]),
            line(&[[0.4, 1.0], [0.4, 0.7], [0.6, 0.7], [0.6, 1.0]]),
        ],
        "smiley" => vec![
            arc(0.5, 0.5, 0.5, 0.5, 0.0, 2.0 * PI, 40),
            arc(0.33, 0.35, 0.05, 0.05, 0.0, 2.0 * PI, 8),
            arc(0.67, 0.35, 0.05, 0.05, 0.0, 2.0 * PI, 8),
            arc(0.5, 0.55, 0.25, 0.2, 0.15 * PI, 0.85 * PI, 14),
        ],
        "arrow" => vec![
            line(&[[0.0, 0.5], [1.0, 0.5]]),
            line(&[[0.7, 0.25], [1.0, 0.5], [0.7, 0.75]]),
        ],
        "heart" => vec![(0..=40)
            .map(|i| {
                let t = i as f32 / 40.0 * 2.0 * PI;
                let x = 16.0 * t.sin().powi(3);
                let y = 13.0 * t.cos() - 5.0 * (2.0 * t).cos() - 2.0 * (3.0 * t).cos() - (4.0 * t).cos();
                [0.5 + x / 34.0, 0.45 - y / 34.0]
            })
            .collect()],
        "lightning" => vec![line(&[[0.6, 0.0], [0.25, 0.55], [0.55, 0.5], [0.3, 1.0]])],
        "envelope" => vec![
            line(&[[0.0, 0.2], [1.0, 0.2], [1.0, 0.8], [0.0, 0.8], [0.0, 0.2]]),
            line(&[[0.0, 0.2], [0.5, 0.55], [1.0, 0.2]]),
        ],
        _ => Vec::new(),
    }
}

/// Dense points along a polyline with a smooth wobble, as a hand draws it.
fn hand_drawn(stroke: &Stroke, rng: &mut Rng, wobble: f32) -> Stroke {
    let mut dense = Vec::new();
    for w in stroke.windows(2) {
        let steps = ((w[1][0] - w[0][0]).hypot(w[1][1] - w[0][1]) * 40.0).ceil().max(1.0) as usize;
        for k in 0..steps {
            let f = k as f32 / steps as f32;
            dense.push([w[0][0] + (w[1][0] - w[0][0]) * f, w[0][1] + (w[1][1] - w[0][1]) * f]);
        }
    }
    dense.extend(stroke.last());
    let (f1, f2) = (
        rng.uniform_range(1.0, 3.0) as f32,
        rng.uniform_range(0.0, 2.0 * PI as f64) as f32,
    );
    let (a, b) = (wobble * rng.normal() as f32, wobble * rng.normal() as f32);
    let n = dense.len().max(2) as f32;
    dense
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let t = i as f32 / n * 2.0 * PI * f1 + f2;
            [p[0] + a * t.sin(), p[1] + b * t.cos()]
        })
        .collect()
}

/// One generated drawing of `class`.
pub fn doodle(class: &str, key: u64, rng: &mut Rng) -> Drawing {
    let mut strokes = template(class, rng);
    // Stroke order and direction vary between people.
    if strokes.len() > 1 && rng.uniform() < 0.3 {
        rng.shuffle(&mut strokes);
    }
    for s in &mut strokes {
        if rng.uniform() < 0.3 {
            s.reverse();
        }
    }
    let (sx, sy) = (rng.uniform_range(0.6, 1.0) as f32, rng.uniform_range(0.6, 1.0) as f32);
    let angle = rng.uniform_range(-0.25, 0.25) as f32;
    let (sin, cos) = angle.sin_cos();
    let wobble = rng.uniform_range(0.005, 0.03) as f32;
    let ink: Vec<Stroke> = strokes
        .iter()
        .map(|s| {
            hand_drawn(s, rng, wobble)
                .into_iter()
                .map(|p| {
                    let (x, y) = ((p[0] - 0.5) * sx, (p[1] - 0.5) * sy);
                    [400.0 * (x * cos - y * sin), 400.0 * (x * sin + y * cos)]
                })
                .collect()
        })
        .collect();
    Drawing {
        word: class.to_string(),
        key_id: format!("{key}"),
        recognized: true,
        countrycode: "ZZ".into(),
        // Generated ink spans hundreds of units and is short, so simplifying cannot fail.
        strokes: simplify_raw(&ink).unwrap_or_default(),
    }
}

/// `per_class` drawings of every class, interleaved, reproducible from `seed`.
///
/// A `key_id` names one drawing, as in the real data: sets of different seeds get different
/// keys (so a model trained on one set does not count the other's drawings as seen), and seed 1
/// keeps the keys, hence the split, it always had.
pub fn generate(per_class: usize, seed: u64) -> Vec<Drawing> {
    let mut out = Vec::with_capacity(per_class * CLASSES.len());
    let first_key = 1_000_000u64.wrapping_add(seed.wrapping_sub(1).wrapping_mul(1 << 32));
    for i in 0..per_class {
        for (c, class) in CLASSES.iter().enumerate() {
            let key = (i * CLASSES.len() + c) as u64;
            let mut rng = Rng::derive(seed, key);
            out.push(doodle(class, first_key.wrapping_add(key), &mut rng));
        }
    }
    out
}
