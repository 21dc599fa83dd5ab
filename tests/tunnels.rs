//! Tunnels end to end: the captures of tests/tunnels/pcaps (kernel-made by
//! make_captures.sh, synthetic by make_synthetic.py) through the binary, against tshark
//! (tests/tunnels/oracle.py) and against what `--no-tunnels` and the keywords promise.

use std::path::{Path, PathBuf};
use std::process::Command;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tunnels")
}

fn pcaps() -> Vec<PathBuf> {
    let mut all: Vec<PathBuf> = std::fs::read_dir(dir().join("pcaps"))
        .expect("tests/tunnels/pcaps")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
        .collect();
    all.sort();
    all
}

fn pcap(name: &str) -> PathBuf {
    dir().join("pcaps").join(name)
}

/// rustniffer's standard output for `args`.
fn run(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_rustniffer"))
        .args(args)
        .output()
        .expect("rustniffer runs");
    assert!(out.status.success(), "{args:?}: {out:?}");
    String::from_utf8(out.stdout).expect("UTF-8 records")
}

#[path = "common/oracle.rs"]
mod oracle;

#[test]
fn every_tunnel_capture_agrees_with_tshark_request_by_request() {
    if !oracle::tshark_or_skip("tunnel oracle (tests/tunnels/oracle.py)") {
        return;
    }
    let out = Command::new("python3")
        .arg(dir().join("oracle.py"))
        .arg(env!("CARGO_BIN_EXE_rustniffer"))
        .args(pcaps())
        .output()
        .expect("python3 runs oracle.py");
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{table}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        table.lines().filter(|l| l.ends_with("| yes |")).count() >= 20,
        "{table}"
    );
}

#[test]
fn the_synthetic_captures_match_their_generator() {
    let out = std::env::temp_dir().join(format!("rustniffer-tunnels-{}", std::process::id()));
    std::fs::create_dir_all(&out).expect("temporary directory");
    let status = Command::new("python3")
        .arg(dir().join("make_synthetic.py"))
        .arg(&out)
        .status()
        .expect("python3 runs make_synthetic.py");
    assert!(status.success(), "make_synthetic.py failed: {status}");
    let mut compared = 0;
    for entry in std::fs::read_dir(&out).expect("generated captures") {
        let path = entry.expect("directory entry").path();
        let name = path.file_name().expect("file name");
        let committed = std::fs::read(dir().join("pcaps").join(name))
            .unwrap_or_else(|e| panic!("{name:?} is generated but not committed: {e}"));
        assert!(
            std::fs::read(&path).expect("generated capture") == committed,
            "tests/tunnels/pcaps/{name:?} differs from what make_synthetic.py writes"
        );
        compared += 1;
    }
    let _ = std::fs::remove_dir_all(&out);
    assert!(
        compared >= 20,
        "make_synthetic.py wrote {compared} captures"
    );
}

#[test]
fn the_same_inner_connection_in_two_vnis_is_two_connections() {
    let f = pcap("synthetic-two-vnis.pcap");
    let out = run(&[
        "-f",
        f.to_str().unwrap(),
        "-l",
        "%source.ip:%source.port %request.line %response.line|%tunnel|%tunnel.id",
    ]);
    assert_eq!(
        out,
        "10.1.0.1:40000 GET /vni-one HTTP/1.1 HTTP/1.1 200 OK|vxlan vni=1 192.0.2.1>192.0.2.2|1\n\
         10.1.0.1:40000 GET /vni-two HTTP/1.1 HTTP/1.1 200 OK|vxlan vni=2 192.0.2.1>192.0.2.2|2\n"
    );
}

#[test]
fn no_tunnels_sees_only_plain_tcp_as_justniffer_does() {
    for p in pcaps() {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let out = run(&[
            "-f",
            p.to_str().unwrap(),
            "--no-tunnels",
            "-l",
            "%request.line",
        ]);
        // Link types are not tunnels: PPP, C-HDLC and NFLOG captures still decode.
        let plain_link = ["chdlc", "nflog", "ppp.pcap", "ppp-hdlc"]
            .iter()
            .any(|s| name.contains(s));
        assert_eq!(!out.is_empty(), plain_link, "{name}: {out}");
    }
}

#[test]
fn tunnel_keywords_say_not_found_without_a_tunnel() {
    let f = pcap("synthetic-ppp.pcap");
    let out = run(&[
        "-f",
        f.to_str().unwrap(),
        "-l",
        "%tunnel %tunnel.id %tunnel(none)",
    ]);
    assert_eq!(out, "- - none\n- - none\n");
}

#[test]
fn more_vxlan_ports_can_be_named() {
    // The kernel capture on 8472 is VXLAN by default; naming it again changes nothing,
    // and a bad list is refused.
    let f = pcap("kernel-vxlan-8472.pcap");
    let f = f.to_str().unwrap();
    let plain = run(&["-f", f, "-l", "%tunnel.id"]);
    assert_eq!(
        plain,
        run(&["-f", f, "--vxlan-port", "8472,4790", "-l", "%tunnel.id"])
    );
    let out = Command::new(env!("CARGO_BIN_EXE_rustniffer"))
        .args(["-f", f, "--geneve-port", "0"])
        .output()
        .expect("rustniffer runs");
    assert!(!out.status.success());
}
