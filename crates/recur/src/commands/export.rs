//! `recur export`: a model directory as an ONNX file.

use super::kind::Kind;
use anyhow::{bail, Context, Result};
use clap::Args;
use recur_nn::{model_dir, Model};
use recur_onnx::proto::StringStringEntryProto;
use recur_seq2seq::Translator;
use std::path::PathBuf;

/// Arguments of `recur export`.
#[derive(Args)]
pub struct ExportArgs {
    /// Model directory (a sketch classifier, a `recur fit` model, a forecaster, a seq2seq model or a plain model).
    #[arg(long)]
    model: PathBuf,
    /// The ONNX file to write (for a seq2seq model, a folder: it gets encoder.onnx and decoder_step.onnx).
    #[arg(long)]
    onnx: PathBuf,
    /// ONNX operator set to write (17 to 21).
    #[arg(long, default_value_t = recur_onnx::DEFAULT_OPSET, value_parser = super::whole::<i64>)]
    opset: i64,
    /// How recurrent layers are written: `operators` (ONNX's LSTM/GRU/RNN with sequence_lens,
    /// fastest in ONNX Runtime and OpenVINO) or `scan` (a Scan loop over one step of them, for
    /// runtimes such as tract whose recurrent operators take sequence_lens only as a constant).
    #[arg(long, value_enum, default_value = "operators")]
    recurrence: RecurrenceArg,
}

/// `--recurrence`.
#[derive(Clone, Copy, clap::ValueEnum)]
enum RecurrenceArg {
    /// ONNX's recurrent operators.
    Operators,
    /// A Scan loop over one step of them.
    Scan,
}

impl ExportArgs {
    /// The exporter's options these flags ask for.
    fn options(&self) -> recur_onnx::ExportOptions {
        recur_onnx::ExportOptions {
            opset: self.opset,
            recurrence: match self.recurrence {
                RecurrenceArg::Operators => recur_onnx::Recurrence::Operators,
                RecurrenceArg::Scan => recur_onnx::Recurrence::Scan,
            },
        }
    }
}

pub fn export(a: ExportArgs) -> Result<()> {
    match Kind::of(&a.model) {
        Some(Kind::Seq2seq) => return export_seq2seq(&a),
        Some(Kind::SketchRnn) => bail!(
            "{} is a sketch-rnn model, which recur cannot export to ONNX yet",
            a.model.display()
        ),
        _ => {}
    }
    let model: Model<f32> = model_dir::load(&a.model)?;
    let mut exported = recur_onnx::export(&model, a.options())?;
    if Kind::of(&a.model) == Some(Kind::Forecast) {
        // How a series becomes the network's input windows and its outputs become values
        // (columns, window, horizon, scaling) travels with the file.
        let settings = recur_forecast::Forecaster::settings_json(&a.model)?;
        exported.metadata_props.push(StringStringEntryProto {
            key: "recur_forecast".into(),
            value: settings,
        });
    }
    recur_onnx::write_proto(&exported, &a.onnx)?;
    if model_dir::member_dir(&a.model, 1).is_dir() {
        recur_core::stderr_line!(
            "note: {} is an ensemble; this file holds its first member only (export {} and the others one by one)",
            a.model.display(),
            model_dir::member_dir(&a.model, 1).display()
        );
    }
    super::write_stdout(|out| {
        writeln!(out, "wrote {} (opset {})", a.onnx.display(), a.opset)?;
        write!(out, "{}", recur_onnx::describe(&exported))
    })
}

/// A seq2seq model as two files in the folder `--onnx` names: `encoder.onnx` and
/// `decoder_step.onnx` (the search loops over the step in the caller).
fn export_seq2seq(a: &ExportArgs) -> Result<()> {
    if a.onnx.extension().is_some_and(|e| e == "onnx") {
        bail!(
            "{} is a seq2seq model, which exports as two graphs (encoder and decoder step): give --onnx a folder, not {}",
            a.model.display(),
            a.onnx.display()
        );
    }
    let translator = Translator::load(&a.model)?;
    let exported = recur_onnx::export_seq2seq(&translator, a.options())?;
    std::fs::create_dir_all(&a.onnx).with_context(|| format!("cannot create {}", a.onnx.display()))?;
    let files = [
        ("encoder.onnx", &exported.encoder),
        ("decoder_step.onnx", &exported.decoder),
    ];
    for (name, proto) in files {
        recur_onnx::write_proto(proto, &a.onnx.join(name))?;
    }
    super::write_stdout(|out| {
        for (name, proto) in files {
            writeln!(out, "wrote {} (opset {})", a.onnx.join(name).display(), a.opset)?;
            write!(out, "{}", recur_onnx::describe(proto))?;
        }
        Ok(())
    })
}
