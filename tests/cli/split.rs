use crate::util::Env;

#[test]
fn split_is_seeded_repeatable_and_guarded() {
    let held_out_ids = |env: &Env| {
        env.sql("SELECT external_id FROM problems WHERE split = 'held-out' ORDER BY external_id")
            .into_iter()
            .map(|r| r["external_id"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let make = || {
        let env = Env::initialised();
        env.import_fixture("gsm8k.jsonl", "gsm8k");
        env
    };
    let (a, b) = (make(), make());
    a.run(&["data", "split", "gsm8k", "--held-out", "1", "--seed", "3"])
        .ok();
    b.run(&[
        "data",
        "split",
        "gsm8k",
        "--held-out-fraction",
        "0.34",
        "--seed",
        "3",
    ])
    .ok();
    assert_eq!(held_out_ids(&a), held_out_ids(&b));
    assert_eq!(held_out_ids(&a).len(), 1);

    let list = a.run(&["data", "list", "--json"]).ok().json_lines();
    assert_eq!(
        (
            list[0]["pool"].as_i64(),
            list[0]["held_out"].as_i64(),
            list[0]["split_seed"].as_i64()
        ),
        (Some(2), Some(1), Some(3))
    );

    let stderr = a
        .run(&["data", "split", "gsm8k", "--held-out", "2", "--seed", "3"])
        .fails();
    assert!(
        stderr.contains("already split") && stderr.contains("--force"),
        "{stderr}"
    );
    let stderr = a
        .run(&["data", "split", "gsm8k", "--held-out", "3"])
        .fails();
    assert!(stderr.contains("cannot hold out 3"), "{stderr}");
}
