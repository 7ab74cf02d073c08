//! A linear layer and the kernel its weights are held for: candle's quantised
//! kernels (as stored, Q8_0, Q8_0 padded for VNNI), f32 GEMM, or our AVX2 Q8_0
//! kernel ([`crate::q8_matmul`]), chosen by [`WeightFormat`] and the CPU.

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Device, Module, Tensor};

use crate::error::{CandleContext, Result};
use crate::q8_matmul::{self, Q8Matrix};

/// How weights are held in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WeightFormat {
    /// As stored in the file (Q4_1 for the default model).
    AsStored,
    /// Requantised to Q8_0 on candle's standard kernel: closer to f32 than `Auto`, slower.
    Q8_0,
    /// Dequantised to f32: the most exact, and the most memory.
    F32,
    /// The fastest here. Where the CPU has VNNI: Q8_0 padded to 256-wide rows so
    /// candle's repacked VNNI kernel runs (8-10x the standard one; its coarser
    /// activation quantisation about doubles the logit error of `Q8_0`). Elsewhere:
    /// Q8_0 for a few rows (on our AVX2 kernel, [`crate::q8_matmul`], where the CPU
    /// has AVX2), plus an f32 copy for batches of [`DENSE_ROWS`] or more
    /// ([`DENSE_ROWS_AVX2`] with our kernel).
    #[default]
    Auto,
}

/// Rows from which [`WeightFormat::Auto`] uses its f32 copy rather than candle's
/// Q8_0 kernel.
pub const DENSE_ROWS: usize = 16;

/// Rows from which [`WeightFormat::Auto`] uses its f32 copy rather than our AVX2
/// Q8_0 kernel: that kernel does 50-80 GFLOP/s at 1-256 rows on a 2-core AVX2
/// CPU, f32 GEMM 10-25 up to 16 rows and 65-105 from 64.
pub const DENSE_ROWS_AVX2: usize = 64;

impl std::str::FromStr for WeightFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "stored" | "as-stored" => Ok(WeightFormat::AsStored),
            "q8_0" | "q8" => Ok(WeightFormat::Q8_0),
            "f32" => Ok(WeightFormat::F32),
            "auto" => Ok(WeightFormat::Auto),
            other => Err(format!(
                "unknown weight format {other:?} (auto, q8_0, f32 or stored)"
            )),
        }
    }
}

/// The quantised form of a layer's weight, and the kernel that multiplies it.
#[derive(Debug)]
enum QuantWeight {
    /// candle's kernels (as stored, Q8_0, padded Q8_0 for VNNI, or f32).
    Candle(QMatMul),
    /// Our row-blocked Q8_0 kernel, for AVX2 CPUs without VNNI.
    Avx2(Q8Matrix),
}

/// A linear layer `x W^T + b`, with an optional f32 copy of `W` for many rows.
#[derive(Debug)]
pub(crate) struct Linear {
    weight: QuantWeight,
    /// Input width of the layer as the model defines it.
    in_features: usize,
    /// Zero columns appended to a Q8_0 `weight` (see [`vnni_padding`]).
    pad: usize,
    dense: Option<Tensor>,
    bias: Option<Tensor>,
}

impl Linear {
    /// `xs` padded with zero columns as this layer's weight is, so several layers
    /// reading the same input can share one padded copy.
    pub(crate) fn padded(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        fit(xs, self.in_features + self.pad)
    }

    /// The layer with a bias added to its output.
    pub(crate) fn with_bias(self, bias: Option<Tensor>) -> Linear {
        Linear { bias, ..self }
    }

    /// Which kernel multiplies this layer's weight, in words (for benchmarks).
    pub(crate) fn kernel(&self) -> String {
        let quantised = match &self.weight {
            QuantWeight::Avx2(_) => "Q8_0 on evolve's AVX2 kernel".to_owned(),
            QuantWeight::Candle(QMatMul::QTensor(t)) if self.pad > 0 => {
                format!("{:?} padded for candle's VNNI kernel", t.dtype())
            }
            QuantWeight::Candle(QMatMul::QTensor(t)) => {
                format!("{:?} on candle's kernel", t.dtype())
            }
            QuantWeight::Candle(QMatMul::Tensor(_)) => "f32 GEMM".to_owned(),
            QuantWeight::Candle(QMatMul::TensorF16(_)) => "f16 GEMM".to_owned(),
        };
        match self.dense {
            Some(_) => format!("{quantised}, f32 from {} rows", self.dense_rows()),
            None => quantised,
        }
    }

    /// Rows from which the f32 copy is faster than the quantised kernel.
    fn dense_rows(&self) -> usize {
        match self.weight {
            QuantWeight::Candle(_) => DENSE_ROWS,
            QuantWeight::Avx2(_) => DENSE_ROWS_AVX2,
        }
    }

    pub(crate) fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let ys = match &self.dense {
            Some(w) if xs.dim(0)? >= self.dense_rows() => {
                fit(xs, self.in_features)?.matmul(&w.t()?)?
            }
            _ => match &self.weight {
                QuantWeight::Candle(w) => w.forward(&self.padded(xs)?)?,
                QuantWeight::Avx2(w) => w.forward(&self.padded(xs)?)?,
            },
        };
        match &self.bias {
            Some(b) => ys.broadcast_add(b),
            None => Ok(ys),
        }
    }

    /// The layer of weight `qtensor` (named `name` in errors), held as `format` says.
    pub(crate) fn load(
        qtensor: QTensor,
        format: WeightFormat,
        device: &Device,
        name: &str,
    ) -> Result<Linear> {
        let (rows, cols) = qtensor.shape().dims2().context(name)?;
        let pad = match format {
            WeightFormat::Auto => vnni_padding(rows, cols),
            _ => 0,
        };
        let without_vnni = format == WeightFormat::Auto && !vnni_available();
        // The f32 copy only pays where the padded Q8_0 kernel cannot run.
        let dense = if without_vnni {
            Some(qtensor.dequantize(device).context(name)?)
        } else {
            None
        };
        let weight = if pad > 0 {
            let w = qtensor.dequantize(device).context(name)?;
            let zeros = Tensor::zeros((rows, pad), w.dtype(), device).context(name)?;
            let padded = Tensor::cat(&[&w, &zeros], 1).context(name)?;
            QuantWeight::Candle(
                QMatMul::from_qtensor(QTensor::quantize(&padded, GgmlDType::Q8_0).context(name)?)
                    .context(name)?,
            )
        } else if let Some(w) = dense
            .as_ref()
            .filter(|_| device.is_cpu() && q8_matmul::available() && cols.is_multiple_of(32))
        {
            let values = w
                .flatten_all()
                .and_then(|w| w.to_vec1::<f32>())
                .context(name)?;
            QuantWeight::Avx2(Q8Matrix::quantize(&values, rows, cols))
        } else {
            QuantWeight::Candle(quantized_weight(qtensor, format, device, name)?)
        };
        Ok(Linear {
            weight,
            in_features: cols,
            pad,
            dense,
            bias: None,
        })
    }
}

/// `xs` with exactly `width` columns: zero columns added, or padding dropped.
fn fit(xs: &Tensor, width: usize) -> candle_core::Result<Tensor> {
    let (rows, have) = xs.dims2()?;
    match have.cmp(&width) {
        std::cmp::Ordering::Equal => Ok(xs.clone()),
        std::cmp::Ordering::Greater => xs.narrow(1, 0, width),
        std::cmp::Ordering::Less => {
            let zeros = Tensor::zeros((rows, width - have), xs.dtype(), xs.device())?;
            Tensor::cat(&[xs, &zeros], 1)
        }
    }
}

/// `qtensor` for one of candle's kernels, held as `format` says.
fn quantized_weight(
    qtensor: QTensor,
    format: WeightFormat,
    device: &Device,
    name: &str,
) -> Result<QMatMul> {
    let qtensor = match format {
        WeightFormat::AsStored => qtensor,
        WeightFormat::F32 => {
            return Ok(QMatMul::Tensor(qtensor.dequantize(device).context(name)?));
        }
        WeightFormat::Q8_0 | WeightFormat::Auto if qtensor.dtype() == GgmlDType::Q8_0 => qtensor,
        WeightFormat::Q8_0 | WeightFormat::Auto => {
            let dense = qtensor.dequantize(device).context(name)?;
            QTensor::quantize(&dense, GgmlDType::Q8_0).context(name)?
        }
    };
    QMatMul::from_qtensor(qtensor).context(name)
}

/// Whether candle's repacked Q8_0 kernels (AVX-512 VNNI or AVX-VNNI) run here.
fn vnni_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        (is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512vnni"))
            || (is_x86_feature_detected!("avxvnni") && is_x86_feature_detected!("avx2"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Zero columns to append to a `rows x cols` Q8_0 weight so that candle takes its
/// repacked VNNI kernel, which needs `cols` a multiple of 256 (and `rows` of 16).
/// For SmolLM2's 576-wide layers that is 192 more columns, 33% more arithmetic for a
/// kernel 8-10x faster (`cargo run --release -p evolve-lm --example matmul`).
fn vnni_padding(rows: usize, cols: usize) -> usize {
    const QK_K: usize = 256;
    if !vnni_available() || !rows.is_multiple_of(16) || cols.is_multiple_of(QK_K) {
        return 0;
    }
    cols.next_multiple_of(QK_K) - cols
}
