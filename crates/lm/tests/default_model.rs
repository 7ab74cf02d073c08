//! Tests on the default model, SmolLM2-135M-Instruct, as fetched by scripts/fetch-model.sh.

mod common;

use common::{default_model, max_abs_diff};

use std::sync::{Arc, OnceLock};

use candle_core::Device;
use evolve_lm::{
    Cursor, Engine, Expansion, Finish, Interject, Message, SamplingParams, WeightFormat,
};

/// One f32 engine shared by the tests of this binary (loading takes a second).
fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| Engine::load(&default_model(), WeightFormat::F32, &Device::Cpu).unwrap())
}

fn encode(text: &str) -> Vec<u32> {
    engine().tokenizer().encode(text).unwrap()
}

#[test]
fn tokenizer_round_trips_text_and_special_tokens() {
    let tok = engine().tokenizer();
    for text in [
        "What is 12*7? It is 84.",
        "  leading spaces, tabs\tand\nnewlines\n\n",
        "Unicode: café, naïve, 数学, emoji 🧮, −5 ≤ x² ≥ ½",
        "<|im_start|>user\nHi<|im_end|>\n",
        "1234567890 and 3.14159",
    ] {
        let ids = tok.encode(text).unwrap();
        assert_eq!(tok.decode(&ids).unwrap(), text);
    }
    // Digits are split one by one, special tokens are single ids.
    assert_eq!(tok.encode("2024").unwrap().len(), 4);
    assert_eq!(tok.encode("<|im_start|>").unwrap(), vec![1]);
    assert!(tok.is_stop(2));
}

#[test]
fn chat_template_comes_from_the_file() {
    let prompt = engine()
        .template()
        .render(&[Message::new("user", "Hi")], true)
        .unwrap();
    // SmolLM2's own template adds its default system prompt.
    assert!(prompt.starts_with("<|im_start|>system\n"), "{prompt}");
    assert!(
        prompt.ends_with("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"),
        "{prompt}"
    );
}

#[test]
fn a_cached_prefix_continues_exactly_like_a_full_recompute() {
    let e = engine();
    let tokens = encode(
        "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May.",
    );
    let full = e.logits_all(&tokens).unwrap();
    let split = tokens.len() - 7;
    let (_, nodes) = e
        .feed(&[e.start(tokens[..split].to_vec()).unwrap()])
        .unwrap();
    let cursor = Cursor {
        node: nodes[0].clone(),
        pending: tokens[split..].to_vec(),
    };
    let (logits, _) = e.feed(&[cursor]).unwrap();
    let diff = max_abs_diff(&logits[0], full.last().unwrap());
    assert!(
        diff < 1e-3,
        "cached continuation differs from recompute by {diff}"
    );
}

#[test]
fn batched_decoding_equals_one_at_a_time() {
    let e = engine();
    let base = e
        .feed(&[e.start(encode("Question: what is 3 + 4?")).unwrap()])
        .unwrap()
        .1[0]
        .clone();
    let other = e
        .feed(&[e
            .start(encode(
                "A completely different and longer prefix about geometry and circles.",
            ))
            .unwrap()])
        .unwrap()
        .1[0]
        .clone();
    let cursors = vec![
        Cursor {
            node: base.clone(),
            pending: encode(" Answer:"),
        },
        Cursor {
            node: base.clone(),
            pending: encode(" Let's think step by step"),
        },
        Cursor {
            node: other,
            pending: encode(" The area"),
        },
        e.start(encode("Fresh start")).unwrap(),
    ];
    let (batched, _) = e.feed(&cursors).unwrap();
    for (i, cursor) in cursors.iter().enumerate() {
        let (single, _) = e.feed(std::slice::from_ref(cursor)).unwrap();
        let diff = max_abs_diff(&batched[i], &single[0]);
        assert!(diff < 1e-3, "sequence {i}: batched logits differ by {diff}");
    }
}

#[test]
fn same_seed_same_candidates_and_stop_strings_end_a_step() {
    let e = engine();
    let prompt = e
        .chat_prompt(&[Message::new(
            "user",
            "Write three short sentences about the number 7.",
        )])
        .unwrap();
    let params = SamplingParams {
        temperature: 1.0,
        max_tokens: 40,
        seed: 11,
        stop: vec![".".into()],
        ..Default::default()
    };
    let run = |params: &SamplingParams| {
        let cursor = e.start(prompt.clone()).unwrap();
        e.expand(
            &[Expansion {
                cursor,
                candidates: 4,
                seed: None,
            }],
            params,
            None,
        )
        .unwrap()
        .remove(0)
    };
    let a = run(&params);
    let b = run(&params);
    let texts =
        |cs: &[evolve_lm::Completion]| cs.iter().map(|c| c.text.clone()).collect::<Vec<_>>();
    assert_eq!(texts(&a), texts(&b));
    assert_ne!(
        texts(&a),
        texts(&run(&SamplingParams {
            seed: 12,
            ..params.clone()
        }))
    );
    for c in &a {
        assert_eq!(c.tokens.len(), c.logprobs.len());
        assert!(c.logprobs.iter().all(|lp| *lp <= 0.0));
        match &c.finish {
            Finish::Stop(s) => assert!(
                c.text.ends_with(s.as_str()) && c.text.matches('.').count() == 1,
                "{:?}",
                c.text
            ),
            Finish::Length => assert_eq!(c.tokens.len(), 40),
            Finish::EndOfTurn => assert!(e.tokenizer().is_stop(*c.tokens.last().unwrap())),
        }
        // Text decoded piece by piece equals decoding all the tokens at once.
        let full = e.tokenizer().decode(&c.tokens).unwrap();
        match &c.finish {
            Finish::Stop(_) => assert!(full.starts_with(&c.text), "{:?} vs {full:?}", c.text),
            _ => assert_eq!(c.text, full),
        }
        // The cursor continues right after the candidate.
        assert_eq!(
            c.cursor.node.len() + c.cursor.pending.len(),
            prompt.len() + c.tokens.len()
        );
    }
}

#[test]
fn candidates_from_one_batch_match_their_own_runs() {
    // A candidate's text does not depend on what else was in the batch.
    let e = engine();
    let prompt = encode("The capital of France is");
    let params = SamplingParams {
        temperature: 0.8,
        max_tokens: 12,
        seed: 5,
        ..Default::default()
    };
    let together = e
        .expand(
            &[
                Expansion {
                    cursor: e.start(prompt.clone()).unwrap(),
                    candidates: 3,
                    seed: None,
                },
                Expansion {
                    cursor: e.start(encode("Two plus two equals")).unwrap(),
                    candidates: 2,
                    seed: None,
                },
            ],
            &params,
            None,
        )
        .unwrap();
    let alone = e
        .expand(
            &[Expansion {
                cursor: e.start(prompt).unwrap(),
                candidates: 3,
                seed: None,
            }],
            &params,
            None,
        )
        .unwrap();
    for (x, y) in together[0].iter().zip(&alone[0]) {
        assert_eq!(x.tokens, y.tokens);
    }
}

#[test]
fn greedy_siblings_decoded_together_match_a_single_decode() {
    // k greedy candidates go through the shared-prefix batch path; one goes alone.
    let e = engine();
    let prompt = e
        .chat_prompt(&[Message::new("user", "List three prime numbers.")])
        .unwrap();
    let (_, nodes) = e
        .feed(&[e.start(prompt[..prompt.len() - 1].to_vec()).unwrap()])
        .unwrap();
    let cursor = Cursor {
        node: nodes[0].clone(),
        pending: vec![*prompt.last().unwrap()],
    };
    let params = SamplingParams {
        temperature: 0.0,
        max_tokens: 24,
        ignore_eos: true,
        interject: None,
        ..Default::default()
    };
    let alone = e
        .expand(
            &[Expansion {
                cursor: cursor.clone(),
                candidates: 1,
                seed: None,
            }],
            &params,
            None,
        )
        .unwrap();
    let together = e
        .expand(
            &[Expansion {
                cursor,
                candidates: 4,
                seed: None,
            }],
            &params,
            None,
        )
        .unwrap();
    for c in &together[0] {
        assert_eq!(c.tokens, alone[0][0].tokens);
    }
}

#[test]
fn quantised_weights_stay_close_to_f32() {
    // Q8_0 on the standard kernel, and `auto` (on a VNNI CPU, Q8_0 on the repacked
    // kernel), against the file's weights dequantised to f32.
    let tokens =
        encode("Janet's ducks lay 16 eggs per day. She eats three for breakfast every morning and");
    let exact = engine().logits_all(&tokens).unwrap();
    let top = |v: &[f32]| {
        v.iter()
            .enumerate()
            .fold((0, f32::MIN), |b, (i, &x)| if x > b.1 { (i, x) } else { b })
            .0
    };
    for (format, mean_limit, worst_limit) in [
        (WeightFormat::Q8_0, 0.06, 0.12),
        (WeightFormat::Auto, 0.1, 0.15),
    ] {
        let engine = Engine::load(&default_model(), format, &Device::Cpu).unwrap();
        let approx = engine.logits_all(&tokens).unwrap();
        let (mut agree, mut worst, mut sum) = (0, 0f32, 0f32);
        for (e, a) in exact.iter().zip(&approx) {
            let error = max_abs_diff(e, a) / e.iter().fold(0f32, |m, x| m.max(x.abs()));
            worst = worst.max(error);
            sum += error;
            agree += usize::from(top(e) == top(a));
        }
        let mean = sum / exact.len() as f32;
        eprintln!(
            "{format:?} vs f32: relative logit error mean {mean:.3}, worst {worst:.3}; top-1 agreement {agree}/{}",
            exact.len()
        );
        assert!(
            mean < mean_limit && worst < worst_limit,
            "{format:?} logits drift from f32: mean {mean}, worst {worst}"
        );
        assert!(
            agree * 10 >= exact.len() * 8,
            "{format:?}: top-1 agrees on only {agree} of {} positions",
            exact.len()
        );
    }
}

#[test]
fn interjected_text_is_fed_in_place_of_sampled_tokens() {
    // A calculator-like hook: after three characters it writes " =", then the sum.
    let e = engine();
    let prompt = e
        .chat_prompt(&[Message::new(
            "user",
            "Add 600 and 634. Write the sum as 600 + 634 = N.",
        )])
        .unwrap();
    let forced = " 1234";
    let hook = Interject(Arc::new(|text: &str| {
        if text.ends_with('=') && !text.contains("1234") {
            Some(" 1234".to_owned())
        } else if !text.contains('=') && text.len() >= 3 {
            Some(" =".to_owned())
        } else {
            None
        }
    }));
    let params = SamplingParams {
        temperature: 0.0,
        max_tokens: 24,
        interject: Some(hook),
        ..Default::default()
    };
    let cursor = e.start(prompt.clone()).unwrap();
    let c = e
        .expand(
            &[Expansion {
                cursor,
                candidates: 1,
                seed: None,
            }],
            &params,
            None,
        )
        .unwrap()
        .remove(0)
        .remove(0);
    let at = c
        .text
        .find(" = 1234")
        .unwrap_or_else(|| panic!("{:?}", c.text));
    assert!(at < 20, "{:?}", c.text);
    // Its tokens are in the completion, with real log-probabilities, and the
    // text decodes from them as sampled text does.
    let ids = encode(forced);
    assert!(c.tokens.windows(ids.len()).any(|w| w == ids.as_slice()));
    assert_eq!(c.tokens.len(), c.logprobs.len());
    assert!(c.logprobs.iter().all(|lp| lp.is_finite() && *lp <= 0.0));
    assert!(
        e.tokenizer()
            .decode(&c.tokens)
            .unwrap()
            .starts_with(&c.text)
    );
    assert_eq!(
        c.cursor.node.len() + c.cursor.pending.len(),
        prompt.len() + c.tokens.len()
    );
}
