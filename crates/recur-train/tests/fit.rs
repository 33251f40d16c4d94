//! The fit loop: early stopping keeps the best weights, and a run stopped after some epochs
//! and resumed from its checkpoint ends exactly where an uninterrupted run does.

use recur_core::{Rng, Seq};
use recur_nn::{model_dir, Model, ModelConfig};
use recur_train::progress::{describe_epoch, epoch_of};
use recur_train::{
    fit, Batch, Clip, Event, FitOptions, Goal, Loss, Metrics, OptimizerConfig, Reporter, Schedule, Targets,
    TrainConfig, Trainer, UNTIL_TIME_LIMIT,
};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Class 1 when the first feature sums positive over the sequence's own length.
fn batch(n: usize, seed: u64) -> Batch<f32> {
    let mut rng = Rng::new(seed);
    let (time, mut data, mut lengths, mut classes) = (10, Vec::new(), Vec::new(), Vec::new());
    for _ in 0..n {
        let len = 3 + rng.below(8);
        let mut sum = 0.0;
        for t in 0..time {
            let v = if t < len { rng.uniform_range(-1.0, 1.0) } else { 0.0 };
            sum += v;
            data.push(v as f32);
        }
        lengths.push(len);
        classes.push(usize::from(sum > 0.0));
    }
    Batch {
        x: Seq::new(data, n, time, 1, lengths).unwrap(),
        targets: Targets::Classes(classes),
        more_inputs: Vec::new(),
    }
}

fn trainer() -> Trainer<Model<f32>> {
    let c = ModelConfig::from_json(
        r#"{"input_size": 1, "layers": [{"type": "lstm", "units": 8, "dropout": 0.1},
            {"type": "dense", "units": 2}]}"#,
    )
    .unwrap();
    Trainer::new(
        Model::new(c, 3).unwrap(),
        TrainConfig {
            loss: Loss::SoftmaxCrossEntropy { label_smoothing: 0.0 },
            optimizer: OptimizerConfig::adam(),
            clip: Some(Clip::GlobalNorm(1.0)),
            schedule: Schedule::Constant { lr: 0.02 },
            threads: 2,
            seed: 5,
        },
    )
}

fn run(epochs: usize, out: &Path, resume: bool) -> (recur_train::FitReport, Vec<f32>) {
    let val = batch(64, 99);
    let mut t = trainer();
    let options = FitOptions {
        epochs,
        monitor: "val_loss".into(),
        goal: Goal::Minimize,
        patience: None,
        out: Some(out.to_path_buf()),
        resume,
        progress: Default::default(),
        ..FitOptions::default()
    };
    let report = fit(
        &mut t,
        &options,
        |epoch| Ok((0..4).map(|i| batch(32, 1000 + epoch as u64 * 10 + i)).collect()),
        |t: &mut Trainer<Model<f32>>| -> recur_nn::Result<Metrics> {
            Ok(vec![("val_loss".into(), t.evaluate(&val.x, &val.targets)?.loss)])
        },
    )
    .unwrap();
    let weights = t
        .model
        .named_params()
        .iter()
        .flat_map(|(_, p)| p.value.clone())
        .collect();
    (report, weights)
}

/// A fresh, empty folder, removed when dropped.
fn temp_dir(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("recur-fit-{name}-"))
        .tempdir()
        .unwrap()
}

#[test]
fn resumed_run_matches_an_uninterrupted_one() {
    let (straight, interrupted) = (temp_dir("straight"), temp_dir("interrupted"));
    let (full, full_weights) = run(5, straight.path(), false);
    run(2, interrupted.path(), false);
    let (resumed, resumed_weights) = run(5, interrupted.path(), true);
    assert_eq!(resumed.history.len(), 5);
    assert_eq!(
        full.history,
        resumed
            .history
            .iter()
            .cloned()
            .map(|mut r| {
                // Everything but the clock.
                let f = &full.history[r.epoch - 1];
                (r.seconds, r.train_seconds, r.elapsed) = (f.seconds, f.train_seconds, f.elapsed);
                r
            })
            .collect::<Vec<_>>()
    );
    assert_eq!(full_weights, resumed_weights);
    assert_eq!(full.best_epoch, resumed.best_epoch);
    // The best model on disk is the one the trainer ends with.
    let saved: Model<f32> = model_dir::load(straight.path()).unwrap();
    let saved: Vec<f32> = saved.named_params().iter().flat_map(|(_, p)| p.value.clone()).collect();
    assert_eq!(saved, full_weights);
}

#[test]
fn resume_without_a_checkpoint_is_an_error() {
    let dir = temp_dir("empty");
    let mut t = trainer();
    let options = FitOptions {
        epochs: 1,
        monitor: "val_loss".into(),
        goal: Goal::Minimize,
        patience: None,
        out: Some(dir.path().to_path_buf()),
        resume: true,
        progress: Default::default(),
        ..FitOptions::default()
    };
    let err = fit(
        &mut t,
        &options,
        |_| Ok(vec![]),
        |_: &mut Trainer<Model<f32>>| Ok(vec![]),
    )
    .unwrap_err();
    assert!(err.to_string().contains("nothing to resume"), "{err}");
}

#[test]
fn early_stopping_keeps_the_best_epoch() {
    let mut t = trainer();
    let scores = [0.5, 0.3, 0.4, 0.6, 0.2, 0.1];
    let mut calls = 0;
    let options = FitOptions {
        epochs: 6,
        monitor: "score".into(),
        goal: Goal::Minimize,
        patience: Some(2),
        out: None,
        resume: false,
        progress: Default::default(),
        ..FitOptions::default()
    };
    let report = fit(
        &mut t,
        &options,
        |e| Ok(vec![batch(8, e as u64)]),
        |_: &mut Trainer<Model<f32>>| {
            calls += 1;
            Ok(vec![("score".into(), scores[calls - 1])])
        },
    )
    .unwrap();
    assert!(report.stopped_early);
    assert_eq!(report.history.len(), 4);
    assert_eq!((report.best_epoch, report.best_value), (2, 0.3));
}

#[test]
fn plateau_lowers_the_learning_rate_and_a_second_metric_breaks_ties() {
    let mut t = trainer();
    // (monitored, tie-breaker) per epoch: epoch 3 ties epoch 2 on the first and wins on the
    // second; epochs 4 and 5 do not improve, so the rate halves after each (patience 1).
    let scores = [(0.5, 0.9), (0.3, 0.8), (0.3, 0.7), (0.4, 0.1), (0.3, 0.9), (0.2, 0.5)];
    let mut calls = 0;
    let options = FitOptions {
        epochs: 6,
        monitor: "score".into(),
        tie_break: Some("tie".into()),
        goal: Goal::Minimize,
        plateau: Some(recur_train::Plateau {
            patience: 1,
            factor: 0.5,
        }),
        ..FitOptions::default()
    };
    let report = fit(
        &mut t,
        &options,
        |e| Ok(vec![batch(8, e as u64)]),
        |_: &mut Trainer<Model<f32>>| {
            calls += 1;
            let (s, tie) = scores[calls - 1];
            Ok(vec![("score".into(), s), ("tie".into(), tie)])
        },
    )
    .unwrap();
    assert_eq!((report.best_epoch, report.best_value), (6, 0.2));
    let rates: Vec<f64> = report.history.iter().map(|r| r.lr).collect();
    assert_eq!(rates, [0.02, 0.02, 0.02, 0.02, 0.01, 0.005]);
    let kept: Vec<usize> = report.history.iter().map(|r| r.epoch).collect();
    assert_eq!(kept, [1, 2, 3, 4, 5, 6]);
}

#[test]
fn a_time_limit_still_trains_one_epoch() {
    let mut t = trainer();
    let options = FitOptions {
        epochs: 5,
        monitor: "score".into(),
        max_seconds: Some(0.0),
        ..FitOptions::default()
    };
    let report = fit(
        &mut t,
        &options,
        |e| Ok(vec![batch(8, e as u64)]),
        |_: &mut Trainer<Model<f32>>| Ok(vec![("score".into(), 1.0)]),
    )
    .unwrap();
    assert_eq!(report.history.len(), 1);
    assert_eq!(report.best_epoch, 1);
}

/// What a progress listener heard of one run: (epoch, epochs, whether a clock came) per
/// started epoch, and the epoch lines.
type Heard = Arc<Mutex<(Vec<(usize, Option<usize>, bool)>, Vec<String>)>>;

fn listener() -> (Reporter, Heard) {
    let heard: Heard = Arc::default();
    let sink = Arc::clone(&heard);
    let reporter = Reporter::new(move |event| {
        let mut h = sink.lock().unwrap();
        match event {
            Event::EpochStarted {
                epoch, epochs, clock, ..
            } => h.0.push((epoch, epochs, clock.is_some())),
            Event::EpochEnded {
                record,
                epochs,
                improved,
            } => h.1.push(describe_epoch(record, epochs, improved)),
            _ => {}
        }
    });
    (reporter, heard)
}

#[test]
fn a_run_until_its_time_limit_reports_its_clock_not_an_epoch_count() {
    let mut t = trainer();
    let (progress, heard) = listener();
    let options = FitOptions {
        epochs: UNTIL_TIME_LIMIT,
        monitor: "score".into(),
        max_seconds: Some(0.0),
        progress,
        ..FitOptions::default()
    };
    let report = fit(
        &mut t,
        &options,
        |e| Ok(vec![batch(8, e as u64)]),
        |_: &mut Trainer<Model<f32>>| Ok(vec![("score".into(), 1.0)]),
    )
    .unwrap();
    assert_eq!(report.history.len(), 1);
    let heard = heard.lock().unwrap();
    assert_eq!(heard.0, [(1, None, true)]);
    assert!(heard.1[0].starts_with("epoch 1  loss"), "{}", heard.1[0]);
    assert_eq!(epoch_of(3, Some(40)), "3/40");
    assert_eq!(epoch_of(3, None), "3");
}

#[test]
fn a_run_until_its_time_limit_without_one_is_refused() {
    let options = FitOptions {
        epochs: UNTIL_TIME_LIMIT,
        monitor: "score".into(),
        ..FitOptions::default()
    };
    let err = fit(
        &mut trainer(),
        &options,
        |e| Ok(vec![batch(8, e as u64)]),
        |_: &mut Trainer<Model<f32>>| Ok(vec![("score".into(), 1.0)]),
    )
    .unwrap_err();
    assert!(err.to_string().contains("needs a time limit"), "{err}");
}
