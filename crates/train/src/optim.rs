//! AdamW fused over flat f32 buffers, with gradient accumulation, and the
//! warmup-then-cosine learning-rate schedule.
//!
//! Written with tensor ops, one AdamW step makes a dozen full-size temporaries
//! per parameter; here the moments live in plain vectors and one pass over
//! each parameter's elements (split across threads) updates them in place.

use anyhow::{Context, Result, ensure};
use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};
use rayon::prelude::*;

/// AdamW's settings.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct AdamWSettings {
    /// First-moment decay.
    pub beta1: f64,
    /// Second-moment decay.
    pub beta2: f64,
    /// Added to the denominator.
    pub eps: f64,
    /// Decoupled weight decay, applied to matrices only (not norms or biases).
    pub weight_decay: f64,
}

impl Default for AdamWSettings {
    fn default() -> AdamWSettings {
        AdamWSettings {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }
}

struct Slot {
    var: Var,
    weights: Vec<f32>,
    m: Vec<f32>,
    v: Vec<f32>,
    grad: Vec<f32>,
    decay: bool,
}

/// AdamW over a set of variables.
pub struct AdamW {
    slots: Vec<Slot>,
    settings: AdamWSettings,
    steps: i32,
    accumulated: usize,
}

/// Elements per thread chunk of the update.
const CHUNK: usize = 1 << 15;

impl AdamW {
    /// An optimiser for `vars` (f32).
    pub fn new(vars: Vec<Var>, settings: AdamWSettings) -> Result<AdamW> {
        let slots = vars
            .into_iter()
            .map(|var| {
                let weights = var
                    .flatten_all()?
                    .to_vec1::<f32>()
                    .context("AdamW trains f32 variables")?;
                let n = weights.len();
                Ok(Slot {
                    decay: var.rank() >= 2,
                    var,
                    weights,
                    m: vec![0.0; n],
                    v: vec![0.0; n],
                    grad: vec![0.0; n],
                })
            })
            .collect::<Result<_>>()?;
        Ok(AdamW {
            slots,
            settings,
            steps: 0,
            accumulated: 0,
        })
    }

    /// Parameters under optimisation.
    pub fn parameters(&self) -> usize {
        self.slots.iter().map(|s| s.weights.len()).sum()
    }

    /// Adds one backward pass's gradients to the running sums.
    pub fn accumulate(&mut self, grads: &GradStore) -> Result<()> {
        for slot in &mut self.slots {
            let Some(grad) = grads.get(slot.var.as_tensor()) else {
                continue;
            };
            let grad = grad.flatten_all()?.to_vec1::<f32>()?;
            slot.grad
                .par_chunks_mut(CHUNK)
                .zip(grad.par_chunks(CHUNK))
                .for_each(|(sum, g)| sum.iter_mut().zip(g).for_each(|(s, g)| *s += g));
        }
        self.accumulated += 1;
        Ok(())
    }

    /// One update with the accumulated gradients (summed, as the losses were
    /// scaled), then clears them. Returns the gradient's global norm, before
    /// clipping to `clip` when given.
    pub fn step(&mut self, lr: f64, clip: Option<f64>) -> Result<f64> {
        ensure!(self.accumulated > 0, "an optimiser step without gradients");
        let norm = self
            .slots
            .iter()
            .map(|s| {
                s.grad
                    .par_iter()
                    .map(|&g| f64::from(g) * f64::from(g))
                    .sum::<f64>()
            })
            .sum::<f64>()
            .sqrt();
        let scale = match clip {
            Some(max) if norm > max => (max / norm) as f32,
            _ => 1.0,
        };
        self.steps += 1;
        let s = self.settings;
        let (b1, b2) = (s.beta1 as f32, s.beta2 as f32);
        let correction1 = 1.0 - b1.powi(self.steps);
        let correction2 = 1.0 - b2.powi(self.steps);
        let (lr, eps) = (lr as f32, s.eps as f32);
        for slot in &mut self.slots {
            let decay = if slot.decay {
                1.0 - lr * s.weight_decay as f32
            } else {
                1.0
            };
            slot.weights
                .par_chunks_mut(CHUNK)
                .zip(slot.m.par_chunks_mut(CHUNK))
                .zip(slot.v.par_chunks_mut(CHUNK))
                .zip(slot.grad.par_chunks_mut(CHUNK))
                .for_each(|(((w, m), v), g)| {
                    for i in 0..w.len() {
                        let grad = g[i] * scale;
                        m[i] = b1 * m[i] + (1.0 - b1) * grad;
                        v[i] = b2 * v[i] + (1.0 - b2) * grad * grad;
                        let update = (m[i] / correction1) / ((v[i] / correction2).sqrt() + eps);
                        w[i] = w[i] * decay - lr * update;
                        g[i] = 0.0;
                    }
                });
            let shape = slot.var.shape().clone();
            slot.var.set(&Tensor::from_slice(
                &slot.weights,
                shape,
                slot.var.device(),
            )?)?;
        }
        self.accumulated = 0;
        Ok(norm)
    }
}

/// Linear warmup to `peak`, then cosine decay to `peak · floor` at `total` steps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    /// The highest learning rate.
    pub peak: f64,
    /// Steps of linear warmup.
    pub warmup: usize,
    /// All steps.
    pub total: usize,
    /// Final learning rate as a fraction of the peak.
    pub floor: f64,
}

impl Schedule {
    /// `total` steps peaking at `peak` after warming up for a `warmup` fraction
    /// of them (at least one step), ending at a tenth of the peak.
    pub fn warmup_cosine(peak: f64, warmup: f64, total: usize) -> Schedule {
        Schedule {
            peak,
            warmup: ((total as f64 * warmup).round() as usize).max(1),
            total,
            floor: 0.1,
        }
    }

    /// The learning rate of step `step` (from 0).
    pub fn lr(&self, step: usize) -> f64 {
        if step < self.warmup {
            return self.peak * (step + 1) as f64 / self.warmup as f64;
        }
        let span = self.total.saturating_sub(self.warmup).max(1);
        let progress = ((step - self.warmup) as f64 / span as f64).min(1.0);
        let cosine = 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
        self.peak * (self.floor + (1.0 - self.floor) * cosine)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn schedule_warms_up_then_decays_to_the_floor() {
        let s = Schedule {
            peak: 1e-3,
            warmup: 10,
            total: 110,
            floor: 0.1,
        };
        assert!((s.lr(0) - 1e-4).abs() < 1e-12);
        assert!((s.lr(9) - 1e-3).abs() < 1e-12);
        assert!((s.lr(10) - 1e-3).abs() < 1e-12);
        assert!((s.lr(60) - 0.55e-3).abs() < 1e-9);
        assert!((s.lr(110) - 1e-4).abs() < 1e-12);
        assert!((s.lr(500) - 1e-4).abs() < 1e-12);
    }

    #[test]
    fn matches_adamw_written_out_for_one_weight() {
        let var = Var::from_tensor(&Tensor::new(&[[1.0f32, -2.0]], &Device::Cpu).unwrap()).unwrap();
        let settings = AdamWSettings {
            weight_decay: 0.1,
            ..AdamWSettings::default()
        };
        let mut opt = AdamW::new(vec![var.clone()], settings).unwrap();
        // Two accumulated passes of loss = sum(3 w): gradient 3 each, summed 6.
        for _ in 0..2 {
            let loss = (var.as_tensor() * 3.0).unwrap().sum_all().unwrap();
            opt.accumulate(&loss.backward().unwrap()).unwrap();
        }
        let norm = opt.step(0.01, None).unwrap();
        assert!((norm - (72f64).sqrt()).abs() < 1e-9);
        // Step 1: m̂ = g, v̂ = g², update = g / (|g| + eps) = 1.
        let expect = |w: f32| w * (1.0 - 0.01 * 0.1) - 0.01;
        let got = var.to_vec2::<f32>().unwrap()[0].clone();
        assert!(
            (got[0] - expect(1.0)).abs() < 1e-6 && (got[1] - expect(-2.0)).abs() < 1e-6,
            "{got:?}"
        );
        assert!(opt.step(0.01, None).is_err(), "gradients were cleared");
    }
}
