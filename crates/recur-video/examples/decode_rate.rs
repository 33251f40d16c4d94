//! Decoding speed on a clip list, for `bench/video_decode.py` to set beside OpenCV's: the
//! clips of a class folder or CSV decoded as `recur fit` reads them (T frames sampled
//! uniformly, resized, RGB), printing one JSON line.
//!
//! `cargo run --release -p recur-video --example decode_rate -- CLIPS [FRAMES] [SIDE] [THREADS]`

use recur_video::{decode_all, ClipList, Ffmpeg, FrameSpec};
use std::path::PathBuf;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(list) = args.first() else {
        return Err("usage: decode_rate CLIPS [FRAMES] [SIDE] [THREADS]".into());
    };
    let number = |k: usize, default: usize| args.get(k).map_or(Ok(default), |a| a.parse::<usize>());
    let (frames, side, threads) = (number(1, 16)?, number(2, 64)?, number(3, 2)?);
    let spec = FrameSpec {
        frames,
        height: side,
        width: side,
        ..FrameSpec::default()
    };
    let list = ClipList::open(&PathBuf::from(list), None)?;
    let paths: Vec<PathBuf> = list.clips.iter().map(|c| c.path.clone()).collect();
    let started = Instant::now();
    let decoded = decode_all(&Ffmpeg::default(), &paths, &spec, threads)?;
    let seconds = started.elapsed().as_secs_f64();
    let clips = decoded.clips.iter().flatten().count();
    println!(
        "{{\"decoder\": \"recur (ffmpeg program)\", \"clips\": {clips}, \"skipped\": {}, \"frames\": {}, \"threads\": {threads}, \"seconds\": {seconds:.3}, \"clips_per_s\": {:.2}, \"frames_per_s\": {:.1}}}",
        decoded.skipped.len(),
        decoded.frames,
        clips as f64 / seconds,
        decoded.frames as f64 / seconds
    );
    Ok(())
}
