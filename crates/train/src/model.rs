//! A llama / Qwen2 transformer to train: weights dequantised from a GGUF file
//! to f32, a forward made of differentiable ops, and a GGUF writer that carries
//! the source file's metadata (tokenizer, chat template, hyper-parameters) over.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{DType, Device, Tensor, Var};
use evolve_lm::{Architecture, ChatTemplate, Config, Tokenizer, rope_tables};

use crate::layers::{Linear, Weight};
use crate::{fused, ops};

/// Which parameters train.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Method {
    /// Every weight.
    Full,
    /// LoRA adapters of `rank` on every linear layer of the last `layers`
    /// blocks; the rest frozen. Backward stops at the lowest adapted block.
    Lora {
        /// Adapter rank.
        rank: usize,
        /// Scale numerator: updates are scaled by `alpha / rank`.
        alpha: f64,
        /// How many blocks carry adapters, counted from the output; 0: all.
        layers: usize,
    },
    /// Only the last `layers` blocks and the final norm.
    TopLayers {
        /// How many blocks, counted from the output.
        layers: usize,
    },
    /// Nothing in the backbone (a value head on top trains alone).
    Frozen,
}

/// How a saved model holds its weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveFormat {
    /// Every tensor f32.
    F32,
    /// Matrices Q8_0, vectors f32.
    Q8_0,
}

#[derive(Debug, Clone)]
struct Block {
    attn_norm: Weight,
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    ffn_norm: Weight,
    gate: Linear,
    up: Linear,
    down: Linear,
}

impl Block {
    fn linears(&self) -> [(&'static str, &Linear); 7] {
        [
            ("attn_q", &self.q),
            ("attn_k", &self.k),
            ("attn_v", &self.v),
            ("attn_output", &self.o),
            ("ffn_gate", &self.gate),
            ("ffn_up", &self.up),
            ("ffn_down", &self.down),
        ]
    }

    fn linears_mut(&mut self) -> [&mut Linear; 7] {
        [
            &mut self.q,
            &mut self.k,
            &mut self.v,
            &mut self.o,
            &mut self.gate,
            &mut self.up,
            &mut self.down,
        ]
    }
}

/// A model being trained.
#[derive(Debug, Clone)]
pub struct TrainModel {
    config: Config,
    embeddings: Weight,
    /// `None`: the head is the embedding matrix (tied).
    lm_head: Option<Weight>,
    blocks: Vec<Block>,
    norm: Weight,
    cos: Tensor,
    sin: Tensor,
    metadata: Vec<(String, Value)>,
    source: PathBuf,
    /// The file's tokenizer and chat template (`None` for random models).
    text: Option<(Tokenizer, ChatTemplate)>,
}

/// The tensors of an open GGUF file, dequantised, frozen.
struct Tensors<'a> {
    content: &'a gguf_file::Content,
    reader: &'a mut BufReader<File>,
    path: &'a Path,
    device: &'a Device,
}

impl Tensors<'_> {
    fn optional(&mut self, name: &str) -> Result<Option<Weight>> {
        if !self.content.tensor_infos.contains_key(name) {
            return Ok(None);
        }
        let q = self
            .content
            .tensor(self.reader, name, self.device)
            .with_context(|| format!("reading tensor {name} of {}", self.path.display()))?;
        Ok(Some(Weight::Frozen(q.dequantize(self.device)?)))
    }

    fn required(&mut self, name: &str) -> Result<Weight> {
        self.optional(name)?
            .with_context(|| format!("{} has no tensor {name}", self.path.display()))
    }
}

impl TrainModel {
    /// Loads `path`, every weight dequantised to f32 and frozen.
    pub fn load(path: &Path) -> Result<TrainModel> {
        let device = Device::Cpu;
        let what = || format!("loading {} for training", path.display());
        let mut reader = BufReader::new(File::open(path).with_context(what)?);
        let content = gguf_file::Content::read(&mut reader)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("{} is not a readable GGUF file", path.display()))?;
        let config = Config::from_metadata(&content.metadata)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let mut file = Tensors {
            content: &content,
            reader: &mut reader,
            path,
            device: &device,
        };
        let embeddings = file.required("token_embd.weight")?;
        let lm_head = file.optional("output.weight")?;
        let norm = file.required("output_norm.weight")?;
        let mut blocks = Vec::with_capacity(config.layers);
        for i in 0..config.layers {
            let mut linear = |name: &str| -> Result<Linear> {
                Ok(Linear {
                    weight: file.required(&format!("blk.{i}.{name}.weight"))?,
                    bias: file.optional(&format!("blk.{i}.{name}.bias"))?,
                    lora: None,
                })
            };
            blocks.push(Block {
                q: linear("attn_q")?,
                k: linear("attn_k")?,
                v: linear("attn_v")?,
                o: linear("attn_output")?,
                gate: linear("ffn_gate")?,
                up: linear("ffn_up")?,
                down: linear("ffn_down")?,
                attn_norm: file.required(&format!("blk.{i}.attn_norm.weight"))?,
                ffn_norm: file.required(&format!("blk.{i}.ffn_norm.weight"))?,
            });
        }
        let (cos, sin) = rope_tables(&config, &device)?;
        let tokenizer = Tokenizer::from_gguf(&content.metadata)?;
        let template = evolve_lm::read_chat_template(path)?;
        let mut metadata: Vec<(String, Value)> = content.metadata.into_iter().collect();
        metadata.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(TrainModel {
            config,
            embeddings,
            lm_head,
            blocks,
            norm,
            cos,
            sin,
            metadata,
            source: path.to_owned(),
            text: Some((tokenizer, template)),
        })
    }

    /// A model of `config` with small random weights in `dtype` (f64 for
    /// gradient checks), tied embeddings, and biases on q, k, v for Qwen2.
    pub fn random(config: Config, dtype: DType, seed: u64) -> Result<TrainModel> {
        let device = Device::Cpu;
        let mut rng = evolve_lm::Rng::new(seed, 0);
        let mut tensor = |shape: &[usize], scale: f64, offset: f64| -> Result<Weight> {
            let n: usize = shape.iter().product();
            let values: Vec<f64> = (0..n)
                .map(|_| offset + (rng.uniform() * 2.0 - 1.0) * scale)
                .collect();
            Ok(Weight::Frozen(
                Tensor::from_vec(values, shape, &device)?.to_dtype(dtype)?,
            ))
        };
        let (h, i) = (config.hidden, config.intermediate);
        let (q_out, kv_out) = (
            config.heads * config.head_dim,
            config.kv_heads * config.head_dim,
        );
        let bias = config.architecture == Architecture::Qwen2;
        let mut blocks = Vec::with_capacity(config.layers);
        for _ in 0..config.layers {
            let mut linear = |out: usize, inp: usize, with_bias: bool| -> Result<Linear> {
                Ok(Linear {
                    weight: tensor(&[out, inp], 1.0 / (inp as f64).sqrt(), 0.0)?,
                    bias: if with_bias {
                        Some(tensor(&[out], 0.1, 0.0)?)
                    } else {
                        None
                    },
                    lora: None,
                })
            };
            blocks.push(Block {
                q: linear(q_out, h, bias)?,
                k: linear(kv_out, h, bias)?,
                v: linear(kv_out, h, bias)?,
                o: linear(h, q_out, false)?,
                gate: linear(i, h, false)?,
                up: linear(i, h, false)?,
                down: linear(h, i, false)?,
                attn_norm: tensor(&[h], 0.1, 1.0)?,
                ffn_norm: tensor(&[h], 0.1, 1.0)?,
            });
        }
        let (cos, sin) = rope_tables(&config, &device)?;
        Ok(TrainModel {
            embeddings: tensor(&[config.vocab, h], 1.0, 0.0)?,
            lm_head: None,
            norm: tensor(&[h], 0.1, 1.0)?,
            blocks,
            cos: cos.to_dtype(dtype)?,
            sin: sin.to_dtype(dtype)?,
            metadata: Vec::new(),
            source: PathBuf::new(),
            text: None,
            config,
        })
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The tokenizer and chat template of the file it was loaded from.
    pub fn text(&self) -> Result<(&Tokenizer, &ChatTemplate)> {
        self.text
            .as_ref()
            .map(|(t, c)| (t, c))
            .context("this model was not loaded from a file and has no tokenizer")
    }

    /// The file it was loaded from.
    pub fn source(&self) -> &Path {
        &self.source
    }

    /// Chooses what trains; `seed` draws LoRA's initial A matrices.
    pub fn prepare(&mut self, method: Method, seed: u64) -> Result<()> {
        let all = matches!(method, Method::Full);
        self.embeddings.set_trainable(all)?;
        if let Some(head) = &mut self.lm_head {
            head.set_trainable(all)?;
        }
        self.norm
            .set_trainable(all || matches!(method, Method::TopLayers { .. }))?;
        let layers = self.blocks.len();
        for (i, block) in self.blocks.iter_mut().enumerate() {
            let trainable = match method {
                Method::Full => true,
                Method::TopLayers { layers: top } => i + top >= layers,
                Method::Lora { .. } | Method::Frozen => false,
            };
            block.attn_norm.set_trainable(trainable)?;
            block.ffn_norm.set_trainable(trainable)?;
            for (j, linear) in block.linears_mut().into_iter().enumerate() {
                linear.weight.set_trainable(trainable)?;
                if let Some(bias) = &mut linear.bias {
                    bias.set_trainable(trainable)?;
                }
                linear.lora = None;
                if let Method::Lora {
                    rank,
                    alpha,
                    layers: top,
                } = method
                    && (top == 0 || i + top >= layers)
                {
                    linear.add_lora(
                        rank,
                        alpha,
                        seed ^ ((i * 8 + j) as u64).wrapping_mul(0x9e37),
                    )?;
                }
            }
        }
        Ok(())
    }

    /// Every trainable variable.
    pub fn vars(&self) -> Vec<Var> {
        let mut vars: Vec<Var> = Vec::new();
        let mut add = |w: &Weight| vars.extend(w.var().cloned());
        add(&self.embeddings);
        if let Some(head) = &self.lm_head {
            add(head);
        }
        add(&self.norm);
        for block in &self.blocks {
            add(&block.attn_norm);
            add(&block.ffn_norm);
        }
        for block in &self.blocks {
            for (_, linear) in block.linears() {
                vars.extend(linear.vars());
            }
        }
        vars
    }

    /// Final hidden states, `[batch, seq, hidden]`, of right-padded `tokens`
    /// `[batch, seq]` (u32).
    pub fn hidden(&self, tokens: &Tensor) -> Result<Tensor> {
        let (b, t) = tokens.dims2()?;
        let cfg = &self.config;
        if t > cfg.context_length {
            bail!(
                "a sequence of {t} tokens is longer than the model's context ({})",
                cfg.context_length
            );
        }
        let (heads, kv_heads, d) = (cfg.heads, cfg.kv_heads, cfg.head_dim);
        let mut x = self
            .embeddings
            .tensor()
            .index_select(&tokens.flatten_all()?, 0)?;
        let cos = self.cos.narrow(0, 0, t)?;
        let sin = self.sin.narrow(0, 0, t)?;
        let rope = |xs: Tensor| -> candle_core::Result<Tensor> {
            match cfg.architecture {
                // llama.cpp stores llama's q/k permuted for interleaved pairs.
                Architecture::Llama => ops::rope_interleaved(&xs, &cos, &sin),
                Architecture::Qwen2 => ops::rope_halves(&xs, &cos, &sin),
            }
        };
        let split = |xs: Tensor, n: usize| -> candle_core::Result<Tensor> {
            xs.reshape((b, t, n, d))?.transpose(1, 2)?.contiguous()
        };
        for block in &self.blocks {
            let h = fused::rms_norm(&x, block.attn_norm.tensor(), cfg.rms_eps)?;
            let q = rope(split(block.q.forward(&h)?, heads)?)?;
            let k = rope(split(block.k.forward(&h)?, kv_heads)?)?;
            let v = split(block.v.forward(&h)?, kv_heads)?;
            let (k, v) = (
                repeat_kv(&k, heads / kv_heads)?,
                repeat_kv(&v, heads / kv_heads)?,
            );
            let attended = fused::attention(&q, &k, &v)?
                .transpose(1, 2)?
                .reshape((b * t, heads * d))?;
            x = (x + block.o.forward(&attended)?)?;
            let h = fused::rms_norm(&x, block.ffn_norm.tensor(), cfg.rms_eps)?;
            let gated = (block.gate.forward(&h)?.silu()? * block.up.forward(&h)?)?;
            x = (x + block.down.forward(&gated)?)?;
        }
        Ok(fused::rms_norm(&x, self.norm.tensor(), cfg.rms_eps)?.reshape((b, t, cfg.hidden))?)
    }

    /// Next-token logits of hidden-state rows `[n, hidden]`: `[n, vocab]`.
    pub fn logits(&self, rows: &Tensor) -> Result<Tensor> {
        let head = self.lm_head.as_ref().unwrap_or(&self.embeddings);
        Ok(match head {
            Weight::Trainable(w) => rows.matmul(&w.as_tensor().t()?)?,
            Weight::Frozen(w) => ops::frozen_matmul(rows, w)?,
        })
    }

    /// Writes the model (adapters merged) as GGUF with the source's metadata.
    pub fn save_gguf(&self, path: &Path, format: SaveFormat) -> Result<()> {
        let mut tensors: Vec<(String, Tensor)> = vec![
            (
                "token_embd.weight".into(),
                self.embeddings.tensor().detach(),
            ),
            ("output_norm.weight".into(), self.norm.tensor().detach()),
        ];
        if let Some(head) = &self.lm_head {
            tensors.push(("output.weight".into(), head.tensor().detach()));
        }
        for (i, block) in self.blocks.iter().enumerate() {
            tensors.push((
                format!("blk.{i}.attn_norm.weight"),
                block.attn_norm.tensor().detach(),
            ));
            tensors.push((
                format!("blk.{i}.ffn_norm.weight"),
                block.ffn_norm.tensor().detach(),
            ));
            for (name, linear) in block.linears() {
                tensors.push((format!("blk.{i}.{name}.weight"), linear.merged_weight()?));
                if let Some(bias) = &linear.bias {
                    tensors.push((format!("blk.{i}.{name}.bias"), bias.tensor().detach()));
                }
            }
        }
        let quantized: Vec<(String, QTensor)> = tensors
            .iter()
            .map(|(name, t)| {
                let dtype = match format {
                    SaveFormat::Q8_0 if t.rank() == 2 && t.dim(1)? % 32 == 0 => GgmlDType::Q8_0,
                    _ => GgmlDType::F32,
                };
                Ok((name.clone(), QTensor::quantize(t, dtype)?))
            })
            .collect::<Result<_>>()?;
        let file_type = Value::U32(match format {
            SaveFormat::F32 => 0,
            SaveFormat::Q8_0 => 7,
        });
        // candle writes tensor data aligned to 32 bytes, the GGUF default.
        let metadata: Vec<(&str, &Value)> = self
            .metadata
            .iter()
            .filter(|(k, _)| k != "general.alignment" && k != "general.file_type")
            .map(|(k, v)| (k.as_str(), v))
            .chain([("general.file_type", &file_type)])
            .collect();
        let tensor_refs: Vec<(&str, &QTensor)> =
            quantized.iter().map(|(n, t)| (n.as_str(), t)).collect();
        write_gguf(path, &metadata, &tensor_refs)
    }
}

/// Writes a GGUF file whole or not at all: into a temporary file beside
/// `path`, moved into place once complete, so a crash never leaves half a model.
pub(crate) fn write_gguf(
    path: &Path,
    metadata: &[(&str, &Value)],
    tensors: &[(&str, &QTensor)],
) -> Result<()> {
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(folder).with_context(|| format!("creating {}", folder.display()))?;
    let temp = tempfile::NamedTempFile::new_in(folder)
        .with_context(|| format!("cannot write in {}", folder.display()))?;
    {
        let mut out = BufWriter::new(temp.as_file());
        gguf_file::write(&mut out, metadata, tensors)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("writing {}", path.display()))?;
        use std::io::Write;
        out.flush()?;
    }
    temp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("moving the model into place at {}", path.display()))?;
    Ok(())
}

/// `[b, kv_heads, t, d]` to `[b, kv_heads * group, t, d]`: each key/value head
/// shared by `group` query heads.
fn repeat_kv(xs: &Tensor, group: usize) -> candle_core::Result<Tensor> {
    if group == 1 {
        return Ok(xs.clone());
    }
    let (b, kv_heads, t, d) = xs.dims4()?;
    xs.unsqueeze(2)?
        .broadcast_as((b, kv_heads, group, t, d))?
        .reshape((b, kv_heads * group, t, d))
}
