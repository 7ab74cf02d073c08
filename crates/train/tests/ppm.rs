//! The process preference model: it learns a separable preference, its scores
//! stay in [-1, 1], and a saved PPM scores the same after loading.

use candle_core::DType;
use evolve_train::ppm::head_path;
use evolve_train::{
    Method, PairExample, Ppm, PpmSettings, SaveFormat, Silent, TrainModel, train_ppm,
};

mod common;

/// Prompts of random tokens; the chosen step ends in token 20 ("right"), the
/// rejected one in token 21 ("wrong"), with the same words before it.
fn separable(n: usize) -> Vec<PairExample> {
    let mut rng = evolve_lm::Rng::new(5, 0);
    let mut token = || (rng.uniform() * 18.0) as u32 + 1;
    (0..n)
        .map(|_| {
            let prompt: Vec<u32> = (0..6).map(|_| token()).collect();
            let words: Vec<u32> = (0..3).map(|_| token()).collect();
            PairExample {
                chosen: [&prompt[..], &words, &[20]].concat(),
                rejected: [&prompt[..], &words, &[21]].concat(),
            }
        })
        .collect()
}

#[test]
fn a_tiny_ppm_learns_a_separable_preference() {
    let pairs = separable(80);
    let mut ppm = Ppm::new(TrainModel::random(common::tiny(24), DType::F32, 21).unwrap()).unwrap();
    ppm.prepare(Method::Full, 0).unwrap();
    let settings = PpmSettings {
        epochs: 6,
        lr: 3e-3,
        batch_size: 4,
        grad_accum: 1,
        held_out: 0.25,
        ..PpmSettings::default()
    };
    let report = train_ppm(&ppm, &pairs, &settings, &mut Silent).unwrap();
    assert_eq!((report.train_rows, report.held_out_rows), (60, 20));
    let (before, after) = (report.held_out[0], *report.held_out.last().unwrap());
    assert!(
        before <= 0.5,
        "an untrained head scores every side alike: {before}"
    );
    assert!(after >= 0.9, "held-out pair accuracy {before} -> {after}");
    assert!(report.train_loss.last().unwrap() < &report.train_loss[0]);

    let scores = ppm
        .score(&[pairs[0].chosen.clone(), pairs[0].rejected.clone()], 2)
        .unwrap();
    assert!(
        scores.iter().all(|s| (-1.0..=1.0).contains(s)),
        "{scores:?}"
    );
    assert!(scores[0] > scores[1], "{scores:?}");
}

#[test]
fn a_head_only_ppm_trains_just_the_head() {
    let mut ppm = Ppm::new(TrainModel::random(common::tiny(24), DType::F32, 22).unwrap()).unwrap();
    ppm.prepare(Method::Frozen, 0).unwrap();
    assert_eq!(ppm.vars().len(), 2);
    let settings = PpmSettings {
        epochs: 4,
        lr: 1e-2,
        batch_size: 4,
        grad_accum: 1,
        held_out: 0.25,
        ..PpmSettings::default()
    };
    let report = train_ppm(&ppm, &separable(80), &settings, &mut Silent).unwrap();
    assert_eq!(report.parameters, 33);
    assert!(*report.held_out.last().unwrap() > report.held_out[0]);
}

#[test]
fn a_saved_ppm_scores_the_same_after_loading() {
    let path = common::default_model();
    let mut ppm = Ppm::new(TrainModel::load(&path).unwrap()).unwrap();
    ppm.prepare(Method::Frozen, 0).unwrap();
    // Give the head some weights: one short training run on two pairs.
    let tokenizer = ppm.backbone.text().unwrap().0.clone();
    let encode = |s: &str| tokenizer.encode(s).unwrap();
    let pairs = vec![
        PairExample {
            chosen: encode("3 * 4 = 12 apples."),
            rejected: encode("3 * 4 = 13 apples."),
        },
        PairExample {
            chosen: encode("10 - 2 = 8 cats."),
            rejected: encode("10 - 2 = 9 cats."),
        },
    ];
    let settings = PpmSettings {
        epochs: 2,
        lr: 1e-2,
        batch_size: 2,
        grad_accum: 1,
        held_out: 0.0,
        ..PpmSettings::default()
    };
    train_ppm(&ppm, &pairs, &settings, &mut Silent).unwrap();
    let sequences = vec![pairs[0].chosen.clone(), pairs[1].rejected.clone()];
    let scores = ppm.score(&sequences, 2).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ppm.gguf");
    ppm.save(&file, SaveFormat::F32).unwrap();
    assert!(head_path(&file).is_file());
    let loaded = Ppm::load(&file).unwrap();
    assert_eq!(loaded.score(&sequences, 2).unwrap(), scores);
    std::fs::remove_file(head_path(&file)).unwrap();
    let err = format!("{:#}", Ppm::load(&file).err().unwrap());
    assert!(err.contains("ppm.head.safetensors"), "{err}");
}
