//! Weight initialisers, Keras's defaults: Glorot uniform for input kernels, orthogonal for
//! recurrent kernels.

use recur_core::{Float, Rng};

/// `n` values uniform in ±sqrt(6 / (fan_in + fan_out)).
pub fn glorot_uniform<T: Float>(fan_out: usize, fan_in: usize, n: usize, rng: &mut Rng) -> Vec<T> {
    let limit = (6.0 / (fan_in + fan_out).max(1) as f64).sqrt();
    (0..n).map(|_| T::from_f64(rng.uniform_range(-limit, limit))).collect()
}

/// A `size × size` orthogonal matrix (modified Gram–Schmidt on a Gaussian matrix), row-major.
pub fn orthogonal<T: Float>(size: usize, rng: &mut Rng) -> Vec<T> {
    let mut m: Vec<f64> = (0..size * size).map(|_| rng.normal()).collect();
    for i in 0..size {
        for j in 0..i {
            let dot: f64 = (0..size).map(|k| m[i * size + k] * m[j * size + k]).sum();
            for k in 0..size {
                m[i * size + k] -= dot * m[j * size + k];
            }
        }
        let norm = (0..size)
            .map(|k| m[i * size + k].powi(2))
            .sum::<f64>()
            .sqrt()
            .max(1e-12);
        for k in 0..size {
            m[i * size + k] /= norm;
        }
    }
    m.into_iter().map(T::from_f64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orthogonal_is_orthogonal() {
        let n = 6;
        let m: Vec<f64> = orthogonal(n, &mut Rng::new(3));
        for i in 0..n {
            for j in 0..n {
                let dot: f64 = (0..n).map(|k| m[i * n + k] * m[j * n + k]).sum();
                assert!((dot - if i == j { 1.0 } else { 0.0 }).abs() < 1e-10);
            }
        }
    }
}
