//! The fuzz smoke run of the ordinary test suite (stable Rust): every target over its seed
//! corpus, the regression inputs in `fuzz/regressions/<target>/` (each crash a fuzzer found,
//! kept after its fix), and 3,000 random mutations of the seeds per target. The coverage-guided
//! runs are `scripts/fuzz` (cargo-fuzz, nightly).

use std::path::Path;

use strata_fuzz::{TARGETS, seeds};

fn mutate(rng: &mut fastrand::Rng, seed: &[u8]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for _ in 0..rng.usize(1..6) {
        match rng.u8(0..5) {
            0 if !b.is_empty() => {
                let i = rng.usize(0..b.len());
                b[i] = rng.u8(..);
            }
            1 if !b.is_empty() => {
                let i = rng.usize(0..b.len());
                b[i] ^= 1 << rng.u8(0..8);
            }
            2 if !b.is_empty() => b.truncate(rng.usize(0..b.len())),
            3 if b.len() > 2 => {
                // Duplicate a slice: repeated fields, nested depth.
                let i = rng.usize(0..b.len() - 1);
                let j = rng.usize(i + 1..b.len());
                let slice = b[i..j].to_vec();
                let at = rng.usize(0..=b.len());
                b.splice(at..at, slice);
            }
            _ => {
                let i = rng.usize(0..=b.len());
                b.insert(i, rng.u8(..));
            }
        }
    }
    b
}

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
