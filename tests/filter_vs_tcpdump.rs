//! Differential test of the packet filter against tcpdump (libpcap): for every capture of
//! the conformance corpus and for synthetic captures of every supported link type, the
//! frames our filter accepts must be exactly those tcpdump writes out for the same
//! expression. Skipped, with a note, when tcpdump is not installed.
//!
//! Run with `--nocapture` to see the per-expression figures.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::Command;

use rustniffer::capture::file::{self, PcapWriter};
use rustniffer::capture::{LinkType, Next, PacketSource};
use rustniffer::filter::Filter;
use rustniffer::time::Timestamp;

#[path = "common/filter_corpus.rs"]
mod filter_corpus;
use filter_corpus::{corpus_pcaps, framed, garbage, EXPRESSIONS};

fn tcpdump_available() -> bool {
    Command::new("tcpdump")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success())
}

/// A frame as read back: enough to recognise it in tcpdump's output.
#[derive(Clone, PartialEq, Eq, Debug)]
struct Frame {
    ts: Timestamp,
    link: LinkType,
    data: Vec<u8>,
    orig_len: u32,
}

fn read_frames(source: &mut impl PacketSource) -> Vec<Frame> {
    let mut frames = Vec::new();
    loop {
        match source.next_packet() {
            Next::Packet(p) => frames.push(Frame {
                ts: p.ts,
                link: p.link,
                data: p.data.to_vec(),
                orig_len: p.orig_len,
            }),
            Next::End | Next::Damaged(_) => return frames,
        }
    }
}

/// What one side decided for one capture and expression.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// Indices of the accepted frames.
    Accepted(Vec<usize>),
    /// The expression was refused for this capture (message).
    Refused(String),
}

fn ours(expr: &str, frames: &[Frame]) -> Verdict {
    let filter = match Filter::compile(expr) {
        Ok(filter) => filter,
        Err(e) => return Verdict::Refused(e.to_string()),
    };
    if let Some(first) = frames.first() {
        if let Err(e) = filter.check_link(first.link) {
            return Verdict::Refused(e.to_string());
        }
    }
    Verdict::Accepted(
        frames
            .iter()
            .enumerate()
            .filter(|(_, f)| filter.matches(f.link, &f.data, f.orig_len))
            .map(|(i, _)| i)
            .collect(),
    )
}

fn theirs(expr: &str, capture: &Path, frames: &[Frame]) -> Verdict {
    let output = Command::new("tcpdump")
        .arg("-r")
        .arg(capture)
        .args(["-w", "-"])
        .arg(expr)
        .output()
        .expect("tcpdump runs");
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        // libpcap refuses filters its optimiser proves can never match.
        if stderr.contains("expression rejects all packets") {
            return Verdict::Accepted(Vec::new());
        }
        let message = stderr.lines().last().unwrap_or("").to_string();
        return Verdict::Refused(message);
    }
    let written = match file::from_reader(Cursor::new(output.stdout), "tcpdump output", true) {
        Ok(mut source) => read_frames(&mut source),
        Err(_) => Vec::new(), // no packets written: an empty output has no header
    };
    // Frames come out in input order; walk both lists.
    let mut accepted = Vec::new();
    let mut next = 0;
    for frame in &written {
        while next < frames.len()
            && (frames[next].data != frame.data || frames[next].ts != frame.ts)
        {
            next += 1;
        }
        assert!(
            next < frames.len(),
            "tcpdump wrote a frame that is not in {}",
            capture.display()
        );
        accepted.push(next);
        next += 1;
    }
    Verdict::Accepted(accepted)
}

fn write_capture(path: &Path, link: LinkType, frames: &[Vec<u8>]) {
    let file = std::fs::File::create(path).expect("create capture");
    let mut writer = PcapWriter::new(file, link, 262_144).expect("header");
    for (i, frame) in frames.iter().enumerate() {
        let ts = Timestamp::from_secs_micros(1_700_000_000 + i as i64, 0);
        writer.write_packet(ts, frame).expect("record");
    }
    writer.into_inner().expect("flush");
}

fn write_synthetic(dir: &Path, link: LinkType) -> PathBuf {
    let path = dir.join(format!("synthetic_link{}.pcap", link.0));
    let file = std::fs::File::create(&path).expect("create capture");
    let mut writer = PcapWriter::new(file, link, 262_144).expect("header");
    for (i, frame) in framed(link).iter().enumerate() {
        let ts = Timestamp::from_secs_micros(1_700_000_000 + i as i64, 0);
        if frame.len() > 200 {
            // Cut long frames at 200 bytes so that `len` (the wire length) and the
            // captured length differ.
            writer
                .write_truncated_packet(ts, &frame[..200], frame.len() as u32)
                .expect("record");
        } else {
            writer.write_packet(ts, frame).expect("record");
        }
    }
    writer.into_inner().expect("flush");
    path
}

#[test]
fn filter_accepts_the_same_frames_as_tcpdump() {
    if !tcpdump_available() {
        // test.sh installs tcpdump and sets this: there, a missing reference is a failure.
        assert!(
            std::env::var_os("RUSTNIFFER_REQUIRE_TCPDUMP").is_none(),
            "tcpdump is required (RUSTNIFFER_REQUIRE_TCPDUMP is set) but was not found"
        );
        eprintln!("note: tcpdump not found, differential filter test skipped");
        return;
    }
    let scratch = std::env::temp_dir().join(format!("rustniffer-filter-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("scratch dir");
    let mut captures: Vec<PathBuf> = [
        LinkType::ETHERNET,
        LinkType::LINUX_SLL,
        LinkType::LINUX_SLL2,
        LinkType::NULL,
        LinkType::LOOP,
        LinkType::RAW,
        LinkType::IPV4,
        LinkType::IPV6,
        LinkType::PPP,
        LinkType::PPP_HDLC,
        LinkType::PPP_ETHER,
        LinkType::C_HDLC,
        LinkType::NFLOG,
    ]
    .into_iter()
    .map(|link| write_synthetic(&scratch, link))
    .collect();
    for link in [LinkType::ETHERNET, LinkType::LINUX_SLL] {
        let path = scratch.join(format!("garbage_link{}.pcap", link.0));
        write_capture(&path, link, &garbage(link));
        captures.push(path);
    }
    // The tunnel captures (Ethernet, PPP, PPP in HDLC framing, PPPoE, C-HDLC, NFLOG).
    let mut tunnels: Vec<PathBuf> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tunnels/pcaps"))
            .expect("tests/tunnels/pcaps")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
    tunnels.sort();
    captures.extend(tunnels);
    match corpus_pcaps() {
        Some(dir) => {
            let mut corpus: Vec<PathBuf> = std::fs::read_dir(dir)
                .expect("corpus readable")
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            corpus.sort();
            captures.extend(corpus);
        }
        None => eprintln!("note: conformance corpus not found, only synthetic captures compared"),
    }

    // One thread per capture: each comparison runs tcpdump once.
    let results: Vec<Vec<(&str, Verdict, Verdict)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = captures
            .iter()
            .map(|capture| {
                scope.spawn(move || {
                    let Ok(mut source) = file::open(capture.to_str().expect("utf-8 path"), true)
                    else {
                        return Vec::new(); // the unknown-link-type capture: nothing to filter
                    };
                    let frames = read_frames(&mut source);
                    EXPRESSIONS
                        .iter()
                        .map(|&expr| (expr, ours(expr, &frames), theirs(expr, capture, &frames)))
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("comparison thread"))
            .collect()
    });

    let mut per_expression: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new();
    let mut mismatches = Vec::new();
    let mut compared = 0;
    for (capture, outcomes) in captures.iter().zip(results) {
        for (expr, mine, reference) in outcomes {
            compared += 1;
            let entry = per_expression.entry(expr).or_default();
            if let Verdict::Accepted(list) = &reference {
                entry.0 += list.len();
            }
            if let Verdict::Accepted(list) = &mine {
                entry.1 += list.len();
            }
            let agree = match (&mine, &reference) {
                (Verdict::Refused(_), Verdict::Refused(_)) => true,
                (a, b) => a == b,
            };
            if !agree {
                entry.2 += 1;
                mismatches.push(format!(
                    "{} | {expr}\n    ours:    {mine:?}\n    tcpdump: {reference:?}",
                    capture
                        .file_name()
                        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
                ));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);

    println!(
        "{:<75} {:>8} {:>8} {:>6}",
        "expression", "tcpdump", "ours", "diff"
    );
    for (expr, (theirs, ours, differing)) in &per_expression {
        println!("{expr:<75} {theirs:>8} {ours:>8} {differing:>6}");
    }
    println!(
        "{} captures x {} expressions = {compared} comparisons, {} disagreements",
        captures.len(),
        EXPRESSIONS.len(),
        mismatches.len()
    );
    assert!(
        mismatches.is_empty(),
        "disagreements with tcpdump:\n{}",
        mismatches.join("\n")
    );
}
