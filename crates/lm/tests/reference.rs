//! Our forward against candle-transformers' `quantized_llama` on the default model,
//! both with f32 (dequantised) weights: same logits, same greedy tokens. Kept in its
//! own test binary because the reference reads CANDLE_DEQUANTIZE_ALL once per thread.

mod common;

use common::default_model;

use candle_core::{Device, Tensor};
use candle_transformers::models::quantized_llama::ModelWeights;
use evolve_lm::{Cursor, Engine, WeightFormat, argmax};

fn max_relative_diff(ours: &[f32], reference: &[f32]) -> f32 {
    let scale = reference.iter().fold(0f32, |m, x| m.max(x.abs()));
    ours.iter()
        .zip(reference)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()))
        / scale
}

#[test]
fn f32_forward_matches_quantized_llama_dequantised() {
    // SAFETY: set before any thread reads it; this binary has this one test.
    unsafe { std::env::set_var("CANDLE_DEQUANTIZE_ALL", "1") };
    let path = default_model();
    let device = Device::Cpu;
    let engine = Engine::load(&path, WeightFormat::F32, &device).unwrap();
    let prompt = engine
        .tokenizer()
        .encode("The three sides of a right triangle are 3, 4 and")
        .unwrap();

    let mut file = std::fs::File::open(&path).unwrap();
    let content = candle_core::quantized::gguf_file::Content::read(&mut file).unwrap();
    let mut reference = ModelWeights::from_gguf(content, &mut file, &device).unwrap();
    let input = Tensor::new(prompt.as_slice(), &device)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    let ref_logits: Vec<f32> = reference
        .forward(&input, 0)
        .unwrap()
        .squeeze(0)
        .unwrap()
        .to_vec1()
        .unwrap();

    let ours = engine.logits_all(&prompt).unwrap();
    let diff = max_relative_diff(ours.last().unwrap(), &ref_logits);
    eprintln!("max relative logit difference to quantized_llama: {diff:e}");
    assert!(
        diff < 1e-3,
        "last-position logits differ by {diff} (relative to the largest logit)"
    );

    // Greedy decoding, 64 tokens, each step fed through our cache.
    let mut ref_tokens = Vec::new();
    let mut next = argmax(
        &Tensor::new(ref_logits.as_slice(), &device)
            .unwrap()
            .unsqueeze(0)
            .unwrap(),
    )
    .unwrap()[0];
    for pos in prompt.len()..prompt.len() + 64 {
        ref_tokens.push(next);
        let input = Tensor::new(&[next], &device).unwrap().unsqueeze(0).unwrap();
        let logits = reference.forward(&input, pos).unwrap();
        next = argmax(&logits).unwrap()[0];
    }
    let mut cursor = engine.start(prompt.clone()).unwrap();
    let mut our_tokens = Vec::new();
    for _ in 0..64 {
        let (logits, nodes) = engine.feed(std::slice::from_ref(&cursor)).unwrap();
        let token = argmax(
            &Tensor::new(logits[0].as_slice(), &device)
                .unwrap()
                .unsqueeze(0)
                .unwrap(),
        )
        .unwrap()[0];
        our_tokens.push(token);
        cursor = Cursor {
            node: nodes[0].clone(),
            pending: vec![token],
        };
    }
    assert_eq!(
        our_tokens,
        ref_tokens,
        "greedy text differs:\nours: {:?}\nreference: {:?}",
        engine.tokenizer().decode(&our_tokens).unwrap(),
        engine.tokenizer().decode(&ref_tokens).unwrap()
    );
}
