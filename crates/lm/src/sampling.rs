//! Choosing the next token: greedy, or temperature with top-k / top-p, from a seeded RNG.

use std::fmt;
use std::sync::Arc;

/// How tokens are drawn and when generation stops.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingParams {
    /// 0 for greedy decoding.
    pub temperature: f32,
    /// Keep the smallest set of tokens whose probability reaches this (1: all).
    pub top_p: f32,
    /// Keep only the k most likely tokens (0: all).
    pub top_k: usize,
    /// Most tokens generated per call.
    pub max_tokens: usize,
    /// Generation stops after any of these strings (kept in the output).
    pub stop: Vec<String>,
    /// Same seed, same request: same output.
    pub seed: u64,
    /// Keep generating past end-of-turn tokens (for benchmarks).
    pub ignore_eos: bool,
    /// Text written into completions instead of sampled (a calculator).
    pub interject: Option<Interject>,
}

/// Called with a completion's text each time it grows; the text it returns is
/// fed as the completion's next tokens instead of sampled ones, as a
/// calculator writes the result after `45 - 17 =`.
#[derive(Clone)]
pub struct Interject(pub Arc<dyn Fn(&str) -> Option<String> + Send + Sync>);

impl Interject {
    /// What to write after `text`, if anything.
    pub fn after(&self, text: &str) -> Option<String> {
        (self.0)(text)
    }
}

impl fmt::Debug for Interject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Interject(..)")
    }
}

impl PartialEq for Interject {
    fn eq(&self, other: &Interject) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Default for SamplingParams {
    fn default() -> Self {
        SamplingParams {
            temperature: 0.7,
            top_p: 0.95,
            top_k: 0,
            max_tokens: 256,
            stop: Vec::new(),
            seed: 0,
            ignore_eos: false,
            interject: None,
        }
    }
}

/// A small, fast, portable RNG (splitmix64): reproducible across machines and crate versions.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// An RNG for one stream, derived from a seed and a stream number.
    pub fn new(seed: u64, stream: u64) -> Rng {
        let mut rng = Rng(seed ^ stream.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        rng.next_u64();
        rng
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Picks a token from `logits` and returns it with its log-probability under the
/// model's own distribution (temperature 1, before top-k/top-p).
pub fn sample(logits: &[f32], params: &SamplingParams, rng: &mut Rng) -> (u32, f32) {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let log_norm = log_normaliser(logits, max);
    let greedy = || {
        logits
            .iter()
            .enumerate()
            .fold((0usize, f32::NEG_INFINITY), |best, (i, &l)| {
                if l > best.1 { (i, l) } else { best }
            })
            .0
    };
    let token = if params.temperature <= 0.0 {
        greedy()
    } else {
        let weights: Vec<f32> = logits
            .iter()
            .map(|&l| ((l - max) / params.temperature).exp())
            .collect();
        let mut candidates = nucleus(&weights, params.top_k, params.top_p);
        if candidates.is_empty() {
            candidates = weights.iter().copied().enumerate().collect();
        }
        let total: f32 = candidates.iter().map(|c| c.1).sum();
        let mut target = rng.uniform() as f32 * total;
        let mut chosen = candidates[candidates.len() - 1].0;
        for (i, weight) in &candidates {
            if target < *weight {
                chosen = *i;
                break;
            }
            target -= weight;
        }
        chosen
    };
    (token as u32, logits[token] - log_norm)
}

/// The log-probability of `token` under the model's own distribution.
pub fn log_probability(logits: &[f32], token: u32) -> f32 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    logits[token as usize] - log_normaliser(logits, max)
}

/// log(sum(exp(logits))), computed from the largest logit `max`.
fn log_normaliser(logits: &[f32], max: f32) -> f32 {
    max + logits.iter().map(|l| (l - max).exp()).sum::<f32>().ln()
}

/// The tokens top-k and top-p keep, most likely first; empty when both keep everything.
///
/// Sorting 50k weights per token is the slow part, so only the tokens within a
/// factor 1e-4 of the best are sorted first; when they already hold the nucleus
/// (almost always) the answer is exact without the full sort.
fn nucleus(weights: &[f32], top_k: usize, top_p: f32) -> Vec<(usize, f32)> {
    if top_k == 0 && top_p >= 1.0 {
        return Vec::new();
    }
    let total: f32 = weights.iter().sum();
    let sorted = |floor: f32| {
        let mut c: Vec<(usize, f32)> = weights
            .iter()
            .copied()
            .enumerate()
            .filter(|(_, w)| *w >= floor)
            .collect();
        c.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        c
    };
    let cut = |mut c: Vec<(usize, f32)>| -> Option<Vec<(usize, f32)>> {
        if top_k > 0 {
            c.truncate(top_k);
        }
        let kept: f32 = c.iter().map(|x| x.1).sum();
        let goal = if top_k > 0 {
            top_p.min(1.0) * kept
        } else {
            top_p * total
        };
        let mut cumulative = 0.0;
        let keep = c.iter().position(|x| {
            cumulative += x.1;
            cumulative >= goal
        })?;
        c.truncate(keep + 1);
        Some(c)
    };
    let max = weights.iter().copied().fold(0f32, f32::max);
    let head = sorted(max * 1e-4);
    // Exact when the head reaches the nucleus (or holds top-k whole tokens).
    let head_is_enough = (top_k > 0 && head.len() >= top_k)
        || head.iter().map(|x| x.1).sum::<f32>() >= top_p * total;
    if head_is_enough && let Some(c) = cut(head) {
        return c;
    }
    cut(sorted(f32::MIN)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_takes_the_argmax_with_its_logprob() {
        let params = SamplingParams {
            temperature: 0.0,
            ..Default::default()
        };
        let (tok, lp) = sample(&[0.0, 2.0, 1.0], &params, &mut Rng::new(0, 0));
        assert_eq!(tok, 1);
        let expected = 2.0 - (1f32 + 2f32.exp() + 1f32.exp()).ln();
        assert!((lp - expected).abs() < 1e-6);
    }

    #[test]
    fn same_seed_same_draws_and_top_k_limits_them() {
        let logits: Vec<f32> = (0..50).map(|i| i as f32 * 0.05).collect();
        let params = SamplingParams {
            temperature: 1.0,
            top_k: 3,
            ..Default::default()
        };
        let draw = |seed| {
            (0..20)
                .map(|s| sample(&logits, &params, &mut Rng::new(seed, s)).0)
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(1), draw(1));
        assert_ne!(draw(1), draw(2));
        let top: Vec<u32> = vec![47, 48, 49];
        assert!(draw(3).iter().all(|t| top.contains(t)), "{:?}", draw(3));
    }
}
