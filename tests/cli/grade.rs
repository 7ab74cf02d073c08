use crate::util::Env;

#[test]
fn grades_jsonl_from_stdin_and_keeps_the_input_fields() {
    let env = Env::new();
    let input = r#"{"id": 1, "response": "Half of it: \\boxed{\\frac{1}{2}}", "gold": "0.5"}
{"id": 2, "response": "She makes 18 dollars.", "gold": 18}
{"id": 3, "response": "So the answer is \\boxed{\\text{(C)}}", "gold": "C"}
{"id": 4, "response": "In all 1300.\n#### 1,300", "gold": "1200"}
{"id": 5, "response": "I do not know", "gold": "7"}
"#;
    let run = env.run_with_stdin(&["grade"], input).ok();
    let rows = run.json_lines();
    let verdicts: Vec<(i64, Option<&str>, bool)> = rows
        .iter()
        .map(|r| {
            (
                r["id"].as_i64().unwrap(),
                r["extracted"].as_str(),
                r["correct"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        verdicts,
        vec![
            (1, Some("\\frac{1}{2}"), true),
            (2, Some("18"), true),
            (3, Some("\\text{(C)}"), true),
            (4, Some("1,300"), false),
            (5, None, false),
        ]
    );
    assert!(
        run.stderr.contains("graded 5 responses: 3 correct (60.0%)"),
        "{}",
        run.stderr
    );
}

#[test]
fn grades_a_file_into_an_output_file() {
    let env = Env::new();
    std::fs::write(
        env.path("in.jsonl"),
        "{\"response\": \"x = 5\", \"gold\": \"5\"}\n",
    )
    .unwrap();
    env.run(&["grade", "in.jsonl", "--output", "out.jsonl"])
        .ok();
    let out = std::fs::read_to_string(env.path("out.jsonl")).unwrap();
    assert_eq!(
        out,
        "{\"response\":\"x = 5\",\"gold\":\"5\",\"extracted\":\"5\",\"correct\":true}\n"
    );
}

#[test]
fn a_bad_line_is_named_and_nothing_is_written() {
    let env = Env::new();
    std::fs::write(
        env.path("in.jsonl"),
        "{\"response\": \"5\", \"gold\": \"5\"}\n{\"response\": \"5\"}\n",
    )
    .unwrap();
    let stderr = env
        .run(&["grade", "in.jsonl", "--output", "out.jsonl"])
        .fails();
    assert!(
        stderr.contains("in.jsonl:2") && stderr.contains("missing field \"gold\""),
        "{stderr}"
    );
    assert!(!env.path("out.jsonl").exists());
    let stderr = env.run_with_stdin(&["grade"], "not json\n").fails();
    assert!(
        stderr.contains("<stdin>:1: expected a JSON object"),
        "{stderr}"
    );
}
