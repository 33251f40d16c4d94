//! What a sketch model's call costs per drawing as more drawings share it: the figures behind
//! `recur serve`'s batching and latency notes (docs/serve.md). For each precision, thread
//! count and batch size, the drawings of an ndjson file are run through
//! [`SketchPredictor::probabilities`] (the call `recur predict` and the server make) in
//! batches of that size, and the mean milliseconds per drawing and per call are printed.
//!
//! `cargo run --release -p recur-sketch --example batch_cost -- MODEL DRAWINGS.ndjson [DRAWINGS]`
//!
//! DRAWINGS (default 320) is how many of the file's drawings each measurement runs.

use recur_data::quickdraw::ndjson::parse_line;
use recur_nn::Precision;
use recur_sketch::SketchPredictor;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

type Failure = Box<dyn std::error::Error>;

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Failure> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(model), Some(file)) = (args.first(), args.get(1)) else {
        return Err("usage: batch_cost MODEL DRAWINGS.ndjson [DRAWINGS]".into());
    };
    let count: usize = match args.get(2) {
        Some(a) => a
            .parse()
            .map_err(|_| format!("DRAWINGS must be a whole number, not `{a}`"))?,
        None => 320,
    };
    let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read {file}: {e}"))?;
    let mut predictor = SketchPredictor::load(Path::new(model))?;
    let mut drawings = Vec::new();
    for (i, line) in text.lines().take(count).enumerate() {
        drawings.push(
            parse_line(line)
                .map_err(|e| format!("{file} line {}: {e}", i + 1))?
                .strokes,
        );
    }
    if drawings.is_empty() {
        return Err(format!("no drawings in {file}").into());
    }
    // Written, not printed: a closed pipe (`| head`) ends the run with an error, not a panic.
    let mut out = std::io::stdout().lock();
    writeln!(out, "precision threads batch ms/drawing ms/call")?;
    for precision in [Precision::Fp32, Precision::Bf16, Precision::Int8] {
        // Each precision replaces the last one's packed weights (fp32 keeps none).
        predictor.prepare_inference(precision);
        for threads in [1, 2] {
            for batch in [1, 2, 4, 8, 16] {
                let used = drawings.len() / batch * batch;
                if used == 0 {
                    continue;
                }
                predictor.probabilities(&drawings[..batch], threads)?;
                let started = Instant::now();
                for chunk in drawings[..used].chunks(batch) {
                    predictor.probabilities(chunk, threads)?;
                }
                let per = started.elapsed().as_secs_f64() * 1e3 / used as f64;
                writeln!(
                    out,
                    "{precision:?} {threads} {batch} {per:.3} {:.3}",
                    per * batch as f64
                )?;
            }
        }
    }
    Ok(())
}
