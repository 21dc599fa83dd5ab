//! What the live capture tests share: privileges, a private network namespace, the
//! justniffer article's keep-alive scenarios over HTTP/1.1, running the built binary
//! on `lo`, and comparing records field by field. Used by `tests/live.rs`,
//! `tests/live_fanout.rs` and `tests/live_threads.rs`; each uses part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

/// Longest any socket operation of the traffic generators waits.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);
pub const START_TIMEOUT: Duration = Duration::from_secs(10);
pub const RECORD_TIMEOUT: Duration = Duration::from_secs(5);
/// SPEC §1 and the issue: SIGINT/SIGTERM end the run within one second.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(1);

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_rustniffer")
}

/// Prints a note that the test harness does not capture (a skipped test must be seen).
pub fn note(text: &str) {
    let _ = writeln!(std::io::stderr(), "note: {text}");
}

/// Whether this process may open packet sockets (root or CAP_NET_RAW).
pub fn may_capture() -> bool {
    // SAFETY: plain system call; the descriptor is closed right away.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0) };
    if fd < 0 {
        return false;
    }
    // SAFETY: `fd` was just opened here and is closed once.
    unsafe { libc::close(fd) };
    true
}

/// False, with a note saying why `test` does not run; under CI, a failure instead.
pub fn skip(test: &str, why: &str) -> bool {
    if std::env::var_os("CI").is_some() {
        panic!("{test}: {why}, and CI is set: not skipping");
    }
    note(&format!("{test} skipped: {why}"));
    false
}

/// Runs `body` on a thread of its own in a new network namespace whose `lo` is up with
/// `mtu`; threads it spawns share the namespace. Returns false (with a note) when the
/// test must be skipped: no privilege, outside CI.
pub fn in_private_namespace(
    test: &str,
    mtu: Option<i32>,
    body: impl FnOnce() + Send + 'static,
) -> bool {
    if !may_capture() {
        return skip(test, "live capture needs root or CAP_NET_RAW");
    }
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let runner = thread::spawn(move || {
        // SAFETY: plain system call; it changes the network namespace of this thread only.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            let _ = ready_tx.send(Err(std::io::Error::last_os_error()));
            return;
        }
        loopback_up(mtu);
        let _ = ready_tx.send(Ok(()));
        body();
    });
    if let Ok(Err(e)) = ready_rx.recv() {
        let _ = runner.join();
        return skip(
            test,
            &format!("a network namespace needs CAP_SYS_ADMIN ({e})"),
        );
    }
    if let Err(panic) = runner.join() {
        std::panic::resume_unwind(panic);
    }
    true
}

/// Brings `lo` of the current namespace up, with `mtu` if given.
pub fn loopback_up(mtu: Option<i32>) {
    // SAFETY: plain system call; the descriptor is closed below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0) };
    assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
    // SAFETY: `ifreq` is plain data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (slot, byte) in req.ifr_name.iter_mut().zip(b"lo") {
        *slot = *byte as libc::c_char;
    }
    if let Some(mtu) = mtu {
        req.ifr_ifru.ifru_mtu = mtu;
        // SAFETY: SIOCSIFMTU reads the name and `ifru_mtu` of the `ifreq` we pass.
        let rc = unsafe { libc::ioctl(fd, libc::SIOCSIFMTU, &mut req as *mut libc::ifreq) };
        assert_eq!(
            rc,
            0,
            "set the MTU of lo: {}",
            std::io::Error::last_os_error()
        );
    }
    req.ifr_ifru.ifru_flags = (libc::IFF_UP | libc::IFF_LOOPBACK | libc::IFF_RUNNING) as i16;
    // SAFETY: SIOCSIFFLAGS reads the name and `ifru_flags` of the `ifreq` we pass.
    let rc = unsafe { libc::ioctl(fd, libc::SIOCSIFFLAGS, &mut req as *mut libc::ifreq) };
    assert_eq!(rc, 0, "bring lo up: {}", std::io::Error::last_os_error());
    // SAFETY: `fd` was opened above and is closed once.
    unsafe { libc::close(fd) };
}

// ---------------------------------------------------------------------------------------
// The justniffer article's keep-alive scenarios.

pub const ROUNDS: usize = 20;
/// Per round: 3 connections closed by the server, 3 asking for keep-alive closed by the
/// client after one request, one connection reused for five requests.
pub const CONNECTIONS_PER_ROUND: usize = 7;
pub const RECORDS_PER_ROUND: usize = 11;

/// Reads up to the end of a header block; `None` at end of stream.
pub fn read_head(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
    }
    Some(head)
}

/// An HTTP/1.1 server: keep-alive, unless the request says `Connection: close`; then
/// it answers `Connection: close` and closes first. Serves `connections`, then returns.
pub fn serve_http(listener: TcpListener, connections: usize) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        for _ in 0..connections {
            let (mut stream, _) = listener.accept().expect("accept");
            stream.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
            stream.set_nodelay(true).expect("TCP_NODELAY");
            while let Some(request) = read_head(&mut stream) {
                let close = String::from_utf8_lossy(&request)
                    .to_ascii_lowercase()
                    .contains("\r\nconnection: close\r\n");
                let response: &[u8] = if close {
                    b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nhello\n"
                } else {
                    b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nhello\n"
                };
                stream.write_all(response).expect("respond");
                if close {
                    break; // dropping the stream closes it: the server's FIN first
                }
            }
        }
    })
}

/// One request and its 6-byte response.
pub fn http_request(stream: &mut TcpStream, connection: &str) {
    write!(
        stream,
        "GET / HTTP/1.1\r\nHost: test\r\nConnection: {connection}\r\n\r\n"
    )
    .expect("send a request");
    read_head(stream).expect("a response head");
    let mut body = [0u8; 6];
    stream.read_exact(&mut body).expect("a response body");
}

pub fn http_connect(server: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&server, IO_TIMEOUT).expect("connect");
    stream.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
    // Each request at once, not after the delayed acknowledgement of the last response.
    stream.set_nodelay(true).expect("TCP_NODELAY");
    stream
}

/// The article's three scenarios, `ROUNDS` times, one connection after the other.
pub fn play_article_scenarios(server: SocketAddr) {
    for _ in 0..ROUNDS {
        for _ in 0..3 {
            let mut client = http_connect(server);
            http_request(&mut client, "close");
            let mut rest = Vec::new();
            client.read_to_end(&mut rest).expect("the server closes");
        }
        for _ in 0..3 {
            let mut client = http_connect(server);
            http_request(&mut client, "keep-alive");
        }
        let mut client = http_connect(server);
        for _ in 0..5 {
            http_request(&mut client, "keep-alive");
        }
    }
}

/// The records rustniffer prints for the capture `pcap`, with the article's fields.
pub fn records_of(pcap: &[u8], file: &std::path::Path) -> Vec<String> {
    std::fs::write(file, pcap).expect("write the capture");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_rustniffer"))
        .arg("-f")
        .arg(file)
        .args([
            "-l",
            "%request.timestamp %source.port %connection %close.originator \
             %request.header.connection %response.header.connection",
        ])
        .env("TZ", "UTC")
        .output()
        .expect("run rustniffer");
    assert!(
        output.status.success(),
        "rustniffer: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("UTF-8 records")
        .lines()
        .map(str::to_string)
        .collect()
}

/// Records split into their fields after the timestamp and the timestamp, sorted by
/// fields then time.
pub fn by_fields<'a>(records: impl Iterator<Item = &'a String>) -> Vec<(String, String)> {
    let mut split: Vec<(String, String)> = records
        .map(|record| {
            let mut parts = record.splitn(3, ' ');
            let (date, time, fields) = (parts.next(), parts.next(), parts.next());
            let timestamp = format!("{} {}", date.expect("a date"), time.expect("a time"));
            (fields.expect("fields").to_string(), timestamp)
        })
        .collect();
    split.sort();
    split
}

/// Microseconds between two `%request.timestamp`s less than a day apart.
pub fn micros_apart(a: &str, b: &str) -> i64 {
    let micros_of_day = |timestamp: &str| -> i64 {
        let time = timestamp.split(' ').nth(1).expect("a time");
        let (hms, micros) = time.split_once('.').expect("seconds.microseconds");
        let seconds = hms
            .split(':')
            .map(|n| n.parse::<i64>().expect("a number"))
            .fold(0, |sum, n| sum * 60 + n);
        seconds * 1_000_000 + micros.parse::<i64>().expect("microseconds")
    };
    const DAY: i64 = 86_400_000_000;
    let apart = (micros_of_day(a) - micros_of_day(b)).rem_euclid(DAY);
    apart.min(DAY - apart)
}

// ---------------------------------------------------------------------------------------
// Running the sniffer.

/// The built binary capturing on `lo`, its records and standard error read as they come.
pub struct Sniffer {
    child: Child,
    lines: Receiver<String>,
    stderr: Receiver<String>,
    seen: Vec<String>,
    /// The 'listening on' line.
    pub listening: String,
}

impl Sniffer {
    /// Starts `rustniffer -i lo -p "tcp port P" ARGS` and waits until it listens.
    pub fn start_with(port: u16, args: &[&str]) -> Sniffer {
        Sniffer::start_with_env(port, args, &[])
    }

    /// [`Sniffer::start_with`] with these variables in its environment.
    pub fn start_with_env(port: u16, args: &[&str], env: &[(&str, &str)]) -> Sniffer {
        let mut child = Command::new(binary())
            .args(["-i", "lo", "-p", &format!("tcp port {port}")])
            .args(args)
            // The whole end-of-run summary, with the kernel's counters.
            .arg("--stats")
            .env("TZ", "UTC")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start rustniffer");
        let (line_tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout");
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if line_tx.send(line).is_err() {
                    return;
                }
            }
        });
        let (err_tx, stderr) = mpsc::channel();
        let err = child.stderr.take().expect("stderr");
        thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { return };
                if err_tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut sniffer = Sniffer {
            child,
            lines,
            stderr,
            seen: Vec::new(),
            listening: String::new(),
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match sniffer.stderr.recv_timeout(Duration::from_millis(50)) {
                Ok(line) if line.contains("listening on lo") => {
                    sniffer.listening = line;
                    return sniffer;
                }
                Ok(line) => eprintln!("rustniffer: {line}"),
                Err(_) => {
                    if let Ok(Some(status)) = sniffer.child.try_wait() {
                        let rest: Vec<String> = sniffer.stderr.try_iter().collect();
                        panic!("rustniffer exited ({status}) before listening: {rest:?}");
                    }
                    assert!(
                        Instant::now() < deadline,
                        "rustniffer never said 'listening on lo'"
                    );
                }
            }
        }
    }

    /// Waits until `count` records have been printed (records are flushed one by one).
    pub fn wait_for_records(&mut self, count: usize) {
        let deadline = Instant::now() + RECORD_TIMEOUT;
        while self.seen.len() < count {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(_) => panic!(
                    "waited for {count} records, got {}: {:?}",
                    self.seen.len(),
                    self.seen
                ),
            }
        }
    }

    /// Sends `signal` and waits for the exit; returns the status, how long it took, all
    /// records and the standard error lines after 'listening'.
    pub fn stop(mut self, signal: libc::c_int) -> (ExitStatus, Duration, Vec<String>, Vec<String>) {
        let pid = self.child.id() as libc::pid_t;
        let sent = Instant::now();
        // SAFETY: plain system call on our own child, which has not been waited for.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0, "kill");
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            if sent.elapsed() > STOP_TIMEOUT * 5 {
                let _ = self.child.kill();
                panic!("rustniffer did not stop within {:?}", sent.elapsed());
            }
            thread::sleep(Duration::from_millis(5));
        };
        let took = sent.elapsed();
        self.seen.extend(self.lines.iter());
        let stderr: Vec<String> = self.stderr.iter().collect();
        (status, took, self.seen, stderr)
    }
}
