//! The fuzz smoke run of the ordinary test suite (stable Rust): every target over its seed
//! corpus, the regression inputs in `fuzz/regressions/<target>/` (each crash a fuzzer found,
//! kept after its fix), and 3,000 random mutations of the seeds per target. The coverage-guided
//! runs are `scripts/fuzz` (cargo-fuzz, nightly).

use std::path::Path;

use strata_fuzz::{TARGETS, seeds};
use strata_pipelines::testing::mutate;

#[test]
fn every_target_survives_its_seeds_regressions_and_mutations() {
    let regressions = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions");
    for (name, target) in TARGETS {
        let corpus = seeds(name);
        assert!(!corpus.is_empty(), "{name} has no seeds");
        for s in &corpus {
            target(s);
        }
        if let Ok(dir) = std::fs::read_dir(regressions.join(name)) {
            for e in dir.flatten() {
                target(&std::fs::read(e.path()).unwrap());
            }
        }
        let mut rng = fastrand::Rng::with_seed(0x5757_a7a0);
        let runs = if *name == "queue_segment" { 300 } else { 3_000 };
        for _ in 0..runs {
            let seed = &corpus[rng.usize(0..corpus.len())];
            target(&mutate(&mut rng, seed));
        }
        target(&[]);
    }
}
