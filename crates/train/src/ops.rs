//! The transformer's operations in forms candle can differentiate.
//!
//! candle's fast `rms_norm`, `rope_i`/`rope` and `softmax_last_dim` kernels have
//! no backward pass: gradients silently stop at them. These are written from
//! ops that have one (mul, sum, sqrt, exp, narrow, cat, matmul), and
//! `tests/gradients.rs` checks each against finite differences.

use candle_core::{CpuStorage, CustomOp1, D, DType, Device, Layout, Result, Shape, Tensor};

/// `x / sqrt(mean(x²) + eps) * weight` over the last dimension.
pub fn rms_norm(xs: &Tensor, weight: &Tensor, eps: f64) -> Result<Tensor> {
    let mean_square = xs.sqr()?.mean_keepdim(D::Minus1)?;
    let scale = (mean_square + eps)?.sqrt()?.recip()?;
    xs.broadcast_mul(&scale)?.broadcast_mul(weight)
}

/// Rotary positions on interleaved pairs `(x0, x1), (x2, x3), ...` (llama as
/// llama.cpp stores it). `xs` is `[batch, heads, seq, head_dim]`, `cos`/`sin`
/// `[seq, head_dim / 2]`.
pub fn rope_interleaved(xs: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    let (b, h, t, d) = xs.dims4()?;
    let pairs = xs.reshape((b, h, t, d / 2, 2))?;
    let x0 = pairs.narrow(4, 0, 1)?;
    let x1 = pairs.narrow(4, 1, 1)?;
    let cos = cos.reshape((1, 1, t, d / 2, 1))?;
    let sin = sin.reshape((1, 1, t, d / 2, 1))?;
    let r0 = (x0.broadcast_mul(&cos)? - x1.broadcast_mul(&sin)?)?;
    let r1 = (x0.broadcast_mul(&sin)? + x1.broadcast_mul(&cos)?)?;
    Tensor::cat(&[r0, r1], 4)?.reshape((b, h, t, d))
}

/// Rotary positions on the two halves of each head (Qwen2, HF's layout).
pub fn rope_halves(xs: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    let (_, _, t, d) = xs.dims4()?;
    let x1 = xs.narrow(3, 0, d / 2)?;
    let x2 = xs.narrow(3, d / 2, d / 2)?;
    let cos = cos.reshape((1, 1, t, d / 2))?;
    let sin = sin.reshape((1, 1, t, d / 2))?;
    let r1 = (x1.broadcast_mul(&cos)? - x2.broadcast_mul(&sin)?)?;
    let r2 = (x1.broadcast_mul(&sin)? + x2.broadcast_mul(&cos)?)?;
    Tensor::cat(&[r1, r2], 3)
}

/// Softmax over the last dimension, from exp and sum.
pub fn softmax(xs: &Tensor) -> Result<Tensor> {
    candle_nn::ops::softmax(xs, D::Minus1)
}

/// `[seq, seq]`: 0 where a query may see a key (at or before it), a large
/// negative number elsewhere. Right-padded batches need nothing more: real
/// tokens never look at the padding after them.
pub fn causal_mask(seq: usize, device: &Device) -> Result<Tensor> {
    let mask: Vec<f32> = (0..seq)
        .flat_map(|i| (0..seq).map(move |j| if j <= i { 0.0 } else { -1e9 }))
        .collect();
    Tensor::from_slice(&mask, (seq, seq), device)
}

/// Causal attention: `q` `[batch, heads, seq, d]`, `k`/`v` `[batch, kv_heads,
/// seq, d]` (each key/value head shared by `heads / kv_heads` query heads).
pub fn attention(q: &Tensor, k: &Tensor, v: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let (b, heads, t, d) = q.dims4()?;
    let kv_heads = k.dim(1)?;
    let group = heads / kv_heads;
    let expand = |x: &Tensor| -> Result<Tensor> {
        if group == 1 {
            return Ok(x.clone());
        }
        x.unsqueeze(2)?
            .broadcast_as((b, kv_heads, group, t, d))?
            .reshape((b, heads, t, d))
    };
    let (k, v) = (expand(k)?, expand(v)?);
    let scores = (q.matmul(&k.t()?)? / (d as f64).sqrt())?.broadcast_add(mask)?;
    softmax(&scores)?.matmul(&v)
}

/// Mean negative log-likelihood of `targets` under `logits` (`[n, vocab]`, `[n]`).
pub fn cross_entropy(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let log_probs = candle_nn::ops::log_softmax(logits, D::Minus1)?;
    let picked = log_probs.gather(&targets.to_dtype(DType::U32)?.unsqueeze(1)?, 1)?;
    picked.neg()?.mean_all()
}

/// `xs · Wᵀ` for a frozen `W` `[out, in]`, whose backward computes only the
/// input's gradient. candle's matmul backward always computes both sides', so
/// a frozen weight would cost a third more backward work and a weight-sized
/// gradient it then throws away.
pub fn frozen_matmul(xs: &Tensor, weight: &Tensor) -> Result<Tensor> {
    if !xs.track_op() {
        return xs.matmul(&weight.t()?);
    }
    xs.apply_op1(FrozenMatmul {
        weight: weight.clone(),
    })
}

struct FrozenMatmul {
    weight: Tensor,
}

impl CustomOp1 for FrozenMatmul {
    fn name(&self) -> &'static str {
        "frozen-matmul"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let xs = cpu_tensor(storage, layout)?;
        let ys = xs.matmul(&self.weight.t()?)?;
        let shape = ys.shape().clone();
        let (storage, layout) = ys.storage_and_layout();
        match &*storage {
            candle_core::Storage::Cpu(cpu) => Ok((contiguous_copy(cpu, layout)?, shape)),
            _ => candle_core::bail!("frozen-matmul runs on the CPU"),
        }
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(grad.matmul(&self.weight)?))
    }
}

/// The storage's elements under `layout` as a fresh tensor.
fn cpu_tensor(storage: &CpuStorage, layout: &Layout) -> Result<Tensor> {
    let device = Device::Cpu;
    match storage {
        CpuStorage::F32(data) => match layout.contiguous_offsets() {
            Some((start, end)) => Tensor::from_slice(&data[start..end], layout.shape(), &device),
            None => candle_core::bail!("frozen-matmul needs a contiguous input"),
        },
        CpuStorage::F64(data) => match layout.contiguous_offsets() {
            Some((start, end)) => Tensor::from_slice(&data[start..end], layout.shape(), &device),
            None => candle_core::bail!("frozen-matmul needs a contiguous input"),
        },
        _ => candle_core::bail!("frozen-matmul takes f32 or f64"),
    }
}

fn contiguous_copy(storage: &CpuStorage, layout: &Layout) -> Result<CpuStorage> {
    let Some((start, end)) = layout.contiguous_offsets() else {
        candle_core::bail!("frozen-matmul made a non-contiguous result");
    };
    Ok(match storage {
        CpuStorage::F32(data) => CpuStorage::F32(data[start..end].to_vec()),
        CpuStorage::F64(data) => CpuStorage::F64(data[start..end].to_vec()),
        _ => candle_core::bail!("frozen-matmul takes f32 or f64"),
    })
}
