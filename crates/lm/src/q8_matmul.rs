//! Q8_0 weights times a few rows of activations, for x86 CPUs with AVX2 but no
//! VNNI, where candle's Q8_0 kernel runs at 12-19 GFLOP/s whatever the row count.
//!
//! candle takes one (weight row, activation row) dot product at a time, with one
//! accumulator (each block's multiply-add waits on the previous one) and two f16
//! scale conversions a block. Here weights are quantised as Q8_0 (blocks of 32
//! int8 values with one scale) but with f32 scales, stored four output rows
//! interleaved block by block, and a tile of 4 weight rows x [`TILE_ROWS`]
//! activation rows is computed at once: each weight block is read once for the
//! tile's activation rows, and the tile's 8 accumulators are independent.
//!
//! Activations are quantised per 32-value block to int8, as ggml and candle do for
//! Q8_0, so results agree with candle's Q8_0 kernel up to rounding of the scales.

use candle_core::Tensor;

/// Values a block, as Q8_0.
const BLOCK: usize = 32;
/// Weight rows interleaved in one group.
const GROUP: usize = 4;
/// Activation rows a tile (but 1 for a single row).
const TILE_ROWS: usize = 2;

/// A `rows x cols` weight matrix in Q8_0 with f32 scales, four rows interleaved.
#[derive(Debug)]
pub struct Q8Matrix {
    rows: usize,
    cols: usize,
    /// Group `g`, block `b`, row `r` of the group: 32 values at
    /// `((g * blocks + b) * GROUP + r) * BLOCK`.
    quants: Vec<i8>,
    /// The matching scale at `(g * blocks + b) * GROUP + r`.
    scales: Vec<f32>,
}

/// Whether [`Q8Matrix::matmul`] runs its AVX2 kernel on this CPU.
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

impl Q8Matrix {
    /// Quantises a row-major `rows x cols` f32 matrix; `cols` must be a multiple of 32.
    pub fn quantize(weights: &[f32], rows: usize, cols: usize) -> Q8Matrix {
        assert!(
            cols.is_multiple_of(BLOCK),
            "{cols} columns is not a multiple of {BLOCK}"
        );
        assert_eq!(weights.len(), rows * cols);
        let blocks = cols / BLOCK;
        let groups = rows.div_ceil(GROUP);
        let mut quants = vec![0i8; groups * GROUP * cols];
        let mut scales = vec![0f32; groups * GROUP * blocks];
        for row in 0..rows {
            let (g, r) = (row / GROUP, row % GROUP);
            for b in 0..blocks {
                let at = (g * blocks + b) * GROUP + r;
                let values = &weights[row * cols + b * BLOCK..][..BLOCK];
                scales[at] = quantize_block(values, &mut quants[at * BLOCK..][..BLOCK]);
            }
        }
        Q8Matrix {
            rows,
            cols,
            quants,
            scales,
        }
    }

    /// `xs W^T` for `xs` of shape `[m, cols]` (f32, on the CPU).
    pub fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let (m, cols) = xs.dims2()?;
        if cols != self.cols {
            candle_core::bail!(
                "q8 matmul: input has {cols} columns, the weight {}",
                self.cols
            );
        }
        let input = xs.flatten_all()?.to_vec1::<f32>()?;
        let mut out = vec![0f32; m * self.rows];
        self.matmul(&input, m, &mut out);
        Tensor::from_vec(out, (m, self.rows), xs.device())
    }

    /// `out[i, j] = sum_k input[i, k] * W[j, k]` for `m` rows of `input`.
    pub fn matmul(&self, input: &[f32], m: usize, out: &mut [f32]) {
        assert_eq!(input.len(), m * self.cols);
        assert_eq!(out.len(), m * self.rows);
        let blocks = self.cols / BLOCK;
        let mut act_quants = vec![0i8; m * self.cols];
        let mut act_scales = vec![0f32; m * blocks];
        for (i, row) in input.chunks_exact(self.cols).enumerate() {
            for b in 0..blocks {
                act_scales[i * blocks + b] = quantize_block(
                    &row[b * BLOCK..][..BLOCK],
                    &mut act_quants[(i * self.cols + b * BLOCK)..][..BLOCK],
                );
            }
        }
        let acts = Activations {
            quants: &act_quants,
            scales: &act_scales,
            rows: m,
        };
        let out = SharedOut(out.as_mut_ptr());
        // One row (decoding a single sequence) would waste half of a 2-row tile.
        if m == 1 {
            self.matmul_tiles::<1>(&acts, &out);
        } else {
            self.matmul_tiles::<TILE_ROWS>(&acts, &out);
        }
    }

    /// Every tile of `T` activation rows x one group of weight rows, the groups
    /// shared among candle's worker threads.
    fn matmul_tiles<const T: usize>(&self, acts: &Activations, out: &SharedOut) {
        let m = acts.rows;
        let groups = self.rows.div_ceil(GROUP);
        let use_avx2 = available();
        candle_core::utils::barrier_pool().execute_chunked(groups, |range| {
            for g in range {
                for first in (0..m).step_by(T) {
                    let n = T.min(m - first);
                    let mut tile = [[0f32; GROUP]; T];
                    match use_avx2 {
                        // SAFETY: AVX2 and FMA were detected above.
                        #[cfg(target_arch = "x86_64")]
                        true => unsafe { self.tile_avx2(g, acts, first, n, &mut tile) },
                        _ => self.tile_scalar(g, acts, first, n, &mut tile),
                    }
                    for (t, sums) in tile.iter().enumerate().take(n) {
                        for (r, &sum) in sums.iter().enumerate() {
                            let row = g * GROUP + r;
                            if row < self.rows {
                                // SAFETY: each (activation row, weight row) pair
                                // belongs to exactly one group and one tile, so no
                                // two workers write the same element, and the index
                                // is inside `out` (`matmul` asserts its length).
                                unsafe { *out.0.add((first + t) * self.rows + row) = sum };
                            }
                        }
                    }
                }
            }
        });
    }

    /// The reference: the same integer sums and scales, without SIMD.
    fn tile_scalar<const T: usize>(
        &self,
        g: usize,
        acts: &Activations,
        first: usize,
        n: usize,
        tile: &mut [[f32; GROUP]; T],
    ) {
        let blocks = self.cols / BLOCK;
        for b in 0..blocks {
            for r in 0..GROUP {
                let at = (g * blocks + b) * GROUP + r;
                let w = &self.quants[at * BLOCK..][..BLOCK];
                for (t, sums) in tile.iter_mut().enumerate().take(n) {
                    let i = first + t;
                    let a = &acts.quants[i * self.cols + b * BLOCK..][..BLOCK];
                    let dot: i32 = w.iter().zip(a).map(|(&w, &a)| w as i32 * a as i32).sum();
                    sums[r] += dot as f32 * (self.scales[at] * acts.scales[i * blocks + b]);
                }
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn tile_avx2<const T: usize>(
        &self,
        g: usize,
        acts: &Activations,
        first: usize,
        n: usize,
        tile: &mut [[f32; GROUP]; T],
    ) {
        use std::arch::x86_64::*;
        // SAFETY: every block read is inside the group's and the rows' data.
        unsafe {
            let blocks = self.cols / BLOCK;
            let ones = _mm256_set1_epi16(1);
            let mut acc = [[_mm256_setzero_ps(); GROUP]; T];
            // A short tile reads its last row twice and drops it: no branch in the loop.
            let rows: [usize; T] = std::array::from_fn(|t| first + t.min(n - 1));
            let wq = self.quants.as_ptr().add(g * blocks * GROUP * BLOCK);
            let ws = self.scales.as_ptr().add(g * blocks * GROUP);
            for b in 0..blocks {
                let w: [__m256i; GROUP] = std::array::from_fn(|r| {
                    _mm256_loadu_si256(wq.add((b * GROUP + r) * BLOCK) as *const __m256i)
                });
                let w_abs: [__m256i; GROUP] = std::array::from_fn(|r| _mm256_abs_epi8(w[r]));
                for t in 0..T {
                    let i = rows[t];
                    let a = _mm256_loadu_si256(
                        acts.quants.as_ptr().add(i * self.cols + b * BLOCK) as *const __m256i
                    );
                    let a_scale = *acts.scales.get_unchecked(i * blocks + b);
                    for r in 0..GROUP {
                        // |w| * (a with w's sign) = w * a, in the unsigned x signed form
                        // maddubs takes; |w| <= 127 keeps the pair sums inside i16.
                        let products = _mm256_maddubs_epi16(w_abs[r], _mm256_sign_epi8(a, w[r]));
                        let sums = _mm256_cvtepi32_ps(_mm256_madd_epi16(products, ones));
                        let scale = _mm256_set1_ps(*ws.add(b * GROUP + r) * a_scale);
                        acc[t][r] = _mm256_fmadd_ps(sums, scale, acc[t][r]);
                    }
                }
            }
            for t in 0..n {
                for r in 0..GROUP {
                    tile[t][r] = hsum(acc[t][r]);
                }
            }
        }
    }
}

/// Quantised activation rows.
struct Activations<'a> {
    quants: &'a [i8],
    scales: &'a [f32],
    rows: usize,
}

/// The output buffer, written by several workers at disjoint indices.
struct SharedOut(*mut f32);
// SAFETY: see the write in `matmul`: workers write disjoint elements.
unsafe impl Sync for SharedOut {}

/// Quantises 32 values to int8 with one scale (`max |x| / 127`), as Q8_0 does.
fn quantize_block(values: &[f32], out: &mut [i8]) -> f32 {
    let max = values.iter().fold(0f32, |m, v| m.max(v.abs()));
    let scale = max / 127.0;
    let inverse = if scale == 0.0 { 0.0 } else { 1.0 / scale };
    for (q, v) in out.iter_mut().zip(values) {
        *q = (v * inverse).round() as i8;
    }
    scale
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn hsum(v: std::arch::x86_64::__m256) -> f32 {
    use std::arch::x86_64::*;
    let pair = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let pair = _mm_add_ps(pair, _mm_movehl_ps(pair, pair));
    _mm_cvtss_f32(_mm_add_ss(pair, _mm_shuffle_ps(pair, pair, 1)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
    use candle_core::{Device, Module};

    fn random(len: usize, seed: u64) -> Vec<f32> {
        let mut state = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..len)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    fn exact(input: &[f32], weights: &[f32], m: usize, n: usize, k: usize) -> Vec<f32> {
        let mut out = vec![0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                out[i * n + j] = (0..k).map(|c| input[i * k + c] * weights[j * k + c]).sum();
            }
        }
        out
    }

    /// Largest difference relative to the largest magnitude of `want`.
    fn relative_error(got: &[f32], want: &[f32]) -> f32 {
        let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
        got.iter()
            .zip(want)
            .fold(0f32, |m, (g, w)| m.max((g - w).abs()))
            / scale
    }

    #[test]
    fn every_row_count_and_ragged_rows_match_f32_and_candle_q8_0() {
        // 13 output rows: the last group has one real row; 5 blocks of columns.
        let (n, k) = (13, 160);
        let weights = random(n * k, 1);
        let matrix = Q8Matrix::quantize(&weights, n, k);
        let w = Tensor::from_vec(weights.clone(), (n, k), &Device::Cpu).unwrap();
        let candle =
            QMatMul::from_qtensor(QTensor::quantize(&w, GgmlDType::Q8_0).unwrap()).unwrap();
        for m in [1, 2, 3, 5, 8, 17] {
            let input = random(m * k, 100 + m as u64);
            let mut got = vec![f32::NAN; m * n];
            matrix.matmul(&input, m, &mut got);
            let want = exact(&input, &weights, m, n, k);
            assert!(
                relative_error(&got, &want) < 0.02,
                "m={m}: {got:?} vs {want:?}"
            );
            let xs = Tensor::from_vec(input.clone(), (m, k), &Device::Cpu).unwrap();
            let reference: Vec<f32> = candle
                .forward(&xs)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            assert!(
                relative_error(&got, &reference) < 0.005,
                "m={m}: vs candle's Q8_0"
            );
            let through_tensor: Vec<f32> = matrix
                .forward(&xs)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            assert_eq!(through_tensor, got);
        }
    }

    #[test]
    fn the_simd_tile_equals_the_scalar_tile() {
        if !available() {
            return;
        }
        let (n, k) = (8, 96);
        let matrix = Q8Matrix::quantize(&random(n * k, 7), n, k);
        let input = random(3 * k, 8);
        let mut quants = vec![0i8; 3 * k];
        let mut scales = vec![0f32; 3 * k / BLOCK];
        for (c, chunk) in input.chunks_exact(BLOCK).enumerate() {
            scales[c] = quantize_block(chunk, &mut quants[c * BLOCK..][..BLOCK]);
        }
        let acts = Activations {
            quants: &quants,
            scales: &scales,
            rows: 3,
        };
        for (first, count) in [(0, 2), (2, 1)] {
            for g in 0..2 {
                let mut simd = [[0f32; GROUP]; TILE_ROWS];
                let mut scalar = [[0f32; GROUP]; TILE_ROWS];
                #[cfg(target_arch = "x86_64")]
                unsafe {
                    matrix.tile_avx2(g, &acts, first, count, &mut simd)
                };
                matrix.tile_scalar(g, &acts, first, count, &mut scalar);
                for t in 0..TILE_ROWS {
                    for r in 0..GROUP {
                        let (s, c) = (simd[t][r], scalar[t][r]);
                        assert!((s - c).abs() <= 1e-5 * c.abs().max(1.0), "{s} vs {c}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_row_gives_the_same_bits_alone_and_in_any_batch() {
        // The search relies on this: a tree is the same whichever trees share
        // its batches.
        let (n, k) = (9, 64);
        let matrix = Q8Matrix::quantize(&random(n * k, 3), n, k);
        let input = random(5 * k, 4);
        let mut batch = vec![0f32; 5 * n];
        matrix.matmul(&input, 5, &mut batch);
        for i in 0..5 {
            let mut alone = vec![0f32; n];
            matrix.matmul(&input[i * k..][..k], 1, &mut alone);
            assert_eq!(alone, batch[i * n..][..n], "row {i}");
        }
    }

    #[test]
    fn all_zero_blocks_give_zero() {
        let matrix = Q8Matrix::quantize(&[0.0; 64], 2, 32);
        let mut out = [1.0; 4];
        matrix.matmul(&[0.5; 64], 2, &mut out);
        assert_eq!(out, [0.0; 4]);
    }
}
