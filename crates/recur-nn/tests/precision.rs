//! Reduced-precision inference against fp32 on the PyTorch parity fixtures: each model loaded
//! in f32, run as trained and then prepared at bf16 and at int8. The outputs must stay within
//! a stated share of the output's magnitude (see `BOUNDS`), layers without a reduced kernel
//! must be named, and fp32 must give back the exact as-trained output.

use recur_core::{Rng, Seq};
use recur_nn::{kernel_note, model_dir, Ctx, Model, ModelConfig, Precision};
#[allow(dead_code)] // the parity comparison at 1e-9 is not used here
mod common;

use common::tensor;
use safetensors::SafeTensors;
use std::path::{Path, PathBuf};

/// Largest |reduced − fp32| allowed, as a share of the largest |fp32| output (at least 1):
/// bf16 rounds each operand to 8 significant bits (≈0.4%), int8 to 256 levels per row or
/// channel (≈0.8% of the row's range), and both errors pass through two or three layers;
/// the worst fixture measured 0.35% (bf16) and 0.7% (int8), a third of these.
const BOUNDS: [(Precision, f64); 2] = [(Precision::Bf16, 0.01), (Precision::Int8, 0.02)];

fn fixtures() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

fn fixture_input(dir: &Path) -> Seq<f32> {
    let bytes = std::fs::read(dir.join("io.safetensors")).unwrap();
    let io = SafeTensors::deserialize(&bytes).unwrap();
    let (shape, x) = tensor(&io, "x");
    let lengths = tensor(&io, "lengths").1.iter().map(|&l| l as usize).collect();
    let features = shape[2..].iter().product();
    let x = x.iter().map(|&v| v as f32).collect();
    Seq::new(x, shape[0], shape[1], features, lengths).unwrap()
}

fn infer(model: &Model<f32>, x: &Seq<f32>) -> Vec<f32> {
    let mut rng = Rng::new(0);
    let mut ctx = Ctx::new(false, &mut rng);
    let (mut ys, _) = model.forward(vec![x.clone()], &mut ctx).unwrap();
    ys.remove(0).data
}

fn max_abs_difference(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs() as f64).fold(0.0, f64::max)
}

#[test]
fn bf16_and_int8_outputs_stay_within_bounds_of_fp32_on_the_parity_fixtures() {
    for dir in fixtures() {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let mut model: Model<f32> = model_dir::load(&dir).unwrap();
        let x = fixture_input(&dir);
        let fp32 = infer(&model, &x);
        let scale = fp32.iter().fold(1.0f64, |m, v| m.max(v.abs() as f64));
        for (precision, bound) in BOUNDS {
            model.prepare_inference(precision);
            let reduced = infer(&model, &x);
            let diff = max_abs_difference(&reduced, &fp32) / scale;
            println!("{name} {precision}: max |difference| {diff:.5} of the output scale");
            assert!(diff <= bound, "{name} at {precision}: {diff} > {bound}");
        }
        // Prepared for fp32, recurrent layers run f32 panels where the CPU has AVX-512: the
        // same products summed in another order, so equal to rounding, not to the bit.
        assert!(model.prepare_inference(Precision::Fp32).is_empty());
        let diff = max_abs_difference(&infer(&model, &x), &fp32) / scale;
        assert!(
            diff < 1e-6,
            "{name}: fp32 after bf16/int8 must be the model as trained ({diff})"
        );
    }
}

/// The frame CNN fixtures hold conv2d and conv3d layers, which have no reduced kernel: they
/// are named (once each), the recurrent and dense layers after them still run reduced.
#[test]
fn precision_falls_back_per_layer_and_says_which() {
    for dir in fixtures() {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let mut model: Model<f32> = model_dir::load(&dir).unwrap();
        let fallbacks = model.prepare_inference(Precision::Int8);
        let kinds: Vec<&str> = model.plan().layers.iter().map(|l| l.config.kind()).collect();
        let expected = kinds.iter().filter(|k| ["conv2d", "conv3d"].contains(k)).count();
        assert_eq!(fallbacks.len(), expected, "{name}: {fallbacks:?} for layers {kinds:?}");
        assert!(
            fallbacks
                .iter()
                .all(|f| f.contains("(conv2d: no int8 kernel)") || f.contains("(conv3d: no int8 kernel)")),
            "{name}: {fallbacks:?}"
        );
    }
}

/// MiniRocket's features differ by little where the ridge on them weighs much: at int8 the
/// dense layer they feed keeps fp32 products, is named with why, and answers exactly as at
/// fp32 (one int8 scale per row rounded the features away: PLAID's test accuracy fell from
/// 0.96 to 0.15 with `ppv` pooling and 0.16 with `multi`). bf16 keeps every layer.
#[test]
fn int8_keeps_fp32_for_a_layer_fed_minirocket_features() {
    for pooling in ["ppv", "multi"] {
        let config = ModelConfig::from_json(&format!(
            r#"{{"input_size": 1, "layers": [{{"type": "minirocket", "length": 30, "features": 168,
                "pooling": "{pooling}"}}, {{"type": "dense", "units": 3}}]}}"#
        ))
        .unwrap();
        let mut model = Model::<f32>::new(config, 1).unwrap();
        let values = (0..120).map(|i| (i as f32 * 0.37).sin() * 50.0).collect();
        let x = Seq::new(values, 4, 30, 1, vec![30, 25, 12, 30]).unwrap();
        model.adapt(std::slice::from_ref(&x), 5).unwrap();
        let fp32 = infer(&model, &x);
        let fallbacks = model.prepare_inference(Precision::Int8);
        assert_eq!(
            fallbacks,
            ["layers.1 (dense: int8 would round its input features away)"],
            "{pooling}"
        );
        assert_eq!(infer(&model, &x), fp32, "{pooling}");
        assert!(model.prepare_inference(Precision::Bf16).is_empty(), "{pooling}");
    }
}

/// The features stay fine through layers without a weight matrix: a dense layer after dropout
/// and batch norm over MiniRocket's features keeps fp32 at int8 too, and the layer after the
/// dense one (fed its outputs, not the features) runs int8.
#[test]
fn int8_keeps_fp32_for_a_layer_fed_minirocket_features_through_dropout_and_batch_norm() {
    let config = ModelConfig::from_json(
        r#"{"input_size": 1, "layers": [{"type": "minirocket", "length": 30, "features": 168},
            {"type": "dropout", "rate": 0.1}, {"type": "batch_norm"},
            {"type": "dense", "units": 8, "activation": "relu"}, {"type": "dense", "units": 3}]}"#,
    )
    .unwrap();
    let mut model = Model::<f32>::new(config, 1).unwrap();
    let values = (0..120).map(|i| (i as f32 * 0.37).sin() * 50.0).collect();
    let x = Seq::new(values, 4, 30, 1, vec![30, 25, 12, 30]).unwrap();
    model.adapt(std::slice::from_ref(&x), 5).unwrap();
    assert_eq!(
        model.prepare_inference(Precision::Int8),
        ["layers.3 (dense: int8 would round its input features away)"]
    );
}

/// The kernel note speaks only where the precision runs no faster than fp32 on this CPU.
#[test]
fn kernel_note_says_when_this_cpu_runs_a_precision_no_faster_than_fp32() {
    use recur_core::lowp::{Format, KernelPath};
    assert_eq!(kernel_note(Precision::Fp32), None);
    let bf16 = kernel_note(Precision::Bf16);
    match (Format::Bf16.fast_path_available(), KernelPath::avx2_available()) {
        (true, _) => assert_eq!(bf16, None),
        (false, true) => assert!(bf16.is_some_and(|n| n.contains("no AVX512-BF16")), "bf16 on AVX2"),
        (false, false) => assert!(bf16.is_some_and(|n| n.contains("portable kernel")), "bf16 portable"),
    }
    let int8 = kernel_note(Precision::Int8);
    match (Format::Int8.fast_path_available(), KernelPath::avx2_available()) {
        (false, false) => assert!(int8.is_some_and(|n| n.contains("portable kernel")), "int8 portable"),
        _ => assert_eq!(int8, None, "int8 runs faster than fp32 on AVX-512 VNNI and on AVX2"),
    }
}

#[test]
fn precision_names_parse_and_nonsense_is_refused() {
    assert_eq!("fp32".parse::<Precision>(), Ok(Precision::Fp32));
    assert_eq!("bf16".parse::<Precision>(), Ok(Precision::Bf16));
    assert_eq!("int8".parse::<Precision>(), Ok(Precision::Int8));
    let err = "nonsense".parse::<Precision>().unwrap_err();
    assert!(
        err.contains("`nonsense`") && err.contains("fp32, bf16 or int8"),
        "{err}"
    );
}

/// Any mutable access to the weights (an optimiser step, a reload) drops the packed copies,
/// so a model trained after being prepared never runs stale reduced weights.
#[test]
fn precision_copy_is_dropped_when_weights_change() {
    let dir = fixtures().into_iter().find(|d| d.ends_with("lstm_last")).unwrap();
    let mut model: Model<f32> = model_dir::load(&dir).unwrap();
    let x = fixture_input(&dir);
    let fp32 = infer(&model, &x);
    model.prepare_inference(Precision::Int8);
    assert_ne!(infer(&model, &x), fp32);
    let _ = model.params_mut();
    assert_eq!(infer(&model, &x), fp32);
}

/// Prepared for fp32, a recurrent layer keeps a copy of its weights (f32 panels where the CPU
/// has AVX-512, else `W_hhᵀ`) instead of re-laying them out on every call; it runs the same
/// model (to f32 rounding: the panels sum in another order), and a change to the weights drops
/// the copies, so the changed weights are the ones run.
#[test]
fn fp32_recurrent_copy_is_dropped_when_weights_change() {
    let dir = fixtures().into_iter().find(|d| d.ends_with("lstm_last")).unwrap();
    let x = fixture_input(&dir);
    let mut prepared: Model<f32> = model_dir::load(&dir).unwrap();
    let mut fresh: Model<f32> = model_dir::load(&dir).unwrap();
    let as_trained = infer(&fresh, &x);
    prepared.prepare_inference(Precision::Fp32);
    assert!(max_abs_difference(&infer(&prepared, &x), &as_trained) < 1e-5);
    for model in [&mut prepared, &mut fresh] {
        for p in model.params_mut() {
            p.value.iter_mut().for_each(|v| *v *= 0.5);
        }
    }
    let halved = infer(&fresh, &x);
    assert_ne!(halved, as_trained);
    assert_eq!(infer(&prepared, &x), halved);
}
