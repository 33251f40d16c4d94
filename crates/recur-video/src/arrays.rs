//! Decoded clips as NumPy frame arrays: `x [clips, time, height, width, channels]` (uint8
//! 0–255, or float32 scaled to [0, 1]) zero-padded past each clip's end, and `lengths [clips]`
//! (int64) saying how many of its frames are real.

use crate::decode::{Clip, FrameSpec};
use crate::error::{Result, VideoError};
use recur_data::npy::npy_bytes;
use std::path::Path;

/// The element type of a frame array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameDtype {
    /// Bytes as decoded, 0–255 (a quarter of float32's size).
    U8,
    /// Values scaled to [0, 1], as the models read them.
    F32,
}

/// The `.npy` bytes of `clips` as one `[clips, spec.frames, height, width, channels]` array.
pub fn frames_npy(clips: &[Clip], spec: &FrameSpec, dtype: FrameDtype) -> Vec<u8> {
    let per_clip = spec.frames * spec.frame_len();
    let shape = [clips.len(), spec.frames, spec.height, spec.width, spec.channels()];
    let mut padded = vec![0u8; clips.len() * per_clip];
    for (clip, out) in clips.iter().zip(padded.chunks_exact_mut(per_clip)) {
        out[..clip.data.len()].copy_from_slice(&clip.data);
    }
    match dtype {
        FrameDtype::U8 => npy_bytes("|u1", &shape, &padded),
        FrameDtype::F32 => {
            let body: Vec<u8> = padded
                .iter()
                .flat_map(|&v| (f32::from(v) / 255.0).to_le_bytes())
                .collect();
            npy_bytes("<f4", &shape, &body)
        }
    }
}

/// The `.npy` bytes of the clips' lengths in frames, int64 `[clips]`.
pub fn lengths_npy(clips: &[Clip]) -> Vec<u8> {
    let body: Vec<u8> = clips.iter().flat_map(|c| (c.frames as i64).to_le_bytes()).collect();
    npy_bytes("<i8", &[clips.len()], &body)
}

/// Writes `clips` to `x` (and their lengths to `lengths`), each file atomically.
pub fn write_frame_arrays(
    clips: &[Clip],
    spec: &FrameSpec,
    dtype: FrameDtype,
    x: &Path,
    lengths: Option<&Path>,
) -> Result<()> {
    let write = |path: &Path, bytes: Vec<u8>| {
        recur_nn::model_dir::write_atomic(path, &bytes).map_err(|e| VideoError::Input(e.to_string()))
    };
    write(x, frames_npy(clips, spec, dtype))?;
    if let Some(path) = lengths {
        write(path, lengths_npy(clips))?;
    }
    Ok(())
}
