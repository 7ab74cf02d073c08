//! The workloads of `evolve bench lm`: what tree search asks of the engine,
//! timed, with the same tree expansion run on candle-transformers' shipped
//! `quantized_llama` (one sequence at a time, re-reading the prefix) for a ratio.

use std::path::Path;
use std::time::Instant;

use candle_core::{Device, Tensor};
use candle_transformers::models::quantized_llama::ModelWeights;
use serde::Serialize;

use crate::engine::{Cursor, Engine, Expansion};
use crate::error::{CandleContext, Error, Result};
use crate::linear::WeightFormat;
use crate::model::argmax;
use crate::sampling::SamplingParams;

/// Sizes of the workloads (the defaults: 200-token prefixes, 8 x 32 tokens, 32 sequences).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct BenchShape {
    /// Tokens in each prompt/prefix.
    pub prefix_tokens: usize,
    /// Candidates per expansion.
    pub candidates: usize,
    /// Tokens generated per candidate.
    pub step_tokens: usize,
    /// Distinct prefixes in the cross-tree batch.
    pub prefixes: usize,
    /// Tokens in the single-sequence decode.
    pub decode_tokens: usize,
}

impl Default for BenchShape {
    fn default() -> Self {
        BenchShape {
            prefix_tokens: 200,
            candidates: 8,
            step_tokens: 32,
            prefixes: 4,
            decode_tokens: 64,
        }
    }
}

/// The figures `evolve bench lm` prints.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// Model file.
    pub model: String,
    /// How weights were held.
    pub weights: String,
    /// Compute threads.
    pub threads: usize,
    /// Workload sizes.
    pub shape: BenchShape,
    /// Seconds to load the model.
    pub load_seconds: f64,
    /// Prompt tokens per second, one 200-token prompt.
    pub prefill_tokens_per_second: f64,
    /// Generated tokens per second, one sequence.
    pub decode_tokens_per_second: f64,
    /// Generated tokens per second, k candidates from one cached prefix.
    pub tree_expansion_tokens_per_second: f64,
    /// Generated tokens per second, candidates over several prefixes at once.
    pub cross_tree_tokens_per_second: f64,
    /// The tree expansion on the shipped quantized_llama, tokens per second.
    pub reference_tree_expansion_tokens_per_second: Option<f64>,
    /// Ours over the reference on the tree expansion.
    pub tree_expansion_speedup: Option<f64>,
    /// Peak resident memory of the process, MiB.
    pub peak_memory_mib: Option<f64>,
    /// Seconds per phase (see [`crate::profile::PHASES`]) in the tree expansion.
    pub tree_expansion_profile: Vec<(String, f64)>,
    /// Seconds per phase in the cross-tree batch.
    pub cross_tree_profile: Vec<(String, f64)>,
}

fn profile_snapshot() -> Vec<(String, f64)> {
    crate::profile::PHASES
        .iter()
        .zip(crate::profile::seconds())
        .map(|(p, s)| (p.name().to_owned(), s))
        .collect()
}

/// A deterministic prompt of exactly `n` tokens, different for each `variant`.
fn prompt(engine: &Engine, n: usize, variant: usize) -> Result<Vec<u32>> {
    let base = format!(
        "Problem {variant}: A farmer has {} cows and buys {} more each week. Each cow gives {} litres of milk a day, \
         and milk sells for {} dollars a litre. Reason step by step about the farm's income, the cost of feed, the \
         price of new cows and the weeks needed to pay for a new barn, writing every intermediate result. ",
        12 + variant,
        3 + variant,
        7 + variant,
        2 + variant
    );
    let mut tokens = Vec::new();
    while tokens.len() < n {
        tokens.extend(engine.tokenizer().encode(&base)?);
    }
    tokens.truncate(n);
    Ok(tokens)
}

fn rate(tokens: usize, started: Instant) -> f64 {
    tokens as f64 / started.elapsed().as_secs_f64()
}

/// Runs every workload on the model at `path`; `reference` adds the quantized_llama run.
pub fn run(
    path: &Path,
    weights: WeightFormat,
    shape: BenchShape,
    reference: bool,
) -> Result<BenchReport> {
    let device = Device::Cpu;
    let started = Instant::now();
    let engine = Engine::load(path, weights, &device)?;
    let load_seconds = started.elapsed().as_secs_f64();
    let sampling = SamplingParams {
        temperature: 0.7,
        max_tokens: shape.step_tokens,
        ignore_eos: true,
        interject: None,
        seed: 1,
        ..Default::default()
    };

    // Prefill: one prompt from scratch.
    let prefix = prompt(&engine, shape.prefix_tokens, 0)?;
    let started = Instant::now();
    let (_, nodes) = engine.feed(&[engine.start(prefix.clone())?])?;
    let prefill_tokens_per_second = rate(shape.prefix_tokens, started);

    // Single-sequence decode from the cached prefix.
    let cached = Cursor {
        node: nodes[0].clone(),
        pending: vec![prefix[prefix.len() - 1]],
    };
    let decode = SamplingParams {
        max_tokens: shape.decode_tokens,
        ..sampling.clone()
    };
    let started = Instant::now();
    engine.expand(
        &[Expansion {
            cursor: cached.clone(),
            candidates: 1,
            seed: None,
        }],
        &decode,
        None,
    )?;
    let decode_tokens_per_second = rate(shape.decode_tokens, started);

    // Tree expansion: k candidates from one cached prefix.
    crate::profile::reset();
    let started = Instant::now();
    engine.expand(
        &[Expansion {
            cursor: cached.clone(),
            candidates: shape.candidates,
            seed: None,
        }],
        &sampling,
        None,
    )?;
    let tree_expansion_tokens_per_second = rate(shape.candidates * shape.step_tokens, started);
    let tree_expansion_profile = profile_snapshot();

    // Cross-tree batch: candidates over several different cached prefixes at once.
    let mut cursors = Vec::new();
    for variant in 0..shape.prefixes {
        let tokens = prompt(&engine, shape.prefix_tokens, variant + 1)?;
        let (_, nodes) = engine.feed(&[engine.start(tokens.clone())?])?;
        cursors.push(Expansion {
            cursor: Cursor {
                node: nodes[0].clone(),
                pending: vec![tokens[tokens.len() - 1]],
            },
            candidates: shape.candidates,
            seed: None,
        });
    }
    crate::profile::reset();
    let started = Instant::now();
    engine.expand(&cursors, &sampling, None)?;
    let cross_tree_tokens_per_second = rate(
        shape.prefixes * shape.candidates * shape.step_tokens,
        started,
    );
    let cross_tree_profile = profile_snapshot();
    let peak_memory_mib = peak_memory_mib();

    let reference_rate = if reference {
        Some(reference_tree_expansion(path, &prefix, shape)?)
    } else {
        None
    };
    Ok(BenchReport {
        model: path.display().to_string(),
        weights: format!("{weights:?} ({})", engine.kernel()),
        threads: candle_core::utils::get_num_threads(),
        shape,
        load_seconds,
        prefill_tokens_per_second,
        decode_tokens_per_second,
        tree_expansion_tokens_per_second,
        cross_tree_tokens_per_second,
        reference_tree_expansion_tokens_per_second: reference_rate,
        tree_expansion_speedup: reference_rate.map(|r| tree_expansion_tokens_per_second / r),
        peak_memory_mib,
        tree_expansion_profile,
        cross_tree_profile,
    })
}

/// The tree expansion as one would write it with the shipped model: each
/// candidate re-reads the prefix, then decodes alone (weights as stored).
fn reference_tree_expansion(path: &Path, prefix: &[u32], shape: BenchShape) -> Result<f64> {
    let device = Device::Cpu;
    let fail = |e: candle_core::Error| Error::Model {
        path: path.to_owned(),
        message: format!("reference model: {e}"),
    };
    let mut file = std::fs::File::open(path).map_err(|e| Error::Model {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    let content = candle_core::quantized::gguf_file::Content::read(&mut file).map_err(fail)?;
    let mut model = ModelWeights::from_gguf(content, &mut file, &device).map_err(fail)?;
    let started = Instant::now();
    for _ in 0..shape.candidates {
        model.clear_kv_cache();
        let input = Tensor::new(prefix, &device)
            .and_then(|t| t.unsqueeze(0))
            .context("reference input")?;
        let mut logits = model.forward(&input, 0).map_err(fail)?;
        for i in 0..shape.step_tokens {
            let next = argmax(&logits)?[0];
            let input = Tensor::new(&[next], &device)
                .and_then(|t| t.unsqueeze(0))
                .context("reference input")?;
            logits = model.forward(&input, prefix.len() + i).map_err(fail)?;
        }
    }
    Ok(rate(shape.candidates * shape.step_tokens, started))
}

/// Resets the kernel's peak-RSS mark (Linux), so the next
/// [`peak_memory_mib`] reads the peak of what follows.
pub fn reset_peak_memory() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak resident set size from /proc (Linux), in MiB.
pub fn peak_memory_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}
