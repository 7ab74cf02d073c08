//! The grading corpus: (response, gold, expected) cases, hand-written ones covering
//! every normalisation and ones built from real MATH-500, GSM8K and SVAMP rows
//! (see scripts/make-grading-corpus.py). Every case must grade as expected.

use std::path::Path;

use evolve_verify::grade;

struct Case {
    source: String,
    response: String,
    gold: String,
    expected: bool,
    note: String,
}

fn unescape(field: &str) -> String {
    field.replace("\\n", "\n")
}

fn load() -> Vec<Case> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut cases = Vec::new();
    let tsv = std::fs::read_to_string(dir.join("hand_written.tsv")).unwrap();
    for (i, line) in tsv.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        assert_eq!(
            fields.len(),
            4,
            "hand_written.tsv line {}: expected 4 tab-separated fields",
            i + 1
        );
        cases.push(Case {
            source: format!("hand_written.tsv:{}", i + 1),
            response: unescape(fields[0]),
            gold: fields[1].to_owned(),
            expected: fields[2]
                .parse()
                .unwrap_or_else(|_| panic!("line {}: expected true/false", i + 1)),
            note: fields[3].to_owned(),
        });
    }
    let jsonl = std::fs::read_to_string(dir.join("from_datasets.jsonl")).unwrap();
    for (i, line) in jsonl.lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        cases.push(Case {
            source: format!("from_datasets.jsonl:{}", i + 1),
            response: v["response"].as_str().unwrap().to_owned(),
            gold: v["gold"].as_str().unwrap().to_owned(),
            expected: v["expected"].as_bool().unwrap(),
            note: v["note"].as_str().unwrap().to_owned(),
        });
    }
    cases
}

#[test]
fn every_corpus_case_grades_as_expected() {
    let cases = load();
    assert!(
        cases.len() >= 300,
        "the corpus has only {} cases",
        cases.len()
    );
    let mut failures = Vec::new();
    for case in &cases {
        let verdict = grade(&case.response, &case.gold);
        if verdict.correct != case.expected {
            failures.push(format!(
                "{} ({}): gold {:?}, extracted {:?}, graded {}, expected {}",
                case.source, case.note, case.gold, verdict.answer, verdict.correct, case.expected
            ));
        }
    }
    eprintln!(
        "grading corpus: {} cases, {} failing",
        cases.len(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
