//! Decoding real clips that the tests make with FFmpeg's own test source (`testsrc`, lavfi);
//! every test skips, saying so, on a machine without FFmpeg.

use recur_video::{decode, decode_all, Ffmpeg, FrameDtype, FrameSpec, Resize, VideoError};
use std::path::{Path, PathBuf};
use std::process::Command;

/// FFmpeg, or `None` (with a message) where it is not installed.
fn ffmpeg_or_skip(test: &str) -> Option<Ffmpeg> {
    let ffmpeg = Ffmpeg::default();
    if ffmpeg.available() {
        Some(ffmpeg)
    } else {
        eprintln!("skipping {test}: ffmpeg and ffprobe are not installed (apt-get install ffmpeg)");
        None
    }
}

/// Writes a `frames`-frame `width`×`height` test clip at 25 fps to `path` (its extension
/// chooses the container).
fn make_clip(path: &Path, frames: usize, width: usize, height: usize) {
    let source = format!("testsrc=size={width}x{height}:rate=25");
    let status = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            &source,
            "-frames:v",
            &frames.to_string(),
            "-pix_fmt",
            "yuv420p",
        ])
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success(), "ffmpeg could not make {}", path.display());
}

fn spec(frames: usize, grayscale: bool, resize: Resize) -> FrameSpec {
    FrameSpec {
        frames,
        height: 24,
        width: 32,
        grayscale,
        resize,
    }
}

#[test]
fn decodes_t_frames_of_h_by_w_in_rgb_or_grayscale_from_each_container() {
    let Some(ffmpeg) = ffmpeg_or_skip("decodes_t_frames_of_h_by_w_in_rgb_or_grayscale_from_each_container") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for ext in ["mp4", "avi", "mkv", "webm"] {
        let path = dir.path().join(format!("clip.{ext}"));
        make_clip(&path, 40, 64, 48);
        let rgb = decode(&ffmpeg, &path, &spec(8, false, Resize::Squash)).unwrap();
        assert_eq!((rgb.frames, rgb.data.len()), (8, 8 * 24 * 32 * 3), "{ext}");
        let values = rgb.to_unit_f32();
        assert!(
            values.iter().all(|v| (0.0..=1.0).contains(v)) && values.iter().any(|&v| v > 0.5),
            "{ext}"
        );
        let gray = decode(&ffmpeg, &path, &spec(8, true, Resize::Squash)).unwrap();
        assert_eq!(gray.data.len(), 8 * 24 * 32, "{ext}");
    }
    // testsrc's frames differ over time (a moving sweep and a counter): no frame repeats.
    let rgb = decode(&ffmpeg, &dir.path().join("clip.mp4"), &spec(8, false, Resize::Squash)).unwrap();
    let per = 24 * 32 * 3;
    assert!((1..8).all(|k| rgb.data[k * per..(k + 1) * per] != rgb.data[(k - 1) * per..k * per]));
}

#[test]
fn centre_crop_differs_from_squash_on_a_wide_clip() {
    let Some(ffmpeg) = ffmpeg_or_skip("centre_crop_differs_from_squash_on_a_wide_clip") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wide.mp4");
    make_clip(&path, 10, 128, 48);
    let squash = decode(&ffmpeg, &path, &spec(2, false, Resize::Squash)).unwrap();
    let crop = decode(&ffmpeg, &path, &spec(2, false, Resize::CentreCrop)).unwrap();
    assert_eq!(squash.data.len(), crop.data.len());
    assert_ne!(squash.data, crop.data);
}

#[test]
fn a_short_clip_keeps_its_true_length() {
    let Some(ffmpeg) = ffmpeg_or_skip("a_short_clip_keeps_its_true_length") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("short.mp4");
    make_clip(&path, 5, 32, 24);
    let clip = decode(&ffmpeg, &path, &spec(16, false, Resize::Squash)).unwrap();
    assert_eq!(clip.frames, 5);
    assert_eq!(clip.data.len(), 5 * 24 * 32 * 3);
}

#[test]
fn bad_clips_are_named_and_skipped_and_counted() {
    let Some(ffmpeg) = ffmpeg_or_skip("bad_clips_are_named_and_skipped_and_counted") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.mp4");
    make_clip(&good, 20, 32, 24);
    let text = dir.path().join("notes.mp4");
    std::fs::write(&text, "not a video at all").unwrap();
    let truncated = dir.path().join("truncated.mp4");
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 3]).unwrap();
    let audio = dir.path().join("audio.mp4");
    let made = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "sine=duration=1",
            "-c:a",
            "aac",
        ])
        .arg(&audio)
        .status()
        .unwrap();
    assert!(made.success());
    let spec = spec(4, false, Resize::Squash);
    for (path, why) in [
        (&text, "not a readable video"),
        (&truncated, "truncated.mp4: "),
        (&audio, "no video stream"),
    ] {
        let e = decode(&ffmpeg, path, &spec).unwrap_err().to_string();
        assert!(e.contains(&path.display().to_string()) && e.contains(why), "{e}");
    }
    let paths: Vec<PathBuf> = vec![good.clone(), text, truncated, audio, good];
    let decoded = decode_all(&ffmpeg, &paths, &spec, 2).unwrap();
    assert_eq!(decoded.skipped.len(), 3);
    assert!(decoded.clips[0].is_some() && decoded.clips[4].is_some() && decoded.clips[1].is_none());
    assert_eq!(decoded.frames, 8);
}

#[test]
fn ffmpeg_missing_says_what_to_install() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.mp4");
    std::fs::write(&path, "x").unwrap();
    let absent = Ffmpeg {
        ffmpeg: "recur-no-such-ffmpeg".into(),
        ffprobe: "recur-no-such-ffprobe".into(),
    };
    assert!(!absent.available());
    let e = decode(&absent, &path, &FrameSpec::default()).unwrap_err();
    assert!(matches!(e, VideoError::Missing { .. }));
    assert!(e.to_string().contains("apt-get install ffmpeg"), "{e}");
    let e = decode_all(&absent, &[path.clone(), path], &FrameSpec::default(), 2).unwrap_err();
    assert!(e.to_string().contains("recur-no-such-ffprobe"), "{e}");
}

#[test]
fn frame_arrays_are_clips_time_height_width_channels_with_lengths() {
    let Some(ffmpeg) = ffmpeg_or_skip("frame_arrays_are_clips_time_height_width_channels_with_lengths") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (long, short) = (dir.path().join("long.mp4"), dir.path().join("short.mp4"));
    make_clip(&long, 30, 32, 24);
    make_clip(&short, 3, 32, 24);
    let spec = spec(6, false, Resize::Squash);
    let clips: Vec<_> = [&long, &short]
        .iter()
        .map(|p| decode(&ffmpeg, p, &spec).unwrap())
        .collect();
    let (x, lengths) = (dir.path().join("x.npy"), dir.path().join("lengths.npy"));
    recur_video::write_frame_arrays(&clips, &spec, FrameDtype::F32, &x, Some(&lengths)).unwrap();
    let array = recur_data::npy::read_npy(&x).unwrap();
    assert_eq!(array.shape, vec![2, 6, 24, 32, 3]);
    let recur_data::npy::NpyData::F32(values) = array.data else {
        panic!("float32")
    };
    let per_clip = 6 * 24 * 32 * 3;
    assert!(
        values[per_clip + 3 * 24 * 32 * 3..].iter().all(|&v| v == 0.0),
        "padded past the short clip's end"
    );
    let lengths = recur_data::npy::read_npy(&lengths).unwrap();
    assert_eq!(lengths.data, recur_data::npy::NpyData::I64(vec![6, 3]));
    let bytes = std::fs::read(dir.path().join("x.npy")).unwrap();
    assert!(bytes.len() > per_clip * 2 * 4);
    recur_video::write_frame_arrays(&clips, &spec, FrameDtype::U8, &x, None).unwrap();
    let header = String::from_utf8_lossy(&std::fs::read(&x).unwrap()[..128]).into_owned();
    assert!(
        header.contains("'descr': '|u1'") && header.contains("(2, 6, 24, 32, 3)"),
        "{header}"
    );
}
