//! `evolve train policy`, `evolve train ppm` and `evolve ppm score` on the
//! default model with a handful of rows: files that load, rows in the database.

use crate::util::Env;

const SFT: &str = r#"{"messages": [{"role": "system", "content": "Solve step by step."}, {"role": "user", "content": "Tom has 3 boxes of 4 apples. How many apples?"}, {"role": "assistant", "content": "Tom has 3 * 4 = 12 apples.\n\nThe answer is \\boxed{12}."}]}
{"messages": [{"role": "system", "content": "Solve step by step."}, {"role": "user", "content": "A shop sold 5 cats and then 7 more. How many cats?"}, {"role": "assistant", "content": "It sold 5 + 7 = 12 cats.\n\nThe answer is \\boxed{12}."}]}
{"messages": [{"role": "system", "content": "Solve step by step."}, {"role": "user", "content": "Ann had 10 pens and gave away 4. How many are left?"}, {"role": "assistant", "content": "She has 10 - 4 = 6 pens.\n\nThe answer is \\boxed{6}."}]}
{"prompt": "Q: What is 2 + 2?\nA:", "completion": " 2 + 2 = 4."}
"#;

const PAIRS: &str = r#"{"prompt": "<|im_start|>user\nTom has 3 boxes of 4 apples. How many apples?<|im_end|>\n<|im_start|>assistant\n", "chosen": "Tom has 3 * 4 = 12 apples.\n\n", "rejected": "Tom has 3 + 4 = 7 apples, and then he eats some of them.\n\n"}
{"prompt": "<|im_start|>user\nAnn had 10 pens and gave away 4.<|im_end|>\n<|im_start|>assistant\n", "chosen": "She has 10 - 4 = 6 pens.\n\n", "rejected": "She has 10 + 4 = 14 pens, since giving adds to them.\n\n"}
{"prompt": "<|im_start|>user\nA shop sold 5 cats and then 7 more.<|im_end|>\n<|im_start|>assistant\n", "chosen": "It sold 5 + 7 = 12 cats.\n\n", "rejected": "It sold 5 * 7 = 35 cats in the whole week.\n\n"}
{"prompt": "<|im_start|>user\nWhat is 9 - 3?<|im_end|>\n<|im_start|>assistant\n", "chosen": "9 - 3 = 6.\n\n", "rejected": "9 - 3 = 5, counting down one at a time.\n\n"}
"#;

#[test]
fn a_policy_trains_saves_loads_in_generate_and_is_registered() {
    let env = Env::initialised();
    std::fs::write(env.path("sft.jsonl"), SFT).unwrap();
    let run = env
        .run(&[
            "train",
            "policy",
            "--data",
            "sft.jsonl",
            "--epochs",
            "1",
            "--batch-size",
            "2",
            "--grad-accum",
            "1",
            "--held-out",
            "0.25",
            "--method",
            "lora",
            "--lora-rank",
            "4",
            "--out",
            "p.gguf",
        ])
        .ok();
    assert!(
        run.stdout.contains("policy of round 1 -> p.gguf"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("held-out loss"), "{}", run.stdout);
    assert!(run.stdout.contains("tokens/s"), "{}", run.stdout);
    let generated = env
        .run(&[
            "generate",
            "What is 2 + 2?",
            "--model",
            "p.gguf",
            "--max-tokens",
            "8",
        ])
        .ok();
    assert!(!generated.stdout.trim().is_empty());

    let rows = env.sql(
        "SELECT m.role, m.round, m.data_sha256, m.metrics, p.path AS parent FROM models m
         JOIN models p ON p.id = m.parent_id WHERE m.path LIKE '%/p.gguf'",
    );
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["role"], "policy");
    assert!(
        rows[0]["parent"]
            .as_str()
            .unwrap()
            .ends_with("SmolLM2-135M-Instruct.Q4_1.gguf")
    );
    let metrics: serde_json::Value =
        serde_json::from_str(rows[0]["metrics"].as_str().unwrap()).unwrap();
    assert_eq!(metrics["rows"], 4);
    assert_eq!(metrics["report"]["held_out"].as_array().unwrap().len(), 2);
    assert!(metrics["report"]["tokens_per_second"].as_f64().unwrap() > 0.0);

    // Bad input is named.
    std::fs::write(
        env.path("bad.jsonl"),
        "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}\n",
    )
    .unwrap();
    let stderr = env.run(&["train", "policy", "--data", "bad.jsonl"]).fails();
    assert!(
        stderr.contains("bad.jsonl line 1") && stderr.contains("not the assistant"),
        "{stderr}"
    );
    let stderr = env
        .run(&["train", "policy", "--data", "missing.jsonl"])
        .fails();
    assert!(stderr.contains("missing.jsonl"), "{stderr}");
}

#[test]
fn a_ppm_trains_and_scores_pairs_and_steps() {
    let env = Env::initialised();
    std::fs::write(env.path("pairs.jsonl"), PAIRS).unwrap();
    let run = env
        .run(&[
            "train",
            "ppm",
            "--data",
            "pairs.jsonl",
            "--method",
            "head",
            "--epochs",
            "2",
            "--batch-size",
            "2",
            "--grad-accum",
            "1",
            "--held-out",
            "0.25",
            "--out",
            "ppm.gguf",
        ])
        .ok();
    assert!(run.stdout.contains("held-out accuracy"), "{}", run.stdout);
    assert!(env.path("ppm.gguf").is_file() && env.path("ppm.head.safetensors").is_file());
    assert_eq!(
        env.count("SELECT COUNT(*) FROM models WHERE role = 'ppm' AND metrics IS NOT NULL"),
        1
    );

    let scored = env
        .run(&["ppm", "score", "--ppm", "ppm.gguf", "pairs.jsonl"])
        .ok();
    let rows = scored.json_lines();
    assert_eq!(rows.len(), 4);
    for row in &rows {
        for key in ["chosen_score", "rejected_score"] {
            assert!((-1.0..=1.0).contains(&row[key].as_f64().unwrap()), "{row}");
        }
    }
    assert!(
        scored
            .stderr
            .contains("4 pairs: the chosen side scores higher in"),
        "{}",
        scored.stderr
    );
    let steps = r#"{"prompt": "<|im_start|>user\n1+1?<|im_end|>\n<|im_start|>assistant\n", "step": "1 + 1 = 2.", "label": true}"#;
    let scored = env
        .run_with_stdin(&["ppm", "score", "--ppm", "ppm.gguf"], steps)
        .ok();
    assert!(scored.json_lines()[0]["score"].is_number());
    let stderr = env
        .run_with_stdin(&["ppm", "score", "--ppm", "ppm.gguf"], "{\"step\": \"x\"}")
        .fails();
    assert!(
        stderr.contains("standard input line 1: no \"prompt\""),
        "{stderr}"
    );
}
