//! recur's exported files in tract (a pure-Rust ONNX runtime), built only with the `tract`
//! feature (`cargo test --release -p recur-onnx --features tract --test tract`): tract and the
//! 110 crates it brings took 43 minutes of a one-job release build here, more than CI's whole
//! run. tract 0.22 does not run recur's exports yet, and this test pins what it says, so a
//! tract that lifts it shows here: its shape inference types `Shape`'s output as its symbolic
//! size type, which the `Range` of every padding mask (steps below each length) then cannot
//! unify with the int64 the rest of the graph gives the same value. Past that, its ONNX
//! `LSTM`/`GRU`/`RNN` take `sequence_lens` only as a constant that every sequence fills
//! ("seq_len only supported for trivial noop case", tract-onnx `ops/rec/common.rs`), so a
//! padded batch of recurrent layers would still be refused.

mod common;

use common::{feeds, minirocket_model, random_model, recurrent_cases, Feed, MINIROCKET_LENGTHS};
use recur_nn::Model;
use tract_onnx::prelude::*;

/// Exports `model`, loads it in tract with the shapes of `feeds`, optimises and runs it.
fn run_in_tract(model: &Model<f32>, feeds: &[Feed]) -> TractResult<TVec<TValue>> {
    let exported = recur_onnx::export(model, recur_onnx::DEFAULT_OPSET).expect("export");
    let bytes = prost::Message::encode_to_vec(&exported);
    let graph = exported.graph.expect("a graph");
    let mut onnx = tract_onnx::onnx().model_for_read(&mut bytes.as_slice())?;
    let mut inputs: TVec<TValue> = tvec![];
    for (i, input) in graph.input.iter().enumerate() {
        let tensor = input_tensor(feeds, &input.name)?;
        onnx = onnx.with_input_fact(i, InferenceFact::dt_shape_from_tensor(&tensor))?;
        inputs.push(tensor.into());
    }
    onnx.into_optimized()?.into_runnable()?.run(inputs)
}

/// The tensor fed to the graph input `name`: a batch of values or its lengths.
fn input_tensor(feeds: &[Feed], name: &str) -> TractResult<Tensor> {
    for f in feeds {
        if f.name == name {
            return Tensor::from_shape(&f.shape(), &f.x.data);
        }
        if f.lengths_name.as_deref() == Some(name) {
            let lengths: Vec<i32> = f.x.lengths.iter().map(|&l| l as i32).collect();
            return Tensor::from_shape(&[f.x.batch], &lengths);
        }
    }
    Err(TractError::msg(format!("no feed for the graph input `{name}`")))
}

/// A dense model, an LSTM and MiniRocket (fit's default) all stop at the padding mask.
#[test]
fn tract_stops_at_the_padding_masks_range() {
    let dense = random_model(r#"{"input_size": 3, "layers": [{"type": "dense", "units": 2}]}"#, 7);
    let lstm = random_model(&recurrent_cases()[0].config, 7);
    let minirocket = minirocket_model(3, "multi", true);
    for (model, lengths) in [
        (&dense, &[7, 4, 2][..]),
        (&lstm, &[7, 4, 2]),
        (&minirocket, &MINIROCKET_LENGTHS),
    ] {
        let error = run_in_tract(model, &feeds(model, lengths, None))
            .map(|_| ())
            .unwrap_err();
        let chain = format!("{error:?}");
        assert!(
            chain.contains("Range") && chain.contains("Impossible to unify TDim with I64"),
            "{chain}"
        );
    }
}
