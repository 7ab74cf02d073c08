//! Model hyper-parameters read from GGUF metadata.

use std::collections::HashMap;

use candle_core::quantized::gguf_file::Value;

/// The transformer families the engine runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    /// Llama, SmolLM, Mistral-style: no attention biases, interleaved RoPE in GGUF.
    Llama,
    /// Qwen2 / Qwen2.5: q/k/v biases, NeoX (half-split) RoPE.
    Qwen2,
}

/// Shapes and constants of one model.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Architecture family.
    pub architecture: Architecture,
    /// Transformer blocks.
    pub layers: usize,
    /// Width of the residual stream.
    pub hidden: usize,
    /// Width of the MLP.
    pub intermediate: usize,
    /// Query heads.
    pub heads: usize,
    /// Key/value heads (grouped-query attention).
    pub kv_heads: usize,
    /// Width of one head.
    pub head_dim: usize,
    /// RMSNorm epsilon.
    pub rms_eps: f64,
    /// RoPE base frequency.
    pub rope_base: f32,
    /// Longest context the model was trained for.
    pub context_length: usize,
    /// Vocabulary size.
    pub vocab: usize,
}

impl Config {
    /// Reads the config from GGUF metadata; the error names the missing or bad key.
    pub fn from_metadata(metadata: &HashMap<String, Value>) -> Result<Config, String> {
        let get = |key: &str| {
            metadata
                .get(key)
                .ok_or_else(|| format!("metadata has no {key}"))
        };
        let arch_name = get("general.architecture")?
            .to_string()
            .map_err(|e| e.to_string())?
            .clone();
        let architecture = match arch_name.as_str() {
            "llama" => Architecture::Llama,
            "qwen2" => Architecture::Qwen2,
            other => {
                return Err(format!(
                    "architecture {other:?} is not supported (llama and qwen2 are)"
                ));
            }
        };
        let int = |key: &str| -> Result<usize, String> {
            let key = format!("{arch_name}.{key}");
            let value = get(&key)?;
            value
                .to_u32()
                .map(|v| v as usize)
                .or_else(|_| value.to_u64().map(|v| v as usize))
                .map_err(|e| format!("{key}: {e}"))
        };
        let float = |key: &str| -> Result<Option<f32>, String> {
            match metadata.get(&format!("{arch_name}.{key}")) {
                None => Ok(None),
                Some(v) => v
                    .to_f32()
                    .map(Some)
                    .map_err(|e| format!("{arch_name}.{key}: {e}")),
            }
        };
        let hidden = int("embedding_length")?;
        let heads = int("attention.head_count")?;
        if heads == 0 || hidden % heads != 0 {
            return Err(format!(
                "embedding length {hidden} is not a multiple of {heads} heads"
            ));
        }
        let kv_heads = int("attention.head_count_kv").unwrap_or(heads);
        if kv_heads == 0 || heads % kv_heads != 0 {
            return Err(format!(
                "{heads} heads cannot be grouped over {kv_heads} key/value heads"
            ));
        }
        let vocab = match metadata.get("tokenizer.ggml.tokens") {
            Some(tokens) => tokens.to_vec().map_err(|e| e.to_string())?.len(),
            None => return Err("metadata has no tokenizer.ggml.tokens".into()),
        };
        Ok(Config {
            architecture,
            layers: int("block_count")?,
            hidden,
            intermediate: int("feed_forward_length")?,
            heads,
            kv_heads,
            head_dim: hidden / heads,
            rms_eps: float("attention.layer_norm_rms_epsilon")?.unwrap_or(1e-5) as f64,
            rope_base: float("rope.freq_base")?.unwrap_or(10_000.0),
            context_length: int("context_length").unwrap_or(4096),
            vocab,
        })
    }
}
