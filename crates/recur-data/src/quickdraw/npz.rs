//! sketch-rnn `.npz` files: a zip of `.npy` members. Drawings are object arrays (Python
//! pickles) of `int16 [points, 3]` stroke-3 arrays in raw-canvas pixels; every such member
//! (`train`, `valid`, `test`, `sketches`, …) is read. The file stem is the label.

use super::simplify::fit_to_frame;
use super::strokes::strokes_from_offsets;
use super::{check_strokes, word_of_stem, Collector, Drawing, LoadError, Problem, MAX_COORDINATE};
use crate::pickle::{self, Array};
use std::io::Read;
use std::path::Path;

/// Largest unpacked member read (the published per-class files unpack to well under 100 MB).
const MAX_MEMBER_BYTES: u64 = 1 << 30;

/// One array of drawings inside a sketch-rnn `.npz`: its member name (`train`, `valid`,
/// `test`, …) and each drawing's raw stroke-3 rows `[dx, dy, pen_lifted]` in canvas pixels, as
/// stored (or why that drawing cannot be read).
#[derive(Clone, Debug)]
pub struct Stroke3Member {
    /// The member's name without `.npy`.
    pub name: String,
    /// The drawings in file order.
    pub drawings: Vec<Result<Vec<[f32; 3]>, String>>,
}

/// Reads every array of stroke-3 drawings in a sketch-rnn `.npz` (numpy's pickles and Python
/// 2's alike), keeping the raw offsets: what sketch-rnn trains on, where [`super::load`] turns
/// drawings into absolute strokes in the 0–255 frame. Refuses a file with no such array.
pub fn read_stroke3(path: &Path) -> Result<Vec<Stroke3Member>, LoadError> {
    let name = path.display().to_string();
    let fail = |message: String| LoadError::Input {
        path: name.clone(),
        message,
    };
    let file = std::fs::File::open(path).map_err(|e| fail(e.to_string()))?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| fail(format!("not a readable .npz (zip) file: {e}")))?;
    let mut members = Vec::new();
    for m in 0..zip.len() {
        let mut member = zip.by_index(m).map_err(|e| fail(e.to_string()))?;
        let member_name = member.name().trim_end_matches(".npy").to_string();
        // A zip's sizes are claims: read at most the limit, whatever the member says.
        let mut bytes = Vec::new();
        (&mut member)
            .take(MAX_MEMBER_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| fail(format!("{member_name}: {e}")))?;
        if bytes.len() as u64 > MAX_MEMBER_BYTES {
            return Err(fail(format!(
                "{member_name}: unpacks to more than {} MB, larger than any drawing set recur reads",
                MAX_MEMBER_BYTES >> 20
            )));
        }
        let payload = object_array_payload(&bytes).map_err(|e| fail(format!("{member_name}: {e}")))?;
        let Some(pickled) = payload else {
            continue;
        };
        let value = pickle::parse(pickled).map_err(|e| fail(format!("{member_name}: {e}")))?;
        let Ok(Array::Objects(items)) = pickle::array(&value) else {
            continue;
        };
        members.push(Stroke3Member {
            name: member_name,
            drawings: items.iter().map(decode_offsets).collect(),
        });
    }
    if members.is_empty() {
        return Err(fail(
            "no array of drawings (an object array of stroke-3 arrays) inside".into(),
        ));
    }
    Ok(members)
}

pub(crate) fn read(path: &Path, c: &mut Collector) -> Result<(), LoadError> {
    let name = path.display().to_string();
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    let word = word_of_stem(stem);
    if !c.wants_class(&word) {
        return Ok(());
    }
    for member in read_stroke3(path)? {
        for (i, offsets) in member.drawings.into_iter().enumerate() {
            if !c.wants_class(&word) {
                return Ok(());
            }
            let drawing = offsets.and_then(|rows| to_frame(&rows)).map(|strokes| Drawing {
                word: word.clone(),
                key_id: format!("{stem}/{}/{i}", member.name),
                recognized: true,
                countrycode: String::new(),
                strokes,
            });
            c.offer(drawing.map_err(|message| Problem {
                file: format!("{name}[{}]", member.name),
                line: i + 1,
                message,
            }))?;
        }
    }
    Ok(())
}

/// The pickle inside an `.npy` whose dtype is object (`|O`); `None` for other arrays, and an
/// error for a member too short for the header it claims.
fn object_array_payload(npy: &[u8]) -> Result<Option<&[u8]>, String> {
    if !npy.starts_with(b"\x93NUMPY") {
        return Ok(None);
    }
    let (header, body) = crate::npy::split_npy(npy)?;
    Ok(header.contains("'|O'").then_some(body))
}

/// A drawing's stroke-3 rows as stored.
fn decode_offsets(item: &pickle::Value) -> Result<Vec<[f32; 3]>, String> {
    match pickle::array(item)? {
        Array::I16(shape, values) if shape.len() == 2 && shape[1] == 3 => Ok(values
            .chunks_exact(3)
            .map(|r| [r[0] as f32, r[1] as f32, r[2] as f32])
            .collect()),
        Array::I16(shape, _) => Err(format!("a drawing has shape {shape:?}, expected [points, 3]")),
        Array::Other(dtype) => Err(format!("a drawing has dtype {dtype}, expected int16")),
        Array::Objects(_) => Err("a drawing is itself an object array".into()),
    }
}

/// Stroke-3 rows as absolute strokes in the 0–255 frame, checked.
fn to_frame(rows: &[[f32; 3]]) -> Result<Vec<super::Stroke>, String> {
    let strokes = strokes_from_offsets(rows);
    check_strokes(&strokes, MAX_COORDINATE)?;
    Ok(fit_to_frame(&strokes))
}
