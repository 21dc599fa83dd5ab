//! Prometheus metrics through the built binary: the exposition of a capture file
//! (`--metrics-file`, classic text format) is exact and accepted by `promtool check
//! metrics`; a metrics address in use is one clear
//! error at start-up; and, live on the loopback interface, a real Prometheus server
//! scraping `--metrics-listen` while a load runs counts exactly the load that was sent
//! (queried through Prometheus's HTTP API), while a client that connects to `/metrics`
//! and never reads does not stop capture; `/metrics` answers as soon as a live capture
//! says it listens, and the kernel's drops (made on purpose) are counted as the
//! end-of-run summary counts them.
//!
//! test.sh installs Prometheus (Debian package `prometheus`, which has `promtool`) and
//! sets RUSTNIFFER_REQUIRE_PROMETHEUS: there a missing program fails the test; elsewhere
//! the parts that need it print a note and pass. The live part needs root (CAP_NET_RAW).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_rustniffer")
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn have(program: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var_os("RUSTNIFFER_REQUIRE_PROMETHEUS").is_none(),
            "{program} is missing"
        );
        eprintln!("note: {program} not found (test.sh installs Prometheus): that check is skipped");
    }
    found
}

/// The value of the sample `name{labels}` in an exposition.
fn sample(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name_and_labels)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

#[test]
fn the_metrics_of_a_capture_are_exact_and_promtool_accepts_them() {
    let dir = std::env::temp_dir().join(format!("rustniffer-metrics-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("metrics.txt");
    let out = Command::new(binary())
        .args(["-q", "-f", "samples/keepalive.pcap", "--metrics-file"])
        .arg(&file)
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&file).unwrap();
    // The same capture gives the same file: series in label order, whatever the run.
    let again = dir.join("again.txt");
    let out = Command::new(binary())
        .args(["-q", "-f", "samples/keepalive.pcap", "--metrics-file"])
        .arg(&again)
        .current_dir(root())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(std::fs::read_to_string(&again).unwrap(), text);
    let service = r#"server_address="127.0.0.1",server_port="18080""#;
    // samples/keepalive.pcap: 7 connections, 11 GET/200 exchanges; the server closes
    // the first and third, the client the five others, all with FIN.
    let get = format!(
        r#"http_server_request_duration_seconds_count{{{service},http_request_method="GET",http_response_status_class="2xx",network_protocol_version="1.1"}}"#
    );
    assert_eq!(sample(&text, &get), Some(11.0), "{text}");
    let opened = format!("rustniffer_tcp_connections_opened_total{{{service}}}");
    assert_eq!(sample(&text, &opened), Some(7.0));
    let by = |who: &str| {
        let name = format!(
            r#"rustniffer_tcp_connections_closed_total{{{service},closed_by="{who}",close_how="fin"}}"#
        );
        sample(&text, &name)
    };
    assert_eq!((by("client"), by("server")), (Some(5.0), Some(2.0)));
    let exchanges = format!("rustniffer_tcp_connection_exchanges_sum{{{service}}}");
    assert_eq!(sample(&text, &exchanges), Some(11.0));
    let single = format!(r#"rustniffer_tcp_connection_exchanges_bucket{{le="1.0",{service}}}"#);
    assert_eq!(sample(&text, &single), Some(6.0));
    let open = format!("rustniffer_tcp_connections_open{{{service}}}");
    assert_eq!(sample(&text, &open), Some(0.0));
    assert_eq!(sample(&text, "rustniffer_packets_total"), Some(104.0));
    assert!(text.contains("# TYPE rustniffer_packets_total counter"));
    if have("promtool") {
        let check = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(std::fs::File::open(&file).unwrap())
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "promtool: {}{}",
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The exposition of a capture of tests/protocols/pcaps in `messages` mode.
fn exposition_of(capture: &str) -> String {
    let file = std::env::temp_dir().join(format!(
        "rustniffer-metrics-{}-{capture}.txt",
        std::process::id()
    ));
    let out = Command::new(binary())
        .args(["-q", "--exchanges", "messages", "-f"])
        .arg(format!("tests/protocols/pcaps/{capture}.pcap"))
        .arg("--metrics-file")
        .arg(&file)
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&file).unwrap();
    let _ = std::fs::remove_file(&file);
    text
}

#[test]
fn http2_and_websocket_facts_are_metrics() {
    // h2load: 200 streams over 2 connections, each ended by the client's GOAWAY.
    let h2load = exposition_of("h2_h2load");
    let svc = r#"server_address="127.0.0.1",server_port="18180""#;
    let streams = format!("rustniffer_http2_streams_per_connection_sum{{{svc}}}");
    let conns = format!("rustniffer_http2_streams_per_connection_count{{{svc}}}");
    assert_eq!(
        (sample(&h2load, &streams), sample(&h2load, &conns)),
        (Some(200.0), Some(2.0))
    );
    let goaways =
        format!(r#"rustniffer_http2_goaways_total{{{svc},sender="client",error_code="NO_ERROR"}}"#);
    assert_eq!(sample(&h2load, &goaways), Some(2.0));
    // The gRPC-style server answers one PING and says GOAWAY itself.
    let grpc = exposition_of("h2_grpc");
    let svc = r#"server_address="127.0.0.1",server_port="18184""#;
    let pings = format!("rustniffer_http2_ping_rtt_seconds_count{{{svc}}}");
    assert_eq!(sample(&grpc, &pings), Some(1.0));
    let goaways =
        format!(r#"rustniffer_http2_goaways_total{{{svc},sender="server",error_code="NO_ERROR"}}"#);
    assert_eq!(sample(&grpc, &goaways), Some(1.0));
    // A WebSocket client that vanishes: an abnormal end (no Close frame).
    let vanish = exposition_of("ws_vanish");
    assert!(
        vanish.lines().any(
            |l| l.starts_with("rustniffer_websocket_connections_ended_total{")
                && l.contains(r#"end="abnormal""#)
                && l.ends_with(" 1")
        ),
        "{vanish}"
    );
}

#[test]
fn a_metrics_address_in_use_is_one_line_and_exit_status_1() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = Command::new(binary())
        .args(["-f", "samples/keepalive.pcap", "--metrics-listen", &addr])
        .current_dir(root())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!("--metrics-listen {addr}: cannot listen there")),
        "{err}"
    );
}

fn may_capture() -> bool {
    // SAFETY: plain system call; the descriptor is closed right away.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0) };
    if fd < 0 {
        return false;
    }
    // SAFETY: `fd` was just opened here and is closed once.
    unsafe { libc::close(fd) };
    true
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A tiny HTTP/1.1 server answering every request `200 OK` and closing.
fn start_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let mut buf = [0u8; 1024];
            let mut head = Vec::new();
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        }
    });
    addr
}

fn http_get(addr: SocketAddr, path: &str) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        // SAFETY: plain system call on our own child.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if self.0.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The summary line `dropped by the kernel  N` of standard error.
fn summary_kernel_drops(stderr: &str) -> Option<f64> {
    stderr
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("dropped by the kernel"))
        .and_then(|rest| {
            rest.split_whitespace()
                .next()?
                .replace(',', "")
                .parse()
                .ok()
        })
}

/// A server answering every request with a body of `size` bytes, then closing.
fn start_bulk_server(size: usize) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let body = vec![b'x'; size];
        for mut stream in listener.incoming().flatten() {
            // The whole request is read, so that closing does not reset the connection.
            let mut buf = [0u8; 1024];
            let mut head = Vec::new();
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let _ = write!(stream, "HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n");
            let _ = stream.write_all(&body);
        }
    });
    addr
}

#[test]
fn live_metrics_answer_once_listening_and_count_the_kernel_drops() {
    if !may_capture() {
        assert!(
            std::env::var_os("CI").is_none(),
            "live capture needs root in CI"
        );
        eprintln!("note: live metrics test skipped: capture needs root or CAP_NET_RAW");
        return;
    }
    // Drops on purpose: the smallest ring (2 MiB), a reader held up by `-e 'sleep 1'` on
    // each record, and 3 transfers of 8 MB meanwhile.
    const BODY: usize = 8 << 20;
    let server = start_bulk_server(BODY);
    let metrics_addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let dir = std::env::temp_dir().join(format!("rustniffer-drops-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("final.prom");
    let mut sniffer = Command::new(binary())
        .args([
            "-i",
            "lo",
            "--stats",
            "--buffer-size",
            "2",
            "-e",
            "sleep 1",
            "-p",
        ])
        .arg(format!("tcp port {}", server.port()))
        .args(["--metrics-listen", &metrics_addr.to_string()])
        .arg("--metrics-file")
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = sniffer.stderr.take().unwrap();
    let mut sniffer = Killed(sniffer);
    let mut stderr = BufReader::new(stderr);
    let mut listening = String::new();
    stderr.read_line(&mut listening).unwrap();
    assert!(listening.contains("listening on"), "{listening}");
    // Bound before the capture opened: the first attempt is answered.
    let first = http_get(metrics_addr, "/metrics").expect("/metrics answers at once");
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    assert_eq!(
        sample(&first, "rustniffer_capture_kernel_dropped_packets_total"),
        Some(0.0),
        "{first}"
    );
    for i in 0..3 {
        let mut s = TcpStream::connect(server).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(s, "GET /bulk/{i} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut got = Vec::new();
        let mut buf = vec![0u8; 1 << 16];
        let mut end = None;
        while got.len() < BODY {
            match s.read(&mut buf) {
                Ok(0) => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    end = Some(e);
                    break;
                }
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        assert!(
            got.len() >= BODY,
            "transfer {i}: {} bytes, {end:?}",
            got.len()
        );
    }
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: plain system call on our own child.
    unsafe { libc::kill(sniffer.0.id() as i32, libc::SIGINT) };
    // Bounded: the held-up reader ends within a few seconds of `sleep 1` per record.
    let reader = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = stderr.read_to_string(&mut rest);
        rest
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = sniffer.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "rustniffer did not stop");
        std::thread::sleep(Duration::from_millis(50));
    };
    let rest = reader.join().unwrap();
    assert!(status.success(), "{status}: {rest}");
    let in_summary = summary_kernel_drops(&rest);
    assert!(
        in_summary.is_some_and(|n| n > 0.0),
        "no kernel drops in the summary: {rest}"
    );
    let exposition = std::fs::read_to_string(&file).unwrap();
    // The same counter as the summary's, read at the end of the run.
    assert_eq!(
        sample(
            &exposition,
            "rustniffer_capture_kernel_dropped_packets_total"
        ),
        in_summary,
        "{exposition}\n{rest}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_real_prometheus_scraping_live_capture_counts_the_load_sent() {
    if !may_capture() {
        assert!(
            std::env::var_os("CI").is_none(),
            "live capture needs root in CI"
        );
        eprintln!("note: live metrics test skipped: capture needs root or CAP_NET_RAW");
        return;
    }
    if !have("prometheus") {
        return;
    }
    let server = start_server();
    let metrics_port = free_port();
    let metrics_addr: SocketAddr = format!("127.0.0.1:{metrics_port}").parse().unwrap();
    let mut sniffer = Command::new(binary())
        .args([
            "-i",
            "lo",
            "-q",
            "-p",
            &format!("tcp port {}", server.port()),
        ])
        .args(["--metrics-listen", &metrics_addr.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = sniffer.stderr.take().unwrap();
    let stdout = sniffer.stdout.take().unwrap();
    let sniffer = Killed(sniffer);
    let mut lines = BufReader::new(stderr).lines();
    let listening = lines.next().and_then(Result::ok).unwrap_or_default();
    assert!(listening.contains("listening on"), "{listening}");
    std::thread::spawn(move || for _ in lines {});
    let records = std::thread::spawn(move || BufReader::new(stdout).lines().count());

    // A client that connects to /metrics and never reads nor sends. The endpoint is
    // bound before the capture opens: one attempt.
    let _stuck = TcpStream::connect(metrics_addr).unwrap();

    let dir = std::env::temp_dir().join(format!("rustniffer-prom-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: rustniffer\n    static_configs:\n      - targets: ['{metrics_addr}']\n"
        ),
    )
    .unwrap();
    let prom_port = free_port();
    let prom_addr: SocketAddr = format!("127.0.0.1:{prom_port}").parse().unwrap();
    let prometheus = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address={prom_addr}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _prometheus = Killed(prometheus);

    // The load: 25 requests, one connection each.
    const LOAD: usize = 25;
    for i in 0..LOAD {
        let reply = http_get(server, &format!("/item/{i}")).unwrap_or_default();
        assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    }
    // Prometheus scrapes every second: wait until it saw the whole load (at most 30 s).
    let query = |q: &str| -> Option<f64> {
        let path = format!("/api/v1/query?query={}", q.replace(' ', "%20"));
        let body = http_get(prom_addr, &path)?;
        let value = body.split("\"value\":[").nth(1)?.split(',').nth(1)?;
        value
            .trim_matches(|c| c == '"' || c == ']' || c == '}')
            .parse()
            .ok()
    };
    let port = server.port();
    let opened = format!("sum(rustniffer_tcp_connections_opened_total{{server_port=\"{port}\"}})");
    let requests = format!(
        "sum(http_server_request_duration_seconds_count{{server_port=\"{port}\",http_request_method=\"GET\",http_response_status_class=\"2xx\"}})"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = (None, None);
    while Instant::now() < deadline {
        seen = (query(&opened), query(&requests));
        if seen == (Some(LOAD as f64), Some(LOAD as f64)) {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(
        seen,
        (Some(LOAD as f64), Some(LOAD as f64)),
        "Prometheus saw {seen:?}"
    );
    // What Prometheus answered, for the record (shown with --nocapture).
    for q in [&opened, &requests] {
        let path = format!("/api/v1/query?query={}", q.replace(' ', "%20"));
        let answer = http_get(prom_addr, &path).unwrap_or_default();
        eprintln!(
            "{q} -> {}",
            answer.split("\r\n\r\n").nth(1).unwrap_or(&answer)
        );
    }
    drop(sniffer);
    // Capture went on with the stuck client connected: every exchange was printed.
    assert_eq!(records.join().unwrap(), LOAD);
    let _ = std::fs::remove_dir_all(&dir);
}
