//! `--threads N` prints exactly what one thread prints (docs/parallel.md): standard
//! output and the `--stats` summary, byte for byte, with 2, 3 and 8 workers, on every
//! case of the conformance corpus and of `tests/rules`, on the corpus's captures with
//! the options that need the whole connection table (`--idle-timeout`,
//! `--open-report`, `-s`) and with `-e`, with the diagnosis report and the metrics
//! file (whose contents are compared too), and on small copies of the benchmark
//! captures.
//!
//! Each run sets `RUSTNIFFER_DEBUG_PLAN`, which makes the binary say on standard error
//! which path it took: a case whose options docs/parallel.md calls parallel must have
//! run on the workers.

#[path = "common/corpus.rs"]
#[allow(dead_code)]
mod corpus;

#[path = "../bench/gen.rs"]
#[allow(dead_code)]
mod gen;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use corpus::{corpus_dir, load_cases};

const THREADS: [usize; 3] = [2, 3, 8];

/// The benchmark's article format (bench/measure.rs).
const ARTICLE: &str = "%request.timestamp %dest.ip %dest.port c=%connection.time i=%idle.time.0 \
    req=%request.time resp=%response.time i2=%idle.time.1 s=%session.time %connection \
    %close.originator req_h=%request.header.connection resp_h=%response.header.connection";

/// In a case's arguments, the file the run writes (`--metrics-file`, `--report-html`):
/// each run gets its own, read back into [`Run::file`].
const OUT_FILE: &str = "{out}";

/// What a run printed, without the line that names its path, and that line.
#[derive(Debug, PartialEq, Eq)]
struct Run {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    status: Option<i32>,
    path: String,
    /// What it wrote to [`OUT_FILE`] (`None`: no such argument, or nothing written).
    file: Option<Vec<u8>>,
}

fn run(dir: &Path, args: &[String], threads: usize) -> Run {
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let file = std::env::temp_dir().join(format!(
        "rustniffer-parallel-out-{}-{n}",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&file);
    let wants_file = args.iter().any(|a| a == OUT_FILE);
    let args: Vec<String> = args
        .iter()
        .map(|a| match a == OUT_FILE {
            true => file.to_string_lossy().into_owned(),
            false => a.clone(),
        })
        .collect();
    let out = Command::new(env!("CARGO_BIN_EXE_rustniffer"))
        .args(&args)
        .arg("--threads")
        .arg(threads.to_string())
        .current_dir(dir)
        .env("TZ", "UTC")
        .env("LC_ALL", "C")
        .env("RUSTNIFFER_DEBUG_PLAN", "1")
        .stdin(Stdio::null())
        .output()
        .expect("the binary runs");
    let mut path = String::new();
    let mut stderr = Vec::new();
    for line in out.stderr.split_inclusive(|&b| b == b'\n') {
        match line.strip_prefix(b"rustniffer: debug: ") {
            Some(rest) => path = String::from_utf8_lossy(rest).trim().to_string(),
            None => stderr.extend_from_slice(line),
        }
    }
    let written = wants_file.then(|| std::fs::read(&file).ok()).flatten();
    let _ = std::fs::remove_file(&file);
    Run {
        stdout: out.stdout,
        stderr,
        status: out.status.code(),
        path,
        file: written,
    }
}

/// Whether docs/parallel.md says these options run on the workers.
fn documented_parallel(args: &[String]) -> bool {
    let one_thread_options = [
        "-P",
        "--python",
        "--metrics-listen",
        "--otlp-endpoint",
        "-i",
        "--interface",
    ];
    !args
        .iter()
        .any(|a| one_thread_options.contains(&a.as_str()) || a.contains("%python"))
}

/// Runs `args` with one thread and with each of [`THREADS`]; returns a description of
/// every difference, and of a path other than the one docs/parallel.md names.
fn compare(dir: &Path, label: &str, args: &[String]) -> Vec<String> {
    let mut args = args.to_vec();
    // Every counter of the summary, unless the case chose its summary itself.
    if !args
        .iter()
        .any(|a| a == "-q" || a == "--quiet" || a == "--stats")
    {
        args.push("--stats".into());
    }
    let one = run(dir, &args, 1);
    let mut problems = Vec::new();
    if !one.path.starts_with("one thread") && one.status == Some(0) {
        problems.push(format!("{label}: --threads 1 took path '{}'", one.path));
    }
    let usage_error = one.status != Some(0) && one.path.is_empty();
    let parallel = documented_parallel(&args);
    // A run the docs keep on one thread is checked once, with the most threads.
    let threads: &[usize] = if parallel { &THREADS } else { &THREADS[2..] };
    for &threads in threads {
        let many = run(dir, &args, threads);
        let expected = match parallel {
            true => format!("{threads} workers"),
            false => "one thread".to_string(),
        };
        if !usage_error && !many.path.starts_with(&expected) {
            problems.push(format!(
                "{label}: --threads {threads} took path '{}', expected '{expected}'",
                many.path
            ));
        }
        if many.stdout != one.stdout {
            problems.push(format!(
                "{label}: --threads {threads}: standard output differs: {}",
                first_difference(&one.stdout, &many.stdout)
            ));
        }
        if many.file != one.file {
            problems.push(format!(
                "{label}: --threads {threads}: the file written differs: {}",
                match (&one.file, &many.file) {
                    (Some(one), Some(many)) => first_difference(one, many),
                    (one, many) => format!(
                        "one thread wrote {:?} bytes, threads {:?}",
                        one.as_ref().map(Vec::len),
                        many.as_ref().map(Vec::len)
                    ),
                }
            ));
        }
        if many.stderr != one.stderr || many.status != one.status {
            problems.push(format!(
                "{label}: --threads {threads}: standard error or status differs:\n{}\n--- one thread ({:?}):\n{}",
                String::from_utf8_lossy(&many.stderr),
                one.status,
                String::from_utf8_lossy(&one.stderr)
            ));
        }
    }
    problems
}

fn first_difference(expected: &[u8], got: &[u8]) -> String {
    let (e, g) = (
        String::from_utf8_lossy(expected),
        String::from_utf8_lossy(got),
    );
    for (n, (a, b)) in e.lines().zip(g.lines()).enumerate() {
        if a != b {
            return format!("line {}:\n  one thread: {a}\n  threads:    {b}", n + 1);
        }
    }
    format!(
        "{} lines against {} lines",
        e.lines().count(),
        g.lines().count()
    )
}

/// Runs `jobs` on a few threads; all problems found.
fn run_all(jobs: Vec<(PathBuf, String, Vec<String>)>) -> (usize, Vec<String>) {
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(2, 8);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let problems = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some((dir, label, args)) = jobs.get(i) else {
                    break;
                };
                let found = compare(dir, label, args);
                problems.lock().expect("no panics").extend(found);
            });
        }
    });
    let problems = problems.into_inner().expect("no panics");
    (jobs.len(), problems)
}

/// `args`, then `extra`, with the article format unless `extra` names one (or asks
/// for all JSON fields, which takes no format).
fn with_format(mut args: Vec<String>, extra: &[&str]) -> Vec<String> {
    if !extra.contains(&"-l") && !extra.contains(&"--json-fields") {
        args.extend(["-l".to_string(), ARTICLE.to_string()]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn assert_none(what: &str, (ran, problems): (usize, Vec<String>)) {
    assert!(ran > 0, "{what}: nothing ran");
    assert!(
        problems.is_empty(),
        "{what}: {} of {ran} runs differ from one thread:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn every_corpus_case_prints_the_same_with_several_threads() {
    let dir = corpus_dir();
    let cases = load_cases(&dir);
    assert!(cases.len() > 100, "the corpus looks incomplete");
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/rules");
    let rule_cases = load_cases(&rules);
    assert!(
        rule_cases.len() >= 6,
        "tests/rules/cases.tsv looks incomplete"
    );
    let parallel = cases
        .iter()
        .filter(|c| documented_parallel(&c.args))
        .count();
    assert!(
        parallel > cases.len() / 2,
        "most corpus cases should be parallel: {parallel} of {}",
        cases.len()
    );
    let mut jobs: Vec<_> = cases
        .iter()
        .map(|c| (dir.clone(), c.id.clone(), c.args.clone()))
        .collect();
    jobs.extend(
        rule_cases
            .iter()
            .map(|c| (rules.clone(), c.id.clone(), c.args.clone())),
    );
    assert_none("corpus", run_all(jobs));
}

/// The options that need every worker's connections at once, on each corpus capture.
#[test]
fn whole_table_options_print_the_same_with_several_threads() {
    let dir = corpus_dir();
    let pcaps = corpus_pcaps(&dir);
    assert!(pcaps.len() > 20, "the corpus looks incomplete");
    let streams = format!("%streams {ARTICLE}");
    // Each variant combines several options, to keep the runs few.
    let variants: [&[&str]; 4] = [
        &[
            "-l",
            &streams,
            "--idle-timeout",
            "0.05",
            "--open-report",
            "0.02",
            "-s",
            "2",
        ],
        // -e: the merger runs each command, one at a time, in the merged order.
        &[
            "--connections",
            "-e",
            "cat",
            "-s",
            "2",
            "-m",
            "--idle-timeout",
            "0.2",
            "--open-report",
            "0.1",
        ],
        &["--exchanges", "messages", "-s", "3", "--idle-timeout", "1"],
        // JSON lines with every field, `streams` among them.
        &[
            "--json",
            "--json-fields",
            "all",
            "--connections",
            "-s",
            "2",
            "--open-report",
            "0.02",
        ],
    ];
    let mut jobs = Vec::new();
    for pcap in &pcaps {
        for (v, variant) in variants.iter().enumerate() {
            let args = with_format(vec!["-f".to_string(), pcap.clone()], variant);
            jobs.push((dir.clone(), format!("{pcap} variant {v}"), args));
        }
    }
    assert_none("corpus captures with whole-table options", run_all(jobs));
}

/// The captures of the corpus's cases that run to their end.
fn corpus_pcaps(dir: &Path) -> Vec<String> {
    let mut pcaps: Vec<String> = load_cases(dir)
        .iter()
        .filter(|c| !c.exit_nonzero)
        .filter_map(|c| {
            let i = c.args.iter().position(|a| a == "-f")?;
            c.args.get(i + 1).cloned()
        })
        .collect();
    pcaps.sort();
    pcaps.dedup();
    pcaps
}

/// The diagnosis report and the metrics file, added up by the merger in key order, on
/// every corpus capture and every report capture (tests/report/pcaps): the report
/// printed (text, JSON, interim), the HTML page and the metrics file, compared byte for
/// byte with one thread's.
#[test]
fn report_and_metrics_file_are_the_same_with_several_threads() {
    let dir = corpus_dir();
    let mut pcaps = corpus_pcaps(&dir);
    assert!(pcaps.len() > 20, "the corpus looks incomplete");
    let reports = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/report/pcaps");
    let mut report_pcaps: Vec<String> = std::fs::read_dir(&reports)
        .expect("tests/report/pcaps")
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    report_pcaps.sort();
    assert!(
        report_pcaps.len() >= 7,
        "tests/report/pcaps looks incomplete"
    );
    pcaps.extend(report_pcaps);
    let variants: [&[&str]; 7] = [
        &["--report"],
        &["--report", "--json"],
        &["--connections", "--report"],
        // Facts of HTTP/2 and WebSocket, `other` beyond one service, interim reports.
        &[
            "--report",
            "--exchanges",
            "messages",
            "--report-services",
            "1",
            "--report-every",
            "0.5",
            "--report-threshold",
            "min-connections=1",
        ],
        &["--metrics-file", OUT_FILE],
        &[
            "--metrics-file",
            OUT_FILE,
            "--metrics-services",
            "1",
            "--exchanges",
            "messages",
            "--connections",
            "-s",
            "2",
            "--idle-timeout",
            "0.05",
        ],
        // The HTML page (its sampled slowest connections), with the records.
        &["--report-html", OUT_FILE, "--connections", "-s", "3"],
    ];
    let mut jobs = Vec::new();
    for pcap in &pcaps {
        for (v, variant) in variants.iter().enumerate() {
            let args = with_format(vec!["-f".to_string(), pcap.clone()], variant);
            jobs.push((dir.clone(), format!("{pcap} report variant {v}"), args));
        }
    }
    assert_none("report and metrics file", run_all(jobs));
}

/// Small copies of the benchmark captures (bench/gen.rs): many connections, so that
/// every worker holds some, evictions cross workers and idle checks find connections
/// in all of them.
#[test]
fn benchmark_captures_print_the_same_with_several_threads() {
    let dir = std::env::temp_dir().join(format!("rustniffer-parallel-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    let keepalive = gen::generate_small(&dir, "keepalive", 40).expect("keepalive capture");
    let churn = gen::generate_small(&dir, "churn", 50).expect("churn capture");
    let concurrent = gen::generate_small(&dir, "concurrent", 400).expect("concurrent capture");
    let path = |p: &PathBuf| p.to_string_lossy().into_owned();
    let mut jobs = Vec::new();
    // `%streams` counts every worker's connections: filled in by the merger.
    let streams = format!("{ARTICLE} streams=%streams");
    let runs: [(&PathBuf, &[&str]); 20] = [
        (&keepalive, &[]),
        (&keepalive, &["--exchanges", "messages"]),
        (
            &keepalive,
            &["--idle-timeout", "0.002", "--open-report", "0.05"],
        ),
        (&churn, &[]),
        (&churn, &["--exchanges", "messages"]),
        (&churn, &["-s", "64"]),
        (&churn, &["--connections", "--idle-timeout", "0.0005"]),
        (&concurrent, &["-s", "300", "--exchanges", "messages"]),
        (
            &concurrent,
            &["--connections", "-s", "1000", "--open-report", "1"],
        ),
        (&keepalive, &["-l", &streams, "--open-report", "0.05"]),
        (
            &churn,
            &["-l", &streams, "-s", "64", "--idle-timeout", "0.001"],
        ),
        (
            &concurrent,
            &["-l", &streams, "--exchanges", "messages", "-s", "300"],
        ),
        (
            &concurrent,
            &["-l", &streams, "--connections", "--open-report", "1"],
        ),
        (&churn, &["--json", "--json-fields", "all", "-s", "64"]),
        (
            &keepalive,
            &["--json", "-l", &streams, "--exchanges", "messages"],
        ),
        // The report and the metrics over many connections in every worker.
        (
            &churn,
            &["--report", "--metrics-file", OUT_FILE, "-s", "64"],
        ),
        (
            &concurrent,
            &[
                "--report",
                "--json",
                "--report-services",
                "2",
                "--exchanges",
                "messages",
            ],
        ),
        (
            &keepalive,
            &["--connections", "--report", "--report-every", "0.05"],
        ),
        (
            &concurrent,
            &[
                "--metrics-file",
                OUT_FILE,
                "--metrics-services",
                "3",
                "-s",
                "300",
            ],
        ),
        (
            &churn,
            &["--report-html", OUT_FILE, "--idle-timeout", "0.001"],
        ),
    ];
    for (i, (pcap, extra)) in runs.iter().enumerate() {
        let args = with_format(vec!["-f".to_string(), path(pcap)], extra);
        jobs.push((dir.clone(), format!("benchmark run {i} {args:?}"), args));
    }
    let result = run_all(jobs);
    let _ = std::fs::remove_dir_all(&dir);
    assert_none("benchmark captures", result);
}

/// The eviction case of the corpus, checked against its expected output as well: the
/// oldest connection of all goes, whichever worker holds it.
#[test]
fn eviction_keeps_its_global_meaning() {
    let dir = corpus_dir();
    let cases = load_cases(&dir);
    let evicting: Vec<_> = cases
        .iter()
        .filter(|c| c.args.iter().any(|a| a == "-s") && documented_parallel(&c.args))
        .collect();
    assert!(!evicting.is_empty(), "the corpus has an -s case");
    for case in evicting {
        let expected = std::fs::read(&case.expected).expect("expected output");
        for threads in THREADS {
            let got = run(&dir, &case.args, threads);
            assert_eq!(got.path, format!("{threads} workers"), "{}", case.id);
            assert_eq!(
                String::from_utf8_lossy(&got.stdout),
                String::from_utf8_lossy(&expected),
                "{} with --threads {threads}",
                case.id
            );
        }
    }
}
