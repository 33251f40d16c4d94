//! Attention parity with PyTorch on the same weights: each folder under
//! `tests/fixtures_attention/` (written by `tools/make_parity_fixtures.py attention`) holds the
//! torch module's `state_dict` and its padded queries and memory, context, attention weights
//! and the gradients of `sum(w * context)`. recur must reproduce all of them (float64).

use recur_core::{Rng, Seq};
use recur_nn::{Attention, AttentionKind};
mod common;

use common::{assert_close, tensor};
use safetensors::SafeTensors;
use std::path::Path;

/// A padded batch from the fixture's values and its lengths tensor.
fn seq(io: &SafeTensors, name: &str, lengths: &str) -> Seq<f64> {
    let (shape, data) = tensor(io, name);
    let lengths = tensor(io, lengths).1.iter().map(|&l| l as usize).collect();
    Seq::new(data, shape[0], shape[1], shape[2], lengths).unwrap()
}

fn check_fixture(kind: AttentionKind) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures_attention")
        .join(kind.name());
    let weights_bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    let state = SafeTensors::deserialize(&weights_bytes).unwrap();
    let io_bytes = std::fs::read(dir.join("io.safetensors")).unwrap();
    let io = SafeTensors::deserialize(&io_bytes).unwrap();
    let queries = seq(&io, "queries", "q_lengths");
    let memory = seq(&io, "memory", "m_lengths");
    let units = state.tensor("linear_query.weight").map(|t| t.shape()[0]).unwrap_or(0);
    let mut attn = Attention::<f64>::new(kind, queries.features, memory.features, units, &mut Rng::new(0)).unwrap();
    assert_eq!(attn.params().len(), state.len(), "{kind:?}: tensors in the state_dict");
    for p in attn.params_mut() {
        let (shape, value) = tensor(&state, &p.name);
        assert_eq!(shape, p.shape, "{kind:?}: shape of {}", p.name);
        p.value = value;
    }
    let (context, weights, tape) = attn.forward(&queries, &memory, true);
    assert_close(&format!("{kind:?} context"), &context.data, &tensor(&io, "context").1);
    assert_close(&format!("{kind:?} weights"), &weights.data, &tensor(&io, "weights").1);
    let d_context = Seq {
        data: tensor(&io, "w").1,
        ..context
    };
    let (dq, dm) = attn.backward(tape, d_context);
    assert_close(&format!("{kind:?} d_queries"), &dq.data, &tensor(&io, "d_queries").1);
    assert_close(&format!("{kind:?} d_memory"), &dm.data, &tensor(&io, "d_memory").1);
    for p in attn.params() {
        let want = tensor(&io, &format!("grad.{}", p.name)).1;
        assert_close(&format!("{kind:?} gradient of {}", p.name), &p.grad, &want);
    }
}

#[test]
fn attention_dot_matches_pytorch() {
    check_fixture(AttentionKind::Dot);
}

#[test]
fn attention_general_matches_pytorch() {
    check_fixture(AttentionKind::General);
}

#[test]
fn attention_additive_matches_pytorch() {
    check_fixture(AttentionKind::Additive);
}
