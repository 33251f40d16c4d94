//! The data-parallel trainer: learning works, thread count does not change the gradient
//! (without BatchNorm), and runs are reproducible.

use recur_core::{Rng, Seq};
use recur_nn::{Model, ModelConfig};
use recur_train::{Clip, Loss, OptimizerConfig, Schedule, Targets, TrainConfig, Trainer};

fn config(threads: usize) -> TrainConfig {
    TrainConfig {
        loss: Loss::SoftmaxCrossEntropy { label_smoothing: 0.0 },
        optimizer: OptimizerConfig::adam(),
        clip: Some(Clip::GlobalNorm(1.0)),
        schedule: Schedule::Constant { lr: 0.01 },
        threads,
        seed: 1,
    }
}

/// Class 1 when the sequence's first feature sums positive: needs memory across time.
fn task(n: usize, seed: u64) -> (Seq<f32>, Targets) {
    let mut rng = Rng::new(seed);
    let (time, mut data, mut lengths, mut classes) = (12, Vec::new(), Vec::new(), Vec::new());
    for _ in 0..n {
        let len = 4 + rng.below(9);
        let mut sum = 0.0;
        for t in 0..time {
            let v = if t < len { rng.uniform_range(-1.0, 1.0) } else { 0.0 };
            sum += v;
            data.extend([v as f32, 0.5]);
        }
        lengths.push(len);
        classes.push(usize::from(sum > 0.0));
    }
    (Seq::new(data, n, time, 2, lengths).unwrap(), Targets::Classes(classes))
}

fn model() -> Model<f32> {
    let c = ModelConfig::from_json(
        r#"{"input_size": 2, "layers": [{"type": "gru", "units": 16}, {"type": "dense", "units": 2}]}"#,
    )
    .unwrap();
    Model::new(c, 7).unwrap()
}

#[test]
fn learns_a_variable_length_task() {
    let (x, y) = task(256, 1);
    let mut t = Trainer::new(model(), config(2));
    let first = t.evaluate(&x, &y).unwrap().loss;
    for _ in 0..150 {
        t.train_step(&x, &y).unwrap();
    }
    let after = t.evaluate(&x, &y).unwrap();
    assert!(after.loss < first * 0.5, "loss {first} -> {}", after.loss);
    assert!(after.correct as f64 / after.count as f64 > 0.85);
}

#[test]
fn thread_count_does_not_change_the_step_and_runs_repeat() {
    let (x, y) = task(10, 2);
    let run = |threads| {
        let mut t = Trainer::new(model(), config(threads));
        for _ in 0..3 {
            t.train_step(&x, &y).unwrap();
        }
        t.model
            .named_params()
            .iter()
            .flat_map(|(_, p)| p.value.clone())
            .collect::<Vec<f32>>()
    };
    let (one, two) = (run(1), run(3));
    assert_eq!(run(3), two, "same seed and threads must repeat exactly");
    let worst = one.iter().zip(&two).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(worst < 1e-5, "1 vs 3 threads differ by {worst}");
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let (mut x, y) = task(4, 3);
    let mut t = Trainer::new(model(), config(2));
    x.data[5] = f32::NAN;
    assert!(t
        .train_step(&x, &y)
        .unwrap_err()
        .to_string()
        .contains("non-finite value at sequence 0"));
    let (x, _) = task(4, 3);
    assert!(t.train_step(&x, &Targets::Classes(vec![0; 3])).is_err());
}

/// `predict_parallel` runs a batch longest first, dealt out over the threads, and puts the
/// answers back in the batch's order: each sequence gets what it gets alone, whatever the
/// thread count, with a bidirectional LSTM returning sequences and the model prepared for
/// packed inference (whose per-sequence sums do not depend on the batch).
#[test]
fn predict_parallel_answers_each_sequence_in_its_place() {
    let (x, _) = task(11, 3);
    let c = ModelConfig::from_json(
        r#"{"input_size": 2, "layers": [{"type": "lstm", "units": 16, "bidirectional": true,
            "return_sequences": true}, {"type": "dense", "units": 3}]}"#,
    )
    .unwrap();
    let mut model: Model<f32> = Model::new(c, 9).unwrap();
    model.prepare_inference(recur_nn::Precision::Int8);
    for threads in [1, 2, 3] {
        let y = recur_train::predict_parallel(&model, &x, threads).unwrap();
        assert_eq!((y.batch, y.time), (x.batch, x.time));
        for b in 0..x.batch {
            let alone = recur_train::predict_parallel(&model, &x.slice_batch(b..b + 1), 1).unwrap();
            for t in 0..x.lengths[b] {
                assert_eq!(
                    y.step(b, t),
                    alone.step(0, t),
                    "{threads} threads, sequence {b} step {t}"
                );
            }
        }
    }
}
