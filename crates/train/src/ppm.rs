//! The process preference model: a policy's backbone with a scalar value head
//! on the last token, trained on preference pairs with the pairwise loss
//! `-log σ(r_chosen − r_rejected)`.
//!
//! A step's score is `tanh(r)`: the head's raw value squashed into [-1, 1], the
//! range of the search's Q values, so a score can stand in for a new node's
//! value. Training never sees the squashing (the pairwise loss depends only on
//! `r_chosen − r_rejected`, and tanh keeps the order), so training and scoring
//! agree on which step is better.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use candle_core::{DType, Device, Tensor, Var};
use evolve_lm::Tokenizer;
use evolve_lm::bench::{peak_memory_mib, reset_peak_memory};
use serde::Deserialize;

use crate::model::{Method, SaveFormat, TrainModel};
use crate::optim::{AdamW, AdamWSettings, Schedule};
use crate::progress::TrainProgress;
use crate::sft::{TrainReport, for_each_jsonl, shuffle, split};

/// A preference pair, tokenised: the shared prompt followed by each side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairExample {
    /// Prompt and the preferred continuation.
    pub chosen: Vec<u32>,
    /// Prompt and the other.
    pub rejected: Vec<u32>,
}

#[derive(Deserialize)]
struct PairRow {
    prompt: String,
    chosen: String,
    rejected: String,
}

/// Reads `{"prompt", "chosen", "rejected"}` rows (`evolve export pairs`).
/// Pairs longer than `max_len` tokens lose the start of their prompt (the
/// steps being compared stay whole). Returns the pairs and how many were cut.
pub fn read_pairs(
    path: &Path,
    tokenizer: &Tokenizer,
    max_len: usize,
) -> Result<(Vec<PairExample>, usize)> {
    let (mut pairs, mut cut) = (Vec::new(), 0);
    let shape = "a pair row ({\"prompt\", \"chosen\", \"rejected\"})";
    for_each_jsonl(path, shape, |at: &str, row: PairRow| {
        let at = || at.to_owned();
        let prompt = tokenizer.encode(&row.prompt).with_context(at)?;
        let side = |text: &str| -> Result<Vec<u32>> {
            let tokens = tokenizer.encode(text).with_context(at)?;
            ensure!(!tokens.is_empty(), "{}: an empty side", at());
            Ok(tokens)
        };
        let (chosen, rejected) = (side(&row.chosen)?, side(&row.rejected)?);
        let longest = chosen.len().max(rejected.len());
        if longest >= max_len {
            bail!(
                "{}: a side alone takes {longest} tokens, over the {max_len}-token limit",
                at()
            );
        }
        let keep = prompt.len().min(max_len - longest);
        cut += usize::from(keep < prompt.len());
        let prompt = &prompt[prompt.len() - keep..];
        pairs.push(PairExample {
            chosen: [prompt, &chosen].concat(),
            rejected: [prompt, &rejected].concat(),
        });
        Ok(())
    })?;
    ensure!(!pairs.is_empty(), "{} has no pairs", path.display());
    Ok((pairs, cut))
}

/// A backbone and its value head.
pub struct Ppm {
    /// The transformer.
    pub backbone: TrainModel,
    /// `[1, hidden]`.
    head_weight: Var,
    /// `[1]`.
    head_bias: Var,
}

impl Ppm {
    /// A new head (zero, so every score starts at 0) on `backbone`.
    pub fn new(backbone: TrainModel) -> Result<Ppm> {
        let hidden = backbone.config().hidden;
        Ok(Ppm {
            backbone,
            head_weight: Var::zeros((1, hidden), DType::F32, &Device::Cpu)?,
            head_bias: Var::zeros(1, DType::F32, &Device::Cpu)?,
        })
    }

    /// Loads a saved PPM: the backbone GGUF and its head beside it.
    pub fn load(path: &Path) -> Result<Ppm> {
        let backbone = TrainModel::load(path)?;
        let head = ValueHead::read(path, backbone.config().hidden)?;
        let device = Device::Cpu;
        Ok(Ppm {
            backbone,
            head_weight: Var::from_tensor(&Tensor::from_vec(
                head.weight.clone(),
                (1, head.hidden()),
                &device,
            )?)?,
            head_bias: Var::from_tensor(&Tensor::new(&[head.bias], &device)?)?,
        })
    }

    /// Writes the backbone (adapters merged) to `path` and the head beside it.
    pub fn save(&self, path: &Path, format: SaveFormat) -> Result<()> {
        self.backbone.save_gguf(path, format)?;
        let head: HashMap<String, Tensor> = [
            (
                "value_head.weight".to_owned(),
                self.head_weight.as_tensor().detach(),
            ),
            (
                "value_head.bias".to_owned(),
                self.head_bias.as_tensor().detach(),
            ),
        ]
        .into_iter()
        .collect();
        let head_path = head_path(path);
        candle_core::safetensors::save(&head, &head_path)
            .with_context(|| format!("writing {}", head_path.display()))
    }

    /// Chooses what trains in the backbone; the head always trains.
    pub fn prepare(&mut self, method: Method, seed: u64) -> Result<()> {
        self.backbone.prepare(method, seed)
    }

    /// Trainable variables: the backbone's and the head.
    pub fn vars(&self) -> Vec<Var> {
        let mut vars = self.backbone.vars();
        vars.push(self.head_weight.clone());
        vars.push(self.head_bias.clone());
        vars
    }

    /// Raw values `[n]` of right-padded sequences `tokens` `[n, t]`, read at
    /// each sequence's last token (`last[i]`).
    fn values(&self, tokens: &Tensor, last: &[usize]) -> Result<Tensor> {
        let (n, t) = tokens.dims2()?;
        let hidden = self.backbone.hidden(tokens)?;
        let hidden = hidden.reshape((n * t, hidden.dim(2)?))?;
        let rows: Vec<u32> = last
            .iter()
            .enumerate()
            .map(|(i, &p)| (i * t + p) as u32)
            .collect();
        let picked = hidden.index_select(&Tensor::new(rows.as_slice(), &Device::Cpu)?, 0)?;
        let values = picked
            .matmul(&self.head_weight.as_tensor().t()?)?
            .broadcast_add(self.head_bias.as_tensor())?;
        Ok(values.squeeze(1)?)
    }

    /// Scores in [-1, 1] (`tanh` of the raw value) of token sequences.
    pub fn score(&self, sequences: &[Vec<u32>], batch_size: usize) -> Result<Vec<f32>> {
        let mut scores = Vec::with_capacity(sequences.len());
        for chunk in sequences.chunks(batch_size.max(1)) {
            let (tokens, last) = pad(chunk)?;
            scores.extend(
                self.values(&tokens, &last)?
                    .detach()
                    .tanh()?
                    .to_vec1::<f32>()?,
            );
        }
        Ok(scores)
    }

    /// Share of `pairs` whose chosen side scores above the rejected one (a
    /// tie counts half, so an untrained head scores 0.5).
    pub fn pair_accuracy(&self, pairs: &[&PairExample], batch_size: usize) -> Result<f64> {
        let mut right = 0.0;
        for chunk in pairs.chunks(batch_size.max(1)) {
            let (tokens, last) = pad_pairs(chunk)?;
            let values = self.values(&tokens, &last)?.detach().to_vec1::<f32>()?;
            let half = chunk.len();
            right += (0..half)
                .map(|i| match values[i].total_cmp(&values[half + i]) {
                    std::cmp::Ordering::Greater => 1.0,
                    std::cmp::Ordering::Equal => 0.5,
                    std::cmp::Ordering::Less => 0.0,
                })
                .sum::<f64>();
        }
        Ok(right / pairs.len().max(1) as f64)
    }
}

/// A PPM's value head as plain numbers: `value = weight · hidden + bias`.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueHead {
    /// One weight per hidden unit.
    pub weight: Vec<f32>,
    /// The bias.
    pub bias: f32,
}

impl ValueHead {
    /// The head saved beside the PPM at `gguf`, checked against the backbone's `hidden` size.
    pub fn read(gguf: &Path, hidden: usize) -> Result<ValueHead> {
        let path = head_path(gguf);
        let tensors = candle_core::safetensors::load(&path, &Device::Cpu)
            .with_context(|| format!("reading the value head {}", path.display()))?;
        let get = |name: &str| -> Result<Vec<f32>> {
            let t = tensors
                .get(name)
                .with_context(|| format!("{} has no tensor {name}", path.display()))?;
            Ok(t.flatten_all()?.to_vec1::<f32>()?)
        };
        let (weight, bias) = (get("value_head.weight")?, get("value_head.bias")?);
        ensure!(
            weight.len() == hidden && bias.len() == 1,
            "{}: the head has {} weights and {} biases; the backbone's hidden size is {hidden}",
            path.display(),
            weight.len(),
            bias.len()
        );
        Ok(ValueHead {
            weight,
            bias: bias[0],
        })
    }

    fn hidden(&self) -> usize {
        self.weight.len()
    }

    /// The score in [-1, 1] of a final hidden state: `tanh(weight · hidden + bias)`.
    pub fn score(&self, hidden: &[f32]) -> f64 {
        let value: f32 = self
            .weight
            .iter()
            .zip(hidden)
            .map(|(w, h)| w * h)
            .sum::<f32>()
            + self.bias;
        f64::from(value.tanh())
    }
}

/// The value head's file beside a PPM's GGUF: `ppm.gguf` → `ppm.head.safetensors`.
pub fn head_path(gguf: &Path) -> PathBuf {
    gguf.with_extension("head.safetensors")
}

/// Right-pads sequences into `[n, t]` and gives each one's last index.
fn pad(sequences: &[Vec<u32>]) -> Result<(Tensor, Vec<usize>)> {
    let t = sequences.iter().map(Vec::len).max().unwrap_or(1);
    let mut flat = Vec::with_capacity(sequences.len() * t);
    for s in sequences {
        flat.extend_from_slice(s);
        flat.extend(std::iter::repeat_n(0, t - s.len()));
    }
    let last = sequences.iter().map(|s| s.len() - 1).collect();
    Ok((
        Tensor::from_vec(flat, (sequences.len(), t), &Device::Cpu)?,
        last,
    ))
}

/// The chosen sides then the rejected ones, padded together.
fn pad_pairs(pairs: &[&PairExample]) -> Result<(Tensor, Vec<usize>)> {
    let sequences: Vec<Vec<u32>> = pairs
        .iter()
        .map(|p| p.chosen.clone())
        .chain(pairs.iter().map(|p| p.rejected.clone()))
        .collect();
    pad(&sequences)
}

/// `-log σ(x)` averaged, in a form that stays finite for large |x|:
/// `max(-x, 0) + log(1 + exp(-|x|))`.
fn pairwise_loss(margin: &Tensor) -> Result<Tensor> {
    let softplus = (margin.neg()?.relu()? + (margin.abs()?.neg()?.exp()? + 1.0)?.log()?)?;
    Ok(softplus.mean_all()?)
}

/// PPM training settings.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PpmSettings {
    /// Passes over the pairs.
    pub epochs: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Fraction of steps warming up.
    pub warmup: f64,
    /// Pairs per forward pass (each pair is two sequences).
    pub batch_size: usize,
    /// Forward passes per optimiser step.
    pub grad_accum: usize,
    /// Fraction of pairs held out and scored each epoch.
    pub held_out: f64,
    /// Shuffling and split seed.
    pub seed: u64,
}

impl Default for PpmSettings {
    fn default() -> PpmSettings {
        PpmSettings {
            epochs: 2,
            lr: 1e-4,
            warmup: 0.1,
            batch_size: 2,
            grad_accum: 4,
            held_out: 0.05,
            seed: 0,
        }
    }
}

/// Trains `ppm` on `pairs`; the held-out metric is pair accuracy.
pub fn train_ppm(
    ppm: &Ppm,
    pairs: &[PairExample],
    settings: &PpmSettings,
    progress: &mut dyn TrainProgress,
) -> Result<TrainReport> {
    ensure!(
        settings.batch_size > 0 && settings.grad_accum > 0,
        "batch size and accumulation must be positive"
    );
    let (train_idx, held_idx) = split(pairs.len(), settings.held_out, settings.seed);
    let held: Vec<&PairExample> = held_idx.iter().map(|&i| &pairs[i]).collect();
    let mut optimizer = AdamW::new(ppm.vars(), AdamWSettings::default())?;
    let per_step = settings.batch_size * settings.grad_accum;
    let total = train_idx.len().div_ceil(per_step) * settings.epochs;
    let schedule = Schedule::warmup_cosine(settings.lr, settings.warmup, total);
    let mut report = TrainReport::new(train_idx.len(), held.len(), optimizer.parameters());
    if !held.is_empty() {
        let accuracy = ppm.pair_accuracy(&held, settings.batch_size)?;
        progress.evaluated(0, accuracy);
        report.held_out.push(accuracy);
    }
    reset_peak_memory();
    progress.start(total);
    for epoch in 0..settings.epochs {
        let mut order = train_idx.clone();
        shuffle(&mut order, settings.seed.wrapping_add(epoch as u64 + 1));
        let (mut epoch_loss, mut epoch_pairs) = (0.0, 0);
        for step_rows in order.chunks(per_step) {
            let started = Instant::now();
            let mut rows: Vec<&PairExample> = step_rows.iter().map(|&i| &pairs[i]).collect();
            // Like lengths in a micro-batch pad least; the step's mean is the same.
            rows.sort_by_key(|p| p.chosen.len().max(p.rejected.len()));
            let mut step_loss = 0.0;
            for micro in rows.chunks(settings.batch_size) {
                let (tokens, last) = pad_pairs(micro)?;
                let values = ppm.values(&tokens, &last)?;
                let half = micro.len();
                let margin = (values.narrow(0, 0, half)? - values.narrow(0, half, half)?)?;
                // Mean over the micro-batch, weighted to a mean over the step.
                let loss = (pairwise_loss(&margin)? * (half as f64 / rows.len() as f64))?;
                step_loss += loss.to_scalar::<f32>()? as f64;
                optimizer.accumulate(&loss.backward()?)?;
                report.tokens += micro
                    .iter()
                    .map(|p| p.chosen.len() + p.rejected.len())
                    .sum::<usize>();
            }
            let lr = schedule.lr(report.steps);
            optimizer.step(lr, Some(1.0))?;
            report.steps += 1;
            report.seconds += started.elapsed().as_secs_f64();
            epoch_loss += step_loss * rows.len() as f64;
            epoch_pairs += rows.len();
            progress.step(
                report.steps,
                step_loss,
                report.tokens as f64 / report.seconds,
                lr,
            );
        }
        report
            .train_loss
            .push(epoch_loss / epoch_pairs.max(1) as f64);
        if !held.is_empty() {
            let accuracy = ppm.pair_accuracy(&held, settings.batch_size)?;
            progress.evaluated(epoch + 1, accuracy);
            report.held_out.push(accuracy);
        }
    }
    report.tokens_per_second = report.tokens as f64 / report.seconds.max(1e-9);
    report.peak_mib = peak_memory_mib();
    Ok(report)
}
