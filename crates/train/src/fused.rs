//! Attention and RMSNorm as single autograd ops with hand-written backward
//! passes. Built from candle's small ops, their backward keeps every
//! intermediate (scores, masked scores, maxima, exponentials, sums) and its
//! gradient alive until the whole backward ends: gigabytes at 512 tokens.
//! These keep only their inputs and recompute what backward needs.
//! `tests/gradients.rs` checks them against finite differences.

use candle_core::{CpuStorage, CustomOp2, CustomOp3, D, Layout, Result, Shape, Tensor};

use crate::ops::{causal_mask, cpu_tensor, into_storage};

/// Causal attention of `q` `[b, h, t, d]` over `k`, `v` `[b, h, t, d]`
/// (key/value heads already repeated for every query head).
pub fn attention(q: &Tensor, k: &Tensor, v: &Tensor) -> Result<Tensor> {
    let (_, _, t, d) = q.dims4()?;
    let op = Attention {
        mask: causal_mask(t, q.device())?.to_dtype(q.dtype())?,
        scale: 1.0 / (d as f64).sqrt(),
    };
    q.contiguous()?
        .apply_op3(&k.contiguous()?, &v.contiguous()?, op)
}

struct Attention {
    mask: Tensor,
    scale: f64,
}

impl Attention {
    fn probabilities(&self, q: &Tensor, k: &Tensor) -> Result<Tensor> {
        let scores = (q.matmul(&k.t()?)? * self.scale)?.broadcast_add(&self.mask)?;
        candle_nn::ops::softmax_last_dim(&scores)
    }
}

impl CustomOp3 for Attention {
    fn name(&self) -> &'static str {
        "fused-attention"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (q, k, v) = (
            cpu_tensor(s1, l1)?,
            cpu_tensor(s2, l2)?,
            cpu_tensor(s3, l3)?,
        );
        into_storage(&self.probabilities(&q, &k)?.matmul(&v)?)
    }

    fn bwd(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        _out: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (q, k, v, grad) = (q.detach(), k.detach(), v.detach(), grad.detach());
        let p = self.probabilities(&q, &k)?;
        let dv = p.t()?.matmul(&grad)?;
        let dp = grad.matmul(&v.t()?)?;
        // Softmax backward: dS = P ⊙ (dP − Σ_j dP ⊙ P).
        let ds = (&p * dp.broadcast_sub(&(&dp * &p)?.sum_keepdim(D::Minus1)?)?)?;
        let dq = (ds.matmul(&k)? * self.scale)?;
        let dk = (ds.t()?.matmul(&q)? * self.scale)?;
        Ok((Some(dq), Some(dk), Some(dv)))
    }
}

/// `x / sqrt(mean(x²) + eps) * weight` over the last dimension of `x` `[n, h]`.
pub fn rms_norm(xs: &Tensor, weight: &Tensor, eps: f64) -> Result<Tensor> {
    xs.contiguous()?
        .apply_op2(&weight.contiguous()?, RmsNorm { eps })
}

struct RmsNorm {
    eps: f64,
}

impl RmsNorm {
    /// `1 / sqrt(mean(x²) + eps)`, `[n, 1]`.
    fn inverse_rms(&self, xs: &Tensor) -> Result<Tensor> {
        (xs.sqr()?.mean_keepdim(D::Minus1)? + self.eps)?
            .sqrt()?
            .recip()
    }
}

impl CustomOp2 for RmsNorm {
    fn name(&self) -> &'static str {
        "fused-rms-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (xs, w) = (cpu_tensor(s1, l1)?, cpu_tensor(s2, l2)?);
        into_storage(
            &xs.broadcast_mul(&self.inverse_rms(&xs)?)?
                .broadcast_mul(&w)?,
        )
    }

    fn bwd(
        &self,
        xs: &Tensor,
        w: &Tensor,
        _out: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (xs, w, grad) = (xs.detach(), w.detach(), grad.detach());
        let r = self.inverse_rms(&xs)?;
        let normed = xs.broadcast_mul(&r)?;
        let g = grad.broadcast_mul(&w)?;
        // dx = r·g − x·r³·mean(g ⊙ x)
        let mean_gx = (&g * &xs)?.mean_keepdim(D::Minus1)?;
        let dx = (g.broadcast_mul(&r)? - xs.broadcast_mul(&(r.powf(3.0)? * mean_gx)?)?)?;
        let rows = grad.elem_count() / grad.dim(D::Minus1)?;
        let dw = (grad * normed)?.reshape((rows, w.elem_count()))?.sum(0)?;
        Ok((Some(dx), Some(dw)))
    }
}
