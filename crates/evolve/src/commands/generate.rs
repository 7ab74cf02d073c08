//! `evolve generate`: a chat completion from a local model, streamed to standard output.

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use evolve_lm::{Engine, Expansion, Message, SamplingParams};

use super::{Output, model_path, weight_format};
use crate::cli::GenerateArgs;

pub fn run(args: GenerateArgs, out: Output) -> anyhow::Result<ExitCode> {
    let path = model_path(&args.model)?;
    let started = Instant::now();
    let engine = Engine::load(
        &path,
        weight_format(&args.model)?,
        &candle_core::Device::Cpu,
    )
    .with_context(|| format!("loading {}", path.display()))?;
    let load_seconds = started.elapsed().as_secs_f64();

    let prompt = if args.raw {
        engine.tokenizer().encode(&args.prompt)?
    } else {
        let mut messages = Vec::new();
        if let Some(system) = &args.system {
            messages.push(Message::new("system", system));
        }
        messages.push(Message::new("user", &args.prompt));
        engine.chat_prompt(&messages)?
    };
    let params = SamplingParams {
        temperature: args.temperature,
        top_p: args.top_p,
        top_k: args.top_k,
        max_tokens: args.max_tokens,
        stop: args.stop.clone(),
        seed: args.seed,
        ignore_eos: false,
        interject: None,
    };
    let prompt_tokens = prompt.len();
    let started = Instant::now();
    let stdout = std::io::stdout();
    let mut print = |_: usize, _: usize, text: &str| {
        let mut lock = stdout.lock();
        // The end-of-turn marker is the model's, not the answer's.
        let _ = lock.write_all(text.replace("<|im_end|>", "").as_bytes());
        let _ = lock.flush();
    };
    let completions = engine.expand(
        &[Expansion {
            cursor: engine.start(prompt)?,
            candidates: 1,
            seed: None,
        }],
        &params,
        Some(&mut print),
    )?;
    println!();
    let completion = &completions[0][0];
    let seconds = started.elapsed().as_secs_f64();
    out.status(format!(
        "{} prompt + {} generated tokens in {seconds:.2} s ({:.1} tokens/s; model loaded in {load_seconds:.2} s; finish: {:?})",
        prompt_tokens,
        completion.tokens.len(),
        completion.tokens.len() as f64 / seconds,
        completion.finish
    ));
    Ok(ExitCode::SUCCESS)
}
