//! `evolve bench train`: training throughput and peak memory of each method on
//! a real model, with where a step's time goes.

use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use evolve_lm::bench::{peak_memory_mib, reset_peak_memory};

use crate::model::{Method, TrainModel};
use crate::optim::{AdamW, AdamWSettings};
use crate::sft::{SftExample, batch, batch_loss};

/// The workload: optimiser steps of `sequences` sequences of `tokens` tokens,
/// half prompt and half answer (the shape of an SFT row of a MAWPS solution).
#[derive(Debug, Clone, Copy)]
pub struct TrainBenchShape {
    /// Sequences per optimiser step (one forward pass).
    pub sequences: usize,
    /// Tokens per sequence.
    pub tokens: usize,
    /// Measured steps (after one warm-up step).
    pub steps: usize,
}

impl Default for TrainBenchShape {
    fn default() -> TrainBenchShape {
        TrainBenchShape {
            sequences: 4,
            tokens: 256,
            steps: 3,
        }
    }
}

/// One method's figures.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TrainBenchResult {
    /// The method, in words.
    pub method: String,
    /// Parameters trained.
    pub parameters: usize,
    /// Tokens through forward and backward per second.
    pub tokens_per_second: f64,
    /// Seconds per step: forward, backward, optimiser.
    pub forward_seconds: f64,
    /// See `forward_seconds`.
    pub backward_seconds: f64,
    /// See `forward_seconds`.
    pub optimizer_seconds: f64,
    /// Peak resident memory during the steps, MiB.
    pub peak_mib: Option<f64>,
}

/// Times SFT steps of `method` on the model at `path`.
pub fn run_sft(path: &Path, method: Method, shape: TrainBenchShape) -> Result<TrainBenchResult> {
    let mut model = TrainModel::load(path)?;
    model.prepare(method, 0)?;
    let vocab = model.config().vocab as u64;
    let mut rng = evolve_lm::Rng::new(0, 0);
    let examples: Vec<SftExample> = (0..shape.sequences)
        .map(|_| SftExample {
            // Ordinary tokens, clear of the special ones at the start of the vocabulary.
            tokens: (0..shape.tokens)
                .map(|_| 100 + (rng.uniform() * (vocab - 200) as f64) as u32)
                .collect(),
            trained_from: shape.tokens / 2,
        })
        .collect();
    let rows: Vec<&SftExample> = examples.iter().collect();
    let input = batch(&rows)?;
    let mut optimizer = AdamW::new(model.vars(), AdamWSettings::default())?;
    let (mut forward, mut backward, mut optimize) = (0.0, 0.0, 0.0);
    reset_peak_memory();
    for step in 0..=shape.steps {
        let t0 = Instant::now();
        let loss = batch_loss(&model, &input)?;
        let t1 = Instant::now();
        let grads = loss.backward()?;
        let t2 = Instant::now();
        optimizer.accumulate(&grads)?;
        drop(grads);
        optimizer.step(1e-5, Some(1.0))?;
        let t3 = Instant::now();
        if step > 0 {
            forward += (t1 - t0).as_secs_f64();
            backward += (t2 - t1).as_secs_f64();
            optimize += (t3 - t2).as_secs_f64();
        }
    }
    let steps = shape.steps as f64;
    let tokens = (shape.sequences * (shape.tokens - 1)) as f64 * steps;
    Ok(TrainBenchResult {
        method: describe(method),
        parameters: optimizer.parameters(),
        tokens_per_second: tokens / (forward + backward + optimize),
        forward_seconds: forward / steps,
        backward_seconds: backward / steps,
        optimizer_seconds: optimize / steps,
        peak_mib: peak_memory_mib(),
    })
}

/// A method in words.
pub fn describe(method: Method) -> String {
    match method {
        Method::Full => "full".into(),
        Method::Lora {
            rank,
            alpha,
            layers: 0,
        } => format!("LoRA r{rank} (alpha {alpha})"),
        Method::Lora {
            rank,
            alpha,
            layers,
        } => format!("LoRA r{rank} (alpha {alpha}) on the top {layers} blocks"),
        Method::TopLayers { layers } => format!("top {layers} layers"),
        Method::Frozen => "head only".into(),
    }
}
