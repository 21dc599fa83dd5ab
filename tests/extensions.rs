//! SPEC §7 through the built binary, on the conformance captures: `-e` commands, `-U`,
//! `-P` functions, `%python(...)` handlers, and their errors. Every expectation is derived
//! from the plain records of the same capture. The Python tests run only in a build with
//! the `python` feature; without it, asking for Python must be an error naming the feature.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn corpus_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("RUSTNIFFER_CONFORMANCE") {
        return PathBuf::from(dir);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance")
}

fn pcap(name: &str) -> String {
    corpus_dir()
        .join("pcaps")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// Runs the binary in `dir` with `args` (as the conformance runner does: UTC, C locale,
/// nothing on standard input).
fn run_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rustniffer"));
    command
        .args(args)
        .current_dir(dir)
        .env("TZ", "UTC")
        .env("LC_ALL", "C")
        .env_remove("PYTHONPATH")
        .env_remove("VIRTUAL_ENV")
        .stdin(Stdio::null());
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("the binary runs")
}

fn run(args: &[&str]) -> Output {
    run_in(&corpus_dir(), args, &[])
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A successful run's standard output; its standard error must be empty.
fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "exit {}: {}",
        output.status,
        text(&output.stderr)
    );
    assert_eq!(text(&output.stderr), "", "unexpected standard error");
    text(&output.stdout)
}

/// A start-up error: exit status 1, nothing on standard output, one line on standard
/// error, which is returned.
fn start_up_error(output: Output) -> String {
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    assert!(output.stdout.is_empty(), "stdout: {}", text(&output.stdout));
    let err = text(&output.stderr);
    assert_eq!(err.lines().count(), 1, "not one line: {err}");
    err
}

/// The plain records of a capture, one per line (formats without a newline in them).
fn plain_lines(capture: &str, format: &str) -> Vec<String> {
    ok(run(&["-f", &pcap(capture), "-l", format]))
        .lines()
        .map(str::to_string)
        .collect()
}

fn is_root() -> bool {
    let out = Command::new("id").arg("-u").output().expect("id runs");
    text(&out.stdout).trim() == "0"
}

const CAPTURES: &[&str] = &[
    "c_ka_reuse_A.pcap",
    "g_big_A.pcap",
    "h_rst_server_A.pcap",
    "i_pipelined_A.pcap",
    "p_truncated_A.pcap",
    "syn_server_first_A.pcap",
    "twin_ipv6_c_ka_reuse_A.pcap",
];

// ---- -e -------------------------------------------------------------------------

#[test]
fn execute_cat_prints_exactly_what_plain_output_prints() {
    for capture in CAPTURES {
        let file = pcap(capture);
        for extra in [&[][..], &["-r"], &["-N"], &["-r", "-x"]] {
            let mut plain = vec!["-f", file.as_str()];
            plain.extend_from_slice(extra);
            let expected = run(&plain).stdout;
            let with_cat = [&plain[..], &["-e", "cat"]].concat();
            let output = run(&with_cat);
            assert!(output.status.success(), "{capture} {extra:?}");
            assert!(output.stderr.is_empty(), "{}", text(&output.stderr));
            assert_eq!(output.stdout, expected, "{capture} {extra:?}");
        }
    }
}

#[test]
fn commands_run_one_after_another_so_outputs_never_interleave() {
    let capture = pcap("c_ka_reuse_A.pcap");
    let records = plain_lines("c_ka_reuse_A.pcap", "%request.url");
    assert!(records.len() > 1);
    // Each command prints its record in two writes with a pause between them: a command
    // still running when the next started would interleave.
    let out = ok(run(&[
        "-f",
        &capture,
        "-l",
        "%request.url",
        "-e",
        "read r; printf '<%s' \"$r\"; sleep 0.05; echo '>'",
    ]));
    let expected: String = records.iter().map(|r| format!("<{r}>\n")).collect();
    assert_eq!(out, expected);
}

#[test]
fn a_failing_command_gives_one_line_with_its_status_and_the_run_goes_on() {
    let capture = pcap("c_ka_reuse_A.pcap");
    let records = plain_lines("c_ka_reuse_A.pcap", "%request.url");
    let output = run(&["-f", &capture, "-e", "cat >/dev/null; exit 3"]);
    assert!(output.status.success());
    assert!(output.stdout.is_empty());
    let err = text(&output.stderr);
    assert_eq!(err.lines().count(), records.len(), "{err}");
    assert!(
        err.lines().all(|l| l.contains("exited with status 3")),
        "{err}"
    );
    let killed = run(&["-f", &capture, "-e", "kill -9 $$"]);
    assert!(killed.status.success());
    assert!(text(&killed.stderr).contains("killed by signal 9"));
}

#[test]
fn a_command_that_closes_its_input_early_does_not_stop_the_run() {
    // g_big_A carries a 240 KB response: far more than a pipe holds.
    let capture = pcap("g_big_A.pcap");
    let records = ok(run(&["-f", &capture, "-r"]));
    assert!(records.len() > 200_000);
    let first_bytes = ok(run(&["-f", &capture, "-r", "-e", "head -c 4; echo"]));
    assert_eq!(first_bytes, format!("{}\n", &records[..4]));
    ok(run(&["-f", &capture, "-r", "-e", "exec true"]));
}

#[test]
fn user_runs_each_command_as_that_user_and_its_groups() {
    let capture = pcap("c_ka_reuse_A.pcap");
    let output = run(&["-f", &capture, "-U", "nobody", "-e", "id -u; id -g"]);
    if !is_root() {
        let err = start_up_error(output);
        assert!(err.contains("root"), "{err}");
        return;
    }
    let uid = text(
        &Command::new("id")
            .args(["-u", "nobody"])
            .output()
            .unwrap()
            .stdout,
    );
    let gid = text(
        &Command::new("id")
            .args(["-g", "nobody"])
            .output()
            .unwrap()
            .stdout,
    );
    let records = plain_lines("c_ka_reuse_A.pcap", "%request.url");
    let expected = format!("{}{}", uid, gid).repeat(records.len());
    assert_eq!(ok(output), expected);
    // rustniffer itself keeps its privileges: only the commands switch.
    let as_root = ok(run(&["-f", &capture, "-e", "id -u"]));
    assert_eq!(as_root, "0\n".repeat(records.len()));
}

#[test]
fn an_unknown_user_is_an_error_at_start_up() {
    let capture = pcap("c_ka_reuse_A.pcap");
    let err = start_up_error(run(&[
        "-f",
        &capture,
        "-U",
        "no-such-user-rustniffer",
        "-e",
        "cat",
    ]));
    assert!(
        err.contains("unknown user 'no-such-user-rustniffer'"),
        "{err}"
    );
}

#[test]
fn execute_with_python_function_is_an_error() {
    let capture = pcap("c_ka_reuse_A.pcap");
    let err = start_up_error(run(&["-f", &capture, "-e", "cat", "-P", "x.py"]));
    assert!(err.contains("-e") && err.contains("-P"), "{err}");
}

// ---- Python ------------------------------------------------------------------------

#[test]
fn python_without_the_feature_is_one_error_naming_the_feature() {
    let capture = pcap("c_ka_reuse_A.pcap");
    for args in [
        &["-P", "script.py"][..],
        &["-l", "%source.ip %python(module:Class)"],
    ] {
        let mut all = vec!["-f", capture.as_str()];
        all.extend_from_slice(args);
        let err = start_up_error(run(&all));
        assert!(
            err.contains("feature 'python'") && err.contains("--features python"),
            "{err}"
        );
    }
}
