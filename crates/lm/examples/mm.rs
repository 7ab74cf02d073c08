use candle_core::{DType, Device, Tensor};
use std::time::Instant;
fn main() -> candle_core::Result<()> {
    let d = Device::Cpu;
    for (b, k, n) in [
        (8usize, 576usize, 1536usize),
        (32, 576, 1536),
        (32, 576, 49152),
        (8, 576, 49152),
        (1, 576, 1536),
    ] {
        let x = Tensor::randn(0f32, 1., (b, k), &d)?;
        let w = Tensor::randn(0f32, 1., (n, k), &d)?;
        let wt = w.t()?.contiguous()?;
        let reps = 20;
        let t = Instant::now();
        for _ in 0..reps {
            let _ = x.matmul(&w.t()?)?;
        }
        let a = t.elapsed().as_secs_f64() / reps as f64;
        let t = Instant::now();
        for _ in 0..reps {
            let _ = w.matmul(&x.t()?)?.t()?.contiguous()?;
        }
        let bb = t.elapsed().as_secs_f64() / reps as f64;
        let t = Instant::now();
        for _ in 0..reps {
            let _ = x.matmul(&wt)?;
        }
        let c = t.elapsed().as_secs_f64() / reps as f64;
        let q =
            candle_core::quantized::QTensor::quantize(&w, candle_core::quantized::GgmlDType::Q8_0)?;
        let qm = candle_core::quantized::QMatMul::from_qtensor(q)?;
        let t = Instant::now();
        for _ in 0..reps {
            let _ = candle_core::Module::forward(&qm, &x)?;
        }
        let e = t.elapsed().as_secs_f64() / reps as f64;
        let flops = 2.0 * (b * k * n) as f64;
        println!(
            "b={b} k={k} n={n}: x@w.t {:.2}ms ({:.1} GF/s)  (w@x.t).t {:.2}ms ({:.1})  x@wt {:.2}ms ({:.1})  q8 {:.2}ms ({:.1})",
            a * 1e3,
            flops / a / 1e9,
            bb * 1e3,
            flops / bb / 1e9,
            c * 1e3,
            flops / c / 1e9,
            e * 1e3,
            flops / e / 1e9
        );
        let _ = DType::F32;
    }
    Ok(())
}
