use super::*;
use crate::data::Sketch;

fn tiny(mode: Mode) -> SketchRnnConfig {
    SketchRnnConfig {
        mode,
        encoder_units: 3,
        decoder_units: 4,
        latent: 2,
        class_embedding: 2,
        mixtures: 2,
        classes: 3,
        recurrent_dropout: 0.0,
    }
}

fn drawings() -> Vec<Sketch> {
    let mut rng = Rng::new(11);
    [2usize, 5, 3]
        .iter()
        .enumerate()
        .map(|(i, &len)| Sketch {
            class: i % 3,
            points: (0..len)
                .map(|t| {
                    let lifted = if t + 1 == len || t == 1 { 1.0 } else { 0.0 };
                    [
                        rng.uniform_range(-1.0, 1.0) as f32,
                        rng.uniform_range(-1.0, 1.0) as f32,
                        lifted,
                    ]
                })
                .collect(),
        })
        .collect()
}

fn batch_of(sketches: &[Sketch], n_max: usize) -> StrokeBatch {
    StrokeBatch::new(&sketches.iter().collect::<Vec<_>>(), n_max)
}

fn zero_grads(model: &mut SketchRnn<f64>) {
    model
        .params_mut()
        .into_iter()
        .for_each(|p| p.grad.iter_mut().for_each(|g| *g = 0.0));
}

/// Central differences of `L_R + L_KL` (with a fixed ε: every pass draws it from the same
/// seed) against the backward, for every weight of every part, in f64.
#[test]
fn sketchrnn_model_gradient_matches_finite_differences() {
    for mode in [Mode::Class, Mode::Vae, Mode::Unconditional, Mode::ClassOnly] {
        let mut model = SketchRnn::<f64>::new(tiny(mode), &mut Rng::new(3)).unwrap();
        // Larger starting maps than Magenta's 0.001, so that z and the initial state matter.
        for p in model.params_mut() {
            for (i, v) in p.value.iter_mut().enumerate() {
                *v += 0.3 * ((i as f64 * 0.37).sin());
            }
        }
        let batch = batch_of(&drawings(), 6);
        let kl = KlWeight {
            weight: 1.0,
            floor: 0.0,
        };
        zero_grads(&mut model);
        model.forward_backward(&batch, 0..3, kl, &mut Rng::new(5));
        let analytic: Vec<(String, Vec<f64>)> = model
            .named_params()
            .into_iter()
            .map(|(n, p)| (n, p.grad.clone()))
            .collect();
        let loss = |m: &SketchRnn<f64>| m.evaluate(&batch, 0..3, &mut Rng::new(5)).loss;
        let eps = 1e-6;
        for (k, (name, grad)) in analytic.iter().enumerate() {
            for (i, &g) in grad.iter().enumerate() {
                let mut up = model.clone();
                up.params_mut()[k].value[i] += eps;
                let mut down = model.clone();
                down.params_mut()[k].value[i] -= eps;
                let numeric = (loss(&up) - loss(&down)) / (2.0 * eps);
                let err = (numeric - g).abs() / (1e-4 + numeric.abs().max(g.abs()));
                assert!(err < 1e-4, "{mode:?} {name}[{i}]: analytic {g} numeric {numeric}");
            }
        }
    }
}

/// Drawings of different lengths padded into one batch give each drawing's own latent, loss
/// and gradient (padding reaches neither the encoder's final states nor the sums).
#[test]
fn sketchrnn_padded_batch_equals_one_drawing_at_a_time() {
    let sketches = drawings();
    let n_max = 6;
    let model = SketchRnn::<f64>::new(tiny(Mode::Class), &mut Rng::new(4)).unwrap();
    let (mu, log_var) = model.latent_of(&batch_of(&sketches, n_max)).unwrap();
    for (b, s) in sketches.iter().enumerate() {
        let (m1, lv1) = model.latent_of(&batch_of(std::slice::from_ref(s), n_max)).unwrap();
        for k in 0..2 {
            assert!((mu[b * 2 + k] - m1[k]).abs() < 1e-12 && (log_var[b * 2 + k] - lv1[k]).abs() < 1e-12);
        }
    }
    // Without ε (class-only mode) the loss and gradients add up exactly.
    let mut whole = SketchRnn::<f64>::new(tiny(Mode::ClassOnly), &mut Rng::new(4)).unwrap();
    let mut alone = whole.clone();
    let kl = KlWeight {
        weight: 0.5,
        floor: 0.2,
    };
    zero_grads(&mut whole);
    zero_grads(&mut alone);
    let batched = whole.forward_backward(&batch_of(&sketches, n_max), 0..3, kl, &mut Rng::new(1));
    let mut summed = 0.0;
    for s in &sketches {
        summed += alone
            .forward_backward(&batch_of(std::slice::from_ref(s), n_max), 0..1, kl, &mut Rng::new(1))
            .recon;
    }
    assert!((batched.recon - summed).abs() < 1e-10);
    for ((name, a), (_, b)) in whole.named_params().into_iter().zip(alone.named_params()) {
        for (x, y) in a.grad.iter().zip(&b.grad) {
            assert!((x - y).abs() < 1e-10, "{name}: {x} vs {y}");
        }
    }
}

/// The tensors carry the names and shapes the PyTorch port's `state_dict` has.
#[test]
fn sketchrnn_tensors_are_named_as_the_pytorch_port() {
    let model = SketchRnn::<f32>::new(tiny(Mode::Class), &mut Rng::new(1)).unwrap();
    let got: Vec<(String, Vec<usize>)> = model
        .named_params()
        .into_iter()
        .map(|(n, p)| (n, p.shape.clone()))
        .collect();
    let want: Vec<(&str, Vec<usize>)> = vec![
        ("encoder.weight_ih_l0", vec![12, 5]),
        ("encoder.weight_hh_l0", vec![12, 3]),
        ("encoder.bias_ih_l0", vec![12]),
        ("encoder.bias_hh_l0", vec![12]),
        ("encoder.weight_ih_l0_reverse", vec![12, 5]),
        ("encoder.weight_hh_l0_reverse", vec![12, 3]),
        ("encoder.bias_ih_l0_reverse", vec![12]),
        ("encoder.bias_hh_l0_reverse", vec![12]),
        ("mu.weight", vec![2, 6]),
        ("mu.bias", vec![2]),
        ("sigma.weight", vec![2, 6]),
        ("sigma.bias", vec![2]),
        ("init_state.weight", vec![8, 2]),
        ("init_state.bias", vec![8]),
        ("class_embedding.weight", vec![3, 2]),
        ("decoder.weight_ih_l0", vec![16, 9]),
        ("decoder.weight_hh_l0", vec![16, 4]),
        ("decoder.bias_ih_l0", vec![16]),
        ("decoder.bias_hh_l0", vec![16]),
        ("output.weight", vec![15, 4]),
        ("output.bias", vec![15]),
    ];
    let want: Vec<(String, Vec<usize>)> = want.into_iter().map(|(n, s)| (n.to_string(), s)).collect();
    assert_eq!(got, want);
}

#[test]
fn sketchrnn_mode_names_and_a_bad_one() {
    for (name, mode) in [
        ("unconditional", Mode::Unconditional),
        ("vae", Mode::Vae),
        ("class", Mode::Class),
        ("class-only", Mode::ClassOnly),
    ] {
        assert_eq!(Mode::parse(name), Ok(mode));
    }
    let e = Mode::parse("gan").unwrap_err();
    assert!(
        e.contains("unknown mode `gan`: use unconditional, vae, class or class-only"),
        "{e}"
    );
    let mut config = tiny(Mode::Vae);
    config.latent = 0;
    let e = SketchRnn::<f32>::new(config, &mut Rng::new(1)).err().unwrap();
    assert!(e.contains("latent size must be in 1..=8192, got 0"), "{e}");
}
