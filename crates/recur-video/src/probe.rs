//! What a clip holds before any frame is decoded: its frame count, rate and size, read by
//! `ffprobe` from the container, and refused when absurd (so nothing is allocated for an 8K
//! frame or a 100,000-frame clip).

use crate::error::{Result, VideoError};
use crate::tools::{first_lines, Ffmpeg};
use serde_json::Value;
use std::path::Path;

/// The widest or tallest frame accepted (4K UHD's 3840 fits; 8K's 7680 does not).
pub const MAX_SIDE: usize = 4096;
/// The most frames a clip may hold (about 11 minutes at 30 frames a second): each is decoded
/// to sample a few, so a longer clip is a mistake for a classifier of clips.
pub const MAX_FRAMES: usize = 20_000;

/// A clip's video stream, as its container describes it.
#[derive(Clone, Debug, PartialEq)]
pub struct ClipInfo {
    /// Frames in the stream: the container's count, or duration × rate where it has none.
    pub frames: usize,
    /// Frames per second (0 when unknown).
    pub fps: f64,
    /// Frame width in pixels.
    pub width: usize,
    /// Frame height in pixels.
    pub height: usize,
}

/// Reads `clip`'s first video stream with `ffprobe` and checks it against [`MAX_SIDE`] and
/// [`MAX_FRAMES`].
pub fn probe(ffmpeg: &Ffmpeg, clip: &Path) -> Result<ClipInfo> {
    if !clip.is_file() {
        return Err(VideoError::clip(clip, "no such file"));
    }
    let args = [
        "-v",
        "error",
        "-select_streams",
        "v:0",
        "-show_entries",
        "stream=width,height,nb_frames,avg_frame_rate,r_frame_rate,duration:format=duration",
        "-of",
        "json",
    ];
    let out = ffmpeg.probe_output(&args, clip)?;
    if !out.status.success() {
        return Err(VideoError::clip(
            clip,
            format!("not a readable video (ffprobe: {})", first_lines(&out.stderr)),
        ));
    }
    let json: Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| VideoError::clip(clip, format!("ffprobe gave unreadable output: {e}")))?;
    let info = parse_info(&json).map_err(|why| VideoError::clip(clip, why))?;
    check_info(&info).map_err(|why| VideoError::clip(clip, why))?;
    Ok(info)
}

/// The stream's description from `ffprobe -of json`'s output.
fn parse_info(json: &Value) -> std::result::Result<ClipInfo, String> {
    let Some(stream) = json["streams"].get(0) else {
        return Err("not a video: the file has no video stream".into());
    };
    let number = |v: &Value| match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse::<f64>().ok(),
        _ => None,
    };
    let side = |key: &str| number(&stream[key]).filter(|v| *v >= 1.0).map(|v| v as usize);
    let (Some(width), Some(height)) = (side("width"), side("height")) else {
        return Err("not a video: its video stream has no frame size".into());
    };
    let fps = [&stream["avg_frame_rate"], &stream["r_frame_rate"]]
        .into_iter()
        .find_map(|v| v.as_str().and_then(rate).filter(|r| *r > 0.0))
        .unwrap_or(0.0);
    let duration = number(&stream["duration"]).or_else(|| number(&json["format"]["duration"]));
    let frames = match (number(&stream["nb_frames"]), duration) {
        (Some(n), _) if n >= 1.0 => n,
        (_, Some(d)) if fps > 0.0 => (d * fps).round(),
        _ => return Err("not a video: its length is unknown (no frame count, duration or rate)".into()),
    };
    if !frames.is_finite() || frames < 1.0 {
        return Err("no frames to decode (the stream is empty)".into());
    }
    Ok(ClipInfo {
        frames: frames.min(usize::MAX as f64) as usize,
        fps,
        width,
        height,
    })
}

/// A rate written `30000/1001` or `25`.
fn rate(text: &str) -> Option<f64> {
    match text.split_once('/') {
        Some((n, d)) => {
            let (n, d) = (n.parse::<f64>().ok()?, d.parse::<f64>().ok()?);
            (d != 0.0).then(|| n / d)
        }
        None => text.parse().ok(),
    }
}

/// Refuses frames over [`MAX_SIDE`] and clips over [`MAX_FRAMES`], in words.
fn check_info(info: &ClipInfo) -> std::result::Result<(), String> {
    if info.width > MAX_SIDE || info.height > MAX_SIDE {
        return Err(format!(
            "its {}×{} frames are larger than the {MAX_SIDE}-pixel side recur decodes; scale the clip down first",
            info.width, info.height
        ));
    }
    if info.frames > MAX_FRAMES {
        return Err(format!(
            "{} frames is more than the {MAX_FRAMES} a clip may hold; cut it into clips first",
            info.frames
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(fields: Value) -> Value {
        serde_json::json!({"streams": [fields], "format": {"duration": "2.0"}})
    }

    #[test]
    fn probe_reads_count_or_duration_times_rate() {
        let counted =
            stream(serde_json::json!({"width": 320, "height": 240, "nb_frames": "48", "avg_frame_rate": "24/1"}));
        let info = parse_info(&counted).unwrap();
        assert_eq!((info.frames, info.fps, info.width, info.height), (48, 24.0, 320, 240));
        let webm = stream(serde_json::json!({"width": 64, "height": 48, "avg_frame_rate": "30000/1001"}));
        assert_eq!(parse_info(&webm).unwrap().frames, 60);
    }

    #[test]
    fn probe_refuses_8k_frames_and_100000_frame_clips() {
        let huge = ClipInfo {
            frames: 10,
            fps: 30.0,
            width: 7680,
            height: 4320,
        };
        assert!(check_info(&huge).unwrap_err().contains("7680×4320 frames are larger"));
        let long = ClipInfo {
            frames: 100_000,
            width: 64,
            height: 64,
            ..huge
        };
        assert!(check_info(&long).unwrap_err().contains("100000 frames is more than"));
    }

    #[test]
    fn probe_refuses_a_file_without_video_stream() {
        let audio = serde_json::json!({"streams": [], "format": {"duration": "2.0"}});
        assert!(parse_info(&audio).unwrap_err().contains("no video stream"));
    }
}
