//! SFT data and training: rows tokenised with the loss on the answer only, and
//! a tiny model that learns a tiny set by heart.

use candle_core::DType;
use evolve_lm::Message;
use evolve_train::sft::{mean_loss, split};
use evolve_train::{Method, SftExample, SftSettings, Silent, TrainModel, read_sft, train_sft};

mod common;

#[test]
fn a_tiny_model_learns_a_tiny_set_by_heart() {
    let examples: Vec<SftExample> = [
        vec![1, 2, 3, 10, 11, 12, 13],
        vec![1, 4, 5, 14, 15, 16],
        vec![1, 6, 7, 8, 17, 18, 19, 10],
    ]
    .into_iter()
    .map(|tokens| SftExample {
        tokens,
        trained_from: 3,
    })
    .collect();
    let mut model = TrainModel::random(common::tiny(20), DType::F32, 11).unwrap();
    model.prepare(Method::Full, 0).unwrap();
    let all: Vec<&SftExample> = examples.iter().collect();
    let before = mean_loss(&model, &all, 4).unwrap();
    let settings = SftSettings {
        epochs: 60,
        lr: 1e-2,
        batch_size: 2,
        grad_accum: 1,
        held_out: 0.0,
        ..SftSettings::default()
    };
    let report = train_sft(&model, &examples, &settings, &mut Silent).unwrap();
    let after = mean_loss(&model, &all, 4).unwrap();
    assert!(before > 2.0, "{before}");
    assert!(after < 0.05, "loss {before} -> {after}");
    assert_eq!(report.steps, 60 * 2);
    assert_eq!(report.tokens, 60 * (6 + 5 + 7));
    assert!(report.train_loss.last().unwrap() < &report.train_loss[0]);
}

#[test]
fn lora_learns_too_and_leaves_the_base_weights_alone() {
    let examples = vec![SftExample {
        tokens: vec![1, 2, 3, 4, 5, 6, 7, 8],
        trained_from: 2,
    }];
    let mut model = TrainModel::random(common::tiny(20), DType::F32, 12).unwrap();
    model
        .prepare(
            Method::Lora {
                rank: 4,
                alpha: 8.0,
                layers: 0,
            },
            3,
        )
        .unwrap();
    let all: Vec<&SftExample> = examples.iter().collect();
    let before = mean_loss(&model, &all, 1).unwrap();
    let settings = SftSettings {
        epochs: 80,
        lr: 2e-2,
        batch_size: 1,
        grad_accum: 1,
        held_out: 0.0,
        ..SftSettings::default()
    };
    train_sft(&model, &examples, &settings, &mut Silent).unwrap();
    let after = mean_loss(&model, &all, 1).unwrap();
    assert!(after < before * 0.5, "loss {before} -> {after}");
    // Only the adapters trained: 7 linears x 2 blocks x (A, B).
    assert_eq!(model.vars().len(), 28);
}

#[test]
fn the_held_out_split_is_seeded_and_never_empty_or_everything() {
    let (train, held) = split(40, 0.05, 1);
    assert_eq!((train.len(), held.len()), (38, 2));
    assert_eq!(split(40, 0.05, 1), (train.clone(), held.clone()));
    assert_ne!(split(40, 0.05, 2).1, held);
    assert_eq!(split(3, 0.05, 1).1.len(), 1);
    assert_eq!(split(1, 0.5, 1).1.len(), 0);
}

#[test]
fn rows_are_tokenised_through_the_chat_template_with_the_answer_trained() {
    let path = common::default_model();
    let model = TrainModel::load(&path).unwrap();
    let (tokenizer, template) = model.text().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sft.jsonl");
    std::fs::write(
        &file,
        concat!(
            r#"{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2 + 3?"}, {"role": "assistant", "content": "2 + 3 = 5."}], "tree_id": 1}"#,
            "\n",
            r#"{"prompt": "Q: 1 + 1?\nA:", "completion": " 2"}"#,
            "\n"
        ),
    )
    .unwrap();
    let (examples, truncated) = read_sft(&file, tokenizer, template, 512).unwrap();
    assert_eq!((examples.len(), truncated), (2, 0));
    let prompt = template
        .render(
            &[
                Message::new("system", "Be brief."),
                Message::new("user", "2 + 3?"),
            ],
            true,
        )
        .unwrap();
    let prompt_tokens = tokenizer.encode(&prompt).unwrap();
    assert_eq!(examples[0].trained_from, prompt_tokens.len());
    assert_eq!(
        &examples[0].tokens[..prompt_tokens.len()],
        prompt_tokens.as_slice()
    );
    let answer = tokenizer
        .decode(&examples[0].tokens[examples[0].trained_from..])
        .unwrap();
    assert_eq!(answer, "2 + 3 = 5.<|im_end|>\n");
    assert_eq!(
        tokenizer
            .decode(&examples[1].tokens[examples[1].trained_from..])
            .unwrap(),
        " 2"
    );

    let (cut, truncated) = read_sft(&file, tokenizer, template, prompt_tokens.len() + 2).unwrap();
    assert_eq!(
        (cut[0].tokens.len(), truncated),
        (prompt_tokens.len() + 2, 1)
    );

    std::fs::write(&file, "{\"messages\": []}\n{oops\n").unwrap();
    let err = format!(
        "{:#}",
        read_sft(&file, tokenizer, template, 512).unwrap_err()
    );
    assert!(err.contains("line 1: no messages"), "{err}");
    std::fs::write(&file, "\n{oops\n").unwrap();
    let err = format!(
        "{:#}",
        read_sft(&file, tokenizer, template, 512).unwrap_err()
    );
    assert!(err.contains("sft.jsonl line 2: not an SFT row"), "{err}");
    std::fs::write(
        &file,
        r#"{"messages": [{"role": "user", "content": "hi"}]}"#,
    )
    .unwrap();
    let err = format!(
        "{:#}",
        read_sft(&file, tokenizer, template, 512).unwrap_err()
    );
    assert!(err.contains("not the assistant"), "{err}");
}
