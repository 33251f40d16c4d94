//! NumPy `.npy` files (format versions 1–3, little-endian, C order): float32, float64, int32
//! and int64 arrays in, float32 arrays out. Anything else is a clear error.

use std::path::Path;

/// Why an `.npy` file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum NpyError {
    /// The file could not be read or written.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error, written in the message (so not a `source`: see `NnError::Io`).
        error: std::io::Error,
    },
    /// The file is not a valid or supported `.npy`.
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// The values of an array, by element type.
#[derive(Clone, Debug, PartialEq)]
pub enum NpyData {
    /// `<f4`.
    F32(Vec<f32>),
    /// `<f8`.
    F64(Vec<f64>),
    /// `<i4`.
    I32(Vec<i32>),
    /// `<i8`.
    I64(Vec<i64>),
}

/// A loaded array.
#[derive(Clone, Debug, PartialEq)]
pub struct NpyArray {
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Values in C order.
    pub data: NpyData,
}

impl NpyArray {
    /// NumPy's name of the element type.
    pub fn dtype(&self) -> &'static str {
        match self.data {
            NpyData::F32(_) => "float32",
            NpyData::F64(_) => "float64",
            NpyData::I32(_) => "int32",
            NpyData::I64(_) => "int64",
        }
    }
}

/// Reads an `.npy` file. recur has no use for an array without values (an empty batch, a
/// sequence of no steps), so one is refused here, naming its shape.
pub fn read_npy(path: &Path) -> Result<NpyArray, NpyError> {
    let p = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| NpyError::Io {
        path: p.clone(),
        error: source,
    })?;
    let array = parse_npy(&bytes).map_err(|message| NpyError::Format {
        path: p.clone(),
        message,
    })?;
    if array.shape.contains(&0) {
        return Err(NpyError::Format {
            path: p,
            message: format!("the array is empty (shape {:?}): nothing to use", array.shape),
        });
    }
    Ok(array)
}

/// Splits `.npy` bytes into the header's text and the data after it, checking the magic, the
/// version and that the header is as long as its length field says.
pub fn split_npy(bytes: &[u8]) -> Result<(&str, &[u8]), String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("not a .npy file (bad magic)".into());
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10usize),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        2 | 3 => return Err(format!("truncated: {} bytes end inside the header length", bytes.len())),
        v => return Err(format!("unsupported .npy version {v}")),
    };
    let end = start.saturating_add(header_len);
    let header = bytes.get(start..end).ok_or_else(|| {
        format!(
            "truncated header: it claims {header_len} bytes, the file has {} after the preamble",
            bytes.len() - start
        )
    })?;
    let header = std::str::from_utf8(header).map_err(|_| "header is not text")?;
    Ok((header, &bytes[end..]))
}

/// Parses `.npy` bytes. The shape's element count is checked against the data actually present
/// (with overflow-checked arithmetic), so a lying header never sizes an allocation.
pub fn parse_npy(bytes: &[u8]) -> Result<NpyArray, String> {
    let (header, body) = split_npy(bytes)?;
    let descr = dict_value(header, "descr").ok_or("header has no 'descr'")?;
    let descr = descr.trim_start_matches(['\'', '"']);
    let descr = &descr[..descr.find(['\'', '"']).unwrap_or(descr.len())];
    if dict_value(header, "fortran_order").is_some_and(|v| v.starts_with("True")) {
        return Err("Fortran-ordered arrays are not supported; save with np.ascontiguousarray".into());
    }
    let shape_text = dict_value(header, "shape").ok_or("header has no 'shape'")?;
    let inner = shape_text.trim_start_matches('(').split(')').next().unwrap_or("");
    let shape = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().map_err(|_| format!("bad shape entry '{s}'")))
        .collect::<Result<Vec<_>, _>>()?;
    let width = match descr {
        "<f4" | "<i4" => 4,
        "<f8" | "<i8" => 8,
        other => {
            return Err(format!(
                "dtype '{other}' is not supported (use float32, float64, int32 or int64, little-endian)"
            ))
        }
    };
    let needed = checked_size(&shape, width)
        .ok_or_else(|| format!("shape {shape:?} of '{descr}' is too large to exist (its size overflows)"))?;
    if body.len() != needed {
        return Err(format!(
            "holds {} data bytes, shape {shape:?} of '{descr}' needs {needed}",
            body.len()
        ));
    }
    let data = match descr {
        "<f4" => NpyData::F32(
            body.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
        "<i4" => NpyData::I32(
            body.chunks_exact(4)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
        "<f8" => NpyData::F64(
            body.chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect(),
        ),
        _ => NpyData::I64(
            body.chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect(),
        ),
    };
    Ok(NpyArray { shape, data })
}

/// Bytes taken by an array of `shape` with `width`-byte elements, or `None` if that overflows.
pub fn checked_size(shape: &[usize], width: usize) -> Option<usize> {
    shape.iter().try_fold(width, |n, &d| n.checked_mul(d))
}

/// The text after `'key':` in a header dict.
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let at = header.find(&format!("'{key}'"))?;
    let rest = &header[at + key.len() + 2..];
    Some(rest[rest.find(':')? + 1..].trim_start())
}

/// `.npy` bytes for a float32 array.
pub fn npy_f32_bytes(shape: &[usize], data: &[f32]) -> Vec<u8> {
    let body: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
    npy_bytes("<f4", shape, &body)
}

/// `.npy` bytes for an array of dtype `descr` (e.g. `<f4`, `<i8`) whose little-endian values
/// are `body`.
pub fn npy_bytes(descr: &str, shape: &[usize], body: &[u8]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_text = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_text}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    out.extend(body);
    out
}

/// Writes a float32 array atomically (temporary file, then rename).
pub fn write_npy_f32(path: &Path, shape: &[usize], data: &[f32]) -> Result<(), NpyError> {
    let p = path.display().to_string();
    let io = |source| NpyError::Io {
        path: p.clone(),
        error: source,
    };
    let tmp = path.with_extension(format!("npy.tmp-{}", std::process::id()));
    std::fs::write(&tmp, npy_f32_bytes(shape, data)).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        let bytes = npy_f32_bytes(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let a = parse_npy(&bytes).unwrap();
        assert_eq!(a.shape, vec![2, 3]);
        assert_eq!(a.data, NpyData::F32(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]));
        assert!(parse_npy(&bytes[..bytes.len() - 4]).unwrap_err().contains("data bytes"));
        assert!(parse_npy(b"hello world").unwrap_err().contains("magic"));
        let mut c = bytes.clone();
        let at = c.windows(3).position(|w| w == b"<f4").unwrap();
        c[at..at + 3].copy_from_slice(b"<U1");
        assert!(parse_npy(&c).unwrap_err().contains("dtype '<U1' is not supported"));
    }

    /// Headers whose shape product overflows used to panic (capacity overflow, slices).
    #[test]
    fn npy_shape_overflow_is_an_error() {
        let huge = npy_bytes("<f4", &[6148914691236517206, 1, 3], &[0; 8]);
        assert!(parse_npy(&huge).unwrap_err().contains("too large"));
        let huge = npy_bytes("<f4", &[1, 4611686018427387904, 3], &[]);
        assert!(parse_npy(&huge).unwrap_err().contains("too large"));
        assert_eq!(checked_size(&[0, usize::MAX], 4), Some(0));
    }

    /// A file shorter than its header says (`\x93NUMPY\x02\x00v\x00`) used to index out of bounds.
    #[test]
    fn npy_truncated_header_is_an_error() {
        assert!(parse_npy(b"\x93NUMPY\x02\x00v\x00").unwrap_err().contains("truncated"));
        assert!(parse_npy(b"\x93NUMPY\x01\x00v\x00{'descr'")
            .unwrap_err()
            .contains("truncated header"));
        let ok = npy_f32_bytes(&[1], &[1.0]);
        for n in 0..ok.len() {
            assert!(parse_npy(&ok[..n]).is_err());
        }
    }

    /// `np.zeros((0, 7, 3), 'f4')` as `recur run` input used to panic when batches were sharded.
    #[test]
    fn npy_empty_array_is_refused_on_reading() {
        let path = std::env::temp_dir().join(format!("recur-npy-empty-{}.npy", std::process::id()));
        write_npy_f32(&path, &[0, 7, 3], &[]).unwrap();
        let e = read_npy(&path).unwrap_err().to_string();
        std::fs::remove_file(&path).unwrap();
        assert!(e.contains("empty (shape [0, 7, 3])"), "{e}");
        assert_eq!(parse_npy(&npy_f32_bytes(&[0, 7, 3], &[])).unwrap().shape, [0, 7, 3]);
    }
}
