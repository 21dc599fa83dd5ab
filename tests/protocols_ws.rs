//! WebSocket in `messages` mode on real traffic: `tests/protocols/compare_ws.py` compares
//! every message of the captures `tests/protocols/pcaps/ws_*.pcap` (made by
//! `make_ws_captures.sh`) with tshark's decoding; and what the conformance corpus's
//! `q_websocket_A` prints, with and without `--ws-messages`.

use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "common/oracle.rs"]
mod oracle;

#[test]
fn websocket_messages_agree_with_tshark() {
    if !oracle::tshark_or_skip("WebSocket oracle (tests/protocols/compare_ws.py)") {
        return;
    }
    let stdout = oracle::run_comparison("tests/protocols/compare_ws.py");
    // Every capture was compared, and messages were found in them.
    let total = stdout.lines().last().unwrap_or_default();
    let counts: Vec<u64> = total
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    assert!(counts.first().is_some_and(|&n| n >= 50), "{stdout}");
}

fn rustniffer(args: &[&str]) -> Vec<Vec<String>> {
    let output = Command::new(env!("CARGO_BIN_EXE_rustniffer"))
        .args(args)
        .env("TZ", "UTC")
        .output()
        .expect("run rustniffer");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

fn capture(name: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    root.join("tests/protocols/pcaps")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

fn corpus_pcap(name: &str) -> PathBuf {
    let dir = match std::env::var("RUSTNIFFER_CONFORMANCE") {
        Ok(dir) => PathBuf::from(dir),
        Err(_) => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance"),
    };
    dir.join("pcaps").join(name)
}

const SUMMARY: &str = "%connection\t%protocol\t%request.line\t%response.code\t%ws.accept\t%ws.messages\t%close.originator";
const MESSAGE: &str = "%connection\t%protocol\t%ws.opcode\t%request.size\t%response.size\t%ws.size\t%ws.close\t%ws.messages.client\t%ws.messages.server\t%ws.end";

#[test]
fn q_websocket_a_prints_the_upgrade_and_with_ws_messages_each_message() {
    let pcap = corpus_pcap("q_websocket_A.pcap");
    let pcap = pcap.to_str().unwrap();
    // By default: the upgrade only, printed at its 101 (so nothing of the WebSocket
    // is counted on it yet), where turns mode printed garbage exchanges.
    let records = rustniffer(&["-f", pcap, "--exchanges", "messages", "-l", SUMMARY]);
    assert_eq!(
        records,
        [[
            "start",
            "http/1.1",
            "GET /chat HTTP/1.1",
            "101",
            "valid",
            "0",
            "-"
        ]]
    );
    let turns = rustniffer(&["-f", pcap, "-l", "%request.size %response.size"]);
    assert!(turns.len() > 1, "turns mode cuts the frames into exchanges");

    // With --ws-messages: the three echoed texts, then the close handshake.
    let records = rustniffer(&[
        "-f",
        pcap,
        "--exchanges",
        "messages",
        "--ws-messages",
        "-l",
        MESSAGE,
    ]);
    let ops: Vec<(&str, &str, &str, &str)> = records
        .iter()
        .map(|r| (r[0].as_str(), r[2].as_str(), r[3].as_str(), r[4].as_str()))
        .collect();
    assert_eq!(
        ops,
        [
            ("start", "-", "192", "129"),
            ("continue", "text", "5", "0"),
            ("continue", "text", "0", "5"),
            ("continue", "text", "12", "0"),
            ("continue", "text", "0", "12"),
            ("continue", "text", "300", "0"),
            ("continue", "text", "0", "300"),
            ("continue", "close", "5", "0"),
            ("last", "close", "0", "5"),
        ]
    );
    assert!(records[1..].iter().all(|r| r[1] == "websocket"));
    assert_eq!(records[7][6], "1000 normal by client");
    let last = &records[8];
    assert_eq!(
        (
            last[6].as_str(),
            last[7].as_str(),
            last[8].as_str(),
            last[9].as_str()
        ),
        ("1000 normal by server", "3", "3", "clean")
    );
}

#[test]
fn a_vanishing_client_is_the_abnormal_closure_and_deflate_is_decoded() {
    let records = rustniffer(&[
        "-f",
        &capture("ws_vanish.pcap"),
        "--exchanges",
        "messages",
        "--ws-messages",
        "-l",
        MESSAGE,
    ]);
    let last = records.last().unwrap();
    assert_eq!(
        (last[0].as_str(), last[6].as_str(), last[9].as_str()),
        ("last", "-", "abnormal")
    );
    // Without --ws-messages the upgrade, printed at the 101, cannot know the end yet
    // (connection records will).
    let records = rustniffer(&[
        "-f",
        &capture("ws_vanish.pcap"),
        "--exchanges",
        "messages",
        "-l",
        "%ws.close %ws.end",
    ]);
    assert_eq!(records, [["- -".to_string()]]);

    let records = rustniffer(&[
        "-f", &capture("ws_deflate.pcap"), "--exchanges", "messages", "--ws-messages", "-l",
        "%ws.opcode\t%request.size\t%ws.size\t%ws.extensions\t%ws.bytes.decoded.client\t%ws.undecoded\t%ws.compressed",
    ]);
    // The 6 client texts: 216 bytes each once inflated, ever smaller on the wire as
    // the shared context learns them (context takeover).
    let texts: Vec<&Vec<String>> = records
        .iter()
        .filter(|r| r[0] == "text" && r[1] != "0")
        .collect();
    assert_eq!(texts.len(), 6);
    assert!(texts
        .iter()
        .all(|r| r[2] == "216" && r[3] == "permessage-deflate" && r[6] == "yes"));
    // Control frames are never compressed.
    assert_eq!(last_close_compressed(&records), "no");
    assert!(texts[5][1].parse::<u64>().unwrap() < texts[0][1].parse::<u64>().unwrap());
    let last = records.last().unwrap();
    assert_eq!((last[4].as_str(), last[5].as_str()), ("21776", "0"));
}

fn last_close_compressed(records: &[Vec<String>]) -> &str {
    &records.iter().rfind(|r| r[0] == "close").unwrap()[6]
}

#[test]
fn a_silent_websocket_shows_its_silence_and_ping_round_trip() {
    let records = rustniffer(&[
        "-f",
        &capture("ws_silent.pcap"),
        "--exchanges",
        "messages",
        "--ws-messages",
        "-l",
        "%ws.opcode\t%ws.silence.max\t%ws.pings\t%ws.pongs\t%ws.ping.rtt\t%ws.ping.sender\t%ws.rtt",
    ]);
    let last = records.last().unwrap();
    let silence: f64 = last[1].parse().unwrap();
    assert!((3.0..5.0).contains(&silence), "{last:?}");
    assert_eq!(
        (last[2].as_str(), last[3].as_str(), last[5].as_str()),
        ("1", "1", "client")
    );
    let pong = records.iter().find(|r| r[0] == "pong").unwrap();
    assert_eq!(
        pong[6], last[4],
        "the pong's round trip is the connection's last"
    );
}
