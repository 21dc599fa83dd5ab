//! Connection records (`--connections`) through the built binary, on captures of real
//! connections: the conformance corpus (`../shared/conformance`) and the shipped sample.
//! Each test reads one field per column and checks it against what the capture shows
//! (checked by hand with tcpdump: who sent the first FIN or the RST, the handshake's
//! packets, the exchanges).

use std::path::{Path, PathBuf};
use std::process::Command;

fn corpus(name: &str) -> PathBuf {
    let dir = std::env::var("RUSTNIFFER_CONFORMANCE").map_or_else(
        |_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance"),
        PathBuf::from,
    );
    dir.join("pcaps").join(format!("{name}.pcap"))
}

const FIELDS: &str = "%conn.state %conn.history %conn.exchanges %conn.close.how %conn.close.by \
    %conn.client.packets %conn.server.packets %conn.client.bytes %conn.server.bytes \
    %conn.idle.max %conn.idle.before_close %conn.handshake.time";

/// The records of `capture` with `extra` options, split into fields.
fn records(capture: &Path, extra: &[&str]) -> Vec<Vec<String>> {
    let out = Command::new(env!("CARGO_BIN_EXE_rustniffer"))
        .arg("-f")
        .arg(capture)
        .args(["--connections", "-q", "-l", FIELDS])
        .args(extra)
        .output()
        .expect("the binary runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.split(' ').map(str::to_string).collect())
        .collect()
}

fn secs(field: &str) -> f64 {
    field
        .parse()
        .unwrap_or_else(|_| panic!("a duration, not {field:?}"))
}

#[test]
fn a_refused_connection_is_rej_closed_by_the_servers_reset() {
    let r = records(&corpus("m_refused_A"), &[]);
    assert_eq!(r.len(), 1);
    let f = &r[0];
    assert_eq!(&f[..5], ["REJ", "Sr", "0", "rst", "server"]);
    assert_eq!(&f[5..9], ["1", "1", "0", "0"]);
    // No handshake, no exchange: no idle times.
    assert_eq!(&f[9..12], ["-", "-", "-"]);
}

#[test]
fn resets_after_an_exchange_name_their_sender() {
    let client = &records(&corpus("h_rst_client_A"), &[])[0];
    assert_eq!(&client[..5], ["RSTO", "ShADadR", "1", "rst", "client"]);
    let server = &records(&corpus("h_rst_server_A"), &[])[0];
    assert_eq!(&server[..5], ["RSTR", "ShADadr", "1", "rst", "server"]);
}

#[test]
fn a_reused_keep_alive_connection_counts_its_exchanges_and_idle_times() {
    let r = records(&corpus("c_ka_reuse_A"), &[]);
    assert_eq!(r.len(), 1);
    let f = &r[0];
    assert_eq!(&f[..5], ["SF", "ShADadFf", "5", "fin", "client"]);
    // The longest pause between two exchanges, and the pause before the client's FIN,
    // are the client's sleeps (1.2 s and 0.3 s in the capture).
    assert!((secs(&f[9]) - 1.2).abs() < 0.01, "{f:?}");
    assert!((secs(&f[10]) - 0.3).abs() < 0.01, "{f:?}");
    assert!(secs(&f[11]) > 0.0 && secs(&f[11]) < 0.01);
}

#[test]
fn a_server_idle_timeout_shows_as_idle_before_a_server_close() {
    let f = &records(&corpus("e_nginx_idle_A"), &[])[0];
    assert_eq!(&f[..5], ["SF", "ShADadfF", "1", "fin", "server"]);
    // nginx closes the idle keep-alive connection after its 1 s keepalive_timeout.
    assert!((secs(&f[10]) - 1.0).abs() < 0.01, "{f:?}");
}

#[test]
fn connections_open_at_the_end_are_s1_and_truncated() {
    let r = records(&corpus("p_truncated_A"), &[]);
    assert!(!r.is_empty());
    for f in &r {
        assert_eq!(f[0], "S1");
        assert_eq!(f[3], "truncated");
        assert_eq!(f[4], "-");
        assert_eq!(f[10], "-");
    }
}

#[test]
fn a_connection_picked_up_mid_stream_has_no_handshake_time() {
    let r = records(&corpus("syn_midstream_A"), &["-m"]);
    assert!(!r.is_empty());
    assert!(!r[0][1].starts_with('S'), "{:?}", r[0]);
    assert_eq!(r[0][11], "-");
}

#[test]
fn one_record_per_connection_and_the_bytes_match_the_exchanges() {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/keepalive.pcap");
    let conns = records(&sample, &[]);
    // The same capture per exchange: request and response sizes per connection.
    let out = Command::new(env!("CARGO_BIN_EXE_rustniffer"))
        .arg("-f")
        .arg(&sample)
        .args(["-q", "-l", "%source.port %request.size %response.size"])
        .output()
        .unwrap();
    let mut per_port: std::collections::BTreeMap<String, (u64, u64, u32)> = Default::default();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let e = per_port.entry(f[0].to_string()).or_default();
        e.0 += f[1].parse::<u64>().unwrap();
        e.1 += f[2].parse::<u64>().unwrap();
        e.2 += 1;
    }
    assert_eq!(conns.len(), per_port.len());
    let with_ports = Command::new(env!("CARGO_BIN_EXE_rustniffer"))
        .arg("-f")
        .arg(&sample)
        .args([
            "-q",
            "--connections",
            "-l",
            "%source.port %conn.client.bytes %conn.server.bytes %conn.exchanges",
        ])
        .output()
        .unwrap();
    for line in String::from_utf8(with_ports.stdout).unwrap().lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let (req, resp, n) = per_port[f[0]];
        assert_eq!(f[1].parse::<u64>().unwrap(), req, "{line}");
        assert_eq!(f[2].parse::<u64>().unwrap(), resp, "{line}");
        assert_eq!(f[3].parse::<u32>().unwrap(), n, "{line}");
    }
}

#[test]
fn the_default_connection_format_is_used_without_l() {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/keepalive.pcap");
    let out = Command::new(env!("CARGO_BIN_EXE_rustniffer"))
        .arg("-f")
        .arg(&sample)
        .args(["-q", "--connections"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let first = text.lines().next().unwrap();
    assert!(first.contains(" -> 127.0.0.1:18080 tcp SF Sh"), "{first}");
    assert!(first.contains(" close=fin by="), "{first}");
    // Keep-alive headers of the first exchange are available to any format.
    let out = Command::new(env!("CARGO_BIN_EXE_rustniffer"))
        .arg("-f")
        .arg(corpus("c_ka_reuse_A"))
        .args([
            "-q",
            "--connections",
            "-l",
            "%conn.connection.asked|%conn.keep_alive.answered",
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "keep-alive|timeout=8, max=100\n"
    );
}

fn run(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_rustniffer"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn open_reports_show_connections_while_they_live_and_change_nothing_else() {
    // samples/keepalive.pcap: the last connection carries 5 exchanges over 1.5 s.
    let plain = run(&[
        "-f",
        "samples/keepalive.pcap",
        "-q",
        "--connections",
        "-l",
        "%conn.state %source.port %conn.exchanges",
    ]);
    let with = run(&[
        "-f",
        "samples/keepalive.pcap",
        "-q",
        "--connections",
        "--open-report",
        "0.5",
        "-l",
        "%conn.state %source.port %conn.exchanges %conn.idle.now",
    ]);
    let (open, done): (Vec<&str>, Vec<&str>) = with.lines().partition(|l| l.starts_with("open "));
    // The final records are the same with or without interim ones.
    let done: Vec<String> = done
        .iter()
        .map(|l| l.rsplit_once(' ').unwrap().0.to_string())
        .collect();
    assert_eq!(done, plain.lines().collect::<Vec<_>>());
    // Interim records: the long connection, with its exchanges so far growing, and
    // how long it has been idle (its pauses are at most 0.5 s).
    let long: Vec<Vec<&str>> = open
        .iter()
        .filter(|l| l.contains(" 39458 "))
        .map(|l| l.split(' ').collect())
        .collect();
    assert!(long.len() >= 3, "{with}");
    let counts: Vec<u32> = long.iter().map(|f| f[2].parse().unwrap()).collect();
    assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{counts:?}");
    for f in &long {
        let idle: f64 = f[3].parse().unwrap();
        assert!((0.0..=0.51).contains(&idle), "{f:?}");
    }
    // Without --connections: the pending exchange as it stands, marked open.
    let per_exchange = run(&[
        "-f",
        "samples/keepalive.pcap",
        "-q",
        "--open-report",
        "0.5",
        "-l",
        "%connection %source.port",
    ]);
    assert!(
        per_exchange.lines().any(|l| l == "open 39458"),
        "{per_exchange}"
    );
    let finals = per_exchange
        .lines()
        .filter(|l| !l.starts_with("open "))
        .count();
    let plain_exchanges = run(&["-f", "samples/keepalive.pcap", "-q", "-l", "%connection"])
        .lines()
        .count();
    assert_eq!(finals, plain_exchanges);
}

#[test]
fn an_idle_timeout_ends_quiet_connections_as_idle_timeout() {
    // c_ka_reuse: a 1.2 s pause between two exchanges; a 1 s timeout cuts it there.
    let out = run(&[
        "-f",
        corpus("c_ka_reuse_A").to_str().unwrap(),
        "-q",
        "--connections",
        "--idle-timeout",
        "1",
        "-l",
        "%conn.state %conn.exchanges %conn.close.how %close.originator",
    ]);
    assert_eq!(out, "S1 3 idle-timeout timedout\n");
    // 2 s is longer than every pause: nothing changes.
    let out = run(&[
        "-f",
        corpus("c_ka_reuse_A").to_str().unwrap(),
        "-q",
        "--connections",
        "--idle-timeout",
        "2",
        "-l",
        "%conn.state %conn.exchanges %conn.close.how",
    ]);
    assert_eq!(out, "SF 5 fin\n");
}

#[test]
fn a_websocket_connection_has_its_record_with_its_summary() {
    // tests/protocols/pcaps: ws_chat closes cleanly (Close both ways, then the server's
    // FIN); ws_vanish's client resets the connection without a Close (1006).
    let fields = "%protocol %conn.state %conn.exchanges %ws.end %conn.close.by";
    let chat = run(&[
        "-q",
        "-f",
        "tests/protocols/pcaps/ws_chat.pcap",
        "--exchanges",
        "messages",
        "--connections",
        "-l",
        fields,
    ]);
    assert_eq!(chat, "websocket SF 1 clean server\n");
    let vanish = run(&[
        "-q",
        "-f",
        "tests/protocols/pcaps/ws_vanish.pcap",
        "--exchanges",
        "messages",
        "--connections",
        "-l",
        fields,
    ]);
    assert_eq!(vanish, "websocket RSTO 1 abnormal client\n");
}

#[test]
fn a_websocket_in_messages_mode_gets_its_record() {
    // Its upgrade is printed at the 101; the connection's record still comes at the close.
    let ws = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/protocols/pcaps/ws_silent.pcap");
    let records = records(&ws, &["--exchanges", "messages"]);
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(&records[0][..5], ["SF", "ShADadfF", "1", "fin", "server"]);
}
