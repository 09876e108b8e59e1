//! `strata-fuzz-seeds DIR`: writes every fuzz target's seed corpus ([`strata_fuzz::seeds`]) to
//! `DIR/<target>/seed-<n>`, for `scripts/fuzz`.
fn main() {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: strata-fuzz-seeds DIR");
        std::process::exit(2);
    };
    for (name, _) in strata_fuzz::TARGETS {
        let d = std::path::Path::new(&dir).join(name);
        std::fs::create_dir_all(&d).expect("create the corpus directory");
        for (i, seed) in strata_fuzz::seeds(name).iter().enumerate() {
            std::fs::write(d.join(format!("seed-{i}")), seed).expect("write a seed");
        }
    }
}
