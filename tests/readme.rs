//! The README's walkthroughs, run as written against the built binary, so the next mismatch
//! between the text and the program fails here instead of for a user.
//!
//! A fenced block preceded by `<!-- readme-test: MODE[; expect: TEXT][; reject: TEXT]
//! [; clean-logs: TEXT] -->` is run:
//! - `run`: the block in `bash`, in a fresh directory, with this test's `strata` first on the
//!   `PATH`. The one stand-in: `cargo` is a shell function that does nothing (the walkthroughs
//!   build the release binary first; the test has built its own). Every `expect` must be in
//!   the output, no `reject`, and no `*.log` file the block wrote may contain `clean-logs`.
//!   Whatever the block left running is killed with its process group.
//! - `validate`: the block in `bash` from the repository root with `strata` standing for
//!   `strata validate`: every command must give a valid config.
//! - `config NAME`: the block is a config file; `strata validate` must accept it (warnings
//!   allowed).

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One tagged block.
#[derive(Debug)]
struct Block {
    line: usize,
    mode: String,
    expect: Vec<String>,
    reject: Vec<String>,
    clean_logs: Vec<String>,
    text: String,
}

fn blocks(path: &Path) -> Vec<Block> {
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let Some(spec) = l
            .trim()
            .strip_prefix("<!-- readme-test:")
            .and_then(|r| r.strip_suffix("-->"))
        else {
            continue;
        };
        let mut parts = spec.split("; ").map(str::trim);
        let mode = parts.next().unwrap().to_owned();
        let (mut expect, mut reject, mut clean_logs) = (Vec::new(), Vec::new(), Vec::new());
        for p in parts {
            let (k, v) = p.split_once(": ").unwrap_or((p.trim_end_matches(':'), ""));
            match k {
                "expect" => expect.push(v.to_owned()),
                "reject" => reject.push(v.to_owned()),
                "clean-logs" => clean_logs.push(v.to_owned()),
                other => panic!(
                    "{}:{}: unknown readme-test key {other:?}",
                    path.display(),
                    i + 1
                ),
            }
        }
        let fence = lines[i + 1];
        let indent = fence.len() - fence.trim_start().len();
        assert!(
            fence.trim_start().starts_with("```"),
            "{}:{}: no fenced block after the tag",
            path.display(),
            i + 2
        );
        let body: Vec<&str> = lines[i + 2..]
            .iter()
            .take_while(|l| l.trim_start() != "```")
            .map(|l| {
                if l.len() >= indent {
                    &l[indent..]
                } else {
                    l.trim_start()
                }
            })
            .collect();
        out.push(Block {
            line: i + 1,
            mode,
            expect,
            reject,
            clean_logs,
            text: body.join("\n") + "\n",
        });
    }
    out
}

fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_strata"))
        .parent()
        .unwrap()
        .to_owned()
}

fn path_with_strata() -> String {
    format!(
        "{}:{}",
        bin_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// Runs `script` with bash in `dir`, in its own process group (killed afterwards), for at most
/// `limit`: (success, stdout + stderr).
fn bash(script: &str, dir: &Path, limit: Duration) -> (bool, String) {
    let log = dir.join(".readme-test.out");
    let f = std::fs::File::create(&log).unwrap();
    let mut child = Command::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .env("PATH", path_with_strata())
        // requests (the Python SDK) lets these override a given CA file.
        .env_remove("REQUESTS_CA_BUNDLE")
        .env_remove("CURL_CA_BUNDLE")
        .stdin(Stdio::null())
        .stdout(f.try_clone().unwrap())
        .stderr(f)
        .process_group(0)
        .spawn()
        .unwrap();
    let pgid = child.id() as i32;
    let end = Instant::now() + limit;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break Some(st);
        }
        if Instant::now() > end {
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    // Whatever the block left behind.
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pgid}")])
        .status();
    let _ = child.wait();
    let out = std::fs::read_to_string(&log).unwrap_or_default();
    (status.is_some_and(|s| s.success()), out)
}

/// Every `*.log` in `dir` and below.
fn logs(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() && p.file_name().is_some_and(|n| n != "sdk") {
            out.extend(logs(&p));
        } else if p.extension().is_some_and(|x| x == "log") {
            out.push((p.clone(), std::fs::read_to_string(&p).unwrap_or_default()));
        }
    }
    out
}

#[test]
fn readme_walkthroughs_run_as_written() {
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let all = blocks(&readme);
    assert!(
        all.iter().filter(|b| b.mode == "run").count() >= 2,
        "{all:?}"
    );
    for b in &all {
        let at = format!("README.md:{}", b.line);
        match b.mode.split_whitespace().collect::<Vec<_>>()[..] {
            ["config", name] => {
                let dir = tempfile::tempdir().unwrap();
                let f = dir.path().join(name);
                std::fs::write(&f, &b.text).unwrap();
                let out = Command::new(env!("CARGO_BIN_EXE_strata"))
                    .args(["validate", "--config"])
                    .arg(&f)
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "{at}: the config does not validate:\n{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                println!("readme: {at}: config {name} validates");
            }
            ["validate"] => {
                let script = format!(
                    "set -e\nstrata() {{ command strata validate \"$@\"; }}\n{}",
                    b.text
                );
                let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
                let (ok, out) = bash(&script, repo, Duration::from_secs(60));
                assert!(ok && out.contains("config is valid"), "{at}: {out}");
                println!("readme: {at}: every command's config validates");
            }
            ["run"] => {
                if walkthrough_tools_missing() {
                    return;
                }
                let dir = tempfile::tempdir().unwrap();
                // The walkthroughs build and run the release binary; the test's is the debug
                // build, whose resident set (about 50 MiB) is above the sidecar's 64 MiB limit's
                // soft limit (51 MiB) where the release build's (about 15 MiB, BENCHMARKS.md) is
                // far below: the limit is raised for the debug build, and only then.
                let script = format!(
                    "cargo() {{ echo \"(readme test: cargo $* skipped: the test's strata is on PATH; STRATA_MEMORY_LIMIT_MIB=256 for its debug build)\"; export STRATA_MEMORY_LIMIT_MIB=256; }}\n{}",
                    b.text
                );
                let t = Instant::now();
                let (ok, out) = bash(&script, dir.path(), Duration::from_secs(240));
                let logs = logs(dir.path());
                let all_logs: String = logs
                    .iter()
                    .map(|(p, t)| format!("--- {}\n{t}", p.display()))
                    .collect();
                assert!(ok, "{at}: the walkthrough failed:\n{out}\n{all_logs}");
                for e in &b.expect {
                    assert!(
                        out.contains(e.as_str()),
                        "{at}: {e:?} not in the output:\n{out}\n{all_logs}"
                    );
                }
                for r in &b.reject {
                    assert!(
                        !out.contains(r.as_str()),
                        "{at}: {r:?} in the output:\n{out}"
                    );
                }
                for c in &b.clean_logs {
                    for (p, text) in &logs {
                        assert!(
                            !text.contains(c.as_str()),
                            "{at}: {} says {c:?}:\n{text}",
                            p.display()
                        );
                    }
                }
                println!(
                    "readme: {at}: the walkthrough ran as written in {:.1} s; found {:?}",
                    t.elapsed().as_secs_f64(),
                    b.expect
                );
            }
            _ => panic!("{at}: unknown readme-test mode {:?}", b.mode),
        }
    }
}

/// The walkthroughs need Python 3 with `venv` and OpenSSL, as the README says; without them
/// the test says so and stops, unless `STRATA_REQUIRE_INTEROP=1` (scripts/test).
fn walkthrough_tools_missing() -> bool {
    let ok = ["python3", "openssl", "curl"].iter().all(|c| {
        Command::new(c)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
            || Command::new(c)
                .arg("version")
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
    });
    if !ok {
        assert!(
            std::env::var("STRATA_REQUIRE_INTEROP").as_deref() != Ok("1"),
            "python3, openssl and curl are needed by the README walkthroughs"
        );
        eprintln!("SKIPPED: python3, openssl or curl missing");
    }
    !ok
}

/// The README's count of checkov skips is the number of skips in `deploy/`.
#[test]
fn readme_counts_the_checkov_skips_of_deploy() {
    let mut skips = 0;
    for f in [
        "deploy/Dockerfile",
        "deploy/kubernetes/sidecar.yaml",
        "deploy/kubernetes/node.yaml",
        "deploy/kubernetes/cluster.yaml",
        "deploy/kubernetes/namespace.yaml",
    ] {
        let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(f)).unwrap();
        skips += text.matches("checkov:skip=").count() + text.matches("checkov.io/skip").count();
    }
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let words = ["no skip", "the one skip", "two skips", "three skips"];
    let claimed = words
        .iter()
        .position(|w| readme.contains(w))
        .expect("the README states the checkov skips");
    assert_eq!(
        claimed, skips,
        "the README says {:?}; deploy/ has {skips}",
        words[claimed]
    );
}
