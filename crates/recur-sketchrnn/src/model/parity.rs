//! Parity with the PyTorch port (`bench/sketch_rnn_pytorch.py`) on the fixtures that
//! `tools/make_sketchrnn_fixture.py` writes to `tests/fixtures/<mode>/`: the same float32
//! weights, strokes and `ε`, run in f64 here and in torch, must give the same output rows,
//! per-step losses, latent, `L_R`, `L_KL` and weight gradients (see the fixtures' README).

use super::*;
use recur_nn::model_dir::{read_params, read_tensors};
use std::path::{Path, PathBuf};

const SIZES: (usize, usize, usize, usize, usize, usize) = (8, 12, 4, 3, 3, 3);
const B: usize = 3;
const N_MAX: usize = 12;

fn fixture(case: &str) -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(case);
    if dir.join("expected.safetensors").is_file() {
        Some(dir)
    } else {
        eprintln!(
            "skipped: no parity fixture {} (python tools/make_sketchrnn_fixture.py)",
            dir.display()
        );
        None
    }
}

/// The named tensors of a fixture file, in f64.
fn tensors(dir: &Path, file: &str, names: &[(&str, Vec<usize>)]) -> Vec<Vec<f64>> {
    let path = dir.join(file);
    let bytes = std::fs::read(&path).unwrap();
    let wanted: Vec<(String, Vec<usize>)> = names.iter().map(|(n, s)| (n.to_string(), s.clone())).collect();
    // The file may hold more tensors than asked for: read the header's names first.
    let all = safetensor_names(&bytes);
    let mut extra: Vec<(String, Vec<usize>)> = all
        .into_iter()
        .filter(|(n, _)| !wanted.iter().any(|(w, _)| w == n))
        .collect();
    let mut expected = wanted.clone();
    expected.append(&mut extra);
    let (values, _) = read_tensors(&expected, &bytes, &path.display().to_string()).unwrap();
    values.into_iter().take(wanted.len()).collect()
}

/// Every tensor name and shape in a safetensors header.
fn safetensor_names(bytes: &[u8]) -> Vec<(String, Vec<usize>)> {
    let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + len]).unwrap();
    header
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| *k != "__metadata__")
        .map(|(k, v)| {
            let shape = v["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap() as usize)
                .collect();
            (k.clone(), shape)
        })
        .collect()
}

fn close(what: &str, ours: &[f64], theirs: &[f64], tol: f64) {
    assert_eq!(ours.len(), theirs.len(), "{what}: sizes");
    for (i, (a, b)) in ours.iter().zip(theirs).enumerate() {
        assert!(
            (a - b).abs() <= tol * (1.0 + b.abs()),
            "{what}[{i}]: recur {a}, torch {b}"
        );
    }
}

fn check_case(case: &str, mode: Mode) {
    let Some(dir) = fixture(case) else { return };
    let (enc, dec, nz, m, classes, emb) = SIZES;
    let config = SketchRnnConfig {
        mode,
        encoder_units: enc,
        decoder_units: dec,
        latent: nz,
        class_embedding: emb,
        mixtures: m,
        classes,
        recurrent_dropout: 0.0,
    };
    let mut model = SketchRnn::<f64>::new(config, &mut Rng::new(0)).unwrap();
    let weights = std::fs::read(dir.join("weights.safetensors")).unwrap();
    let names: Vec<String> = model.named_params().into_iter().map(|(n, _)| n).collect();
    read_params(names.clone(), model.params_mut(), &weights, "weights.safetensors").unwrap();
    let mut inputs: Vec<(&str, Vec<usize>)> = vec![
        ("strokes", vec![B, N_MAX + 1, 5]),
        ("lengths", vec![B]),
        ("kl_weight", vec![1]),
    ];
    if mode.has_latent() {
        inputs.push(("eps", vec![B, nz]));
    }
    if mode.has_class() {
        inputs.push(("class_ids", vec![B]));
    }
    let got = tensors(&dir, "inputs.safetensors", &inputs);
    let strokes = StrokeBatch {
        data: got[0].iter().map(|&v| v as f32).collect(),
        lengths: got[1].iter().map(|&v| v as usize).collect(),
        classes: if mode.has_class() {
            got[4].iter().map(|&v| v as usize).collect()
        } else {
            vec![0; B]
        },
        n_max: N_MAX,
    };
    let kl_weight = got[2][0];
    let eps = mode.has_latent().then(|| got[3].clone());
    let w = row_width(m);
    let mut expect: Vec<(&str, Vec<usize>)> = vec![
        ("output", vec![B, N_MAX, w]),
        ("offset_losses", vec![B, N_MAX]),
        ("pen_losses", vec![B, N_MAX]),
        ("recon_loss", vec![1]),
        ("loss", vec![1]),
    ];
    let grads: Vec<String> = names.iter().map(|n| format!("grad.{n}")).collect();
    let shapes: Vec<Vec<usize>> = model.named_params().into_iter().map(|(_, p)| p.shape.clone()).collect();
    expect.extend(grads.iter().map(String::as_str).zip(shapes.iter().cloned()));
    if mode.has_latent() {
        expect.extend([("mu", vec![B, nz]), ("logvar", vec![B, nz]), ("kl_loss", vec![1])]);
    }
    let want = tensors(&dir, "expected.safetensors", &expect);
    model
        .params_mut()
        .into_iter()
        .for_each(|p| p.grad.iter_mut().for_each(|g| *g = 0.0));
    let kl = KlWeight {
        weight: kl_weight,
        floor: f64::NEG_INFINITY,
    };
    let (terms, out) = model.forward_backward_with(&strokes, 0..B, kl, &mut Rng::new(0), eps.as_deref());
    close(&format!("{case} output"), &out, &want[0], 1e-9);
    let (mut offsets, mut pens) = (Vec::new(), Vec::new());
    for b in 0..B {
        for t in 0..N_MAX {
            let row = &out[(b * N_MAX + t) * w..(b * N_MAX + t + 1) * w];
            let l = crate::mdn::step_loss(row, &strokes.rows(b)[(t + 1) * 5..(t + 2) * 5], m, 1.0, None);
            offsets.push(l.offsets);
            pens.push(l.pen);
        }
    }
    close(&format!("{case} offset losses"), &offsets, &want[1], 1e-9);
    close(&format!("{case} pen losses"), &pens, &want[2], 1e-9);
    close(&format!("{case} L_R"), &[terms.recon / B as f64], &want[3], 1e-9);
    close(&format!("{case} loss"), &[terms.loss / B as f64], &want[4], 1e-9);
    for (k, (name, p)) in model.named_params().into_iter().enumerate() {
        let ours: Vec<f64> = p.grad.iter().map(|g| g / B as f64).collect();
        close(&format!("{case} grad.{name}"), &ours, &want[5 + k], 1e-8);
    }
    if mode.has_latent() {
        let (mu, log_var) = model.latent_of(&strokes).unwrap();
        let at = 5 + names.len();
        close(&format!("{case} mu"), &mu, &want[at], 1e-9);
        close(&format!("{case} logvar"), &log_var, &want[at + 1], 1e-9);
        close(&format!("{case} L_KL"), &[terms.kl / B as f64], &want[at + 2], 1e-9);
    }
}

#[test]
fn sketchrnn_matches_the_pytorch_port_unconditional() {
    check_case("unconditional", Mode::Unconditional);
}

#[test]
fn sketchrnn_matches_the_pytorch_port_vae() {
    check_case("vae", Mode::Vae);
}

#[test]
fn sketchrnn_matches_the_pytorch_port_class() {
    check_case("class", Mode::Class);
}
