//! Encoder–decoder parity with PyTorch on the same weights: each folder under
//! `tests/fixtures_seq2seq/` (written by `tools/make_parity_fixtures.py seq2seq`) holds a torch
//! module's `state_dict` with recur's tensor names, a batch of source and target ids, torch's
//! log-probabilities at every teacher-forced step, the summed cross-entropy and each
//! parameter's gradient of it. recur must reproduce all of them (float64), through training
//! (`train_batch`) and through the search step (`start`/`next`).

use recur_core::{Rng, Seq};
use recur_seq2seq::decoder::Batch;
use recur_seq2seq::{Seq2Seq, Seq2SeqConfig};
use safetensors::SafeTensors;
use std::path::Path;

fn tensor(st: &SafeTensors, name: &str) -> (Vec<usize>, Vec<f64>) {
    let v = st.tensor(name).unwrap_or_else(|_| panic!("fixture lacks {name}"));
    let data = v
        .data()
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    (v.shape().to_vec(), data)
}

fn assert_close(what: &str, got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}: sizes differ");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-9 * (1.0 + w.abs()),
            "{what}[{i}]: recur {g} vs torch {w}"
        );
    }
}

/// Rows of a padded id matrix cut to their lengths.
fn rows(io: &SafeTensors, name: &str, lengths: &str) -> Vec<Vec<u32>> {
    let (shape, data) = tensor(io, name);
    let lengths = tensor(io, lengths).1;
    (0..shape[0])
        .map(|b| {
            data[b * shape[1]..b * shape[1] + lengths[b] as usize]
                .iter()
                .map(|&v| v as u32)
                .collect()
        })
        .collect()
}

fn check(name: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures_seq2seq")
        .join(name);
    let config: Seq2SeqConfig =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    let mut model = Seq2Seq::<f64>::for_loading(config.clone()).unwrap();
    let state_bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    let state = SafeTensors::deserialize(&state_bytes).unwrap();
    let names: Vec<String> = model.named_params().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names.len(), state.len(), "{name}: tensors in the state_dict");
    for (p, n) in model.params_mut().into_iter().zip(&names) {
        let (shape, value) = tensor(&state, n);
        assert_eq!(shape, p.shape, "{name}: shape of {n}");
        p.value = value;
    }
    let io_bytes = std::fs::read(dir.join("io.safetensors")).unwrap();
    let io = SafeTensors::deserialize(&io_bytes).unwrap();
    let sources = rows(&io, "source", "source_lengths");
    let targets = rows(&io, "target", "target_lengths");
    let pairs: Vec<(&[u32], &[u32])> = sources.iter().zip(&targets).map(|(s, t)| (&s[..], &t[..])).collect();

    let mut trained = model.clone();
    trained.zero_grad();
    let stats = trained
        .train_batch(&Batch::new(&pairs).unwrap(), &mut Rng::new(0), 0.0, 1.0)
        .unwrap();
    assert_close(&format!("{name} loss"), &[stats.loss], &tensor(&io, "loss").1);
    for (n, p) in trained.named_params() {
        assert_close(
            &format!("{name} gradient of {n}"),
            &p.grad,
            &tensor(&io, &format!("grad.{n}")).1,
        );
    }

    // The search step along the reference targets gives torch's log-probabilities.
    let (shape, want) = tensor(&io, "log_probs");
    let (time, v) = (shape[1], shape[2]);
    let longest = sources.iter().map(Vec::len).max().unwrap();
    let mut data = vec![0.0; sources.len() * longest];
    for (b, s) in sources.iter().enumerate() {
        for (t, &id) in s.iter().enumerate() {
            data[b * longest + t] = id as f64;
        }
    }
    let source = Seq::new(data, sources.len(), longest, 1, sources.iter().map(Vec::len).collect()).unwrap();
    let (decoding, mut state) = model.start(source, 1).unwrap();
    let mut tokens = vec![1u32; sources.len()];
    for t in 0..time {
        let (log_probs, next, _) = model.next(&decoding, &tokens, &state);
        for (b, target) in targets.iter().enumerate() {
            if t <= target.len() {
                let at = (b * time + t) * v;
                assert_close(
                    &format!("{name} log-probabilities of sequence {b} at step {t}"),
                    &log_probs[b * v..(b + 1) * v],
                    &want[at..at + v],
                );
            }
            tokens[b] = target.get(t).copied().unwrap_or(2);
        }
        state = next;
    }
}

#[test]
fn seq2seq_lstm_general_input_feeding_matches_pytorch() {
    check("lstm_general_feeding");
}

#[test]
fn seq2seq_gru_additive_matches_pytorch() {
    check("gru_additive");
}
