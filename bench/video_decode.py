"""OpenCV's decoding speed on the clips `recur fit` reads, beside recur's (the ffmpeg program).

Each clip is read as recur reads it: T frames sampled uniformly (the middle frame of each of T
equal stretches; a clip with fewer keeps all), resized to SIDE×SIDE (squashed, bilinear) and
converted to RGB. OpenCV reads frames in order with `VideoCapture.read()` up to the last frame
kept, as recur's ffmpeg stops there too (seeking with CAP_PROP_POS_FRAMES is slower and not
frame-exact on H.264). Clips are spread over THREADS threads (OpenCV releases the GIL while
decoding), as recur runs THREADS ffmpeg processes.

Install (a virtual environment outside the repository is best):

    pip install opencv-python-headless "numpy==2.*"

Usage (CLIPS: a folder with one subfolder per class, or a CSV with a `path` column):

    python bench/video_decode.py CLIPS [--frames 16] [--side 64] [--threads 2] [--json]
    cargo run --release -p recur-video --example decode_rate -- CLIPS 16 64 2
"""
import argparse
import csv
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor

import cv2

VIDEO = (".mp4", ".avi", ".webm", ".mkv", ".mov", ".m4v", ".mpg", ".mpeg")


def clip_paths(clips):
    """The clip files of a class folder or a CSV list, in recur's order."""
    if os.path.isdir(clips):
        paths = []
        for label in sorted(os.listdir(clips)):
            folder = os.path.join(clips, label)
            if os.path.isdir(folder):
                paths += [os.path.join(folder, f) for f in sorted(os.listdir(folder)) if f.lower().endswith(VIDEO)]
        return paths
    base = os.path.dirname(clips)
    with open(clips, newline="") as f:
        return [os.path.join(base, row["path"]) for row in csv.DictReader(f)]


def sample(total, wanted):
    """recur's uniform sampling: every frame, or the middle of each of `wanted` stretches."""
    if total <= wanted:
        return list(range(total))
    return [((2 * k + 1) * total) // (2 * wanted) for k in range(wanted)]


def decode(path, frames, side):
    """The sampled frames of one clip as RGB side×side arrays."""
    capture = cv2.VideoCapture(path)
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    keep = set(sample(total, frames))
    last = max(keep) if keep else -1
    kept, index = [], 0
    while index <= last:
        ok, frame = capture.read()
        if not ok:
            break
        if index in keep:
            small = cv2.resize(frame, (side, side), interpolation=cv2.INTER_LINEAR)
            kept.append(cv2.cvtColor(small, cv2.COLOR_BGR2RGB))
        index += 1
    capture.release()
    return kept


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("clips")
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--side", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    cv2.setNumThreads(1)
    paths = clip_paths(a.clips)
    started = time.perf_counter()
    with ThreadPoolExecutor(a.threads) as pool:
        results = list(pool.map(lambda path: decode(path, a.frames, a.side), paths))
    seconds = time.perf_counter() - started
    clips = sum(1 for r in results if r)
    frames = sum(len(r) for r in results)
    out = {"decoder": f"opencv {cv2.__version__}", "clips": clips, "skipped": len(paths) - clips, "frames": frames,
           "threads": a.threads, "seconds": round(seconds, 3), "clips_per_s": round(clips / seconds, 2),
           "frames_per_s": round(frames / seconds, 1)}
    print(json.dumps(out) if a.json else "\n".join(f"{k}: {v}" for k, v in out.items()))


if __name__ == "__main__":
    main()
