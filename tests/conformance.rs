//! The conformance corpus (`../shared/conformance`, README inside) run through the built
//! binary: every case of `cases.tsv`, byte for byte, exactly as that README says.
//! Set `RUSTNIFFER_CONFORMANCE` to use a corpus elsewhere. The project's own cases in
//! the same format (`tests/rules`) run the same way.

#[path = "common/corpus.rs"]
mod corpus;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use corpus::{corpus_dir, load_cases, Case};

const CASE_TIMEOUT: Duration = Duration::from_secs(20);

/// Case ids listed in `tests/conformance_errata.tsv`, with their reasons.
fn load_errata() -> Vec<(String, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance_errata.tsv");
    let text = std::fs::read_to_string(&path).expect("tests/conformance_errata.tsv");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (id, why) = l.split_once('\t').expect("erratum: case_id<TAB>reason");
            (id.to_string(), why.to_string())
        })
        .collect()
}

/// Runs one case; returns why it failed, if it did.
fn run_case(dir: &Path, case: &Case) -> Result<(), String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rustniffer"))
        .args(&case.args)
        .current_dir(dir)
        .env("TZ", "UTC")
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start the binary: {e}"))?;
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if started.elapsed() > CASE_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            return Err("timed out".into());
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let out = out_reader.join().expect("reader thread");
    let err = err_reader.join().expect("reader thread");
    if status.code().is_none() {
        return Err(format!(
            "killed by a signal: {status}; stderr: {}",
            String::from_utf8_lossy(&err)
        ));
    }
    if case.exit_nonzero == status.success() {
        return Err(format!(
            "exit status {status}, expected {}; stderr: {}",
            if case.exit_nonzero { "non-zero" } else { "0" },
            String::from_utf8_lossy(&err)
        ));
    }
    if case.stderr_nonempty && err.is_empty() {
        return Err("standard error is empty, expected a message".into());
    }
    if !case.stdout_ignored {
        let expected = std::fs::read(&case.expected)
            .map_err(|e| format!("cannot read {}: {e}", case.expected.display()))?;
        if out != expected {
            return Err(first_difference(&expected, &out));
        }
    }
    Ok(())
}

fn first_difference(expected: &[u8], got: &[u8]) -> String {
    let exp = String::from_utf8_lossy(expected);
    let got_s = String::from_utf8_lossy(got);
    for (n, (e, g)) in exp.lines().zip(got_s.lines()).enumerate() {
        if e != g {
            return format!("line {}:\n  expected: {e}\n  got:      {g}", n + 1);
        }
    }
    format!(
        "output differs in length: expected {} lines / {} bytes, got {} lines / {} bytes",
        exp.lines().count(),
        expected.len(),
        got_s.lines().count(),
        got.len()
    )
}

/// Runs `cases` on a few threads; results in the cases' order.
fn run_all(dir: &Path, cases: &[&Case]) -> Vec<Result<(), String>> {
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(8);
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(case) = cases.get(i) else { break };
                        mine.push((i, run_case(dir, case)));
                    }
                    mine
                })
            })
            .collect();
        let mut all: Vec<_> = handles
            .into_iter()
            .flat_map(|h| h.join().expect("worker"))
            .collect();
        all.sort_by_key(|(i, _)| *i);
        all.into_iter().map(|(_, r)| r).collect()
    })
}

#[test]
fn every_conformance_case_passes() {
    let dir = corpus_dir();
    let cases = load_cases(&dir);
    assert!(
        cases.len() > 100,
        "the corpus looks incomplete: {} cases",
        cases.len()
    );
    let filter = std::env::var("CONFORMANCE_FILTER").unwrap_or_default();
    let selected: Vec<&Case> = cases.iter().filter(|c| c.id.contains(&filter)).collect();
    let results = run_all(&dir, &selected);
    let errata = load_errata();
    for (id, _) in &errata {
        assert!(
            cases.iter().any(|c| &c.id == id),
            "erratum for unknown case {id}"
        );
    }
    let mut failures = Vec::new();
    for (case, result) in selected.iter().zip(&results) {
        let id = &case.id;
        let erratum = errata.iter().find(|(e, _)| e == id);
        match (result, erratum) {
            (Ok(()), None) => println!("PASS {id}"),
            (Err(why), None) => {
                println!("FAIL {id}: {why}");
                failures.push(id.clone());
            }
            (Err(why), Some((_, reason)))
                if why.starts_with("line ") || why.starts_with("output differs") =>
            {
                println!("ERRATUM {id}: output follows SPEC, not the stale expectation ({reason})");
            }
            (Err(why), Some(_)) => {
                println!("FAIL {id} (erratum): {why}");
                failures.push(id.clone());
            }
            (Ok(()), Some(_)) => {
                println!("FAIL {id}: matches its expectation again; remove it from the errata");
                failures.push(id.clone());
            }
        }
    }
    let noted = errata
        .iter()
        .filter(|(id, _)| selected.iter().any(|c| &c.id == id))
        .count();
    let passed = results.iter().filter(|r| r.is_ok()).count();
    println!(
        "conformance: {passed}/{} cases pass, {noted} listed as corpus errata",
        results.len()
    );
    assert!(
        failures.is_empty(),
        "{} conformance case(s) fail: {}",
        failures.len(),
        failures.join(", ")
    );
}

fn rules_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/rules")
}

/// The project's own conformance-style cases for the TCP lifecycle rules (tests/rules,
/// README inside): no errata, every case must pass.
#[test]
fn every_lifecycle_rule_case_passes() {
    let dir = rules_dir();
    let cases = load_cases(&dir);
    assert!(cases.len() >= 6, "tests/rules/cases.tsv looks incomplete");
    let selected: Vec<&Case> = cases.iter().collect();
    let failures: Vec<String> = selected
        .iter()
        .zip(run_all(&dir, &selected))
        .filter_map(|(case, result)| result.err().map(|why| format!("{}: {why}", case.id)))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The committed captures are exactly what their generator writes.
#[test]
fn the_lifecycle_rule_captures_match_their_generator() {
    let out = std::env::temp_dir().join(format!("rustniffer-rules-{}", std::process::id()));
    std::fs::create_dir_all(out.join("pcaps")).expect("temporary directory");
    let status = Command::new("python3")
        .arg(rules_dir().join("make_captures.py"))
        .arg(&out)
        .status()
        .expect("python3 runs tests/rules/make_captures.py");
    assert!(status.success(), "make_captures.py failed: {status}");
    let mut compared = 0;
    for entry in std::fs::read_dir(out.join("pcaps")).expect("generated captures") {
        let path = entry.expect("directory entry").path();
        let name = path.file_name().expect("file name");
        let committed = std::fs::read(rules_dir().join("pcaps").join(name))
            .unwrap_or_else(|e| panic!("{name:?} is generated but not committed: {e}"));
        assert!(
            std::fs::read(&path).expect("generated capture") == committed,
            "tests/rules/pcaps/{name:?} differs from what make_captures.py writes"
        );
        compared += 1;
    }
    let _ = std::fs::remove_dir_all(&out);
    assert!(compared >= 5, "make_captures.py wrote {compared} captures");
}
