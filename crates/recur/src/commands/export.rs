//! `recur export`: a model directory as an ONNX file.

use super::kind::Kind;
use anyhow::{bail, Result};
use clap::Args;
use recur_nn::{model_dir, Model};
use std::path::PathBuf;

/// Arguments of `recur export`.
#[derive(Args)]
pub struct ExportArgs {
    /// Model directory (a sketch classifier, a `recur fit` model or a plain model).
    #[arg(long)]
    model: PathBuf,
    /// The ONNX file to write.
    #[arg(long)]
    onnx: PathBuf,
    /// ONNX operator set to write (17 to 21).
    #[arg(long, default_value_t = recur_onnx::DEFAULT_OPSET, value_parser = super::whole::<i64>)]
    opset: i64,
}

pub fn export(a: ExportArgs) -> Result<()> {
    let unsupported = match Kind::of(&a.model) {
        Some(Kind::Forecast) => Some("forecasting"),
        Some(Kind::Seq2seq) => Some("seq2seq"),
        _ => None,
    };
    if let Some(kind) = unsupported {
        bail!(
            "{} is a {kind} model, which recur cannot export to ONNX yet",
            a.model.display()
        );
    }
    let model: Model<f32> = model_dir::load(&a.model)?;
    let exported = recur_onnx::write(&model, a.opset, &a.onnx)?;
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
