//! Loader tests on tiny random models that the tests write as GGUF files: both
//! architectures, quantised and f32 weights, and files that are broken on purpose.

mod common;

use common::max_abs_diff;

use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use evolve_lm::{Architecture, Cursor, Engine, Expansion, SamplingParams, WeightFormat};

const HIDDEN: usize = 64;
const KV: usize = 32;
const FF: usize = 128;
const LAYERS: usize = 2;

/// The 256 byte-level symbols, then two special tokens, and a couple of merges.
fn vocabulary() -> (Vec<String>, Vec<String>) {
    let mut symbols: Vec<char> = tokenizers::pre_tokenizers::byte_level::ByteLevel::alphabet()
        .into_iter()
        .collect();
    symbols.sort_unstable();
    let mut tokens: Vec<String> = symbols.into_iter().map(String::from).collect();
    tokens.extend([
        "th".into(),
        "the".into(),
        "<|im_start|>".into(),
        "<|im_end|>".into(),
    ]);
    (tokens, vec!["t h".into(), "th e".into()])
}

fn write_model(path: &Path, arch: &str, dtype: GgmlDType, seed: u64) {
    let device = Device::Cpu;
    let (tokens, merges) = vocabulary();
    let vocab = tokens.len();
    let mut types = vec![Value::I32(1); vocab];
    types[vocab - 2] = Value::I32(3);
    types[vocab - 1] = Value::I32(3);
    let key = |k: &str| format!("{arch}.{k}");
    let metadata: Vec<(String, Value)> = vec![
        ("general.architecture".into(), Value::String(arch.into())),
        (key("block_count"), Value::U32(LAYERS as u32)),
        (key("embedding_length"), Value::U32(HIDDEN as u32)),
        (key("feed_forward_length"), Value::U32(FF as u32)),
        (key("attention.head_count"), Value::U32(4)),
        (key("attention.head_count_kv"), Value::U32(2)),
        (key("attention.layer_norm_rms_epsilon"), Value::F32(1e-5)),
        (key("rope.freq_base"), Value::F32(10_000.0)),
        (key("context_length"), Value::U32(256)),
        ("tokenizer.ggml.model".into(), Value::String("gpt2".into())),
        (
            "tokenizer.ggml.pre".into(),
            Value::String(if arch == "qwen2" { "qwen2" } else { "smollm" }.into()),
        ),
        (
            "tokenizer.ggml.tokens".into(),
            Value::Array(tokens.into_iter().map(Value::String).collect()),
        ),
        (
            "tokenizer.ggml.merges".into(),
            Value::Array(merges.into_iter().map(Value::String).collect()),
        ),
        ("tokenizer.ggml.token_type".into(), Value::Array(types)),
        (
            "tokenizer.ggml.bos_token_id".into(),
            Value::U32(vocab as u32 - 2),
        ),
        (
            "tokenizer.ggml.eos_token_id".into(),
            Value::U32(vocab as u32 - 1),
        ),
    ];
    let mut counter = seed;
    let mut random = |shape: &[usize], dtype: GgmlDType| {
        counter += 1;
        let n: usize = shape.iter().product();
        let values: Vec<f32> = (0..n)
            .map(|i| {
                (((i as u64 * 2_654_435_761 + counter * 97) % 1000) as f32 / 1000.0 - 0.5) * 0.2
            })
            .collect();
        let t = Tensor::from_vec(values, shape, &device).unwrap();
        // Norm weights and biases are 1-D and stay f32, as in real files.
        let dtype = if shape.len() == 1 {
            GgmlDType::F32
        } else {
            dtype
        };
        QTensor::quantize(&t, dtype).unwrap()
    };
    let mut tensors: Vec<(String, QTensor)> = vec![
        ("token_embd.weight".into(), random(&[vocab, HIDDEN], dtype)),
        ("output_norm.weight".into(), random(&[HIDDEN], dtype)),
    ];
    for i in 0..LAYERS {
        let p = format!("blk.{i}");
        for (name, shape) in [
            ("attn_norm.weight", vec![HIDDEN]),
            ("attn_q.weight", vec![HIDDEN, HIDDEN]),
            ("attn_k.weight", vec![KV, HIDDEN]),
            ("attn_v.weight", vec![KV, HIDDEN]),
            ("attn_output.weight", vec![HIDDEN, HIDDEN]),
            ("ffn_norm.weight", vec![HIDDEN]),
            ("ffn_gate.weight", vec![FF, HIDDEN]),
            ("ffn_up.weight", vec![FF, HIDDEN]),
            ("ffn_down.weight", vec![HIDDEN, FF]),
        ] {
            tensors.push((format!("{p}.{name}"), random(&shape, dtype)));
        }
        if arch == "qwen2" {
            for (name, n) in [
                ("attn_q.bias", HIDDEN),
                ("attn_k.bias", KV),
                ("attn_v.bias", KV),
            ] {
                tensors.push((format!("{p}.{name}"), random(&[n], dtype)));
            }
        }
    }
    let metadata_refs: Vec<(&str, &Value)> =
        metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let tensor_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut file = std::fs::File::create(path).unwrap();
    gguf_file::write(&mut file, &metadata_refs, &tensor_refs).unwrap();
}

fn tiny(dir: &Path, arch: &str, dtype: GgmlDType) -> PathBuf {
    let path = dir.join(format!("{arch}-{dtype:?}.gguf"));
    write_model(&path, arch, dtype, 7);
    path
}

#[test]
fn both_architectures_load_and_generate_in_every_weight_format() {
    let dir = tempfile::tempdir().unwrap();
    for (arch, expected) in [
        ("llama", Architecture::Llama),
        ("qwen2", Architecture::Qwen2),
    ] {
        for stored in [GgmlDType::F32, GgmlDType::Q8_0] {
            let path = tiny(dir.path(), arch, stored);
            for format in [
                WeightFormat::AsStored,
                WeightFormat::Q8_0,
                WeightFormat::F32,
            ] {
                let engine = Engine::load(&path, format, &Device::Cpu).unwrap();
                assert_eq!(engine.config().architecture, expected);
                assert_eq!(
                    (
                        engine.config().layers,
                        engine.config().kv_heads,
                        engine.config().head_dim
                    ),
                    (LAYERS, 2, 16)
                );
                let prompt = engine.tokenizer().encode("the cat").unwrap();
                assert_eq!(engine.tokenizer().decode(&prompt).unwrap(), "the cat");
                assert_eq!(prompt[0], 257, "merges apply: 'the' is one token");
                let params = SamplingParams {
                    temperature: 0.0,
                    max_tokens: 5,
                    ..Default::default()
                };
                let out = engine
                    .expand(
                        &[Expansion {
                            cursor: engine.start(prompt).unwrap(),
                            candidates: 2,
                            seed: None,
                        }],
                        &params,
                        None,
                    )
                    .unwrap();
                assert_eq!(out[0].len(), 2);
                assert_eq!(
                    out[0][0].tokens, out[0][1].tokens,
                    "greedy candidates agree"
                );
            }
        }
    }
}

#[test]
fn cached_continuation_matches_recompute_for_both_rope_layouts() {
    let dir = tempfile::tempdir().unwrap();
    for arch in ["llama", "qwen2"] {
        let engine = Engine::load(
            &tiny(dir.path(), arch, GgmlDType::F32),
            WeightFormat::F32,
            &Device::Cpu,
        )
        .unwrap();
        let tokens = engine
            .tokenizer()
            .encode("the quick brown fox jumps")
            .unwrap();
        let full = engine.logits_all(&tokens).unwrap();
        let (_, nodes) = engine
            .feed(&[engine.start(tokens[..10].to_vec()).unwrap()])
            .unwrap();
        let (logits, _) = engine
            .feed(&[Cursor {
                node: nodes[0].clone(),
                pending: tokens[10..].to_vec(),
            }])
            .unwrap();
        let diff = max_abs_diff(&logits[0], full.last().unwrap());
        assert!(diff < 1e-4, "{arch}: cached continuation differs by {diff}");
    }
}

#[test]
fn broken_files_are_clear_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let load = |path: &Path| {
        Engine::load(path, WeightFormat::F32, &Device::Cpu)
            .unwrap_err()
            .to_string()
    };

    let missing = dir.path().join("missing.gguf");
    let msg = load(&missing);
    assert!(
        msg.contains("missing.gguf") && msg.contains("cannot open"),
        "{msg}"
    );

    let garbage = dir.path().join("garbage.gguf");
    std::fs::write(&garbage, vec![0x42u8; 4096]).unwrap();
    let msg = load(&garbage);
    assert!(
        msg.contains("garbage.gguf") && msg.contains("not a readable GGUF file"),
        "{msg}"
    );

    let good = tiny(dir.path(), "llama", GgmlDType::F32);
    let bytes = std::fs::read(&good).unwrap();
    let truncated = dir.path().join("truncated.gguf");
    std::fs::write(&truncated, &bytes[..bytes.len() - 1000]).unwrap();
    let msg = load(&truncated);
    assert!(
        msg.contains("truncated.gguf") && msg.contains("truncated"),
        "{msg}"
    );

    let header_only = dir.path().join("header.gguf");
    std::fs::write(&header_only, &bytes[..200]).unwrap();
    let msg = load(&header_only);
    assert!(msg.contains("header.gguf"), "{msg}");

    let falcon = dir.path().join("falcon.gguf");
    write_model(&falcon, "falcon", GgmlDType::F32, 1);
    let msg = load(&falcon);
    assert!(
        msg.contains("falcon.gguf") && msg.contains("\"falcon\" is not supported"),
        "{msg}"
    );
}

#[test]
fn prefix_cache_finds_the_longest_cached_prefix_and_evicts_within_budget() {
    use evolve_lm::PrefixCache;
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::load(
        &tiny(dir.path(), "llama", GgmlDType::F32),
        WeightFormat::F32,
        &Device::Cpu,
    )
    .unwrap();
    let question = engine
        .tokenizer()
        .encode("question: what is the sum")
        .unwrap();
    let mut cache = PrefixCache::new(usize::MAX);

    let (_, nodes) = engine
        .feed(&[engine.start(question.clone()).unwrap()])
        .unwrap();
    cache.insert(&nodes[0]);
    let per_node = cache.bytes();
    assert!(per_node > 0);

    // A longer prompt starting with the question reuses it and feeds only the rest.
    let mut longer = question.clone();
    longer.extend(engine.tokenizer().encode(" of the two").unwrap());
    let cursor = cache.cursor(&longer, engine.start(longer.clone()).unwrap());
    assert_eq!(cursor.node.len(), question.len());
    assert_eq!(cursor.pending, longer[question.len()..]);
    let (cached_logits, _) = engine.feed(&[cursor]).unwrap();
    let fresh = engine.logits_all(&longer).unwrap();
    assert!(max_abs_diff(&cached_logits[0], fresh.last().unwrap()) < 1e-4);

    // The exact cached prompt still leaves its last token pending; another prompt finds nothing.
    assert_eq!(cache.lookup(&question).1, 0);
    let other = engine.tokenizer().encode("another").unwrap();
    assert!(cache.lookup(&other).0.is_none());

    // Past the budget the least recently used prefix goes.
    let mut small = PrefixCache::new(per_node);
    small.insert(&nodes[0]);
    let (_, other_nodes) = engine
        .feed(&[engine.start(other.clone()).unwrap()])
        .unwrap();
    small.insert(&other_nodes[0]);
    assert!(small.bytes() > 0 && small.bytes() <= per_node);
    assert!(
        small.lookup(&longer).0.is_none(),
        "the older prefix was evicted"
    );
}
