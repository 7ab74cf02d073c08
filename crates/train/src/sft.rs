//! Policy SFT: the SFT JSONL of `evolve export` tokenised through the model's
//! chat template, loss on the assistant's tokens only, AdamW with warmup and
//! cosine decay, gradient accumulation, a held-out slice scored each epoch.

use std::io::BufRead;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use candle_core::{Device, Tensor};
use evolve_lm::{ChatTemplate, Message, Tokenizer};
use serde::Deserialize;

use crate::model::TrainModel;
use crate::ops;
use crate::optim::{AdamW, AdamWSettings, Schedule};
use crate::progress::TrainProgress;
use evolve_lm::bench::{peak_memory_mib, reset_peak_memory};

/// One training sequence: the loss covers `tokens[trained_from..]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SftExample {
    /// Prompt and answer tokens.
    pub tokens: Vec<u32>,
    /// Index of the first answer token.
    pub trained_from: usize,
}

impl SftExample {
    /// Tokens whose prediction is trained.
    pub fn targets(&self) -> usize {
        self.tokens.len() - self.trained_from
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum SftRow {
    Messages { messages: Vec<RowMessage> },
    PromptCompletion { prompt: String, completion: String },
}

#[derive(Deserialize)]
struct RowMessage {
    role: String,
    content: String,
}

/// Reads SFT rows (`{"messages": [...]}` ending with the assistant's answer, or
/// `{"prompt", "completion"}` strings) into examples of at most `max_len`
/// tokens. Returns the examples and how many were cut to `max_len`.
///
/// A malformed line is an error naming the file and line.
pub fn read_sft(
    path: &Path,
    tokenizer: &Tokenizer,
    template: &ChatTemplate,
    max_len: usize,
) -> Result<(Vec<SftExample>, usize)> {
    let mut examples = Vec::new();
    let mut truncated = 0;
    let shape = "an SFT row ({\"messages\": [...]} or {\"prompt\", \"completion\"})";
    for_each_jsonl(path, shape, |at: &str, row: SftRow| {
        let at = || at.to_owned();
        let (prompt, answer) = match row {
            SftRow::Messages { messages } => {
                let messages: Vec<Message> = messages
                    .iter()
                    .map(|m| Message::new(&m.role, &m.content))
                    .collect();
                let Some((last, earlier)) = messages.split_last() else {
                    bail!("{}: no messages", at());
                };
                if last.role != "assistant" {
                    bail!(
                        "{}: the last message is from {:?}, not the assistant",
                        at(),
                        last.role
                    );
                }
                let prompt = template.render(earlier, true).with_context(at)?;
                let whole = template.render(&messages, false).with_context(at)?;
                let answer = whole
                    .strip_prefix(&prompt)
                    .map(str::to_owned)
                    .with_context(|| format!("{}: the chat template writes the answer's turn differently from the prompt's end", at()))?;
                (prompt, answer)
            }
            SftRow::PromptCompletion { prompt, completion } => (prompt, completion),
        };
        let mut tokens = tokenizer.encode(&prompt).with_context(at)?;
        let trained_from = tokens.len();
        tokens.extend(tokenizer.encode(&answer).with_context(at)?);
        if tokens.len() > max_len {
            truncated += 1;
            tokens.truncate(max_len);
        }
        // The first answer token is predicted from the prompt's last one.
        if trained_from >= tokens.len() || trained_from == 0 {
            bail!("{}: the prompt alone fills the {max_len}-token limit", at());
        }
        examples.push(SftExample {
            tokens,
            trained_from,
        });
        Ok(())
    })?;
    ensure!(!examples.is_empty(), "{} has no rows", path.display());
    Ok((examples, truncated))
}

/// Calls `visit` with each row of a JSONL file and its "FILE line N" label, in
/// order; blank lines are skipped, and a line that is not `shape` is an error
/// naming it.
pub(crate) fn for_each_jsonl<T: serde::de::DeserializeOwned>(
    path: &Path,
    shape: &str,
    mut visit: impl FnMut(&str, T) -> Result<()>,
) -> Result<()> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let at = format!("{} line {}", path.display(), n + 1);
        let line = line.with_context(|| at.clone())?;
        if line.trim().is_empty() {
            continue;
        }
        let row = serde_json::from_str(&line).with_context(|| format!("{at}: not {shape}"))?;
        visit(&at, row)?;
    }
    Ok(())
}

/// SFT settings.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SftSettings {
    /// Passes over the training rows.
    pub epochs: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Fraction of steps spent warming up.
    pub warmup: f64,
    /// Sequences per forward pass.
    pub batch_size: usize,
    /// Forward passes per optimiser step.
    pub grad_accum: usize,
    /// Gradient norm clip.
    pub clip: Option<f64>,
    /// Fraction of rows held out and scored each epoch.
    pub held_out: f64,
    /// Shuffling and split seed.
    pub seed: u64,
    /// AdamW's settings.
    pub adamw: AdamWSettings,
}

impl Default for SftSettings {
    fn default() -> SftSettings {
        SftSettings {
            epochs: 2,
            lr: 1e-4,
            warmup: 0.1,
            batch_size: 4,
            grad_accum: 2,
            clip: Some(1.0),
            held_out: 0.05,
            seed: 0,
            adamw: AdamWSettings::default(),
        }
    }
}

/// What a training run did.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TrainReport {
    /// Rows trained on.
    pub train_rows: usize,
    /// Rows held out.
    pub held_out_rows: usize,
    /// Optimiser steps.
    pub steps: usize,
    /// Trainable parameters.
    pub parameters: usize,
    /// Tokens through forward and backward (prompt and answer).
    pub tokens: usize,
    /// Seconds training (held-out scoring excluded).
    pub seconds: f64,
    /// `tokens / seconds`.
    pub tokens_per_second: f64,
    /// The held-out metric before training and after each epoch (SFT: loss;
    /// PPM: pair accuracy).
    pub held_out: Vec<f64>,
    /// Mean training loss of each epoch.
    pub train_loss: Vec<f64>,
    /// Peak resident memory, MiB (Linux).
    pub peak_mib: Option<f64>,
}

impl TrainReport {
    /// A report before the first step.
    pub fn new(train_rows: usize, held_out_rows: usize, parameters: usize) -> TrainReport {
        TrainReport {
            train_rows,
            held_out_rows,
            steps: 0,
            parameters,
            tokens: 0,
            seconds: 0.0,
            tokens_per_second: 0.0,
            held_out: Vec::new(),
            train_loss: Vec::new(),
            peak_mib: None,
        }
    }
}

/// Splits `n` rows into (train, held out) index lists, seeded; at least one
/// row is held out when `fraction > 0` and there are two rows or more.
pub fn split(n: usize, fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut order: Vec<usize> = (0..n).collect();
    shuffle(&mut order, seed);
    let held = if fraction > 0.0 && n >= 2 {
        ((n as f64 * fraction).round() as usize).clamp(1, n - 1)
    } else {
        0
    };
    let held_out = order.split_off(n - held);
    (order, held_out)
}

/// Fisher-Yates with the engine's RNG.
pub fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut rng = evolve_lm::Rng::new(seed, 7);
    for i in (1..items.len()).rev() {
        let j = (rng.uniform() * (i + 1) as f64) as usize;
        items.swap(i, j.min(i));
    }
}

/// A padded batch: tokens `[b, t]`, the rows of the flattened hidden states
/// whose next token is trained, and those tokens.
pub(crate) struct Batch {
    tokens: Tensor,
    rows: Tensor,
    targets: Tensor,
    real_tokens: usize,
}

pub(crate) fn batch(examples: &[&SftExample]) -> Result<Batch> {
    let t = examples.iter().map(|e| e.tokens.len()).max().unwrap_or(1) - 1;
    let mut tokens = Vec::with_capacity(examples.len() * t);
    let (mut rows, mut targets) = (Vec::new(), Vec::new());
    for (b, e) in examples.iter().enumerate() {
        let input = &e.tokens[..e.tokens.len() - 1];
        tokens.extend_from_slice(input);
        tokens.extend(std::iter::repeat_n(0, t - input.len()));
        for p in e.trained_from - 1..input.len() {
            rows.push((b * t + p) as u32);
            targets.push(e.tokens[p + 1]);
        }
    }
    let device = Device::Cpu;
    Ok(Batch {
        tokens: Tensor::from_vec(tokens, (examples.len(), t), &device)?,
        rows: Tensor::new(rows.as_slice(), &device)?,
        targets: Tensor::new(targets.as_slice(), &device)?,
        real_tokens: examples.iter().map(|e| e.tokens.len() - 1).sum(),
    })
}

/// Summed next-token loss of a batch's answer tokens.
pub(crate) fn batch_loss(model: &TrainModel, batch: &Batch) -> Result<Tensor> {
    let hidden = model.hidden(&batch.tokens)?;
    let hidden = hidden.reshape((hidden.dim(0)? * hidden.dim(1)?, hidden.dim(2)?))?;
    // Only the trained positions go through the vocabulary-wide head.
    let logits = model.logits(&hidden.index_select(&batch.rows, 0)?)?;
    let n = batch.targets.dim(0)? as f64;
    Ok((ops::cross_entropy(&logits, &batch.targets)? * n)?)
}

/// Mean loss per answer token over `examples`.
pub fn mean_loss(model: &TrainModel, examples: &[&SftExample], batch_size: usize) -> Result<f64> {
    let (mut sum, mut count) = (0.0, 0);
    for chunk in examples.chunks(batch_size.max(1)) {
        let b = batch(chunk)?;
        sum += batch_loss(model, &b)?.detach().to_scalar::<f32>()? as f64;
        count += b.targets.dim(0)?;
    }
    Ok(if count == 0 {
        f64::NAN
    } else {
        sum / count as f64
    })
}

/// Fine-tunes `model` (prepared for a method) on `examples`.
pub fn train_sft(
    model: &TrainModel,
    examples: &[SftExample],
    settings: &SftSettings,
    progress: &mut dyn TrainProgress,
) -> Result<TrainReport> {
    ensure!(
        settings.batch_size > 0 && settings.grad_accum > 0,
        "batch size and accumulation must be positive"
    );
    let (train_idx, held_idx) = split(examples.len(), settings.held_out, settings.seed);
    let held: Vec<&SftExample> = held_idx.iter().map(|&i| &examples[i]).collect();
    let mut optimizer = AdamW::new(model.vars(), settings.adamw)?;
    ensure!(
        optimizer.parameters() > 0,
        "nothing to train: the method leaves every weight frozen"
    );
    let per_step = settings.batch_size * settings.grad_accum;
    let steps_per_epoch = train_idx.len().div_ceil(per_step);
    let total = steps_per_epoch * settings.epochs;
    let schedule = Schedule::warmup_cosine(settings.lr, settings.warmup, total);
    let mut report = TrainReport::new(train_idx.len(), held.len(), optimizer.parameters());
    if !held.is_empty() {
        let loss = mean_loss(model, &held, settings.batch_size)?;
        progress.evaluated(0, loss);
        report.held_out.push(loss);
    }
    reset_peak_memory();
    progress.start(total);
    for epoch in 0..settings.epochs {
        let mut order = train_idx.clone();
        shuffle(&mut order, settings.seed.wrapping_add(epoch as u64 + 1));
        let (mut epoch_loss, mut epoch_targets) = (0.0, 0usize);
        for step_rows in order.chunks(per_step) {
            let started = Instant::now();
            let mut rows: Vec<&SftExample> = step_rows.iter().map(|&i| &examples[i]).collect();
            // Micro-batches of like lengths pad least; the step's gradient is
            // the same sum whatever the grouping.
            rows.sort_by_key(|e| e.tokens.len());
            let targets: usize = rows.iter().map(|e| e.targets()).sum();
            let mut step_loss = 0.0;
            for micro in rows.chunks(settings.batch_size) {
                let b = batch(micro)?;
                // Summed over tokens, scaled by the whole step's count: the
                // accumulated gradient is that of the step's mean loss.
                let loss = (batch_loss(model, &b)? / targets as f64)?;
                step_loss += loss.to_scalar::<f32>()? as f64;
                optimizer.accumulate(&loss.backward()?)?;
                report.tokens += b.real_tokens;
            }
            let lr = schedule.lr(report.steps);
            optimizer.step(lr, settings.clip)?;
            report.steps += 1;
            report.seconds += started.elapsed().as_secs_f64();
            epoch_loss += step_loss * targets as f64;
            epoch_targets += targets;
            progress.step(
                report.steps,
                step_loss,
                report.tokens as f64 / report.seconds,
                lr,
            );
        }
        report
            .train_loss
            .push(epoch_loss / epoch_targets.max(1) as f64);
        if !held.is_empty() {
            let loss = mean_loss(model, &held, settings.batch_size)?;
            progress.evaluated(epoch + 1, loss);
            report.held_out.push(loss);
        }
    }
    report.tokens_per_second = report.tokens as f64 / report.seconds.max(1e-9);
    report.peak_mib = peak_memory_mib();
    Ok(report)
}
