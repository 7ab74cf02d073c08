//! Weights that train or stay frozen, and linear layers with optional LoRA
//! adapters.
//!
//! A frozen weight is a plain tensor, so backward computes no gradient for it;
//! a trainable one is a [`Var`]. LoRA adds `scale · B·A` to a frozen weight,
//! training only `A` (`[rank, in]`, random) and `B` (`[out, rank]`, zero, so
//! training starts from the base model exactly).

use candle_core::{Result, Tensor, Var};

/// A parameter tensor, trainable or frozen.
#[derive(Debug, Clone)]
pub enum Weight {
    /// Trained: gradients flow into it.
    Trainable(Var),
    /// Held fixed.
    Frozen(Tensor),
}

impl Weight {
    /// The tensor to compute with.
    pub fn tensor(&self) -> &Tensor {
        match self {
            Weight::Trainable(var) => var.as_tensor(),
            Weight::Frozen(tensor) => tensor,
        }
    }

    /// Makes it trainable (or frozen).
    pub fn set_trainable(&mut self, trainable: bool) -> Result<()> {
        *self = match (&*self, trainable) {
            (Weight::Frozen(t), true) => Weight::Trainable(Var::from_tensor(t)?),
            (Weight::Trainable(v), false) => Weight::Frozen(v.as_tensor().detach()),
            (w, _) => w.clone(),
        };
        Ok(())
    }

    /// The variable, when trainable.
    pub fn var(&self) -> Option<&Var> {
        match self {
            Weight::Trainable(var) => Some(var),
            Weight::Frozen(_) => None,
        }
    }
}

/// A low-rank adapter on a linear layer.
#[derive(Debug, Clone)]
pub struct Lora {
    /// `[rank, in]`.
    pub a: Var,
    /// `[out, rank]`.
    pub b: Var,
    /// `alpha / rank`.
    pub scale: f64,
}

/// `x W^T (+ b) (+ scale · x A^T B^T)`.
#[derive(Debug, Clone)]
pub struct Linear {
    /// `[out, in]`.
    pub weight: Weight,
    /// `[out]`, when the layer has one (Qwen2's q, k, v).
    pub bias: Option<Weight>,
    /// The adapter, when LoRA is on.
    pub lora: Option<Lora>,
}

impl Linear {
    /// `xs` `[n, in]` to `[n, out]`.
    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let mut ys = match &self.weight {
            Weight::Trainable(w) => xs.matmul(&w.as_tensor().t()?)?,
            Weight::Frozen(w) => crate::ops::frozen_matmul(xs, w)?,
        };
        if let Some(bias) = &self.bias {
            ys = ys.broadcast_add(bias.tensor())?;
        }
        if let Some(lora) = &self.lora {
            // Scaled at rank width, not at the output's.
            let low = (xs.matmul(&lora.a.as_tensor().t()?)? * lora.scale)?;
            ys = (ys + low.matmul(&lora.b.as_tensor().t()?)?)?;
        }
        Ok(ys)
    }

    /// Adds a LoRA adapter of `rank` (A drawn from a seeded uniform, B zero).
    pub fn add_lora(&mut self, rank: usize, alpha: f64, seed: u64) -> Result<()> {
        let (out, inp) = self.weight.tensor().dims2()?;
        let device = self.weight.tensor().device();
        let dtype = self.weight.tensor().dtype();
        // Kaiming-uniform bound for A, as peft does.
        let bound = (1.0 / inp as f64).sqrt() as f32;
        let mut rng = evolve_lm::Rng::new(seed, 0);
        let values: Vec<f32> = (0..rank * inp)
            .map(|_| (rng.uniform() as f32 * 2.0 - 1.0) * bound)
            .collect();
        self.lora = Some(Lora {
            a: Var::from_tensor(&Tensor::from_vec(values, (rank, inp), device)?.to_dtype(dtype)?)?,
            b: Var::zeros((out, rank), dtype, device)?,
            scale: alpha / rank as f64,
        });
        Ok(())
    }

    /// The weight with the adapter folded in: `W + scale · B·A`.
    pub fn merged_weight(&self) -> Result<Tensor> {
        let w = self.weight.tensor().detach();
        match &self.lora {
            None => Ok(w),
            Some(lora) => w + (lora.b.as_tensor().matmul(lora.a.as_tensor())? * lora.scale)?,
        }
    }

    /// Its trainable variables.
    pub fn vars(&self) -> Vec<Var> {
        let mut vars: Vec<Var> = self.weight.var().into_iter().cloned().collect();
        vars.extend(self.bias.iter().filter_map(|b| b.var()).cloned());
        if let Some(lora) = &self.lora {
            vars.push(lora.a.clone());
            vars.push(lora.b.clone());
        }
        vars
    }
}
