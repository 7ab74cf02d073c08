//! `evolve generate` with the default model (fetched by scripts/fetch-model.sh).

use crate::util::Env;

#[test]
fn answers_a_question_with_the_default_model() {
    let env = Env::new();
    let run = env
        .run(&["generate", "What is 12*7?", "--max-tokens", "24"])
        .ok();
    assert!(run.stdout.trim().len() > 3, "no answer: {:?}", run.stdout);
    assert!(!run.stdout.contains("<|im_end|>"));
    assert!(run.stderr.contains("generated tokens"), "{}", run.stderr);
    // Greedy decoding is reproducible.
    let again = env
        .run(&["generate", "What is 12*7?", "--max-tokens", "24"])
        .ok();
    assert_eq!(run.stdout, again.stdout);
}

#[test]
fn a_missing_or_broken_model_file_is_named() {
    let env = Env::new();
    let stderr = env
        .run(&["generate", "hi", "--model", "nowhere.gguf"])
        .fails();
    assert!(
        stderr.contains("nowhere.gguf") && stderr.contains("cannot open"),
        "{stderr}"
    );
    std::fs::write(
        env.path("broken.gguf"),
        b"GGUF but not really a model file at all",
    )
    .unwrap();
    let stderr = env
        .run(&["generate", "hi", "--model", "broken.gguf"])
        .fails();
    assert!(stderr.contains("broken.gguf"), "{stderr}");
    let stderr = env.run(&["generate", "hi", "--weights", "f16"]).fails();
    assert!(stderr.contains("unknown weight format"), "{stderr}");
}
