//! The transformer's operations in forms candle can differentiate.
//!
//! candle's fast `rms_norm`, `rope_i`/`rope` and `softmax_last_dim` kernels have
//! no backward pass: gradients silently stop at them. Rotary positions and the
//! loss are written from ops that have one (mul, narrow, cat, exp, gather);
//! attention and RMSNorm are single ops with their own backward (`fused`).
//! `tests/gradients.rs` checks all of them against finite differences.

use candle_core::{CpuStorage, CustomOp1, D, DType, Device, Layout, Result, Shape, Tensor};

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

/// `[seq, seq]`: 0 where a query may see a key (at or before it), a large
/// negative number elsewhere. Right-padded batches need nothing more: real
/// tokens never look at the padding after them.
pub fn causal_mask(seq: usize, device: &Device) -> Result<Tensor> {
    let mask: Vec<f32> = (0..seq)
        .flat_map(|i| (0..seq).map(move |j| if j <= i { 0.0 } else { -1e9 }))
        .collect();
    Tensor::from_slice(&mask, (seq, seq), device)
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
        into_storage(&xs.matmul(&self.weight.t()?)?)
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(grad.matmul(&self.weight)?))
    }
}

/// The storage's elements under `layout` as a fresh tensor.
pub(crate) fn cpu_tensor(storage: &CpuStorage, layout: &Layout) -> Result<Tensor> {
    let device = Device::Cpu;
    match storage {
        CpuStorage::F32(data) => match layout.contiguous_offsets() {
            Some((start, end)) => Tensor::from_slice(&data[start..end], layout.shape(), &device),
            None => candle_core::bail!("a fused op needs contiguous inputs"),
        },
        CpuStorage::F64(data) => match layout.contiguous_offsets() {
            Some((start, end)) => Tensor::from_slice(&data[start..end], layout.shape(), &device),
            None => candle_core::bail!("a fused op needs contiguous inputs"),
        },
        _ => candle_core::bail!("fused ops take f32 or f64"),
    }
}

pub(crate) fn contiguous_copy(storage: &CpuStorage, layout: &Layout) -> Result<CpuStorage> {
    let Some((start, end)) = layout.contiguous_offsets() else {
        candle_core::bail!("a fused op made a non-contiguous result");
    };
    Ok(match storage {
        CpuStorage::F32(data) => CpuStorage::F32(data[start..end].to_vec()),
        CpuStorage::F64(data) => CpuStorage::F64(data[start..end].to_vec()),
        _ => candle_core::bail!("fused ops take f32 or f64"),
    })
}

/// A computed tensor's elements as a fresh storage, for a custom op's result.
pub(crate) fn into_storage(tensor: &Tensor) -> Result<(CpuStorage, Shape)> {
    let tensor = tensor.contiguous()?;
    let shape = tensor.shape().clone();
    let (storage, layout) = tensor.storage_and_layout();
    match &*storage {
        candle_core::Storage::Cpu(cpu) => Ok((contiguous_copy(cpu, layout)?, shape)),
        _ => candle_core::bail!("fused ops run on the CPU"),
    }
}
