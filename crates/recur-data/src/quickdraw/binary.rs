//! Google's binary `.bin` format: records of key_id (u64), country code (2 bytes), recognized
//! (i8), timestamp (u32), stroke count (u16), then per stroke a point count (u16) and that many
//! x bytes and y bytes, all little-endian. Records carry no word: the file stem is the label.

use super::{check_strokes, word_of_stem, Collector, Drawing, LoadError, Problem, Stroke};
use std::io::Read;
use std::path::Path;

pub(crate) fn read(path: &Path, c: &mut Collector) -> Result<(), LoadError> {
    let name = path.display().to_string();
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|e| LoadError::Input {
            path: name.clone(),
            message: e.to_string(),
        })?;
    let word = word_of_stem(path.file_stem().and_then(|s| s.to_str()).unwrap_or(""));
    let mut reader = Cursor { bytes: &bytes, at: 0 };
    let mut record = 0;
    while reader.at < bytes.len() && c.wants_class(&word) {
        record += 1;
        let start = reader.at;
        match parse_record(&mut reader, &word) {
            // A whole record with bad points is skipped; the next record starts where it ended.
            Ok(d) => c.offer(check_strokes(&d.strokes, 255.0).map(|()| d).map_err(|message| Problem {
                file: name.clone(),
                line: record,
                message,
            }))?,
            Err(message) => {
                // A truncated or corrupt record leaves no way to find the next one.
                c.offer(Err(Problem {
                    file: name.clone(),
                    line: record,
                    message: format!("record at byte {start}: {message}"),
                }))?;
                break;
            }
        }
    }
    Ok(())
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self.at + n;
        let slice = self.bytes.get(self.at..end).ok_or("the file ends inside a record")?;
        self.at = end;
        Ok(slice)
    }
    fn u16(&mut self) -> Result<usize, String> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]) as usize)
    }
}

/// One record's fields (its points still unchecked); an error means the framing is lost.
fn parse_record(r: &mut Cursor, word: &str) -> Result<Drawing, String> {
    let key = r.take(8)?;
    let key_id = u64::from_le_bytes(key.try_into().map_err(|_| "short key_id")?).to_string();
    let country = String::from_utf8_lossy(r.take(2)?).trim_end_matches('\0').to_string();
    let recognized = r.take(1)?[0] != 0;
    r.take(4)?;
    let n_strokes = r.u16()?;
    let mut strokes: Vec<Stroke> = Vec::with_capacity(n_strokes);
    for _ in 0..n_strokes {
        let n = r.u16()?;
        let xs = r.take(n)?.to_vec();
        let ys = r.take(n)?;
        strokes.push(xs.iter().zip(ys).map(|(&x, &y)| [x as f32, y as f32]).collect());
    }
    Ok(Drawing {
        word: word.to_string(),
        key_id,
        recognized,
        countrycode: country,
        strokes,
    })
}

/// One drawing as a `.bin` record (coordinates clamped to 0–255).
pub fn to_record(d: &Drawing) -> Vec<u8> {
    let mut out = d.key_id.parse::<u64>().unwrap_or(0).to_le_bytes().to_vec();
    let cc = d.countrycode.as_bytes();
    out.extend([cc.first().copied().unwrap_or(0), cc.get(1).copied().unwrap_or(0)]);
    out.push(u8::from(d.recognized));
    out.extend(0u32.to_le_bytes());
    out.extend((d.strokes.len() as u16).to_le_bytes());
    for s in &d.strokes {
        out.extend((s.len() as u16).to_le_bytes());
        out.extend(s.iter().map(|p| p[0].clamp(0.0, 255.0) as u8));
        out.extend(s.iter().map(|p| p[1].clamp(0.0, 255.0) as u8));
    }
    out
}
