//! The command line through the built binary (SPEC §1, §8): every error is one line on
//! standard error with exit status 1 and nothing on standard output; `--help` fits in
//! 100 columns; a forgotten `-f` and a bare `rustniffer` that cannot capture get a hint
//! instead of a live capture.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SAMPLE: &str = "samples/keepalive.pcap";

struct Outcome {
    status: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs the binary in the crate directory with nothing on standard input; kills it after
/// 20 s (a regression here would start a live capture that never ends).
fn run_as(args: &[&str], user: Option<(u32, u32)>) -> Outcome {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rustniffer"));
    command
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("TZ", "UTC")
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some((uid, gid)) = user {
        command.uid(uid).gid(gid);
    }
    let mut child = command.spawn().expect("the binary runs");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("rustniffer {args:?} did not stop (a live capture?)");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    Outcome {
        status: status.code(),
        stdout,
        stderr,
    }
}

fn run(args: &[&str]) -> Outcome {
    run_as(args, None)
}

/// Asserts that `args` fail with exit status 1, nothing on standard output and exactly
/// the line `expected` on standard error.
fn fails_with(args: &[&str], expected: &str) {
    let out = run(args);
    assert_eq!(out.status, Some(1), "{args:?}: {}", out.stderr);
    assert_eq!(out.stdout, "", "{args:?}");
    assert_eq!(out.stderr, format!("{expected}\n"), "{args:?}");
}

#[test]
fn a_misspelt_keyword_is_one_line_with_a_suggestion() {
    fails_with(
        &["-f", SAMPLE, "-l", "%request.urll"],
        "rustniffer: unknown keyword '%request.urll'; did you mean %request.url?",
    );
}

#[test]
fn a_bad_regex_is_one_line_naming_the_keyword() {
    fails_with(
        &["-f", SAMPLE, "-l", "%request.grep([)"],
        "rustniffer: invalid regular expression in '%request.grep([)': unclosed character class \
         (character 1)",
    );
    fails_with(
        &["-f", SAMPLE, "-l", "%request.method(*a)"],
        "rustniffer: invalid regular expression in '%request.method(*a)': repetition operator \
         missing expression (character 1)",
    );
    fails_with(
        &["-f", SAMPLE, "-l", "%request.grep(([)"],
        "rustniffer: unknown keyword '%request.grep'; it takes a parameter, %request.grep(RE), \
         and the '(' after it is never closed",
    );
}

#[test]
fn a_capture_path_swallowed_by_l_or_p_is_a_hint_not_a_live_capture() {
    fails_with(
        &["-l", "%request.url", SAMPLE],
        "rustniffer: '-l' took 'samples/keepalive.pcap' as part of the format; did you mean \
         -f samples/keepalive.pcap?",
    );
    fails_with(
        &["-p", "tcp", "port", "80", SAMPLE],
        "rustniffer: '-p' took 'samples/keepalive.pcap' as part of the filter; did you mean \
         -f samples/keepalive.pcap?",
    );
    fails_with(
        &[SAMPLE],
        "rustniffer: unexpected argument 'samples/keepalive.pcap'; did you mean \
         -f samples/keepalive.pcap?",
    );
}

#[test]
fn filter_errors_are_one_line_without_repeated_words() {
    fails_with(
        &["-f", SAMPLE, "-p", "tcp port"],
        "rustniffer: filter: expected a port number after 'port' at end of expression",
    );
    fails_with(
        &["-f", SAMPLE, "-p", "foo bar"],
        "rustniffer: filter: unknown word 'foo' at character 1 (expected a primitive such as \
         host, net, port, tcp or a comparison)",
    );
}

#[test]
fn a_failed_write_is_one_line_naming_the_output() {
    let Ok(full) = std::fs::File::create("/dev/full") else {
        eprintln!("skipped: no /dev/full");
        return;
    };
    let out = Command::new(env!("CARGO_BIN_EXE_rustniffer"))
        .args(["-f", SAMPLE])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(full)
        .output()
        .expect("the binary runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("rustniffer: writing output to standard output: ")
            && stderr.ends_with('\n')
            && stderr.lines().count() == 1,
        "{stderr}"
    );
}

#[test]
fn option_errors_are_one_line() {
    fails_with(
        &["-f", SAMPLE, "--bogus"],
        "rustniffer: unknown option '--bogus' (see 'rustniffer --help')",
    );
    fails_with(
        &["-f", SAMPLE, "--log-formt", "%request.url"],
        "rustniffer: unknown option '--log-formt'; did you mean --log-format?",
    );
    fails_with(
        &["-f", SAMPLE, "-l"],
        "rustniffer: a value is required for '--log-format <FMT>...' but none was supplied \
         (see 'rustniffer --help')",
    );
    fails_with(
        &["-f", SAMPLE, "-r", "-l", "x"],
        "rustniffer: only one of -l (--log-format), -a (--append-log-format) and -r (--raw) \
         may be given (see 'rustniffer --help')",
    );
}

#[test]
fn a_format_starting_with_a_hyphen_works_before_other_options() {
    let out = run(&["-l", "-> %dest.ip:%dest.port", "-f", SAMPLE, "-n", "NF"]);
    assert_eq!(out.status, Some(0), "{}", out.stderr);
    assert!(!out.stdout.is_empty());
    assert!(
        out.stdout.lines().all(|l| l.starts_with("-> 127.0.0.1:")),
        "{}",
        out.stdout
    );
}

#[test]
fn every_help_line_is_under_100_columns() {
    let out = run(&["--help"]);
    assert_eq!(out.status, Some(0));
    assert!(out.stdout.lines().count() > 50);
    for line in out.stdout.lines() {
        assert!(line.chars().count() < 100, "too wide: {line}");
    }
}

fn uid_gid(user: &str) -> Option<(u32, u32)> {
    let id = |flag: &str| {
        let out = Command::new("id").args([flag, user]).output().ok()?;
        String::from_utf8(out.stdout).ok()?.trim().parse().ok()
    };
    Some((id("-u")?, id("-g")?))
}

/// With no option at all, where live capture is impossible (here: not root), a short
/// usage instead of an error about interfaces. Run as `nobody` when the tests run as root.
#[test]
fn no_option_and_no_live_capture_prints_a_short_usage() {
    let user = if euid() == 0 {
        match uid_gid("nobody") {
            Some(ids) => Some(ids),
            None => return, // no unprivileged user to run as
        }
    } else {
        None
    };
    let out = run_as(&[], user);
    assert_eq!(out.status, Some(1), "{}", out.stderr);
    assert_eq!(out.stdout, "");
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert!(lines.len() <= 5, "{}", out.stderr);
    assert!(
        lines[0].starts_with("rustniffer: nothing to read: no -f FILE, and no live capture here ("),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("rustniffer -f FILE.pcap"));
    assert!(out.stderr.contains("'rustniffer --help'"));
    assert!(!out.stderr.contains("listening"));
}

/// The effective user id, from `id -u`.
fn euid() -> u32 {
    let out = Command::new("id").arg("-u").output().expect("id runs");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(u32::MAX)
}
