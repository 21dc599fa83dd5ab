//! The end-of-run summary on standard error, through the built binary: quiet for a clean
//! run, every figure with `--stats`, nothing with `-q`, and each loss with its reason.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rustniffer::capture::file::PcapWriter;
use rustniffer::capture::LinkType;
use rustniffer::decode::build::{self, ethertype, TcpPacket};
use rustniffer::time::Timestamp;

const KEEPALIVE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/samples/keepalive.pcap");

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rustniffer"))
        .args(args)
        .env("TZ", "UTC")
        .output()
        .expect("run rustniffer")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn ok(output: Output) -> Output {
    assert!(
        output.status.success(),
        "exit status {:?}; stderr:\n{}",
        output.status,
        stderr(&output)
    );
    output
}

/// The number of packet records in a classic pcap file, read from its record headers.
fn pcap_records(path: &str) -> u64 {
    let bytes = std::fs::read(path).expect("read the capture");
    let magic = u32::from_le_bytes(bytes[..4].try_into().unwrap());
    let little = matches!(magic, 0xa1b2_c3d4 | 0xa1b2_3c4d);
    assert!(
        little || matches!(magic.swap_bytes(), 0xa1b2_c3d4 | 0xa1b2_3c4d),
        "not a pcap file: {path}"
    );
    let (mut at, mut records) = (24, 0);
    while at + 16 <= bytes.len() {
        let field: [u8; 4] = bytes[at + 8..at + 12].try_into().unwrap();
        let captured = if little {
            u32::from_le_bytes(field)
        } else {
            u32::from_be_bytes(field)
        };
        at += 16 + captured as usize;
        records += 1;
    }
    records
}

/// The figure on the summary line labelled `label`, commas removed.
fn figure(stderr: &str, label: &str) -> Option<u64> {
    stderr.lines().find_map(|l| {
        let rest = l.trim_start().strip_prefix(label)?;
        if !rest.starts_with("  ") {
            return None;
        }
        rest.split_whitespace()
            .next()?
            .replace(',', "")
            .parse()
            .ok()
    })
}

/// A temporary file that goes away with the test.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str) -> TempFile {
        let path =
            std::env::temp_dir().join(format!("rustniffer-summary-{}-{name}", std::process::id()));
        TempFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("a UTF-8 temporary path")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// An Ethernet frame holding the first 64 payload bytes of a fragmented datagram to
/// `dst` (its other fragments never come), or, with `empty`, a fragment carrying
/// nothing (invalid).
fn first_fragment(dst: &str, id: u16, empty: bool) -> Vec<u8> {
    let datagram = TcpPacket::new("192.0.2.1:1000", dst)
        .ip_id(id)
        .payload(&[7; 200])
        .ipv4();
    let len = if empty { 0 } else { 64 };
    build::ethernet(
        ethertype::IPV4,
        &build::ipv4_fragment(&datagram, 0, len, true),
    )
}

/// With `-d 1`: one fragment lost to the host limit, one timed out, one invalid, and one
/// still waiting at the end.
fn fragments_capture(path: &Path) {
    let at = |seconds: i64| Timestamp(seconds * 1_000_000_000);
    let file = std::fs::File::create(path).expect("create the capture");
    let mut pcap = PcapWriter::new(file, LinkType::ETHERNET, 65_535).expect("pcap header");
    let frames = [
        (at(0), first_fragment("10.0.0.1:80", 1, false)),
        // A second host while -d 1 allows one: the first host's fragment goes.
        (at(1), first_fragment("10.0.0.2:80", 2, false)),
        // 40 s later, for the same host: the previous datagram timed out.
        (at(41), first_fragment("10.0.0.2:80", 3, false)),
        // Carries nothing: invalid.
        (at(42), first_fragment("10.0.0.2:80", 4, true)),
    ];
    for (ts, frame) in &frames {
        pcap.write_packet(*ts, frame).expect("write a packet");
    }
    pcap.into_inner().expect("flush the capture");
}

#[test]
fn a_clean_capture_prints_nothing_on_stderr_by_default() {
    let out = ok(run(&["-f", KEEPALIVE]));
    assert!(!out.stdout.is_empty());
    assert_eq!(stderr(&out), "");
}

#[test]
fn stats_prints_the_whole_summary_with_every_figure() {
    let out = ok(run(&["-f", KEEPALIVE, "--stats"]));
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines[0], "rustniffer: summary", "{err}");
    let records = String::from_utf8_lossy(&out.stdout).lines().count() as u64;
    assert!(records > 0);
    assert_eq!(
        figure(&err, "packets read"),
        Some(pcap_records(KEEPALIVE)),
        "{err}"
    );
    assert_eq!(figure(&err, "records"), Some(records), "{err}");
    assert_eq!(
        figure(&err, "dropped by the packet filter"),
        Some(0),
        "{err}"
    );
    assert_eq!(figure(&err, "could not be decoded"), Some(0), "{err}");
    assert_eq!(figure(&err, "IP fragments lost"), Some(0), "{err}");
    assert_eq!(figure(&err, "connections evicted"), Some(0), "{err}");
    assert!(figure(&err, "connections").is_some_and(|n| n > 0), "{err}");
    // Labels left-aligned, numbers right-aligned in one column.
    let end = lines[1].len();
    for line in &lines[1..] {
        let number_end = line.find("  (").unwrap_or(line.len());
        assert_eq!(number_end, end, "{line:?} in\n{err}");
    }
}

#[test]
fn quiet_prints_nothing_even_with_losses() {
    let capture = TempFile::new("quiet.pcap");
    fragments_capture(capture.0.as_path());
    let out = ok(run(&["-f", capture.path(), "-d", "1", "-q"]));
    assert_eq!(stderr(&out), "");
    let out = ok(run(&["-f", KEEPALIVE, "-p", "port 1", "--quiet"]));
    assert_eq!(stderr(&out), "");
}

#[test]
fn stats_with_quiet_is_a_one_line_usage_error() {
    let out = run(&["-f", KEEPALIVE, "--stats", "-q"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("--stats"), "{err}");
}

#[test]
fn stats_may_come_from_a_configuration_file() {
    let config = TempFile::new("stats.conf");
    std::fs::write(&config.0, "stats = yes\n").expect("write the configuration");
    let out = ok(run(&["-f", KEEPALIVE, "-c", config.path()]));
    assert!(stderr(&out).starts_with("rustniffer: summary\n"));
}

#[test]
fn a_filter_that_keeps_nothing_says_so() {
    let out = ok(run(&["-f", KEEPALIVE, "-p", "port 1"]));
    assert!(out.stdout.is_empty());
    assert_eq!(
        stderr(&out),
        format!(
            "rustniffer: the packet filter kept 0 of {} packets\n",
            pcap_records(KEEPALIVE)
        )
    );
}

#[test]
fn lost_fragments_are_listed_by_reason() {
    let capture = TempFile::new("fragments.pcap");
    fragments_capture(capture.0.as_path());
    let out = ok(run(&["-f", capture.path(), "-d", "1"]));
    let err = stderr(&out);
    assert_eq!(
        err.lines().next(),
        Some("rustniffer: summary of what was lost (--stats for every figure)"),
        "{err}"
    );
    assert_eq!(figure(&err, "IP fragments lost"), Some(4), "{err}");
    assert_eq!(figure(&err, "over the host limit"), Some(1), "{err}");
    assert_eq!(figure(&err, "timed out"), Some(1), "{err}");
    assert_eq!(figure(&err, "overlapping or invalid"), Some(1), "{err}");
    assert_eq!(figure(&err, "incomplete at the end"), Some(1), "{err}");
    assert!(err.contains("(-d 1)"), "{err}");
    // Zero reasons are left out by default.
    assert!(!err.contains("size bounds"), "{err}");
    assert_eq!(err.lines().count(), 6, "{err}");
}

#[test]
fn a_command_failing_on_every_record_shows_ten_failures_then_the_total() {
    let records = String::from_utf8_lossy(&ok(run(&["-f", KEEPALIVE])).stdout)
        .lines()
        .count();
    assert!(records > 10, "the sample needs more than 10 records");
    let out = ok(run(&["-f", KEEPALIVE, "-e", "false"]));
    assert!(out.stdout.is_empty());
    let err = stderr(&out);
    let failures = err
        .lines()
        .filter(|l| l.starts_with("rustniffer: -e: command 'false' exited with status 1"))
        .count();
    assert_eq!(failures, 10, "{err}");
    assert_eq!(
        figure(&err, "records -e failed on"),
        Some(records as u64),
        "{err}"
    );
    assert!(
        err.contains(&format!("(of {records} records, command 'false')")),
        "{err}"
    );
    assert_eq!(err.lines().count(), 10 + 2, "{err}");
}
