//! The diagnosis report (`--report`, `--report-html`) through the built binary, on the
//! captures of tests/report/pcaps (real nginx, curl, Python clients on loopback; see
//! tests/report/README.md): each scenario's findings and its numbers, and the HTML page
//! rendered by a real browser when Debian's chromium is installed.

use std::path::{Path, PathBuf};
use std::process::Command;

fn capture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/report/pcaps")
        .join(format!("{name}.pcap"))
}

fn rustniffer(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_rustniffer"))
        .args(args)
        .output()
        .expect("the binary runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

fn report(name: &str) -> String {
    let path = capture(name);
    rustniffer(&["-f", path.to_str().unwrap(), "-q", "--report"])
}

/// The kinds of the findings, in order (`NN. [kind] service` lines).
fn findings(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let rest = l.trim_start().split_once(". [")?.1;
            Some(rest.split_once(']')?.0.to_string())
        })
        .collect()
}

/// The value of a service table's row.
fn row<'a>(text: &'a str, name: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix("  ")?.strip_prefix(name))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no row {name:?} in\n{text}"))
}

/// The number just before `unit` after `marker` in `text`.
fn number_after(text: &str, marker: &str, unit: &str) -> f64 {
    let rest = &text[text
        .find(marker)
        .unwrap_or_else(|| panic!("{marker:?} in\n{text}"))
        + marker.len()..];
    rest[..rest.find(unit).unwrap()].trim().parse().unwrap()
}

#[test]
fn non_persistent_connections_are_churn() {
    let text = report("nonpersistent");
    assert_eq!(findings(&text), ["connection-churn"], "{text}");
    assert!(
        text.contains("12 of 12 (100 %) connections carried a single exchange"),
        "{text}"
    );
    assert_eq!(row(&text, "connections"), "12");
    assert!(row(&text, "exchanges per connection").starts_with("p50 1  p99 1  max 1"));
    // Connection: close: nobody asked for keep-alive.
    assert!(row(&text, "asked keep-alive, carried one").starts_with("0 of 0"));
    assert!(
        text.contains("Service 127.0.0.1:18200 (close.test)"),
        "{text}"
    );
}

#[test]
fn keep_alive_asked_but_closed_by_the_client_after_one_exchange() {
    let text = report("keepalive_unused");
    assert_eq!(findings(&text), ["keep-alive-not-reused"], "{text}");
    assert!(text.contains("who closed them: client 100 %"), "{text}");
    assert!(row(&text, "asked keep-alive, carried one").starts_with("12 of 12"));
}

#[test]
fn working_keep_alive_has_no_finding() {
    let text = report("keepalive_reuse");
    assert_eq!(findings(&text), Vec::<String>::new(), "{text}");
    assert!(text.contains("Findings (0)"));
    assert!(row(&text, "exchanges per connection").starts_with("p50 20  p99 20  max 20"));
}

#[test]
fn a_two_second_client_pool_timeout_is_found() {
    let text = report("client_pool_timeout");
    assert_eq!(findings(&text), ["pool-timeout"], "{text}");
    let timeout = number_after(&text, "a client pool idle timeout of about", "s");
    assert_eq!(timeout, 2.0, "{text}");
    let centre = number_after(&text, "the client closes", "s ±");
    assert!((centre - 2.0).abs() < 0.05, "{text}");
    assert!(text.contains("in 100 % of its closes (12 of 12)"), "{text}");
    assert!(row(&text, "closed by").starts_with("client 100 %"));
}

#[test]
fn a_server_timeout_shorter_than_the_pools_shows_requests_on_closed_connections() {
    let text = report("server_timeout");
    assert_eq!(
        findings(&text),
        [
            "request-on-closed-connection",
            "server-closes-first",
            "pool-timeout"
        ],
        "{text}"
    );
    assert!(
        text.contains("6 connection(s) reset after the server's FIN"),
        "{text}"
    );
    assert!(
        text.contains("The server closes first: 12 of 12 (100 %)"),
        "{text}"
    );
    let timeout = number_after(&text, "a server keep-alive timeout of about", "s");
    assert_eq!(timeout, 1.0, "{text}");
    // The reset connections count too: their idle time is measured to the exchange
    // before the late request.
    assert!(
        text.contains("in 100 % of its closes (12 of 12) → a server keep-alive timeout"),
        "{text}"
    );
}

#[test]
fn an_aborting_server_is_an_rst_storm() {
    let text = report("rst_storm");
    assert_eq!(findings(&text), ["rst-storm"], "{text}");
    assert!(text.contains("RST storm: 15 of 15 (100 %)"), "{text}");
    assert!(
        text.contains("resets by the server: 15, by the client: 0"),
        "{text}"
    );
    assert!(text.contains("15 request(s) got no response"), "{text}");
}

#[test]
fn the_report_is_the_same_on_every_run_and_thresholds_change_it() {
    let a = report("server_timeout");
    assert_eq!(a, report("server_timeout"));
    let path = capture("nonpersistent");
    let text = rustniffer(&[
        "-f",
        path.to_str().unwrap(),
        "-q",
        "--report",
        "--report-threshold",
        "min-connections=13",
    ]);
    assert_eq!(findings(&text), Vec::<String>::new(), "{text}");
}

#[test]
fn report_every_prints_interim_reports_then_the_final_one() {
    let path = capture("client_pool_timeout");
    let text = rustniffer(&[
        "-f",
        path.to_str().unwrap(),
        "-q",
        "--report",
        "--report-every",
        "1",
    ]);
    let starts: Vec<usize> = text
        .match_indices("rustniffer diagnosis report:")
        .map(|(i, _)| i)
        .collect();
    // The exchanges end by 07:15:03.4, the pool closes at 07:15:05.2-5.5: the first
    // record after 1 s of capture time prints an interim report, before any connection
    // ended; the end of the capture prints the final one.
    assert_eq!(starts.len(), 2, "{text}");
    assert!(text[..starts[1]].contains(" 0 connection(s)"), "{text}");
    assert_eq!(&text[starts[1]..], report("client_pool_timeout"));
}

#[test]
fn connections_ended_by_the_idle_timeout_are_counted_as_such() {
    let path = capture("server_timeout");
    let text = rustniffer(&[
        "-f",
        path.to_str().unwrap(),
        "-q",
        "--report",
        "--idle-timeout",
        "0.5",
    ]);
    // Each connection is quiet for 1 s before the server's close: 0.5 s ends it first.
    assert!(
        row(&text, "closed by").contains("idle-timeout 100 %"),
        "{text}"
    );
    assert_eq!(findings(&text), Vec::<String>::new(), "{text}");
}

#[test]
fn the_summary_counts_no_records_when_the_report_replaces_them() {
    let path = capture("client_pool_timeout");
    let records = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_rustniffer"))
            .args(["-f", path.to_str().unwrap(), "--stats"])
            .args(args)
            .output()
            .expect("the binary runs");
        assert!(out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let line = stderr
            .lines()
            .find(|l| l.trim_start().starts_with("records "))
            .unwrap_or_else(|| panic!("no records line in\n{stderr}"))
            .to_string();
        line.split_whitespace()
            .last()
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(records(&[]), "36", "one record per exchange");
    assert_eq!(records(&["--report"]), "0");
    assert_eq!(records(&["--report", "--json"]), "0");
    assert_eq!(records(&["--report", "--connections"]), "0");
}

#[test]
fn report_html_alone_keeps_the_records() {
    let dir = std::env::temp_dir().join(format!("rustniffer-report-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let html = dir.join("r.html");
    let path = capture("client_pool_timeout");
    let out = rustniffer(&[
        "-f",
        path.to_str().unwrap(),
        "-q",
        "--report-html",
        html.to_str().unwrap(),
    ]);
    assert_eq!(out.lines().count(), 36, "one record per exchange");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.contains("pool-timeout"));
    assert!(
        page.contains("timeout 2.0"),
        "the timeout is marked on its chart"
    );
    assert!(!page.contains("<script") && !page.contains("http://") && !page.contains("https://"));
    std::fs::remove_dir_all(&dir).ok();
}

/// The HTML page of the pool-timeout capture, as `docs/report-example.html` shows it.
fn example_page(dir: &Path) -> PathBuf {
    let html = dir.join("report.html");
    let path = capture("client_pool_timeout");
    rustniffer(&[
        "-f",
        path.to_str().unwrap(),
        "-q",
        "--report",
        "--report-html",
        html.to_str().unwrap(),
    ]);
    html
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rustniffer-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_committed_example_is_what_the_shipped_capture_gives() {
    let dir = temp_dir("report-example");
    let fresh = std::fs::read_to_string(example_page(&dir)).unwrap();
    let committed = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/report-example.html"),
    )
    .unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert!(
        fresh == committed,
        "docs/report-example.html is stale: regenerate it with \
         rustniffer -f tests/report/pcaps/client_pool_timeout.pcap -q --report \
         --report-html docs/report-example.html (and its screenshot, see docs/report.md)"
    );
}

/// Renders the page in headless Debian chromium: the screenshot must show ink (not a
/// blank page) and the browser must log no console message. Skipped, with a note, when
/// chromium is not installed (test.sh installs it).
#[test]
fn the_html_report_renders_in_a_real_browser() {
    let Some(chromium) = ["chromium", "chromium-browser"].into_iter().find(|c| {
        Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    }) else {
        // test.sh installs chromium and asks for it.
        assert!(
            std::env::var_os("RUSTNIFFER_REQUIRE_CHROMIUM").is_none(),
            "chromium is missing (apt-get install -y chromium)"
        );
        eprintln!("skipped: chromium is not installed (apt-get install -y chromium)");
        return;
    };
    let dir = temp_dir("report-browser");
    let html = example_page(&dir);
    let png = dir.join("shot.png");
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1280,2000",
        ])
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", html.display()))
        .output()
        .expect("chromium runs");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    let console: Vec<&str> = log.lines().filter(|l| l.contains("CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:?}");
    let ink = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/report/png_ink.py"))
        .arg(&png)
        .output()
        .expect("python3 runs");
    assert!(
        ink.status.success(),
        "{}",
        String::from_utf8_lossy(&ink.stderr)
    );
    let numbers: Vec<u64> = String::from_utf8_lossy(&ink.stdout)
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    let [width, height, inked] = numbers[..] else {
        panic!("png_ink.py: {numbers:?}")
    };
    assert_eq!((width, height), (1280, 2000));
    // Text, tables and charts: several per cent of the page; a blank page has none.
    assert!(inked * 100 > width * height * 3, "{inked} non-white pixels");
    std::fs::remove_dir_all(&dir).ok();
}

/// Every capture of the conformance corpus and of the protocol tests, in both modes:
/// the report and the page are made without a failure, and the report counts as many
/// exchanges as the records.
#[test]
fn every_corpus_capture_gives_a_report_in_both_modes() {
    let corpus = std::env::var("RUSTNIFFER_CONFORMANCE").map_or_else(
        |_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance"),
        PathBuf::from,
    );
    let mut captures: Vec<PathBuf> = [
        corpus.join("pcaps"),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/protocols/pcaps"),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/report/pcaps"),
    ]
    .iter()
    .filter_map(|d| std::fs::read_dir(d).ok())
    .flatten()
    .filter_map(|e| e.ok().map(|e| e.path()))
    .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
    .collect();
    captures.sort();
    assert!(captures.len() > 20, "{captures:?}");
    let dir = temp_dir("report-corpus");
    let html = dir.join("r.html");
    for capture in &captures {
        for mode in ["turns", "messages"] {
            let records = Command::new(env!("CARGO_BIN_EXE_rustniffer"))
                .arg("-f")
                .arg(capture)
                .args(["-q", "-m", "--exchanges", mode, "-l", "%connection"])
                .output()
                .expect("the binary runs");
            if !records.status.success() {
                // A capture the run refuses (an unknown link type): not the report's.
                continue;
            }
            let exchanges = records.stdout.iter().filter(|&&b| b == b'\n').count();
            let out = Command::new(env!("CARGO_BIN_EXE_rustniffer"))
                .arg("-f")
                .arg(capture)
                .args(["-q", "-m", "--exchanges", mode, "--report", "--report-html"])
                .arg(&html)
                .output()
                .expect("the binary runs");
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() && text.starts_with("rustniffer diagnosis report:"),
                "{}: {mode}: {}{text}",
                capture.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                text.lines()
                    .next()
                    .is_some_and(|l| l.contains(&format!(" {exchanges} exchange(s)"))),
                "{}: {mode}: {exchanges} records, report: {text}",
                capture.display()
            );
            let page = std::fs::read_to_string(&html).unwrap();
            assert!(page.ends_with("</body></html>\n"));
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn an_http2_client_opening_a_connection_per_request_is_not_multiplexed() {
    let path = capture("h2_per_request");
    let path = path.to_str().unwrap();
    let text = rustniffer(&["-f", path, "-q", "--exchanges", "messages", "--report"]);
    assert_eq!(findings(&text), ["h2-not-multiplexed"], "{text}");
    assert!(
        text.contains("10 of 10 (100 %) HTTP/2 connections"),
        "{text}"
    );
    assert_eq!(
        row(&text, "HTTP/2 connections"),
        "10 (10 with at most one stream)"
    );
    assert!(row(&text, "HTTP/2 streams per connection").starts_with("p50 1  p99 1  max 1"));
    // The HTML page says it too.
    let dir = temp_dir("h2_report");
    let html = dir.join("h2.html");
    rustniffer(&[
        "-f",
        path,
        "-q",
        "--exchanges",
        "messages",
        "--report-html",
        html.to_str().unwrap(),
    ]);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("h2-not-multiplexed"), "{page}");
    assert!(
        page.contains("<td>HTTP/2 streams per connection</td>"),
        "{page}"
    );
    // In turns mode there are no HTTP/2 facts: the report says what they need.
    let turns = rustniffer(&["-f", path, "-q", "--report"]);
    assert!(!findings(&turns).contains(&"h2-not-multiplexed".to_string()));
    assert_eq!(
        row(&turns, "HTTP/2 streams, WebSocket silence"),
        "not measured: they need --exchanges messages"
    );
}

#[test]
fn a_silent_websocket_is_a_zombie_past_the_threshold() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/protocols/pcaps/ws_silent.pcap");
    let path = path.to_str().unwrap();
    let args = |silence: &str| {
        rustniffer(&[
            "-f",
            path,
            "-q",
            "--exchanges",
            "messages",
            "--report",
            "--report-threshold",
            &format!("ws-silence={silence}"),
        ])
    };
    // One message, then 3.5 s without one before the close.
    let text = args("2");
    assert_eq!(findings(&text), ["zombie-websocket"], "{text}");
    assert!(text.contains("0 still open at the end of the capture, 1 closed after the silence"));
    let silence = number_after(&text, "longest silence per WebSocket: p50", "s,");
    assert!((3.4..3.6).contains(&silence), "{text}");
    assert_eq!(
        row(&text, "WebSocket connections"),
        "1; silent over 2.00 s: 0 still open, 1 closed after it"
    );
    // Under the default 60 s it is not one.
    let text = args("60");
    assert!(findings(&text).is_empty(), "{text}");
}

/// tests/protocols/pcaps/ws_zombie.pcap: three messages and their echoes, then only the
/// client's keepalive pings (Python websockets, every second) and the server's pongs for
/// about 5 s, and the capture ends with the connection open.
fn zombie() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/protocols/pcaps/ws_zombie.pcap");
    path.to_str().unwrap().to_string()
}

#[test]
fn a_websocket_kept_open_by_pings_alone_is_a_zombie_still_open_at_the_end() {
    let path = zombie();
    let text = rustniffer(&[
        "-f",
        &path,
        "-q",
        "--exchanges",
        "messages",
        "--report",
        "--report-threshold",
        "ws-silence=2",
    ]);
    assert_eq!(findings(&text), ["zombie-websocket"], "{text}");
    assert!(
        text.contains("1 still open at the end of the capture, 0 closed after the silence"),
        "{text}"
    );
    // The pings do not break the silence: from the last message to the end of the capture.
    let silence = number_after(&text, "longest silence per WebSocket: p50", "s,");
    assert!((4.5..6.5).contains(&silence), "{text}");
    assert_eq!(
        row(&text, "WebSocket connections"),
        "1; silent over 2.00 s: 1 still open, 0 closed after it"
    );
    assert!(
        row(&text, "closed by").ends_with("still open 100 %"),
        "{text}"
    );
    let text = rustniffer(&["-f", &path, "-q", "--exchanges", "messages", "--report"]);
    assert!(findings(&text).is_empty(), "under the default 60 s: {text}");
}

#[test]
fn a_zombie_websockets_record_says_truncated_with_its_silence_and_pings() {
    let path = zombie();
    let fields = "%conn.close.how %conn.state %conn.close.by %conn.idle.before_close \
        %conn.idle.now %ws.messages %ws.pings %ws.pongs %ws.ping.sender %ws.end \
        %ws.silence.max %ws.silence.now";
    let text = rustniffer(&[
        "-f",
        &path,
        "--exchanges",
        "messages",
        "--connections",
        "-l",
        fields,
    ]);
    let f: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(text.lines().count(), 1, "{text}");
    // Open at the end: truncated, established and not closed (Zeek's S1), no closer, no
    // idle before a close, no WebSocket end.
    assert_eq!(f[..4], ["truncated", "S1", "-", "-"], "{text}");
    assert_eq!(f[9], "-", "{text}");
    // TCP never idle for long (a ping a second), the application silent since its last
    // message: the zombie's signature.
    let secs = |s: &str| -> f64 { s.parse().unwrap() };
    assert!(secs(f[4]) < 1.1, "{text}");
    assert_eq!(f[5], "6", "three messages and their echoes: {text}");
    let pings: u32 = f[6].parse().unwrap();
    assert!(pings >= 3 && f[7] == f[6] && f[8] == "client", "{text}");
    assert!(secs(f[10]) < 0.5, "the messages came together: {text}");
    assert!((4.5..6.5).contains(&secs(f[11])), "{text}");
}

#[test]
fn open_reports_show_the_zombie_open_its_silence_growing() {
    let path = zombie();
    let text = rustniffer(&[
        "-f",
        &path,
        "--exchanges",
        "messages",
        "--connections",
        "--open-report",
        "2",
        "-l",
        "%conn.state %conn.close.how %conn.idle.now %ws.pings %ws.silence.now",
    ]);
    let lines: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    // Two interim records (2 s and 4 s after the first packet), then the final one.
    assert_eq!(lines.len(), 3, "{text}");
    let secs = |s: &str| -> f64 { s.parse().unwrap() };
    for (line, at) in lines[..2].iter().zip([2.0, 4.0]) {
        assert_eq!(line[..2], ["open", "open"], "{text}");
        assert!(secs(line[2]) < 1.1, "pings keep TCP busy: {text}");
        assert!((at - 0.1..at).contains(&secs(line[4])), "{text}");
    }
    let pings = |line: &[&str]| line[3].parse::<u32>().unwrap();
    assert!(pings(&lines[0]) < pings(&lines[1]), "{text}");
    assert_eq!(lines[2][..2], ["S1", "truncated"], "{text}");
}
