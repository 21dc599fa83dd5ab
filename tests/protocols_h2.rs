//! The HTTP/2 oracle: `tests/protocols/compare_h2.py` compares the records of
//! `--exchanges messages` for HTTP/2 streams (`%h2.stream`, method, path, status, DATA
//! bytes, grpc-status, RST_STREAM) with tshark's decoding of the captures
//! `tests/protocols/pcaps/h2_*.pcap` (see `tests/protocols/README.md`). It fails on any
//! difference not listed, with its reason, in `tests/protocols/known_differences.tsv`.
//! The captures are committed: only tshark is needed.

use std::path::Path;
use std::process::Command;

#[path = "common/oracle.rs"]
mod oracle;

#[test]
fn http2_streams_agree_with_tshark() {
    if !oracle::tshark_or_skip("HTTP/2 oracle (tests/protocols/compare_h2.py)") {
        return;
    }
    let stdout = oracle::run_comparison("tests/protocols/compare_h2.py");
    // Every capture was compared, and the total covers their streams.
    assert!(
        stdout.contains("h2_h2load.pcap")
            && stdout.contains("h2_grpc.pcap")
            && stdout.contains("h2_midstream.pcap"),
        "{stdout}"
    );
}

/// `o_h2c_A` of the conformance corpus (curl with prior knowledge against nginx): in
/// `turns` mode justniffer's garbage, in `messages` mode one stream with its method,
/// path, authority and status.
#[test]
fn the_corpus_h2c_capture_prints_its_stream_in_messages_mode() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let pcap = root.join("../shared/conformance/pcaps/o_h2c_A.pcap");
    let output = Command::new(env!("CARGO_BIN_EXE_rustniffer"))
        .arg("-f")
        .arg(&pcap)
        .args(["--exchanges", "messages", "-l"])
        .arg(
            "%protocol|%connection|%h2.stream|%request.method|%request.url|%request.protocol|\
             %request.header.host|%response.code|%response.line|%response.body.size|\
             %exchange.complete|%h2.reset|%response.header.content-type",
        )
        .output()
        .expect("run rustniffer");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let records: Vec<Vec<&str>> = stdout.lines().map(|l| l.split('|').collect()).collect();
    assert_eq!(records.len(), 1, "{stdout}");
    let r = &records[0];
    assert_eq!(r[0], "h2c");
    assert_eq!(r[1], "unique");
    assert_eq!(r[2], "1");
    assert_eq!((r[3], r[4], r[5]), ("GET", "/index.html", "HTTP/2"));
    assert_eq!(r[6], "www.example.test:39105");
    assert_eq!((r[7], r[8]), ("200", "HTTP/2 200"));
    // nginx's content-length: 123, all in one DATA frame.
    assert_eq!(r[9], "123");
    assert_eq!(r[10], "yes");
    assert_eq!(r[11], "-");
    assert_eq!(r[12], "text/html");
}

/// HTTP/2 over TLS: the frames are encrypted. With ALPN `h2` chosen in a TLS 1.2
/// ServerHello (visible, unlike TLS 1.3's) the connection is `h2`, carries its TLS facts,
/// and its exchanges are the TLS record turns, with no HTTP fields.
#[test]
fn tls_with_alpn_h2_is_reported_h2_with_its_tls_facts_and_record_turns() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = Command::new(env!("CARGO_BIN_EXE_rustniffer"))
        .arg("-f")
        .arg(root.join("tests/protocols/pcaps/h2_tls12_alpn.pcap"))
        .args(["--exchanges", "messages", "-l"])
        .arg("%protocol|%tls.alpn|%tls.version|%tls.sni|%request.size|%response.size|%request.method|%h2.stream")
        .output()
        .expect("run rustniffer");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let records: Vec<Vec<&str>> = stdout.lines().map(|l| l.split('|').collect()).collect();
    assert_eq!(records.len(), 1, "{stdout}");
    let r = &records[0];
    assert_eq!(
        (r[0], r[1], r[2], r[3]),
        ("h2", "h2", "TLS_1.2", "example.test")
    );
    // One turn: the client's application data records, then the server's.
    let (request, response): (u64, u64) = (r[4].parse().unwrap(), r[5].parse().unwrap());
    assert!(request > 0 && response > request, "{stdout}");
    assert_eq!((r[6], r[7]), ("-", "-"));
}

/// A connection captured from its third request on (`h2_midstream.pcap`, recorded by
/// `make_h2_captures.sh` with `h2_midstream.py`): with `-m` it is HTTP/2 from its first
/// frame; the static-table and literal fields decode (`:method`, `:status`, the new
/// `:path`s), the ones that refer to HPACK entries made before the capture started do
/// not (`:authority`, the repeated `/page1`), and each stream says so.
#[test]
fn a_connection_picked_up_mid_stream_decodes_what_its_hpack_state_allows() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let pcap = root.join("tests/protocols/pcaps/h2_midstream.pcap");
    let format = "%protocol|%h2.stream|%request.method|%request.url|%request.header.host|\
                  %response.code|%response.body.size|%exchange.complete|%h2.headers.unknown";
    let run = |extra: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_rustniffer"))
            .arg("-f")
            .arg(&pcap)
            .args(["--exchanges", "messages", "-l", format])
            .args(extra)
            .output()
            .expect("run rustniffer");
        assert!(output.status.success(), "{output:?}");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let stdout = run(&["-m"]);
    let records: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        records,
        [
            "h2c|5|GET|/page3|-|200|15|yes|yes",
            "h2c|7|GET|-|-|200|15|yes|yes",
            "h2c|9|GET|/missing|-|404|148|yes|yes",
            "h2c|11|GET|/page4|-|200|15|yes|yes",
            "h2c|13|GET|/page5|-|200|15|yes|yes",
        ],
        "{stdout}"
    );
    // Without -m the connection is not followed at all (no SYN).
    assert_eq!(run(&[]), "");
}
