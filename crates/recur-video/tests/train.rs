//! Training on the generated moving-squares task (no FFmpeg needed: the clips are made in
//! memory), through the same path as `recur fit --train CLIPS`.

use recur_fit::FitPredictor;
use recur_video::clips::clip_set;
use recur_video::synthetic::{moving_squares, DIRECTIONS};
use recur_video::{video_settings, Architecture, FrameSpec, Motion, VideoData, VideoFit, VideoMeta};
use serde_json::json;

/// Trains the built-in `architecture` on 160 clips read as `meta` says (12 epochs, 2 threads)
/// and returns its accuracy on 80 fresh clips and the seconds it took.
fn train_and_score(meta: VideoMeta, architecture: Architecture) -> (f64, f64) {
    let train = squares(160, &meta, 1);
    let dir = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let fit = VideoFit {
        data: &train,
        meta,
        config: None,
        architecture,
        settings: video_settings(json!({"epochs": 12, "threads": 2}), false).unwrap(),
        out: dir.path().join("model"),
        resume: false,
        progress: Default::default(),
    };
    fit.fit().unwrap();
    let test = squares(80, &meta, 2);
    let (scores, _) = FitPredictor::load(&dir.path().join("model"))
        .unwrap()
        .score(&test.set, 2)
        .unwrap();
    (scores.accuracy.unwrap(), started.elapsed().as_secs_f64())
}

fn squares(count: usize, meta: &VideoMeta, seed: u64) -> VideoData {
    let (clips, labels): (Vec<_>, Vec<_>) = moving_squares(count, &meta.frames, seed).into_iter().unzip();
    let classes: Vec<String> = DIRECTIONS.iter().map(|d| d.to_string()).collect();
    let groups = Some((0..count).map(|i| (i / 4).to_string()).collect());
    let clips = clips.into_iter().map(Some).collect();
    let (set, groups) = clip_set(clips, &labels, &classes, groups, (&meta.frames, meta.motion), "squares").unwrap();
    VideoData {
        set,
        groups,
        skipped: Vec::new(),
        frames: 0,
    }
}

#[test]
fn default_video_model_learns_moving_squares_that_no_frame_tells_apart() {
    let frames = FrameSpec {
        frames: 8,
        height: 16,
        width: 16,
        grayscale: true,
        ..FrameSpec::default()
    };
    let (accuracy, seconds) = train_and_score(
        VideoMeta {
            frames,
            motion: Motion::Differences,
        },
        Architecture::Crnn,
    );
    eprintln!("moving squares, 8 frames: test accuracy {accuracy:.3} after {seconds:.1} s");
    assert!(accuracy >= 0.95, "{accuracy}");
    // One frame of each clip: the square may be anywhere whatever its direction.
    let (alone, _) = train_and_score(
        VideoMeta {
            frames: FrameSpec { frames: 1, ..frames },
            motion: Motion::Frames,
        },
        Architecture::Crnn,
    );
    eprintln!("moving squares, 1 frame: test accuracy {alone:.3}");
    assert!(alone < 0.5, "{alone}");
}

#[test]
fn c3d_video_model_learns_moving_squares() {
    let frames = FrameSpec {
        frames: 8,
        height: 16,
        width: 16,
        grayscale: true,
        ..FrameSpec::default()
    };
    let meta = VideoMeta {
        frames,
        motion: Motion::Frames,
    };
    let (accuracy, seconds) = train_and_score(meta, Architecture::C3d);
    eprintln!("moving squares, 8 frames, c3d: test accuracy {accuracy:.3} after {seconds:.1} s");
    assert!(accuracy >= 0.95, "{accuracy}");
}

#[test]
fn video_settings_augment_clips_by_default_and_not_with_no_augment() {
    let on = video_settings(json!({}), true).unwrap();
    assert!(on.augment_flip && on.augment_zoom > 0.0 && on.augment_scale > 0.0 && on.augment_time_jitter > 0.0);
    let off = video_settings(json!({}), false).unwrap();
    assert!(!off.augment_flip && off.augment_zoom == 0.0 && off.augment_scale == 0.0);
    // A setting given still applies, with the defaults or without them.
    let given = video_settings(json!({"augment_flip": false}), true).unwrap();
    assert!(!given.augment_flip && given.augment_zoom > 0.0);
    assert_eq!(
        video_settings(json!({"augment_zoom": 0.1}), false)
            .unwrap()
            .augment_zoom,
        0.1
    );
}
