//! What the PyTorch parity tests share: reading a float64 fixture tensor, and comparing at 1e-9.

use safetensors::SafeTensors;

/// A fixture tensor's shape and float64 values.
pub fn tensor(st: &SafeTensors, name: &str) -> (Vec<usize>, Vec<f64>) {
    let v = st.tensor(name).unwrap_or_else(|_| panic!("fixture lacks {name}"));
    let data = v
        .data()
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    (v.shape().to_vec(), data)
}

/// recur's values against torch's, to 1e-9 relative to magnitude.
pub fn assert_close(what: &str, got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}: sizes differ");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-9 * (1.0 + w.abs()),
            "{what}[{i}]: recur {g} vs torch {w}"
        );
    }
}
