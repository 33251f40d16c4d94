//! recur's exported files in tract (a pure-Rust ONNX runtime), built only with the `tract`
//! feature (`cargo test --release -p recur-onnx --features tract --test tract`): tract and the
//! 110 crates it brings took 43 minutes of a one-job release build here, more than CI's whole
//! run, so CI checks the same files in tract's own Python wheel instead (tests/onnxruntime.rs).
//! tract 0.22 runs every export without a recurrent layer, with the outputs recur gives; its
//! ONNX `LSTM`/`GRU`/`RNN` take `sequence_lens` only as a constant that every sequence fills
//! ("Non constant seq_len is not supported", tract-onnx `ops/rec/common.rs`), so a padded batch
//! of recurrent layers written as those operators is refused (pinned here, so a tract that
//! lifts it shows), and the same layers written as `Scan` loops (`Recurrence::Scan`) run.

mod common;

use common::{
    conv1d_cases, dense_cases, feeds, minirocket_model, random_model, recur_outputs, recurrent_cases, Feed,
    MINIROCKETS, MINIROCKET_LENGTHS,
};
use recur_nn::Model;
use recur_onnx::{ExportOptions, Recurrence};
use tract_onnx::prelude::*;

/// Exports `model` as `options` say, loads it in tract with the shapes of `feeds`, optimises
/// and runs it.
fn run_in_tract(model: &Model<f32>, feeds: &[Feed], options: ExportOptions) -> TractResult<TVec<TValue>> {
    let exported = recur_onnx::export(model, options).expect("export");
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

/// The largest difference between tract's output `y` and recur's, over recur's largest |value|
/// where that is above 1 (float32 sums of thousands of MiniRocket features round apart by
/// about 1e-5 of their size, see tests/common).
fn relative_difference(model: &Model<f32>, feeds: &[Feed], got: &TValue) -> f64 {
    let (_, want) = recur_outputs(model, feeds).swap_remove(0);
    let got = got.to_array_view::<f32>().expect("float32 output");
    let largest = want.data.iter().fold(1.0f64, |m, v| m.max(v.abs() as f64));
    let differ = want
        .data
        .iter()
        .zip(got.iter())
        .fold(0.0f64, |m, (a, b)| m.max((*a as f64 - *b as f64).abs()));
    assert_eq!(want.data.len(), got.len(), "tract's y has recur's size");
    differ / largest
}

/// A dense model, convolutions with every padding and MiniRocket (fit's default) run in tract
/// on padded batches and give recur's outputs.
#[test]
fn tract_runs_exports_without_recurrent_layers() {
    let mut models: Vec<(String, Model<f32>, Vec<usize>)> = dense_cases()
        .into_iter()
        .chain(conv1d_cases())
        .map(|c| (c.name, random_model(&c.config, 7), c.lengths))
        .collect();
    for (name, channels, pooling) in MINIROCKETS {
        models.push((
            name.into(),
            minirocket_model(channels, pooling, true),
            MINIROCKET_LENGTHS.to_vec(),
        ));
    }
    for (name, model, lengths) in &models {
        let feeds = feeds(model, lengths, None);
        let outputs = run_in_tract(model, &feeds, ExportOptions::default()).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        let differ = relative_difference(model, &feeds, &outputs[0]);
        assert!(differ <= 1e-5, "{name}: tract differs from recur by {differ:.3e}");
    }
}

/// A padded batch of recurrent layers written as ONNX's operators stops at their
/// `sequence_lens`.
#[test]
fn tract_refuses_the_recurrent_layers_sequence_lens() {
    for case in recurrent_cases() {
        let model = random_model(&case.config, 7);
        let feeds = feeds(&model, &case.lengths, case.vocabulary);
        let error = run_in_tract(&model, &feeds, ExportOptions::default())
            .map(|_| ())
            .unwrap_err();
        let chain = format!("{error:?}");
        assert!(
            chain.contains("Non constant seq_len is not supported"),
            "{}: {chain}",
            case.name
        );
    }
}

/// The same layers written as `Scan` loops over one step of their operator run in tract on the
/// padded batch, with recur's outputs.
#[test]
fn tract_runs_recurrent_layers_written_as_scan_loops() {
    let options = ExportOptions {
        recurrence: Recurrence::Scan,
        ..Default::default()
    };
    for case in recurrent_cases() {
        let model = random_model(&case.config, 7);
        let feeds = feeds(&model, &case.lengths, case.vocabulary);
        let outputs = run_in_tract(&model, &feeds, options).unwrap_or_else(|e| panic!("{}: {e:?}", case.name));
        let differ = relative_difference(&model, &feeds, &outputs[0]);
        assert!(
            differ <= 1e-5,
            "{}: tract differs from recur by {differ:.3e}",
            case.name
        );
    }
}
