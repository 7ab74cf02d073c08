//! The training model against the inference engine, on the default model:
//! same logits, saved files that reload to the same logits, LoRA merged on save.

use candle_core::{Device, Tensor};
use evolve_lm::{Engine, Message, WeightFormat};
use evolve_train::{Method, SaveFormat, TrainModel};

mod common;

fn prompt(engine: &Engine) -> Vec<u32> {
    let mut tokens = engine
        .chat_prompt(&[Message::new(
            "user",
            "Tom has 3 boxes of 4 apples. How many apples?",
        )])
        .unwrap();
    tokens.extend(
        engine
            .tokenizer()
            .encode("He has 3 * 4 = 12 apples.")
            .unwrap(),
    );
    tokens
}

/// Logits of every position, `[tokens, vocab]`.
fn logits(model: &TrainModel, tokens: &[u32]) -> Vec<Vec<f32>> {
    let input = Tensor::new(tokens, &Device::Cpu)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    let hidden = model.hidden(&input).unwrap();
    let rows = hidden.squeeze(0).unwrap();
    model.logits(&rows).unwrap().to_vec2().unwrap()
}

fn max_abs_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    a.iter()
        .flatten()
        .zip(b.iter().flatten())
        .fold(0f32, |m, (x, y)| m.max((x - y).abs()))
}

#[test]
fn trains_the_engines_model_and_saves_files_that_reload_the_same() {
    let path = common::default_model();
    let engine = Engine::load(&path, WeightFormat::F32, &Device::Cpu).unwrap();
    let tokens = prompt(&engine);
    let mut model = TrainModel::load(&path).unwrap();
    let ours = logits(&model, &tokens);
    let engines = engine.logits_all(&tokens).unwrap();
    let diff = max_abs_diff(&ours, &engines);
    assert!(diff < 2e-3, "training forward and engine differ by {diff}");

    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("policy-f32.gguf");
    model.save_gguf(&saved, SaveFormat::F32).unwrap();
    assert_eq!(logits(&TrainModel::load(&saved).unwrap(), &tokens), ours);
    let reloaded = Engine::load(&saved, WeightFormat::F32, &Device::Cpu).unwrap();
    assert_eq!(reloaded.logits_all(&tokens).unwrap(), engines);
    // The chat template and tokenizer came along.
    assert_eq!(prompt(&reloaded), tokens);

    // LoRA with non-zero adapters: the merged file computes what the adapters did.
    model
        .prepare(
            Method::Lora {
                rank: 4,
                alpha: 8.0,
                layers: 0,
            },
            1,
        )
        .unwrap();
    assert_eq!(
        logits(&model, &tokens),
        ours,
        "B starts at zero: LoRA starts from the base model"
    );
    for var in model.vars() {
        let shape = var.shape().clone();
        var.set(&(Tensor::randn(0f32, 0.02, shape, &Device::Cpu).unwrap()))
            .unwrap();
    }
    let adapted = logits(&model, &tokens);
    assert!(max_abs_diff(&adapted, &ours) > 1e-2);
    let merged = dir.path().join("policy-lora.gguf");
    model.save_gguf(&merged, SaveFormat::F32).unwrap();
    let diff = max_abs_diff(
        &logits(&TrainModel::load(&merged).unwrap(), &tokens),
        &adapted,
    );
    assert!(diff < 1e-3, "merged and unmerged LoRA differ by {diff}");

    // Q8_0 output loads in the engine and stays close.
    let q8 = dir.path().join("policy-q8.gguf");
    TrainModel::load(&path)
        .unwrap()
        .save_gguf(&q8, SaveFormat::Q8_0)
        .unwrap();
    let q8_engine = Engine::load(&q8, WeightFormat::AsStored, &Device::Cpu).unwrap();
    let q8_logits = q8_engine.logits_all(&tokens).unwrap();
    let argmax = |row: &Vec<f32>| {
        (0..row.len())
            .max_by(|&a, &b| row[a].total_cmp(&row[b]))
            .unwrap()
    };
    let same = q8_logits
        .iter()
        .zip(&engines)
        .filter(|(a, b)| argmax(a) == argmax(b))
        .count();
    assert!(
        same * 10 >= tokens.len() * 9,
        "Q8_0 agrees on the top token at {same} of {} positions",
        tokens.len()
    );
    assert!(std::fs::metadata(&q8).unwrap().len() < std::fs::metadata(&saved).unwrap().len() / 3);
}
