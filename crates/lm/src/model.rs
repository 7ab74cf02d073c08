//! The transformer forward, on candle ops, over a ragged batch of sequences whose
//! key/value caches live outside the model (see [`crate::kv`]).
//!
//! All new tokens of all sequences go through the projections and the MLP as one
//! matrix, whatever sequence or position they belong to; only attention is done
//! per sequence, against that sequence's shared prefix and its own tokens.

use std::io::{Read, Seek};
use std::path::Path;
use std::time::Instant;

use candle_core::quantized::{QTensor, gguf_file};
use candle_core::{D, DType, Device, Tensor};

use crate::config::{Architecture, Config};
use crate::error::{CandleContext, Error, Result};
use crate::kv::SeqKv;
use crate::linear::{Linear, WeightFormat};
use crate::profile::{self, Phase};

#[derive(Debug)]
struct Block {
    attn_norm: Tensor,
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    ffn_norm: Tensor,
    gate: Linear,
    up: Linear,
    down: Linear,
}

/// A loaded model: weights, rotary tables and the config.
#[derive(Debug)]
pub struct Model {
    config: Config,
    embeddings: Tensor,
    blocks: Vec<Block>,
    norm: Tensor,
    lm_head: Linear,
    cos: Tensor,
    sin: Tensor,
    device: Device,
}

/// Reads tensors out of an open GGUF file, naming the file in every error.
pub(crate) struct TensorReader<'a, R> {
    pub content: &'a gguf_file::Content,
    pub reader: &'a mut R,
    pub path: &'a Path,
    pub device: &'a Device,
    pub format: WeightFormat,
}

impl<R: Read + Seek> TensorReader<'_, R> {
    fn raw(&mut self, name: &str) -> Result<QTensor> {
        if !self.content.tensor_infos.contains_key(name) {
            return Err(Error::Model {
                path: self.path.to_owned(),
                message: format!("tensor {name} is missing"),
            });
        }
        self.content
            .tensor(self.reader, name, self.device)
            .map_err(|e| Error::Model {
                path: self.path.to_owned(),
                message: format!("cannot read tensor {name} (truncated or corrupt file?): {e}"),
            })
    }

    fn optional(&mut self, name: &str) -> Result<Option<QTensor>> {
        if self.content.tensor_infos.contains_key(name) {
            self.raw(name).map(Some)
        } else {
            Ok(None)
        }
    }

    fn dense(&mut self, name: &str) -> Result<Tensor> {
        self.raw(name)?.dequantize(self.device).context(name)
    }

    fn matmul_weight(&mut self, qtensor: QTensor, name: &str) -> Result<Linear> {
        Linear::load(qtensor, self.format, self.device, name)
    }

    fn linear(&mut self, name: &str) -> Result<Linear> {
        let weight = self.raw(&format!("{name}.weight"))?;
        let linear = self.matmul_weight(weight, name)?;
        let bias = match self.optional(&format!("{name}.bias"))? {
            Some(b) => Some(b.dequantize(self.device).context(name)?),
            None => None,
        };
        Ok(linear.with_bias(bias))
    }
}

impl Model {
    pub(crate) fn load<R: Read + Seek>(
        config: Config,
        tensors: &mut TensorReader<'_, R>,
    ) -> Result<Model> {
        let embeddings_q = tensors.raw("token_embd.weight")?;
        let embeddings = embeddings_q
            .dequantize(tensors.device)
            .context("token_embd.weight")?;
        let (vocab, hidden) = embeddings.dims2().context("token_embd.weight")?;
        if hidden != config.hidden || vocab != config.vocab {
            return Err(Error::Model {
                path: tensors.path.to_owned(),
                message: format!(
                    "token_embd.weight is {vocab}x{hidden}, metadata says {}x{}",
                    config.vocab, config.hidden
                ),
            });
        }
        // Tied embeddings: without an output matrix the embedding matrix is reused.
        let lm_head = match tensors.optional("output.weight")? {
            Some(w) => tensors.matmul_weight(w, "output.weight")?,
            None => tensors.matmul_weight(embeddings_q, "token_embd.weight")?,
        };
        let mut blocks = Vec::with_capacity(config.layers);
        for i in 0..config.layers {
            let p = format!("blk.{i}");
            blocks.push(Block {
                attn_norm: tensors.dense(&format!("{p}.attn_norm.weight"))?,
                q: tensors.linear(&format!("{p}.attn_q"))?,
                k: tensors.linear(&format!("{p}.attn_k"))?,
                v: tensors.linear(&format!("{p}.attn_v"))?,
                o: tensors.linear(&format!("{p}.attn_output"))?,
                ffn_norm: tensors.dense(&format!("{p}.ffn_norm.weight"))?,
                gate: tensors.linear(&format!("{p}.ffn_gate"))?,
                up: tensors.linear(&format!("{p}.ffn_up"))?,
                down: tensors.linear(&format!("{p}.ffn_down"))?,
            });
        }
        let norm = tensors.dense("output_norm.weight")?;
        let (cos, sin) = rope_tables(&config, tensors.device).context("building rotary tables")?;
        Ok(Model {
            config,
            embeddings,
            blocks,
            norm,
            lm_head,
            cos,
            sin,
            device: tensors.device.clone(),
        })
    }

    /// Which kernel multiplies the weights (those of the first block's query
    /// projection; every layer of a model gets the same choice), in words.
    pub(crate) fn kernel(&self) -> String {
        match self.blocks.first() {
            Some(block) => block.q.kernel(),
            None => self.lm_head.kernel(),
        }
    }

    /// The model's config.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Feeds `tokens[i]` to sequence `seqs[i]` (any lengths, empty not allowed),
    /// appending their keys/values to it, and returns logits: of each sequence's
    /// last token, `[seqs, vocab]`, or with `all_positions` of every token,
    /// `[total tokens, vocab]`.
    pub(crate) fn forward(
        &self,
        tokens: &[&[u32]],
        seqs: &mut [SeqKv],
        all_positions: bool,
    ) -> Result<Tensor> {
        self.forward_inner(tokens, seqs, all_positions, true)
            .context("model forward")
    }

    /// Like [`Model::forward`] for the last token of each sequence, but returns
    /// the final hidden states `[seqs, hidden]` (after the last norm), not logits:
    /// what a value head reads.
    pub(crate) fn forward_hidden(&self, tokens: &[&[u32]], seqs: &mut [SeqKv]) -> Result<Tensor> {
        self.forward_inner(tokens, seqs, false, false)
            .context("model forward")
    }

    fn forward_inner(
        &self,
        tokens: &[&[u32]],
        seqs: &mut [SeqKv],
        all_positions: bool,
        head: bool,
    ) -> candle_core::Result<Tensor> {
        let cfg = &self.config;
        let ids: Vec<u32> = tokens.iter().flat_map(|t| t.iter().copied()).collect();
        let positions: Vec<u32> = tokens
            .iter()
            .zip(seqs.iter())
            .flat_map(|(t, s)| (0..t.len()).map(move |i| (s.position() + i) as u32))
            .collect();
        if let Some(&max) = positions.iter().max()
            && max as usize >= cfg.context_length
        {
            candle_core::bail!(
                "position {max} is past the model's context of {} tokens",
                cfg.context_length
            );
        }
        let n = ids.len();
        let ids = Tensor::new(ids.as_slice(), &self.device)?;
        let positions = Tensor::new(positions.as_slice(), &self.device)?;
        let cos = self.cos.index_select(&positions, 0)?;
        let sin = self.sin.index_select(&positions, 0)?;
        let mut xs = self.embeddings.index_select(&ids, 0)?;

        for (layer, block) in self.blocks.iter().enumerate() {
            let started = Instant::now();
            let residual = &xs;
            // Padded once here for the q/k/v projections rather than in each.
            let h = block.q.padded(&candle_nn::ops::rms_norm(
                &xs,
                &block.attn_norm,
                cfg.rms_eps as f32,
            )?)?;
            let q = self.rotate(&block.q.forward(&h)?, cfg.heads, &cos, &sin)?;
            let k = self.rotate(&block.k.forward(&h)?, cfg.kv_heads, &cos, &sin)?;
            let v = block
                .v
                .forward(&h)?
                .reshape((n, cfg.kv_heads, cfg.head_dim))?
                .transpose(0, 1)?
                .contiguous()?;
            profile::record(Phase::Projections, started);
            let started = Instant::now();

            // Consecutive one-token sequences over the same prefix and of the same
            // length (siblings decoding in lockstep) attend together; a lone
            // decoding sequence takes the same path, which reads its prefix in
            // place where `attend` would copy it for every token.
            let mut outputs = Vec::with_capacity(seqs.len());
            let (mut row, mut i) = (0, 0);
            while i < seqs.len() {
                let len = tokens[i].len();
                let mut j = i + 1;
                while len == 1
                    && j < seqs.len()
                    && tokens[j].len() == 1
                    && seqs[j].decodes_with(&seqs[i])
                {
                    j += 1;
                }
                let rows = if j - i > 1 { j - i } else { len };
                let (q, k, v) = (
                    q.narrow(1, row, rows)?,
                    k.narrow(1, row, rows)?,
                    v.narrow(1, row, rows)?,
                );
                outputs.push(if len == 1 {
                    self.attend_siblings(layer, &mut seqs[i..j], &q, &k, &v)?
                } else {
                    self.attend(layer, &mut seqs[i], &q, &k, &v)?
                });
                row += rows;
                i = j;
            }
            let attn = Tensor::cat(&outputs, 0)?;
            profile::record(Phase::Attention, started);
            let started = Instant::now();
            let xs_attn = (block.o.forward(&attn)? + residual)?;

            let h = block.gate.padded(&candle_nn::ops::rms_norm(
                &xs_attn,
                &block.ffn_norm,
                cfg.rms_eps as f32,
            )?)?;
            let gated =
                (candle_nn::ops::silu(&block.gate.forward(&h)?)? * block.up.forward(&h)?)?;
            xs = (block.down.forward(&gated)? + xs_attn)?;
            profile::record(Phase::Mlp, started);
        }
        let started = Instant::now();
        for (seq, toks) in seqs.iter_mut().zip(tokens) {
            seq.own.extend_from_slice(toks);
        }

        let xs = if all_positions {
            xs
        } else {
            let mut last = Vec::with_capacity(tokens.len());
            let mut end = 0u32;
            for t in tokens {
                end += t.len() as u32;
                last.push(end - 1);
            }
            xs.index_select(&Tensor::new(last.as_slice(), &self.device)?, 0)?
        };
        let xs = candle_nn::ops::rms_norm(&xs, &self.norm, cfg.rms_eps as f32)?;
        if !head {
            return Ok(xs);
        }
        let logits = self.lm_head.forward(&xs)?;
        profile::record(Phase::LmHead, started);
        Ok(logits)
    }

    /// `[n, heads * head_dim]` to `[heads, n, head_dim]` with rotary positions applied.
    fn rotate(
        &self,
        xs: &Tensor,
        heads: usize,
        cos: &Tensor,
        sin: &Tensor,
    ) -> candle_core::Result<Tensor> {
        let n = xs.dim(0)?;
        let xs = xs
            .reshape((n, heads, self.config.head_dim))?
            .transpose(0, 1)?
            .contiguous()?
            .unsqueeze(0)?;
        let xs = match self.config.architecture {
            // llama.cpp stores llama's q/k permuted for interleaved pairs; Qwen2 keeps HF's halves.
            Architecture::Llama => candle_nn::rotary_emb::rope_i(&xs, cos, sin)?,
            Architecture::Qwen2 => candle_nn::rotary_emb::rope(&xs, cos, sin)?,
        };
        xs.squeeze(0)
    }

    /// Attention of one sequence's new tokens (`q` `[heads, n, d]`, `k`/`v`
    /// `[kv_heads, n, d]`) over its prefix, its earlier tokens and themselves.
    fn attend(
        &self,
        layer: usize,
        seq: &mut SeqKv,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
    ) -> candle_core::Result<Tensor> {
        let cfg = &self.config;
        let n = q.dim(1)?;
        let (own_k, own_v) = match (&seq.k[layer], &seq.v[layer]) {
            (Some(ok), Some(ov)) => (Tensor::cat(&[ok, k], 1)?, Tensor::cat(&[ov, v], 1)?),
            _ => (k.contiguous()?, v.contiguous()?),
        };
        seq.k[layer] = Some(own_k.clone());
        seq.v[layer] = Some(own_v.clone());
        let (keys, values) = match &seq.prefix {
            Some(p) => (
                Tensor::cat(&[&p.k[layer], &own_k], 1)?,
                Tensor::cat(&[&p.v[layer], &own_v], 1)?,
            ),
            None => (own_k, own_v),
        };
        let total = keys.dim(1)?;
        let group = cfg.heads / cfg.kv_heads;
        // Heads h*group .. (h+1)*group share key/value head h.
        let q = q
            .contiguous()?
            .reshape((cfg.kv_heads, group * n, cfg.head_dim))?;
        let scale = 1.0 / (cfg.head_dim as f64).sqrt();
        let scores = (q.matmul(&keys.t()?)? * scale)?;
        let scores = if n > 1 {
            let mask = causal_mask(n, total, &self.device)?;
            scores
                .reshape((cfg.kv_heads, group, n, total))?
                .broadcast_add(&mask)?
                .reshape((cfg.kv_heads, group * n, total))?
        } else {
            scores
        };
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let out = probs.matmul(&values)?; // [kv_heads, group * n, d]
        out.reshape((cfg.heads, n, cfg.head_dim))?
            .transpose(0, 1)?
            .reshape((n, cfg.heads * cfg.head_dim))
    }
}

impl Model {
    /// One new token for each of `seqs`, which share a prefix and have the same
    /// number of own tokens: the prefix is read once for all of them, through one
    /// matmul, and never copied. `q` `[heads, b, d]`, `k`/`v` `[kv_heads, b, d]`.
    fn attend_siblings(
        &self,
        layer: usize,
        seqs: &mut [SeqKv],
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
    ) -> candle_core::Result<Tensor> {
        let cfg = &self.config;
        let (b, kv_heads, d) = (seqs.len(), cfg.kv_heads, cfg.head_dim);
        let group = cfg.heads / kv_heads;
        let mut own_k = Vec::with_capacity(b);
        let mut own_v = Vec::with_capacity(b);
        for (i, seq) in seqs.iter_mut().enumerate() {
            let (ki, vi) = (k.narrow(1, i, 1)?, v.narrow(1, i, 1)?);
            let (nk, nv) = match (&seq.k[layer], &seq.v[layer]) {
                (Some(ok), Some(ov)) => (Tensor::cat(&[ok, &ki], 1)?, Tensor::cat(&[ov, &vi], 1)?),
                _ => (ki.contiguous()?, vi.contiguous()?),
            };
            seq.k[layer] = Some(nk.clone());
            seq.v[layer] = Some(nv.clone());
            own_k.push(nk);
            own_v.push(nv);
        }
        let own_k = Tensor::stack(&own_k, 0)?; // [b, kv, s, d]
        let own_v = Tensor::stack(&own_v, 0)?;
        let own_len = own_k.dim(2)?;
        let scale = 1.0 / (d as f64).sqrt();
        // [heads, b, d] -> [b, kv, group, d]: heads h*group .. (h+1)*group share kv head h.
        let q = q
            .transpose(0, 1)?
            .contiguous()?
            .reshape((b, kv_heads, group, d))?;
        let own_scores = (q.matmul(&own_k.t()?)? * scale)?; // [b, kv, group, s]
        let prefix = seqs[0].prefix.clone();
        let scores = match &prefix {
            Some(p) => {
                let q_all = q
                    .transpose(0, 1)?
                    .contiguous()?
                    .reshape((kv_heads, b * group, d))?;
                let prefix_scores = (q_all.matmul(&p.k[layer].t()?)? * scale)?; // [kv, b*group, P]
                let prefix_scores = prefix_scores
                    .reshape((kv_heads, b, group, p.len))?
                    .transpose(0, 1)?;
                Tensor::cat(&[&prefix_scores.contiguous()?, &own_scores], 3)?
            }
            None => own_scores,
        };
        let probs = candle_nn::ops::softmax_last_dim(&scores.contiguous()?)?;
        let prefix_len = prefix.as_ref().map_or(0, |p| p.len);
        let mut out = probs
            .narrow(3, prefix_len, own_len)?
            .contiguous()?
            .matmul(&own_v)?; // [b, kv, group, d]
        if let Some(p) = &prefix {
            let prefix_probs = probs
                .narrow(3, 0, prefix_len)?
                .transpose(0, 1)?
                .contiguous()?
                .reshape((kv_heads, b * group, prefix_len))?;
            let from_prefix = prefix_probs
                .matmul(&p.v[layer])?
                .reshape((kv_heads, b, group, d))?
                .transpose(0, 1)?;
            out = (out + from_prefix)?;
        }
        out.contiguous()?.reshape((b, cfg.heads * d))
    }
}

/// `[n, total]`: 0 where query `i` (the `total - n + i`-th token) may attend, -inf after it.
fn causal_mask(n: usize, total: usize, device: &Device) -> candle_core::Result<Tensor> {
    let offset = total - n;
    let mask: Vec<f32> = (0..n)
        .flat_map(|i| {
            (0..total).map(move |j| {
                if j <= offset + i {
                    0.0
                } else {
                    f32::NEG_INFINITY
                }
            })
        })
        .collect();
    Tensor::from_slice(&mask, (n, total), device)
}

/// Rotary tables `[context, head_dim / 2]`: cos and sin of each position's angles.
pub fn rope_tables(cfg: &Config, device: &Device) -> candle_core::Result<(Tensor, Tensor)> {
    let half = cfg.head_dim / 2;
    let inv_freq: Vec<f32> = (0..half)
        .map(|i| 1.0 / cfg.rope_base.powf(2.0 * i as f32 / cfg.head_dim as f32))
        .collect();
    let inv_freq = Tensor::from_slice(&inv_freq, (1, half), device)?;
    let positions = Tensor::arange(0u32, cfg.context_length as u32, device)?
        .to_dtype(DType::F32)?
        .reshape((cfg.context_length, 1))?;
    let angles = positions.matmul(&inv_freq)?;
    Ok((angles.cos()?, angles.sin()?))
}

/// Index of the largest logit of each row.
pub fn argmax(logits: &Tensor) -> Result<Vec<u32>> {
    logits
        .argmax(D::Minus1)
        .and_then(|t| t.to_vec1::<u32>())
        .context("argmax")
}
