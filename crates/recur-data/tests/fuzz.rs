//! Seeded mutation fuzzing of every reader, in-process on stable Rust, as part of the normal
//! `cargo test` (`cargo test fuzz` runs only these). Valid seed inputs (an `.npy`, a sketch-rnn
//! `.npz` with its pickle, ndjson lines, `.bin` records, a daily CSV) are mutated by bit flips,
//! truncation, insertion, duplication, lying length and size fields, huge numbers, NaN and deep
//! nesting, a few thousand times per reader. An error is fine; a panic is not (caught and
//! reported with the case that caused it; a stack overflow or abort fails the test binary), and
//! neither is a success that breaks the reader's promises: an array whose shape does not match
//! its data, a drawing with NaN or out-of-frame points, a series with a non-finite value.
//! Every run is reproducible: the case number seeds its mutations.

mod common;

use common::{object_npy, sample_stroke3, stroke3_npz, stroke3_pickle, temp_dir, zip};
use recur_core::Rng;
use recur_data::npy::{checked_size, npy_bytes, npy_f32_bytes, parse_npy, NpyData};
use recur_data::pickle;
use recur_data::quickdraw::{binary, load, ndjson, synth, Drawing, LoadOptions, MAX_POINTS};
use recur_data::series::{parse_daily_csv, synthetic_daily_csv, SeriesSpec, MAX_DAYS};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::{Duration, Instant};

/// Cases per reader, and the time after which a reader stops early (slow machines).
const CASES: usize = 3000;
const BUDGET: Duration = Duration::from_secs(20);

/// Text that numeric fields and headers should survive.
const TEXT_TOKENS: &[&[u8]] = &[
    b"18446744073709551616",
    b"9223372036854775807",
    b"-9223372036854775808",
    b"6148914691236517206",
    b"4611686018427387904",
    b"1e308",
    b"-1e308",
    b"1e-45",
    b"5e-37",
    b"NaN",
    b"nan",
    b"Infinity",
    b"-inf",
    b"-1",
    b"0",
    b"\"",
    b"'",
    b",",
    b"\n",
    b"(",
    b")",
    b"[",
    b"]",
    b"{",
    b"}",
    b":",
    b"\0",
    b"\xff\xfe",
    b"01/01/1000",
    b"+999-01-01",
    b"9999-12-31",
];

/// Pickle opcodes that build, nest or refer back.
const PICKLE_TOKENS: &[&[u8]] = &[
    b"(",
    b")",
    b"\x85",
    b"\x86",
    b"\x87",
    b"t",
    b"]",
    b"a",
    b"e",
    b"l",
    b"}",
    b"s",
    b"u",
    b"q\x00",
    b"h\x00",
    b"j\xff\xff\xff\xff",
    b"R",
    b"b",
    b"N",
    b".",
    b"\x94",
    b"B\xff\xff\xff\x7f",
    b"X\xff\xff\xff\xff",
    b"K\xff",
];

/// Seeded mutations of a valid input.
struct Mutator {
    rng: Rng,
}

impl Mutator {
    fn new(case: usize, reader: u64) -> Self {
        Mutator {
            rng: Rng::derive(reader, case as u64),
        }
    }

    fn pick(&mut self, n: usize) -> usize {
        self.rng.below(n.max(1))
    }

    /// One to three mutations of `seed`; `tokens` are inserted or repeated as the format's
    /// meaningful pieces, `nest` repeated thousands of times for deep nesting.
    fn mutate(&mut self, seed: &[u8], tokens: &[&[u8]], nest: &[&[u8]]) -> Vec<u8> {
        let mut b = seed.to_vec();
        for _ in 0..1 + self.pick(3) {
            let len = b.len();
            match self.pick(9) {
                0 => {
                    for _ in 0..1 + self.pick(8) {
                        if !b.is_empty() {
                            let i = self.pick(b.len());
                            b[i] ^= 1 << self.pick(8);
                        }
                    }
                }
                1 => b.truncate(self.pick(len + 1)),
                2 => {
                    let at = self.pick(len + 1);
                    let bytes: Vec<u8> = (0..1 + self.pick(16)).map(|_| self.pick(256) as u8).collect();
                    b.splice(at..at, bytes);
                }
                3 => {
                    let from = self.pick(len + 1);
                    let n = self.pick((len - from).min(256) + 1);
                    let piece = b[from..from + n].to_vec();
                    let at = self.pick(len + 1);
                    b.splice(at..at, piece);
                }
                4 => {
                    let token = tokens[self.pick(tokens.len())];
                    let at = self.pick(len + 1);
                    let end = (at + self.pick(4)).min(len);
                    b.splice(at..end, token.iter().copied());
                }
                5 => {
                    // A lying length, count or size field, or a NaN in binary data.
                    let extremes: [&[u8]; 8] = [
                        &u32::MAX.to_le_bytes(),
                        &0x7fff_ffffu32.to_le_bytes(),
                        &u16::MAX.to_le_bytes(),
                        &u64::MAX.to_le_bytes(),
                        &f32::NAN.to_le_bytes(),
                        &f32::INFINITY.to_le_bytes(),
                        &f64::NAN.to_le_bytes(),
                        &1e30f32.to_le_bytes(),
                    ];
                    let value = extremes[self.pick(extremes.len())];
                    if len >= value.len() {
                        let at = self.pick(len - value.len() + 1);
                        b[at..at + value.len()].copy_from_slice(value);
                    }
                }
                6 if !nest.is_empty() => {
                    let token = nest[self.pick(nest.len())];
                    let times = [10, 1000, 100_000][self.pick(3)];
                    let at = self.pick(len + 1);
                    b.splice(at..at, token.iter().copied().cycle().take(token.len() * times));
                }
                7 => {
                    let from = self.pick(len + 1);
                    let to = (from + self.pick(64)).min(len);
                    b.drain(from..to);
                }
                _ => {
                    let token = tokens[self.pick(tokens.len())];
                    let at = self.pick(len + 1);
                    b.splice(at..at, token.iter().copied());
                }
            }
        }
        b
    }
}

/// Runs `check` on `CASES` mutations of the seeds; fails naming every case that panicked.
fn fuzz(reader: u64, name: &str, seeds: &[Vec<u8>], tokens: &[&[u8]], nest: &[&[u8]], mut check: impl FnMut(&[u8])) {
    let start = Instant::now();
    let mut panics = Vec::new();
    let mut runs = 0;
    for case in 0..CASES {
        if start.elapsed() > BUDGET {
            break;
        }
        let mut m = Mutator::new(case, reader);
        let seed = &seeds[case % seeds.len()];
        let input = m.mutate(seed, tokens, nest);
        runs += 1;
        if catch_unwind(AssertUnwindSafe(|| check(&input))).is_err() {
            let shown = String::from_utf8_lossy(&input[..input.len().min(200)]).to_string();
            panics.push(format!("case {case} ({} bytes): {shown:?}", input.len()));
        }
    }
    eprintln!("fuzz {name}: {runs} cases in {:.1?}", start.elapsed());
    assert!(runs >= 200, "{name}: only {runs} cases ran within the time budget");
    assert!(
        panics.is_empty(),
        "{name}: {} panics, e.g. {:?}",
        panics.len(),
        &panics[..panics.len().min(5)]
    );
}

/// What every drawing a reader accepts must be: points in the 0–255 frame, finite, not too many.
fn assert_sane(d: &Drawing) {
    assert!(d.points() > 0 && d.points() <= MAX_POINTS, "{} points", d.points());
    for p in d.strokes.iter().flatten() {
        assert!(
            (0.0..=255.001).contains(&p[0]) && (0.0..=255.001).contains(&p[1]),
            "point {p:?}"
        );
    }
}

/// Writes `bytes` to `path` and loads it as drawings (strict every other time).
fn load_file(path: &Path, bytes: &[u8], strict: bool) {
    std::fs::write(path, bytes).unwrap();
    let options = LoadOptions {
        strict,
        ..LoadOptions::default()
    };
    if let Ok((drawings, report)) = load(&[path.display().to_string()], &options) {
        drawings.iter().for_each(assert_sane);
        assert_eq!(report.kept, drawings.len());
    }
}

#[test]
fn fuzz_npy_reader() {
    let f32s: Vec<f32> = (0..24).map(|i| i as f32 * 0.5).collect();
    let longs: Vec<u8> = (0..6i64).flat_map(i64::to_le_bytes).collect();
    let mut seeds = vec![npy_f32_bytes(&[2, 4, 3], &f32s), npy_bytes("<i8", &[6], &longs)];
    // Lying headers: shapes whose size overflows or disagrees with the data that follows.
    let dims = [
        0,
        1,
        3,
        7,
        1 << 62,
        1 << 63,
        6148914691236517206,
        4611686018427387904,
        usize::MAX,
    ];
    let mut rng = Rng::new(7);
    for _ in 0..200 {
        let shape: Vec<usize> = (0..1 + rng.below(3)).map(|_| dims[rng.below(dims.len())]).collect();
        let body = vec![0u8; [0, 4, 8, 12, 24][rng.below(5)]];
        let descr = ["<f4", "<f8", "<i4", "<i8"][rng.below(4)];
        seeds.push(npy_bytes(descr, &shape, &body));
    }
    fuzz(1, "npy", &seeds, TEXT_TOKENS, &[b"("], |b| {
        if let Ok(a) = parse_npy(b) {
            let len = match &a.data {
                NpyData::F32(v) => v.len(),
                NpyData::F64(v) => v.len(),
                NpyData::I32(v) => v.len(),
                NpyData::I64(v) => v.len(),
            };
            assert_eq!(checked_size(&a.shape, 1), Some(len), "shape {:?}", a.shape);
        }
    });
}

#[test]
fn fuzz_pickle_decoder() {
    let seeds = vec![stroke3_pickle(&sample_stroke3())];
    fuzz(2, "pickle", &seeds, PICKLE_TOKENS, PICKLE_TOKENS, |b| {
        if let Ok(v) = pickle::parse(b) {
            if let Ok(pickle::Array::Objects(items)) = pickle::array(&v) {
                for item in &items {
                    let _ = pickle::array(item);
                }
            }
        }
    });
}

#[test]
fn fuzz_npz_reader() {
    let tmp = temp_dir("fuzz-npz");
    let d = tmp.path();
    let path = d.join("cat.npz");
    let drawings = sample_stroke3();
    let member = object_npy(&stroke3_pickle(&drawings), drawings.len());
    // Half the cases mutate the zip as a whole, half its member (re-zipped, so the zip's own
    // checks pass and the member's header and pickle are what is tested).
    let seeds = vec![stroke3_npz(&drawings), member];
    let tokens: Vec<&[u8]> = TEXT_TOKENS.iter().chain(PICKLE_TOKENS).copied().collect();
    fuzz(3, "npz", &seeds, &tokens, PICKLE_TOKENS, |b| {
        if b.starts_with(b"PK") {
            load_file(&path, b, false);
        } else {
            load_file(&path, &zip(&[("train.npy", b.to_vec())]), false);
        }
    });
}

#[test]
fn fuzz_ndjson_reader() {
    let tmp = temp_dir("fuzz-ndjson");
    let d = tmp.path();
    let path = d.join("doodles.ndjson");
    let mut seeds: Vec<Vec<u8>> = synth::generate(1, 3)
        .iter()
        .take(4)
        .map(|dr| ndjson::to_line(dr).into_bytes())
        .collect();
    seeds.push(br#"{"word":"cat","key_id":"7","recognized":true,"drawing":[[[0.5,100.25,40],[3,50.5,9],[0,16,33]],[[7,8],[9,10],[40,41]]]}"#.to_vec());
    // Raw ink of no extent, one token away from an extent too small to scale.
    seeds.push(br#"{"word":"cat","key_id":"8","drawing":[[[0,0],[0,0],[0,1]]]}"#.to_vec());
    seeds.push(br#"{"word":"cat","key_id":"9","drawing":[[[1e-38,0],[0,0],[0,1]]]}"#.to_vec());
    let mut n = 0usize;
    fuzz(4, "ndjson", &seeds, TEXT_TOKENS, &[b"[", b"{\"a\":"], |b| {
        let line = String::from_utf8_lossy(b);
        if let Ok(d) = ndjson::parse_line(&line) {
            assert_sane(&d);
        }
        n += 1;
        // Through the file reader too, now and then: lines, skipping and counting.
        if n.is_multiple_of(8) {
            load_file(&path, b, n.is_multiple_of(16));
        }
    });
}

#[test]
fn fuzz_binary_reader() {
    let tmp = temp_dir("fuzz-bin");
    let d = tmp.path();
    let path = d.join("doodles.bin");
    let records: Vec<u8> = synth::generate(1, 5)
        .iter()
        .take(3)
        .flat_map(binary::to_record)
        .collect();
    fuzz(5, "bin", &[records], TEXT_TOKENS, &[], |b| load_file(&path, b, false));
}

#[test]
fn fuzz_daily_csv_reader() {
    let seeds = vec![synthetic_daily_csv("2019-01-01", 60, 1).into_bytes()];
    let spec = SeriesSpec {
        date_col: "date".into(),
        value_col: "value".into(),
        covariates: vec!["day_type".into()],
        strict: false,
    };
    let strict = SeriesSpec {
        strict: true,
        ..spec.clone()
    };
    fuzz(6, "daily csv", &seeds, TEXT_TOKENS, &[], |b| {
        let text = String::from_utf8_lossy(b);
        for spec in [&spec, &strict] {
            if let Ok(series) = parse_daily_csv(&text, "fuzz.csv", spec) {
                assert!(series.values.len() <= MAX_DAYS && series.values.iter().all(|v| v.is_finite()));
            }
        }
    });
}
