//! Seeded mutation fuzzing of the model config parser and graph compiler (`cargo test fuzz`):
//! valid stack and graph configs are mutated (numbers replaced by huge, negative or odd values,
//! names and types swapped, wires re-pointed, text truncated or duplicated), parsed, and when
//! accepted built and run on a tiny batch. An error is fine; a panic, a model larger than the
//! documented limit or an allocation beyond it is not. Each case is seeded by its number.

use recur_core::{Rng, Seq};
use recur_nn::graph::MAX_PARAMETERS;
use recur_nn::{Model, ModelConfig, Plan};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

const CASES: usize = 3000;
const BUDGET: Duration = Duration::from_secs(20);

const SEEDS: &[&str] = &[
    r#"{"input_size": 3, "layers": [{"type": "conv1d", "filters": 4, "kernel_size": 3, "strides": 2, "padding": "same", "activation": "relu"},
      {"type": "batch_norm"}, {"type": "lstm", "units": 5, "return_sequences": true, "bidirectional": true},
      {"type": "gru", "units": 4}, {"type": "repeat_vector", "n": 3}, {"type": "time_distributed", "layer": {"type": "dense", "units": 2}}]}"#,
    r#"{"inputs": [{"name": "x", "size": 2}, {"name": "s", "size": 3, "sequential": false}],
      "nodes": [{"name": "c", "type": "conv1d", "filters": 8, "kernel_size": 2, "dilation_rate": 2, "padding": "causal", "inputs": ["x"]},
        {"name": "g", "type": "gated_activation"}, {"name": "r", "type": "conv1d", "filters": 2, "kernel_size": 1},
        {"name": "a", "type": "add", "inputs": ["x", "r"]}, {"name": "m", "type": "multiply", "inputs": ["a", "x"]},
        {"name": "p", "type": "global_mean_pool"}, {"name": "k", "type": "concatenate", "inputs": ["p", "s"]},
        {"name": "d", "type": "dense", "units": 3}, {"name": "d2", "share": "d", "inputs": ["k"]},
        {"name": "e", "type": "embedding", "input_dim": 4, "output_dim": 2, "inputs": ["x"]}],
      "outputs": ["d", "d2"]}"#,
];

const TOKENS: &[&str] = &[
    "0",
    "1",
    "-1",
    "2",
    "1000000",
    "4611686018427387904",
    "18446744073709551615",
    "1e308",
    "NaN",
    "0.5",
    "1.5",
    "\"x\"",
    "\"a\"",
    "\"d\"",
    "\"lstm\"",
    "\"add\"",
    "\"concatenate\"",
    "\"gated_activation\"",
    "\"share\"",
    "[]",
    "{}",
    "null",
    "true",
    "[\"x\", \"x\"]",
    "\"blocks.0\"",
    "\"..\"",
];

/// Mutates a config: most often a value inside the parsed JSON (so that the result still
/// parses and reaches the checks behind the parser), sometimes the raw text.
fn mutate(text: &str, rng: &mut Rng) -> String {
    if rng.below(4) == 0 {
        return mutate_text(text, rng);
    }
    let mut value: serde_json::Value = serde_json::from_str(text).expect("seed configs parse");
    for _ in 0..1 + rng.below(3) {
        let mut leaves = 0;
        count_leaves(&value, &mut leaves);
        let target = rng.below(leaves.max(1));
        let token: serde_json::Value = serde_json::from_str(TOKENS[rng.below(TOKENS.len())]).unwrap_or_default();
        let action = rng.below(3);
        replace_leaf(&mut value, &mut { target }, &token, action);
    }
    value.to_string()
}

fn count_leaves(v: &serde_json::Value, n: &mut usize) {
    match v {
        serde_json::Value::Array(items) => items.iter().for_each(|i| count_leaves(i, n)),
        serde_json::Value::Object(map) => map.values().for_each(|i| count_leaves(i, n)),
        _ => *n += 1,
    }
}

/// Replaces (action 0, 1) or removes from its object (action 2) the `target`-th leaf.
fn replace_leaf(v: &mut serde_json::Value, target: &mut usize, token: &serde_json::Value, action: usize) -> bool {
    match v {
        serde_json::Value::Array(items) => items.iter_mut().any(|i| replace_leaf(i, target, token, action)),
        serde_json::Value::Object(map) => {
            let keys: Vec<String> = map.keys().cloned().collect();
            for k in keys {
                let leaf = !matches!(map[&k], serde_json::Value::Array(_) | serde_json::Value::Object(_));
                if leaf && *target == 0 {
                    if action == 2 {
                        map.remove(&k);
                    } else {
                        map.insert(k, token.clone());
                    }
                    return true;
                }
                if leaf {
                    *target -= 1;
                } else if replace_leaf(map.get_mut(&k).expect("key listed"), target, token, action) {
                    return true;
                }
            }
            false
        }
        _ if *target == 0 => {
            *v = token.clone();
            true
        }
        _ => {
            *target -= 1;
            false
        }
    }
}

fn mutate_text(text: &str, rng: &mut Rng) -> String {
    let mut s = text.to_string();
    for _ in 0..1 + rng.below(3) {
        // Replace one token-shaped run (a number, a string or a bracket) with a hostile token.
        let bytes = s.as_bytes();
        let at = rng.below(bytes.len().max(1));
        match rng.below(4) {
            0 => {
                let end = (at..bytes.len())
                    .find(|&i| matches!(bytes[i], b',' | b'}' | b']'))
                    .unwrap_or(bytes.len());
                let start = (0..at)
                    .rev()
                    .find(|&i| matches!(bytes[i], b':' | b'[' | b','))
                    .map_or(0, |i| i + 1);
                if start < end && s.is_char_boundary(start) && s.is_char_boundary(end) {
                    s.replace_range(start..end, TOKENS[rng.below(TOKENS.len())]);
                }
            }
            1 if s.is_char_boundary(at) => s.truncate(at),
            2 if s.is_char_boundary(at) => s.insert_str(at, TOKENS[rng.below(TOKENS.len())]),
            _ => {
                let len = rng.below(40).min(s.len() - at);
                if s.is_char_boundary(at) && s.is_char_boundary(at + len) {
                    let piece = s[at..at + len].to_string();
                    s.insert_str(at, &piece);
                }
            }
        }
    }
    s
}

/// Builds and runs an accepted config on a tiny batch; errors are fine.
fn exercise(config: ModelConfig) {
    let Ok(plan) = Plan::new(&config) else { return };
    assert!(
        plan.parameter_count() <= MAX_PARAMETERS,
        "an accepted model exceeds the limit"
    );
    if plan.parameter_count() > 2_000_000 {
        return; // Within the limit, but too slow to build thousands of times here.
    }
    let Ok(model) = Model::<f32>::new(config, 1) else {
        return;
    };
    let inputs: Vec<Seq<f32>> = model
        .input_shapes()
        .iter()
        .map(|s| {
            let time = if s.sequential { 4 } else { 1 };
            let mut x = Seq::new(
                vec![0.5; 2 * time * s.features],
                2,
                time,
                s.features,
                vec![time, 2.min(time)],
            )
            .unwrap();
            x.sequential = s.sequential;
            x
        })
        .collect();
    let mut rng = Rng::new(0);
    let ctx = &mut recur_nn::Ctx::new(true, &mut rng);
    if let Ok((ys, tape)) = model.forward(inputs, ctx) {
        let mut model = model;
        model.backward(tape, ys, true);
    }
}

#[test]
fn fuzz_model_configs_never_panic() {
    let start = Instant::now();
    let mut accepted = 0;
    for case in 0..CASES {
        if start.elapsed() > BUDGET {
            eprintln!("config fuzz stopped early after {case} cases");
            break;
        }
        let mut rng = Rng::new(case as u64);
        let text = mutate(SEEDS[case % SEEDS.len()], &mut rng);
        if std::env::var_os("CONFIG_FUZZ_TRACE").is_some() {
            eprintln!("case {case}: {text}");
        }
        let result = catch_unwind(AssertUnwindSafe(|| {
            if let Ok(config) = ModelConfig::from_json(&text) {
                exercise(config);
                true
            } else {
                false
            }
        }));
        match result {
            Ok(ok) => accepted += usize::from(ok),
            Err(_) => panic!("case {case} panicked on config:\n{text}"),
        }
    }
    eprintln!("config fuzz: {accepted} of the mutated configs were accepted and ran");
}
