//! Decoding many clips at once: one `ffmpeg` process per clip, `threads` at a time, each
//! clip's outcome kept in the list's order. A clip that cannot be read is skipped and
//! counted; FFmpeg missing stops everything at the first clip.

use crate::decode::{decode, Clip, FrameSpec};
use crate::error::{Result, VideoError};
use crate::tools::Ffmpeg;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

/// The clips decoded from a list, and those skipped.
#[derive(Debug)]
pub struct Decoded {
    /// Each clip of the list, in order: its frames, or `None` if it was skipped.
    pub clips: Vec<Option<Clip>>,
    /// Why each skipped clip was skipped (its error names the file), in the list's order.
    pub skipped: Vec<VideoError>,
    /// Frames decoded and kept, over all clips.
    pub frames: usize,
}

/// Decodes `paths` with `threads` decoders at a time (each `ffmpeg` runs one thread, so the
/// clips, not the frames of one clip, share the cores). Errors only if FFmpeg is missing or
/// `spec` is out of range; a bad clip is skipped.
pub fn decode_all(ffmpeg: &Ffmpeg, paths: &[PathBuf], spec: &FrameSpec, threads: usize) -> Result<Decoded> {
    spec.check()?;
    let results: Vec<Mutex<Option<Result<Clip>>>> = paths.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let missing = AtomicBool::new(false);
    std::thread::scope(|scope| {
        for _ in 0..threads.clamp(1, paths.len().max(1)) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= paths.len() || missing.load(Ordering::Relaxed) {
                    break;
                }
                let outcome = decode(ffmpeg, &paths[i], spec);
                if matches!(outcome, Err(VideoError::Missing { .. })) {
                    missing.store(true, Ordering::Relaxed);
                }
                *results[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(outcome);
            });
        }
    });
    let mut decoded = Decoded {
        clips: Vec::with_capacity(paths.len()),
        skipped: Vec::new(),
        frames: 0,
    };
    for result in results {
        match result.into_inner().unwrap_or_else(|e| e.into_inner()) {
            Some(Ok(clip)) => {
                decoded.frames += clip.frames;
                decoded.clips.push(Some(clip));
            }
            Some(Err(e @ VideoError::Missing { .. })) => return Err(e),
            Some(Err(e)) => {
                decoded.skipped.push(e);
                decoded.clips.push(None);
            }
            // Not reached: every clip is decoded unless FFmpeg is missing, returned above.
            None => decoded.clips.push(None),
        }
    }
    Ok(decoded)
}
