//! A whole run on a tiny ndjson folder: training writes a model and a checkpoint, a resumed run
//! goes on from it, scoring and every way of drawing work, and bad requests are refused.

use recur_sketchrnn::sample::{DrawSettings, SampleRequest};
use recur_sketchrnn::train::{train, TrainJob, TrainOptions};
use recur_sketchrnn::{Mode, SketchRnnConfig, SketchRnnModel};
use recur_train::Reporter;
use std::path::Path;

fn write_classes(dir: &Path) {
    for (name, shift) in [("cat", 0), ("cup", 40)] {
        let lines: Vec<String> = (0..60)
            .map(|i| {
                let x = 10 + (i % 7) + shift;
                format!(
                    r#"{{"word":"{name}","key_id":"{i}","drawing":[[[{x},{},{}],[20,{},60]],[[5,9],[9,{}]]]}}"#,
                    x + 30,
                    x + 50,
                    30 + i % 5,
                    9 + i % 3
                )
            })
            .collect();
        std::fs::write(dir.join(format!("{name}.ndjson")), lines.join("\n")).unwrap();
    }
}

fn job(data: &Path, out: &Path, resume: bool, steps: usize) -> TrainJob {
    TrainJob {
        data: data.to_path_buf(),
        model: SketchRnnConfig {
            mode: Mode::Class,
            encoder_units: 8,
            decoder_units: 16,
            latent: 4,
            class_embedding: 3,
            mixtures: 3,
            classes: 0,
            recurrent_dropout: 0.0,
        },
        options: TrainOptions {
            batch: 16,
            steps_per_epoch: steps,
            ..TrainOptions::default()
        },
        out: out.to_path_buf(),
        resume,
        max_minutes: 0.0,
        threads: 2,
    }
}

#[test]
fn sketchrnn_trains_resumes_scores_and_draws_an_ndjson_folder() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    write_classes(&data);
    let out = dir.path().join("model");
    let first = train(job(&data, &out, false, 3), Reporter::silent()).unwrap();
    assert_eq!(first.history.len(), 1, "a zero time limit still trains one epoch");
    assert_eq!(first.counts, [108, 6, 0]);
    let resumed = train(job(&data, &out, true, 3), Reporter::silent()).unwrap();
    assert_eq!(resumed.history.len(), 2, "the resumed run goes on from epoch 1");
    let model = SketchRnnModel::load(&out).unwrap();
    assert_eq!(model.settings.classes, ["cat", "cup"]);
    let e = model.evaluate_file(&data, "test", None, 2).unwrap();
    assert_eq!(e.drawings, 6);
    assert!(e.recon_loss.is_finite() && e.kl_loss >= 0.0);

    let cup = model.class_id("cup").unwrap();
    let request =
        |count: usize, seed: u64| SampleRequest::new(vec![cup; count], DrawSettings { temperature: 0.5, seed });
    let four = model.sample(&request(4, 9)).unwrap();
    assert_eq!(
        four,
        model.sample(&request(4, 9)).unwrap(),
        "the same seed draws the same"
    );
    for seed in 0..12 {
        let (alone, with_others) = (request(1, seed), request(4, seed));
        assert_eq!(
            model.sample(&alone).unwrap()[..],
            model.sample(&with_others).unwrap()[..1],
            "a drawing does not depend on the count (seed {seed})"
        );
    }
    assert_ne!(four, model.sample(&request(4, 10)).unwrap());

    let how = DrawSettings {
        temperature: 0.5,
        seed: 2,
    };
    let given = model.pick(&data, "test", &[0, 3]).unwrap();
    assert_eq!(model.reconstruct(&given, how).unwrap().len(), 2);
    assert_eq!(model.interpolate(&given[0], &given[1], 5, how).unwrap().len(), 5);
    let start: Vec<_> = given
        .iter()
        .map(|s| {
            let mut s = s.clone();
            s.points.truncate(2);
            s
        })
        .collect();
    let endings = model.complete(&start, 3, how).unwrap();
    assert_eq!(endings.len(), 6);
    for (k, ending) in endings.iter().enumerate() {
        let given = &start[k / 3].points;
        assert!(ending.len() >= 2, "a completion keeps the given points");
        for (a, b) in ending.iter().zip(given) {
            assert!(
                (a[0] - b[0]).abs() < 1e-3 && (a[1] - b[1]).abs() < 1e-3 && a[2] == b[2],
                "{a:?} vs {b:?}"
            );
        }
    }
}

#[test]
fn sketchrnn_refuses_bad_sampling_requests_and_an_unknown_class() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    write_classes(&data);
    let out = dir.path().join("model");
    train(job(&data, &out, false, 1), Reporter::silent()).unwrap();
    let model = SketchRnnModel::load(&out).unwrap();
    let e = model.class_id("alarm-clock").unwrap_err().to_string();
    assert!(
        e.contains("class `alarm-clock` is not one this model knows (it draws: cat, cup)"),
        "{e}"
    );
    for t in [0.0, -1.0, f64::NAN] {
        let e = model
            .sample(&SampleRequest::new(
                vec![0],
                DrawSettings {
                    temperature: t,
                    seed: 1,
                },
            ))
            .unwrap_err()
            .to_string();
        assert!(e.contains("the temperature must be above 0"), "{e}");
    }
}

#[test]
fn sketchrnn_names_a_hyphenated_class_as_recur_train_does() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    write_classes(&data);
    std::fs::rename(data.join("cat.ndjson"), data.join("alarm-clock.ndjson")).unwrap();
    let out = dir.path().join("model");
    train(job(&data, &out, false, 1), Reporter::silent()).unwrap();
    let model = SketchRnnModel::load(&out).unwrap();
    assert_eq!(model.settings.classes, ["alarm-clock", "cup"], "the file stems");
    let clock = model.class_id("alarm-clock").unwrap();
    assert_eq!(model.class_id("alarm clock").unwrap(), clock, "the word names it too");
    let drawn = model.as_drawings(&[vec![[3.0, 4.0, 0.0], [5.0, -2.0, 1.0]]], &[clock]);
    assert_eq!(
        drawn[0].word, "alarm clock",
        "the word recur train gives alarm-clock.npz"
    );
}
