//! What a sketch model's call costs per drawing as more drawings share it: the figures behind
//! `recur serve`'s batching and latency notes (docs/serve.md). For each precision, thread
//! count and batch size, the drawings of an ndjson file are run through
//! [`SketchPredictor::probabilities`] (the call `recur predict` and the server make) in
//! batches of that size, and the mean milliseconds per drawing and per call are printed.
//!
//! `cargo run --release -p recur-sketch --example batch_cost -- MODEL DRAWINGS.ndjson [DRAWINGS]`
//!
//! DRAWINGS (default 320) is how many of the file's drawings each measurement runs.

use recur_data::quickdraw::ndjson::parse_drawing;
use recur_nn::Precision;
use recur_sketch::SketchPredictor;
use std::path::Path;
use std::time::Instant;

type Failure = Box<dyn std::error::Error>;

fn main() -> Result<(), Failure> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(model), Some(file)) = (args.first(), args.get(1)) else {
        return Err("usage: batch_cost MODEL DRAWINGS.ndjson [DRAWINGS]".into());
    };
    let count: usize = args.get(2).map_or(Ok(320), |a| a.parse())?;
    let mut drawings = Vec::new();
    for (i, line) in std::fs::read_to_string(file)?.lines().take(count).enumerate() {
        let value: serde_json::Value = serde_json::from_str(line)?;
        drawings.push(parse_drawing(&value["drawing"]).map_err(|e| format!("line {}: {e}", i + 1))?);
    }
    if drawings.is_empty() {
        return Err(format!("no drawings in {file}").into());
    }
    println!("precision threads batch ms/drawing ms/call");
    for precision in [Precision::Fp32, Precision::Bf16, Precision::Int8] {
        let mut predictor = SketchPredictor::load(Path::new(model))?;
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
                println!("{precision:?} {threads} {batch} {per:.3} {:.3}", per * batch as f64);
            }
        }
    }
    Ok(())
}
