//! Drawing with a trained model: Magenta's sampler, for a whole batch of drawings at once
//! through the decoder's one-step API. Each step the mixture weights and pen logits are
//! softened by the temperature `τ` (`log p / τ`, renormalised) and `σ` is scaled by `√τ`
//! (Magenta's `sample_gaussian_2d(…, sqrt(temp))` squares it back); a drawing ends at its
//! first end-of-drawing point or after `N_max` points. Each drawing draws from its own
//! random stream (`seed`, its index), so a drawing does not depend on how many are drawn.

use crate::batch::STROKE5;
use crate::error::{input, Result};
use crate::mdn::{component, component_logs, log_softmax, row_width, PEN_STATES};
use crate::model::split_state;
use crate::store::SketchRnnModel;
use recur_core::Rng;
use recur_nn::Stepping;

/// How to draw: the temperature and the seed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DrawSettings {
    /// `τ`, above 0.
    pub temperature: f64,
    /// Seed of `z`, `ε` and every draw.
    pub seed: u64,
}

/// What to draw.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleRequest {
    /// Each drawing's class (ignored by a model without classes).
    pub classes: Vec<usize>,
    /// Each drawing's latent (`[drawings, nz]`); `None`: drawn from `N(0, I)`.
    pub z: Option<Vec<f32>>,
    /// `τ`, above 0.
    pub temperature: f64,
    /// Seed of every random draw.
    pub seed: u64,
    /// Most points a drawing may have (default: the model's `N_max`).
    pub max_len: Option<usize>,
    /// Points each drawing starts with, stroke-3 with offsets already divided by the model's
    /// scale (none, or one list per drawing, possibly empty): read by the decoder in place of
    /// its own first draws, and part of the result (completion).
    pub prefixes: Vec<Vec<[f32; 3]>>,
}

impl SampleRequest {
    /// Drawings of `classes` at `how`, from `z ~ N(0, I)`, up to the model's `N_max` points,
    /// with no given points.
    pub fn new(classes: Vec<usize>, how: DrawSettings) -> Self {
        SampleRequest {
            classes,
            z: None,
            temperature: how.temperature,
            seed: how.seed,
            max_len: None,
            prefixes: Vec::new(),
        }
    }
}

/// A distribution's index drawn with `u` ∈ [0, 1) after tempering `log_p` by `τ`.
fn tempered_index(log_p: &[f64], temperature: f64, u: f64) -> usize {
    let scaled: Vec<f64> = log_p.iter().map(|l| l / temperature).collect();
    let probs = log_softmax(&scaled);
    let mut acc = 0.0;
    for (i, lp) in probs.iter().enumerate() {
        acc += lp.exp();
        if acc >= u {
            return i;
        }
    }
    probs.len() - 1
}

impl SketchRnnModel {
    /// Draws one drawing per entry of `request.classes`, as stroke-3 rows in the training data's
    /// units (offsets multiplied back by the model's scale).
    pub fn sample(&self, request: &SampleRequest) -> Result<Vec<Vec<[f32; 3]>>> {
        if !request.temperature.is_finite() || request.temperature <= 0.0 {
            return Err(input(format!(
                "the temperature must be above 0, got {}",
                request.temperature
            )));
        }
        let net = &self.network;
        let count = request.classes.len();
        if let Some(&c) = request.classes.iter().find(|&&c| c >= self.settings.classes.len()) {
            return Err(input(format!(
                "class id {c} is beyond the model's {} classes",
                self.settings.classes.len()
            )));
        }
        if !request.prefixes.is_empty() && request.prefixes.len() != count {
            return Err(input(format!(
                "{} unfinished drawings for {count} drawings",
                request.prefixes.len()
            )));
        }
        let nz = net.config.latent_width();
        let mut rngs: Vec<Rng> = (0..count).map(|i| Rng::derive(request.seed, i as u64)).collect();
        let z: Vec<f32> = match &request.z {
            Some(z) if z.len() == count * nz => z.clone(),
            Some(z) => return Err(input(format!("{} latent values for {count} drawings of {nz}", z.len()))),
            None => rngs
                .iter_mut()
                .flat_map(|r| (0..nz).map(|_| r.normal() as f32).collect::<Vec<_>>())
                .collect(),
        };
        let decoder = &net.decoder;
        let weights = decoder.step_weights(0).map_err(input)?;
        // Every product a step makes reads its weights untransposed, so each drawing comes out
        // the same bits whether drawn alone or with others (see `Linear::forward_transposed`).
        let output_t = net.output.transposed_weight();
        let mut state = match net.initial_values(&z) {
            Some(init) => split_state(&init, net.config.decoder_units),
            None => decoder.zero_state(count),
        };
        let fixed = net.conditioning(&z, &request.classes);
        let width = fixed.len() / count.max(1);
        let mut prev: Vec<[f32; 5]> = vec![[0.0, 0.0, 1.0, 0.0, 0.0]; count];
        let mut drawings: Vec<Vec<[f32; 3]>> = vec![Vec::new(); count];
        let mut ended = vec![false; count];
        let max_len = request.max_len.unwrap_or(self.settings.n_max).max(1);
        let (m, w, scale) = (net.config.mixtures, row_width(net.config.mixtures), self.settings.scale);
        for t in 0..max_len {
            if ended.iter().all(|&e| e) {
                break;
            }
            let mut x = Vec::with_capacity(count * (STROKE5 + width));
            for (b, p) in prev.iter().enumerate() {
                x.extend_from_slice(p);
                x.extend_from_slice(&fixed[b * width..(b + 1) * width]);
            }
            let mut projected = decoder.project_ahead(&weights, count, &[]);
            state = decoder.step(&weights, &mut projected, &x, &state);
            let out = net.output.forward_transposed(&state.h, &output_t);
            for b in 0..count {
                if ended[b] {
                    continue;
                }
                let mut point = draw_point(&out[b * w..(b + 1) * w], m, request.temperature, &mut rngs[b]);
                if let Some(given) = request.prefixes.get(b).and_then(|p| p.get(t)) {
                    let lifted = given[2] > 0.5;
                    point = [given[0], given[1], f32::from(!lifted), f32::from(lifted), 0.0];
                }
                prev[b] = point;
                if point[4] > 0.5 {
                    ended[b] = true;
                } else {
                    drawings[b].push([point[0] * scale, point[1] * scale, point[3]]);
                }
            }
        }
        Ok(drawings)
    }
}

/// One stroke-5 point drawn from a mixture-density row at temperature `τ`.
fn draw_point(row: &[f32], m: usize, temperature: f64, rng: &mut Rng) -> [f32; 5] {
    let j = tempered_index(&component_logs(row, m), temperature, rng.uniform());
    let pen = tempered_index(&log_softmax(&row[..PEN_STATES]), temperature, rng.uniform());
    let n = component(row, m, j);
    let s = temperature.sqrt();
    let (e1, e2) = (rng.normal(), rng.normal());
    let dx = n.mu_x + n.sigma_x * s * e1;
    let dy = n.mu_y + n.sigma_y * s * (n.rho * e1 + (1.0 - n.rho * n.rho).max(0.0).sqrt() * e2);
    let mut point = [dx as f32, dy as f32, 0.0, 0.0, 0.0];
    point[2 + pen] = 1.0;
    point
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sketchrnn_tempered_index_sharpens_towards_the_mode() {
        let log_p = [0.6f64.ln(), 0.3f64.ln(), 0.1f64.ln()];
        assert_eq!(tempered_index(&log_p, 1.0, 0.55), 0);
        assert_eq!(tempered_index(&log_p, 1.0, 0.65), 1);
        // At τ = 0.1 the mode holds nearly all the mass.
        assert_eq!(tempered_index(&log_p, 0.1, 0.99), 0);
    }
}
