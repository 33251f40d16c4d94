//! A generated video task that no single frame solves: a bright square drifting left, right,
//! up or down over a noisy background. Every class puts the square anywhere in a frame, so
//! only the motion between frames tells them apart. Made by code, so it needs no download.

use crate::decode::{Clip, FrameSpec};
use crate::error::{Result, VideoError};
use crate::tools::Ffmpeg;
use recur_core::Rng;
use std::io::Write;
use std::path::Path;

/// The classes of [`moving_squares`], in label order.
pub const DIRECTIONS: [&str; 4] = ["down", "left", "right", "up"];

/// `count` clips of `spec`'s size (frames, height, width, channels), class `i % 4` for clip
/// `i` (a [`DIRECTIONS`] entry), drawn from `seed`. The square's side is a quarter of the
/// smaller side; it moves one pixel a frame (or less, so that it stays in the frame).
pub fn moving_squares(count: usize, spec: &FrameSpec, seed: u64) -> Vec<(Clip, usize)> {
    let mut rng = Rng::derive(seed, 0x5a1e);
    (0..count)
        .map(|i| (square_clip(i % 4, spec, &mut rng), i % 4))
        .collect()
}

/// One clip of the square moving in direction `class`.
fn square_clip(class: usize, spec: &FrameSpec, rng: &mut Rng) -> Clip {
    let (h, w, c, t) = (spec.height, spec.width, spec.channels(), spec.frames);
    let side = (h.min(w) / 4).max(1);
    // The path's middle is drawn the same way for every class, so a frame's square may be
    // anywhere whatever the direction.
    let travel = |room: usize| (t.saturating_sub(1)).min(room.saturating_sub(side) / 2) as f64;
    let (travel_y, travel_x) = (travel(h), travel(w));
    let mid_y = travel_y / 2.0 + rng.uniform() * ((h - side) as f64 - travel_y);
    let mid_x = travel_x / 2.0 + rng.uniform() * ((w - side) as f64 - travel_x);
    let (dy, dx) = match DIRECTIONS[class] {
        "down" => (1.0, 0.0),
        "up" => (-1.0, 0.0),
        "right" => (0.0, 1.0),
        _ => (0.0, -1.0),
    };
    let colour: Vec<u8> = (0..c).map(|_| 160 + rng.below(96) as u8).collect();
    let mut data = Vec::with_capacity(t * h * w * c);
    for step in 0..t {
        let progress = if t > 1 { step as f64 / (t - 1) as f64 - 0.5 } else { 0.0 };
        let top = (mid_y + dy * progress * travel_y).round() as usize;
        let left = (mid_x + dx * progress * travel_x).round() as usize;
        for y in 0..h {
            for x in 0..w {
                let inside = (top..top + side).contains(&y) && (left..left + side).contains(&x);
                for &k in &colour {
                    data.push(if inside { k } else { rng.below(48) as u8 });
                }
            }
        }
    }
    Clip { frames: t, data }
}

/// Writes `per_class` clips of each direction as H.264 `.mp4` files, one folder per class
/// under `dir` (`dir/left/0003.mp4`), at `fps` frames a second, through `ffmpeg`. The size
/// must be even (the encoder's chroma is halved). Returns the clips written.
pub fn write_moving_squares(
    ffmpeg: &Ffmpeg,
    dir: &Path,
    per_class: usize,
    spec: &FrameSpec,
    seed: u64,
) -> Result<usize> {
    spec.check()?;
    if spec.height % 2 == 1 || spec.width % 2 == 1 || spec.grayscale {
        return Err(VideoError::Input(format!(
            "clips to encode need an even RGB frame size, not {}×{}{}",
            spec.height,
            spec.width,
            if spec.grayscale { " grayscale" } else { "" }
        )));
    }
    let clips = moving_squares(per_class * DIRECTIONS.len(), spec, seed);
    for (i, (clip, class)) in clips.iter().enumerate() {
        let folder = dir.join(DIRECTIONS[*class]);
        std::fs::create_dir_all(&folder).map_err(|e| VideoError::Input(format!("{}: {e}", folder.display())))?;
        encode(
            ffmpeg,
            &folder.join(format!("{:04}.mp4", i / DIRECTIONS.len())),
            clip,
            spec,
        )?;
    }
    Ok(clips.len())
}

/// Encodes `clip`'s RGB frames into `path`.
fn encode(ffmpeg: &Ffmpeg, path: &Path, clip: &Clip, spec: &FrameSpec) -> Result<()> {
    let size = format!("{}x{}", spec.width, spec.height);
    let args: Vec<std::ffi::OsString> = [
        "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", &size, "-r", "10", "-i", "pipe:0",
        "-pix_fmt", "yuv420p", "-crf", "12",
    ]
    .iter()
    .map(Into::into)
    .chain([path.as_os_str().to_owned()])
    .collect();
    let mut child = ffmpeg.spawn_encoder(&args, path)?;
    let written = child.stdin.take().map(|mut input| input.write_all(&clip.data));
    let out = child
        .wait_with_output()
        .map_err(|e| VideoError::clip(path, format!("ffmpeg did not finish: {e}")))?;
    if !out.status.success() || !matches!(written, Some(Ok(()))) {
        return Err(VideoError::clip(
            path,
            format!("ffmpeg could not encode it: {}", crate::tools::first_lines(&out.stderr)),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moving_squares_cycle_the_four_directions_and_move() {
        let spec = FrameSpec {
            frames: 6,
            height: 16,
            width: 16,
            grayscale: true,
            ..FrameSpec::default()
        };
        let clips = moving_squares(8, &spec, 1);
        assert_eq!(
            clips.iter().map(|(_, c)| *c).collect::<Vec<_>>(),
            vec![0, 1, 2, 3, 0, 1, 2, 3]
        );
        let (clip, _) = &clips[2];
        assert_eq!(clip.data.len(), 6 * 16 * 16);
        // The bright pixels' mean column grows for "right".
        let column = |f: usize| {
            let frame = &clip.data[f * 256..(f + 1) * 256];
            let bright: Vec<usize> = (0..256).filter(|&p| frame[p] >= 160).map(|p| p % 16).collect();
            bright.iter().sum::<usize>() as f64 / bright.len() as f64
        };
        assert!(column(5) > column(0) + 3.0, "{} {}", column(0), column(5));
    }
}
