//! Small valid inputs built in Rust, for tests that need a file of each format: a sketch-rnn
//! `.npz` (a zip holding a pickled NumPy object array of int16 stroke-3 arrays, as
//! `np.savez(..., allow_pickle=True)` writes it) and the pickle opcodes it is made of.

#![allow(dead_code)]

use std::io::Write;

/// `GLOBAL module name`.
pub fn global(module: &str, name: &str) -> Vec<u8> {
    format!("c{module}\n{name}\n").into_bytes()
}

/// `BINUNICODE text`.
pub fn text(s: &str) -> Vec<u8> {
    let mut out = vec![b'X'];
    out.extend((s.len() as u32).to_le_bytes());
    out.extend(s.as_bytes());
    out
}

/// `BININT k`.
pub fn int(k: i32) -> Vec<u8> {
    let mut out = vec![b'J'];
    out.extend(k.to_le_bytes());
    out
}

/// A `numpy.dtype(descr)` with its `BUILD` state (byte order `endian`).
pub fn dtype(descr: &str, endian: &str) -> Vec<u8> {
    let mut out = global("numpy", "dtype");
    out.extend(text(descr));
    out.extend(b"\x89\x88\x87R(");
    out.extend(int(3));
    out.extend(text(endian));
    out.extend(b"NNN");
    out.extend(int(-1));
    out.extend(int(-1));
    out.extend(int(0));
    out.extend(b"tb");
    out
}

/// A `numpy.ndarray` of `shape` and dtype `descr`, whose data is the pickled value `data`.
pub fn ndarray(shape: &[usize], descr: &str, endian: &str, data: &[u8]) -> Vec<u8> {
    let mut out = global("numpy.core.multiarray", "_reconstruct");
    out.extend(global("numpy", "ndarray"));
    out.extend(int(0));
    out.extend(b"\x85C\x01b\x87R(");
    out.extend(int(1));
    out.push(b'(');
    for &d in shape {
        out.extend(int(d as i32));
    }
    out.push(b't');
    out.extend(dtype(descr, endian));
    out.push(0x89);
    out.extend(data);
    out.extend(b"tb");
    out
}

/// A pickled object array of int16 `[points, 3]` stroke-3 drawings.
pub fn stroke3_pickle(drawings: &[Vec<[i16; 3]>]) -> Vec<u8> {
    let mut items = b"](".to_vec();
    for d in drawings {
        let mut data = vec![b'B'];
        data.extend((d.len() as u32 * 6).to_le_bytes());
        data.extend(d.iter().flatten().flat_map(|v| v.to_le_bytes()));
        items.extend(ndarray(&[d.len(), 3], "i2", "<", &data));
    }
    items.push(b'e');
    let mut out = b"\x80\x03".to_vec();
    out.extend(ndarray(&[drawings.len()], "O8", "|", &items));
    out.push(b'.');
    out
}

/// An object-dtype `.npy` member holding `pickle`.
pub fn object_npy(pickle: &[u8], count: usize) -> Vec<u8> {
    let mut npy = recur_data::npy::npy_bytes("|O", &[count], pickle);
    // npy_bytes writes `'descr': '|O'` as given; nothing else differs for object arrays.
    npy.shrink_to_fit();
    npy
}

/// A zip of `(name, bytes)` members, stored uncompressed.
pub fn zip(members: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, bytes) in members {
        w.start_file(*name, options).unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// A sketch-rnn `.npz` with the drawings as its `train` member.
pub fn stroke3_npz(drawings: &[Vec<[i16; 3]>]) -> Vec<u8> {
    zip(&[("train.npy", object_npy(&stroke3_pickle(drawings), drawings.len()))])
}

/// A few small stroke-3 drawings: a square, a line and a triangle.
pub fn sample_stroke3() -> Vec<Vec<[i16; 3]>> {
    vec![
        vec![[10, 0, 0], [0, 10, 0], [-10, 0, 0], [0, -10, 1]],
        vec![[5, 5, 0], [20, 3, 1]],
        vec![[0, 0, 0], [8, 8, 0], [8, -8, 0], [-16, 0, 1]],
    ]
}

/// A fresh, empty folder under the system's temporary folder, removed when dropped.
pub fn temp_dir(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("recur-data-{name}-"))
        .tempdir()
        .unwrap()
}
