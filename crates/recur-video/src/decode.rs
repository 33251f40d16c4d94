//! Decoding a clip into the frames a model reads: T frames sampled uniformly over the clip
//! (all of them, in order, when it has fewer: its true length, never a repeated frame),
//! resized to H×W and converted to RGB or grayscale by `ffmpeg`, one byte per value.

use crate::error::{Result, VideoError};
use crate::probe::{probe, ClipInfo};
use crate::tools::{first_lines, Ffmpeg};
use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::io::Read;
use std::path::Path;

/// The most frames sampled from a clip.
pub const MAX_SAMPLED_FRAMES: usize = 1024;
/// The largest side a frame is resized to.
pub const MAX_OUTPUT_SIDE: usize = 1024;

/// How a frame of another shape is brought to H×W.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resize {
    /// The whole frame scaled to H×W, its aspect ratio changed (nothing is lost at the edges).
    Squash,
    /// Scaled so that it covers H×W, keeping its aspect ratio, then the middle H×W cut out.
    CentreCrop,
}

/// How clips are read: the same for training, evaluation and prediction (a model stores it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameSpec {
    /// Frames sampled from each clip (a clip with fewer keeps them all).
    pub frames: usize,
    /// Frame height after resizing.
    pub height: usize,
    /// Frame width after resizing.
    pub width: usize,
    /// One channel of luma instead of three of RGB.
    pub grayscale: bool,
    /// How a frame of another shape is brought to the size.
    pub resize: Resize,
}

impl Default for FrameSpec {
    /// 16 RGB frames of 32×32, squashed: the video defaults were chosen by grouped
    /// cross-validation at this size (docs/video.md), and it trains 4× faster than 64×64.
    fn default() -> Self {
        FrameSpec {
            frames: 16,
            height: 32,
            width: 32,
            grayscale: false,
            resize: Resize::Squash,
        }
    }
}

impl FrameSpec {
    /// Values per pixel: 1 (grayscale) or 3 (RGB).
    pub fn channels(&self) -> usize {
        if self.grayscale {
            1
        } else {
            3
        }
    }

    /// Values in one frame, `height × width × channels`.
    pub fn frame_len(&self) -> usize {
        self.height * self.width * self.channels()
    }

    /// Refuses a frame count or size out of range, in words.
    pub fn check(&self) -> Result<()> {
        if self.frames == 0 || self.frames > MAX_SAMPLED_FRAMES {
            return Err(VideoError::Input(format!(
                "frames per clip must be 1 to {MAX_SAMPLED_FRAMES}, not {}",
                self.frames
            )));
        }
        for (name, side) in [("height", self.height), ("width", self.width)] {
            if side == 0 || side > MAX_OUTPUT_SIDE {
                return Err(VideoError::Input(format!(
                    "the frame {name} must be 1 to {MAX_OUTPUT_SIDE} pixels, not {side}"
                )));
            }
        }
        Ok(())
    }

    /// The filter graph that brings a frame to the size.
    fn filter(&self) -> String {
        let (w, h) = (self.width, self.height);
        match self.resize {
            Resize::Squash => format!("scale={w}:{h}:flags=bilinear"),
            Resize::CentreCrop => {
                format!("scale={w}:{h}:force_original_aspect_ratio=increase:flags=bilinear,crop={w}:{h}")
            }
        }
    }
}

/// One decoded clip: `frames` frames of `[height, width, channels]` bytes, channels last.
#[derive(Clone, Debug, PartialEq)]
pub struct Clip {
    /// Frames kept (the spec's count, or fewer for a short clip).
    pub frames: usize,
    /// Each frame's values, `[frames, height, width, channels]` row-major, 0–255.
    pub data: Vec<u8>,
}

impl Clip {
    /// The values scaled to [0, 1].
    pub fn to_unit_f32(&self) -> Vec<f32> {
        self.data.iter().map(|&v| f32::from(v) / 255.0).collect()
    }
}

/// Which of `total` frames to keep for `wanted`: every frame when there are no more, else the
/// middle frame of each of `wanted` equal stretches.
pub fn sample_indices(total: usize, wanted: usize) -> Vec<usize> {
    if total <= wanted {
        return (0..total).collect();
    }
    (0..wanted).map(|k| ((2 * k + 1) * total) / (2 * wanted)).collect()
}

/// Probes and decodes `clip` as `spec` asks.
pub fn decode(ffmpeg: &Ffmpeg, clip: &Path, spec: &FrameSpec) -> Result<Clip> {
    spec.check()?;
    let info = probe(ffmpeg, clip)?;
    decode_probed(ffmpeg, clip, &info, spec)
}

/// Decodes `clip`, whose stream `info` describes, keeping the frames [`sample_indices`]
/// chooses from the probed count. `ffmpeg` stops after the last frame kept. A container that
/// overstated its count ends early: its last decoded frame then stands for the sampled frames
/// past the end (once), so the clip is a little shorter rather than wrong.
pub fn decode_probed(ffmpeg: &Ffmpeg, clip: &Path, info: &ClipInfo, spec: &FrameSpec) -> Result<Clip> {
    let keep = sample_indices(info.frames, spec.frames);
    let last = keep.last().copied().unwrap_or(0);
    let args: Vec<OsString> = ["-v", "error", "-nostdin", "-threads", "1", "-i"]
        .iter()
        .map(OsString::from)
        .chain([clip.as_os_str().to_owned()])
        .chain(
            [
                "-map".to_string(),
                "0:v:0".into(),
                "-vf".into(),
                spec.filter(),
                "-frames:v".into(),
                (last + 1).to_string(),
                "-f".into(),
                "rawvideo".into(),
                "-pix_fmt".into(),
                if spec.grayscale { "gray" } else { "rgb24" }.into(),
                "pipe:1".into(),
            ]
            .map(OsString::from),
        )
        .collect();
    let mut child = ffmpeg.spawn_decoder(&args, clip)?;
    let mut stderr = child.stderr.take().expect("stderr is piped");
    // Drained beside the frames, so a chatty decoder cannot block on a full pipe.
    let errors = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stderr.read_to_end(&mut text);
        text
    });
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let kept = read_kept_frames(&mut stdout, spec.frame_len(), &keep);
    drop(stdout);
    let status = child
        .wait()
        .map_err(|e| VideoError::clip(clip, format!("ffmpeg did not finish: {e}")))?;
    let stderr = errors.join().unwrap_or_default();
    let (frames, data) = kept.map_err(|e| VideoError::clip(clip, format!("reading ffmpeg's frames: {e}")))?;
    if !status.success() {
        return Err(VideoError::clip(
            clip,
            format!(
                "cannot be decoded, it may be truncated or corrupt (ffmpeg: {})",
                first_lines(&stderr)
            ),
        ));
    }
    if frames == 0 {
        return Err(VideoError::clip(clip, "no frame could be decoded"));
    }
    Ok(Clip { frames, data })
}

/// Reads frames of `frame_len` bytes from `stream` to its end, keeping those at the indices
/// `keep` (ascending); when the stream ends before some of them, its last frame is kept once
/// in their place. Returns the frames kept and their bytes.
fn read_kept_frames(stream: &mut impl Read, frame_len: usize, keep: &[usize]) -> std::io::Result<(usize, Vec<u8>)> {
    let mut data = Vec::with_capacity(keep.len() * frame_len);
    let mut frame = vec![0u8; frame_len];
    let (mut index, mut next, mut last_kept) = (0usize, 0usize, true);
    while read_frame(stream, &mut frame)? {
        last_kept = next < keep.len() && keep[next] == index;
        if last_kept {
            data.extend_from_slice(&frame);
            next += 1;
        }
        index += 1;
    }
    if next < keep.len() && index > 0 && !last_kept {
        data.extend_from_slice(&frame);
        next += 1;
    }
    Ok((next, data))
}

/// Fills `frame` from `stream`; false at the end of the stream (a partial last frame, which a
/// killed decoder can leave, is dropped).
fn read_frame(stream: &mut impl Read, frame: &mut [u8]) -> std::io::Result<bool> {
    let mut filled = 0;
    while filled < frame.len() {
        match stream.read(&mut frame[filled..]) {
            Ok(0) => return Ok(false),
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_is_uniform_and_short_clips_keep_their_length() {
        assert_eq!(sample_indices(100, 4), vec![12, 37, 62, 87]);
        assert_eq!(sample_indices(16, 16), (0..16).collect::<Vec<_>>());
        assert_eq!(sample_indices(5, 16), vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn a_stream_shorter_than_probed_keeps_its_last_frame_once() {
        // Probed 10 frames, 4 kept at 1, 3, 6, 8; the stream has only 7 (0..=6).
        let bytes: Vec<u8> = (0..7u8).collect();
        let (frames, data) = read_kept_frames(&mut bytes.as_slice(), 1, &[1, 3, 6, 8]).unwrap();
        assert_eq!((frames, data), (3, vec![1, 3, 6]));
        let (frames, data) = read_kept_frames(&mut bytes[..6].as_ref(), 1, &[1, 3, 6, 8]).unwrap();
        assert_eq!((frames, data), (3, vec![1, 3, 5]));
    }

    #[test]
    fn frame_spec_refuses_sizes_out_of_range() {
        let spec = FrameSpec {
            frames: 0,
            ..FrameSpec::default()
        };
        assert!(spec.check().unwrap_err().to_string().contains("frames per clip"));
        let spec = FrameSpec {
            width: 5000,
            ..FrameSpec::default()
        };
        assert!(spec.check().unwrap_err().to_string().contains("frame width must be"));
    }
}
