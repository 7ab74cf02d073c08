//! What `--weights auto` chooses between: the speed of one weight matrix of the
//! default model's MLP (1536 x 576) against 1 to 64 rows, with candle's standard
//! Q8_0 kernel, with the same matrix padded to 768 columns (which lets candle use
//! its repacked VNNI kernel on CPUs that have VNNI), with f32 GEMM, and with our
//! row-blocked AVX2 Q8_0 kernel (`evolve_lm::q8_matmul`, for CPUs without VNNI).
//!
//!     cargo run --release -p evolve-lm --example matmul

use std::time::Instant;

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Device, Module, Tensor};
use evolve_lm::q8_matmul::{self, Q8Matrix};

fn main() -> candle_core::Result<()> {
    let device = Device::Cpu;
    let (k, n) = (576, 1536);
    let w = Tensor::randn(0f32, 1., (n, k), &device)?;
    let q8 = QMatMul::from_qtensor(QTensor::quantize(&w, GgmlDType::Q8_0)?)?;
    let padded = Tensor::cat(&[&w, &Tensor::zeros((n, 192), w.dtype(), &device)?], 1)?;
    let q8_padded = QMatMul::from_qtensor(QTensor::quantize(&padded, GgmlDType::Q8_0)?)?;
    let ours = Q8Matrix::quantize(&w.flatten_all()?.to_vec1::<f32>()?, n, k);
    if !q8_matmul::available() {
        println!("(no AVX2 here: the last column is the scalar fallback)");
    }
    println!("rows  q8_0 GFLOP/s  q8_0 padded GFLOP/s  f32 GFLOP/s  ours (q8_0 avx2) GFLOP/s");
    for rows in [1usize, 2, 4, 8, 16, 32, 64, 128, 256] {
        let x = Tensor::randn(0f32, 1., (rows, k), &device)?;
        let time = |f: &dyn Fn() -> candle_core::Result<Tensor>| -> candle_core::Result<f64> {
            f()?;
            let reps = 50;
            let started = Instant::now();
            for _ in 0..reps {
                f()?;
            }
            Ok(started.elapsed().as_secs_f64() / reps as f64)
        };
        let flops = 2.0 * (rows * k * n) as f64;
        let x_padded = Tensor::cat(&[&x, &Tensor::zeros((rows, 192), x.dtype(), &device)?], 1)?;
        // Useful work only: the padded columns are zeros.
        let q = flops / time(&|| q8.forward(&x))? / 1e9;
        let p = flops / time(&|| q8_padded.forward(&x_padded))? / 1e9;
        let f = flops / time(&|| x.matmul(&w.t()?))? / 1e9;
        let o = flops / time(&|| ours.forward(&x))? / 1e9;
        println!("{rows:>4}  {q:>11.1}  {p:>19.1}  {f:>11.1}  {o:>23.1}");
    }
    Ok(())
}
