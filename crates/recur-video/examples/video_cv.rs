//! Grouped cross-validation of several training configurations on one decoding of a clip
//! list: how the video defaults were chosen (docs/video.md's table). The clips are decoded
//! once per frame spec and kept as bytes in the folder CACHE, so later runs skip FFmpeg.
//!
//! `cargo run --release -p recur-video --example video_cv -- CLIPS.csv GROUP_COLUMN FRAMES SIDE CACHE RUN...`
//!
//! Each RUN is a JSON object: `{"name": "c3d diff", "architecture": "c3d", "motion":
//! "differences", "augment": true, "folds": 5, "training": {"epochs": 20}}` (every key but
//! `name` optional; `training` holds `recur fit` settings; `model`, a model config, replaces
//! the architecture's). One line per run is printed:
//! its name, the folds' mean ± std accuracy, each fold's, and the seconds it took.

use recur_fit::split::grouped_folds;
use recur_video::clips::clip_set;
use recur_video::train::mean_std;
use recur_video::{
    decode_all, video_config, video_settings, Architecture, Clip, ClipList, Ffmpeg, FrameSpec, Motion, VideoData,
    VideoFit, VideoMeta,
};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Instant;

type Failure = Box<dyn std::error::Error>;

fn main() -> Result<(), Failure> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 6 {
        return Err("usage: video_cv CLIPS.csv GROUP_COLUMN FRAMES SIDE CACHE RUN...".into());
    }
    let list = ClipList::open(Path::new(&args[0]), Some(&args[1]))?;
    let (frames, side): (usize, usize) = (args[2].parse()?, args[3].parse()?);
    let spec = FrameSpec {
        frames,
        height: side,
        width: side,
        ..FrameSpec::default()
    };
    let clips = cached_clips(&list, &spec, Path::new(&args[4]))?;
    write_folds(&list, &clips, Path::new(&args[4]))?;
    for run in &args[5..] {
        let run: Value = serde_json::from_str(run)?;
        let started = Instant::now();
        let accuracies = cross_validate(&list, &clips, &spec, &run)?;
        let (mean, std) = mean_std(&accuracies);
        let each: Vec<String> = accuracies.iter().map(|a| format!("{a:.3}")).collect();
        println!(
            "{}: {mean:.3} ± {std:.3} ({}) {:.0} s",
            run["name"].as_str().unwrap_or("run"),
            each.join(", "),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// The clips of `list` read as `spec` says, from CACHE or decoded (and cached there): each
/// clip's frame count (4 bytes, little-endian; 0 for a skipped clip), then its bytes.
fn cached_clips(list: &ClipList, spec: &FrameSpec, cache: &Path) -> Result<Vec<Option<Clip>>, Failure> {
    let path = cache.join(format!("f{}_s{}x{}.bin", spec.frames, spec.height, spec.width));
    if let Ok(bytes) = std::fs::read(&path) {
        let mut clips = Vec::with_capacity(list.clips.len());
        let mut at = 0;
        while at + 4 <= bytes.len() {
            let frames = u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize;
            let end = at + 4 + frames * spec.frame_len();
            let data = bytes.get(at + 4..end).ok_or("the cache is truncated")?.to_vec();
            clips.push((frames > 0).then_some(Clip { frames, data }));
            at = end;
        }
        return Ok(clips);
    }
    let paths: Vec<PathBuf> = list.clips.iter().map(|c| c.path.clone()).collect();
    let decoded = decode_all(&Ffmpeg::default(), &paths, spec, 2)?;
    eprintln!(
        "decoded {} clips, skipped {}",
        paths.len() - decoded.skipped.len(),
        decoded.skipped.len()
    );
    let mut bytes = Vec::new();
    for clip in &decoded.clips {
        let frames = clip.as_ref().map_or(0, |c| c.frames) as u32;
        bytes.extend(frames.to_le_bytes());
        bytes.extend(clip.iter().flat_map(|c| c.data.iter().copied()));
    }
    std::fs::create_dir_all(cache)?;
    std::fs::write(&path, bytes)?;
    Ok(decoded.clips)
}

/// Writes CACHE/folds.json: each decoded clip's label and the clip indices of the 5 grouped
/// folds of seed 1 (`recur fit --cv 5`'s), for bench/video_pytorch.py to train on the same.
fn write_folds(list: &ClipList, clips: &[Option<Clip>], cache: &Path) -> Result<(), Failure> {
    let kept: Vec<usize> = (0..clips.len()).filter(|&i| clips[i].is_some()).collect();
    let groups: Vec<String> = list.groups().ok_or("the list has no groups")?;
    let kept_groups: Vec<String> = kept.iter().map(|&i| groups[i].clone()).collect();
    let folds = grouped_folds(&kept_groups, 5, 1, &list.source)?;
    let labels: Vec<usize> = kept.iter().map(|&i| list.clips[i].label).collect();
    let text = serde_json::json!({"clips": kept, "labels": labels, "folds": folds}).to_string();
    std::fs::write(cache.join("folds.json"), text)?;
    Ok(())
}

/// Each fold's accuracy for one RUN.
fn cross_validate(list: &ClipList, clips: &[Option<Clip>], spec: &FrameSpec, run: &Value) -> Result<Vec<f64>, Failure> {
    let text = |key: &str, default: &str| run[key].as_str().unwrap_or(default).to_string();
    let meta = VideoMeta {
        frames: *spec,
        motion: Motion::parse(&text("motion", "differences"))?,
    };
    let (set, groups) = clip_set(
        clips.to_vec(),
        &list.labels(),
        &list.classes,
        list.groups(),
        (spec, meta.motion),
        &list.source,
    )?;
    let data = VideoData {
        set,
        groups,
        skipped: Vec::new(),
        frames: 0,
    };
    let out = tempdir()?;
    let fit = VideoFit {
        data: &data,
        meta,
        config: match run.get("model") {
            Some(model) => Some(video_config(model.clone(), &meta, "the run's model")?),
            None => None,
        },
        architecture: Architecture::parse(&text("architecture", "crnn"))?,
        settings: video_settings(run["training"].clone(), run["augment"].as_bool().unwrap_or(true))?,
        out: out.clone(),
        resume: false,
        progress: Default::default(),
    };
    let folds = run["folds"].as_u64().unwrap_or(5) as usize;
    let threads = fit.settings.threads.unwrap_or(2);
    let accuracies = fit.cross_validate(folds, threads)?;
    std::fs::remove_dir_all(&out)?;
    Ok(accuracies)
}

/// A fresh folder for the folds' models.
fn tempdir() -> Result<PathBuf, Failure> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos();
    let dir = std::env::temp_dir().join(format!("video_cv_{}_{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
