//! Live capture end to end: the built binary sniffs real HTTP/1.1 traffic on the loopback
//! interface, over IPv4 and IPv6, and is stopped with SIGINT; and the errors of a missing
//! interface and of missing privileges.
//!
//! Capturing needs root or CAP_NET_RAW. Without it the capture tests print a note and
//! pass, unless the `CI` environment variable is set: then they fail.
//!
//! The traffic is the three keep-alive scenarios of the justniffer article: requests with
//! `Connection: close` that the server closes; connections that ask for keep-alive but
//! that the client closes after one request; one connection reused for five requests.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::thread;
use std::time::Duration;

#[path = "common/live.rs"]
mod common_live;
use common_live::{binary, may_capture, note, read_head, Sniffer, STOP_TIMEOUT};

/// Tests run one at a time: each capture sees the whole loopback interface, and a binary
/// copied while another test forks could not be executed (ETXTBSY).
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

const FORMAT: &str =
    "%connection %close.originator %request.header.connection %response.header.connection";

const EXPECTED: [&str; 11] = [
    "unique server close close",
    "unique server close close",
    "unique server close close",
    "unique client keep-alive -",
    "unique client keep-alive -",
    "unique client keep-alive -",
    "start - keep-alive -",
    "continue - keep-alive -",
    "continue - keep-alive -",
    "continue - keep-alive -",
    "last client keep-alive -",
];

/// True when the test can run; false (with a note) when it must be skipped.
fn capture_allowed(test: &str) -> bool {
    if may_capture() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{test}: live capture needs root or CAP_NET_RAW, and CI is set: not skipping");
    }
    note(&format!(
        "{test} skipped: live capture needs root or CAP_NET_RAW"
    ));
    false
}

// ---------------------------------------------------------------------------------------
// A small HTTP/1.1 server: keep-alive unless the request says `Connection: close`, in
// which case it answers `Connection: close` and closes first.

fn start_server(ip: IpAddr) -> SocketAddr {
    let listener = TcpListener::bind((ip, 0)).expect("bind the test server");
    let addr = listener.local_addr().expect("server address");
    thread::spawn(move || {
        for stream in listener.incoming() {
            match stream {
                Ok(stream) => {
                    thread::spawn(move || serve(stream));
                }
                Err(_) => return,
            }
        }
    });
    addr
}

fn serve(mut stream: TcpStream) {
    while let Some(request) = read_head(&mut stream) {
        let close = String::from_utf8_lossy(&request)
            .to_ascii_lowercase()
            .contains("\r\nconnection: close\r\n");
        let response: &[u8] = if close {
            b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nhello\n"
        } else {
            b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nhello\n"
        };
        if stream.write_all(response).is_err() || close {
            return; // dropping the stream closes it: the server's FIN comes first
        }
    }
    // End of stream: the client closed first; closing our side completes the close.
}

/// Sends one request and reads its 6-byte response.
fn request(stream: &mut TcpStream, connection: &str) {
    write!(
        stream,
        "GET / HTTP/1.1\r\nHost: test\r\nConnection: {connection}\r\n\r\n"
    )
    .expect("send a request");
    read_head(stream).expect("a response head");
    let mut body = [0u8; 6];
    stream.read_exact(&mut body).expect("a response body");
}

/// The three scenarios, waiting for each connection's records before the next one, so
/// that the records come in a known order.
fn play_scenarios(server: SocketAddr, sniffer: &mut Sniffer) {
    let mut expected = 0;
    for _ in 0..3 {
        let mut client = TcpStream::connect(server).expect("connect");
        request(&mut client, "close");
        let mut rest = Vec::new();
        client
            .read_to_end(&mut rest)
            .expect("read until the server closes");
        drop(client);
        expected += 1;
        sniffer.wait_for_records(expected);
    }
    for _ in 0..3 {
        let mut client = TcpStream::connect(server).expect("connect");
        request(&mut client, "keep-alive");
        drop(client);
        expected += 1;
        sniffer.wait_for_records(expected);
    }
    let mut client = TcpStream::connect(server).expect("connect");
    for _ in 0..5 {
        request(&mut client, "keep-alive");
    }
    drop(client);
    expected += 5;
    sniffer.wait_for_records(expected);
}

fn keep_alive_scenarios_over(ip: IpAddr, test: &str) {
    let _one = one_at_a_time();
    if !capture_allowed(test) {
        return;
    }
    let server = start_server(ip);
    let mut sniffer = Sniffer::start_with(server.port(), &["-l", FORMAT]);
    // `tcp port P` compiles to classic BPF and the kernel runs it (`lo` is Ethernet).
    let instructions = kernel_filter_instructions(&sniffer.listening);
    assert!(
        instructions.is_some_and(|n| n > 3),
        "no kernel filter: {}",
        sniffer.listening
    );
    // Traffic the filter rejects, much more than the scenarios make: the kernel drops
    // it before the ring, so it is not counted as captured.
    let noise = std::net::UdpSocket::bind((ip, 0)).expect("bind a UDP socket");
    for _ in 0..NOISE_DATAGRAMS {
        noise
            .send_to(b"noise", noise.local_addr().expect("address"))
            .expect("send");
    }
    play_scenarios(server, &mut sniffer);
    let (status, took, records, stderr) = sniffer.stop(libc::SIGINT);
    assert_eq!(status.code(), Some(0), "exit status; stderr: {stderr:?}");
    assert!(took <= STOP_TIMEOUT, "stopping took {took:?}");
    assert_eq!(records, EXPECTED, "records");
    let figure = |label: &str| -> Vec<u64> {
        stderr
            .iter()
            .filter_map(|l| l.trim_start().strip_prefix(label))
            .filter_map(|rest| {
                rest.split_whitespace()
                    .next()?
                    .replace(',', "")
                    .parse()
                    .ok()
            })
            .collect()
    };
    let captured = figure("packets captured by the kernel");
    assert_eq!(
        captured.len(),
        1,
        "one count of captured packets: {stderr:?}"
    );
    assert_eq!(
        figure("dropped by the kernel").len(),
        1,
        "one count of kernel drops: {stderr:?}"
    );
    let captured = captured[0] as usize;
    assert!(
        captured < NOISE_DATAGRAMS / 2,
        "the kernel filter let noise through: {captured}"
    );
}

/// UDP datagrams sent to ourselves during a `tcp port P` capture.
const NOISE_DATAGRAMS: usize = 1000;

/// N in "kernel filter: N instructions" on the listening line.
fn kernel_filter_instructions(listening: &str) -> Option<usize> {
    let rest = listening.split("kernel filter: ").nth(1)?;
    rest.split_whitespace().next()?.parse().ok()
}

#[test]
fn keep_alive_scenarios_over_ipv4_loopback_then_sigint() {
    keep_alive_scenarios_over(
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        "keep_alive_scenarios_over_ipv4_loopback_then_sigint",
    );
}

#[test]
fn keep_alive_scenarios_over_ipv6_loopback_then_sigint() {
    keep_alive_scenarios_over(
        IpAddr::V6(Ipv6Addr::LOCALHOST),
        "keep_alive_scenarios_over_ipv6_loopback_then_sigint",
    );
}

#[test]
fn sigterm_ends_an_idle_capture_within_a_second_and_reports_open_connections() {
    let test = "sigterm_ends_an_idle_capture_within_a_second_and_reports_open_connections";
    let _one = one_at_a_time();
    if !capture_allowed(test) {
        return;
    }
    let server = start_server(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let sniffer = Sniffer::start_with(server.port(), &["-l", FORMAT]);
    // One connection left open: at the stop it is reported as truncated.
    let mut client = TcpStream::connect(server).expect("connect");
    request(&mut client, "keep-alive");
    // Then nothing arrives for a while: the stop must not wait for a packet.
    thread::sleep(Duration::from_millis(400));
    let (status, took, records, stderr) = sniffer.stop(libc::SIGTERM);
    drop(client);
    assert_eq!(status.code(), Some(0), "exit status; stderr: {stderr:?}");
    assert!(took <= STOP_TIMEOUT, "stopping took {took:?}");
    assert_eq!(records, ["start truncated keep-alive -"]);
}

#[test]
fn sigint_prints_the_diagnosis_report_of_a_live_capture() {
    let test = "sigint_prints_the_diagnosis_report_of_a_live_capture";
    let _one = one_at_a_time();
    if !capture_allowed(test) {
        return;
    }
    // The report's port (18206, of the report's range 18200-18219).
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 18206)).expect("bind 18206");
    let server = listener.local_addr().expect("server address");
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            thread::spawn(move || serve(stream));
        }
    });
    let sniffer = Sniffer::start_with(server.port(), &["--report"]);
    // Twelve non-persistent connections: connection churn, closed by the server.
    for _ in 0..12 {
        let mut client = TcpStream::connect(server).expect("connect");
        request(&mut client, "close");
        let mut rest = Vec::new();
        client
            .read_to_end(&mut rest)
            .expect("read until the server closes");
    }
    thread::sleep(Duration::from_millis(300));
    let (status, took, report, stderr) = sniffer.stop(libc::SIGINT);
    assert_eq!(status.code(), Some(0), "exit status; stderr: {stderr:?}");
    assert!(took <= STOP_TIMEOUT, "stopping took {took:?}");
    assert!(
        report[0].contains(" 12 connection(s), 12 exchange(s)"),
        "{report:#?}"
    );
    assert!(
        report
            .iter()
            .any(|l| l.contains("[connection-churn] 127.0.0.1:18206")),
        "{report:#?}"
    );
}

// ---------------------------------------------------------------------------------------
// Errors: one line on standard error, exit status 1, nothing on standard output.

fn assert_one_line_error(output: &std::process::Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    assert!(output.stdout.is_empty(), "stdout: {:?}", output.stdout);
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr:?}");
    stderr
}

#[test]
fn a_missing_interface_is_one_line_and_exit_status_1() {
    let _one = one_at_a_time();
    let output = Command::new(binary())
        .args(["-i", "does-not-exist0"])
        .stdin(Stdio::null())
        .output()
        .expect("run rustniffer");
    let stderr = assert_one_line_error(&output);
    assert!(stderr.contains("'does-not-exist0' not found"), "{stderr}");
}

/// `nobody`'s user and group ids, from /etc/passwd (65534 when not listed).
fn nobody_ids() -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 3 && f[0] == "nobody")
        .and_then(|f| Some((f[2].parse().ok()?, f[3].parse().ok()?)))
        .unwrap_or((65534, 65534))
}

#[test]
fn capturing_without_cap_net_raw_is_one_line_and_exit_status_1() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;

    let _one = one_at_a_time();
    // SAFETY: plain system call without arguments.
    let root = unsafe { libc::geteuid() } == 0;
    if !root && may_capture() {
        note("capturing_without_cap_net_raw skipped: this user has CAP_NET_RAW and cannot drop it");
        return;
    }
    // A copy that `nobody` can surely execute, whatever the permissions of target/.
    let dir = std::env::temp_dir().join(format!("rustniffer-live-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    let copy = dir.join("rustniffer");
    std::fs::copy(binary(), &copy).expect("copy the binary");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let mut command = Command::new(&copy);
    command
        .args(["-i", "lo"])
        .current_dir(&dir)
        .stdin(Stdio::null());
    if root {
        // As root, std drops the supplementary groups before changing the user; the
        // capabilities go with the root user id.
        let (uid, gid) = nobody_ids();
        command.uid(uid).gid(gid);
    }
    let output = command.output().expect("run rustniffer as nobody");
    let _ = std::fs::remove_dir_all(&dir);
    let stderr = assert_one_line_error(&output);
    assert!(stderr.contains("CAP_NET_RAW"), "{stderr}");
}
