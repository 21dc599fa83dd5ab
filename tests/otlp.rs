//! OpenTelemetry export through the built binary (`--otlp-endpoint`, feature `otlp`),
//! against a receiver that decodes OTLP/HTTP with the official `opentelemetry-proto`
//! Python package (tests/otlp/receiver.py): the log records carry the same attributes,
//! typed, as the same run's `--json --json-fields all` records (HTTP/1.1 exchanges and
//! connections, HTTP/2 streams and TLS hellos); the OTLP metrics carry the same figures as
//! its `--metrics-file`; an endpoint where nothing listens is a warning and counted
//! failures; a collector that answers 503 is retried until it accepts; one that never
//! answers does not hold the records back and the run ends in bounded time; and a live
//! capture on the loopback interface exports its records and metrics while it runs
//! (needs root or CAP_NET_RAW).
//!
//! test.sh installs `opentelemetry-proto` and `protobuf` (PyPI) and sets
//! RUSTNIFFER_REQUIRE_OTLP_PROTO: there (or with CI=true) a missing package fails the
//! test; elsewhere the tests print a note and pass. Without the feature, the one test
//! here checks that the option is one clear error.

use std::path::Path;
use std::process::{Command, Stdio};

fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_rustniffer")
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[cfg(not(feature = "otlp"))]
#[test]
fn without_the_feature_the_option_is_one_clear_error() {
    let out = Command::new(binary())
        .args([
            "-f",
            "samples/keepalive.pcap",
            "--otlp-endpoint",
            "http://127.0.0.1:4318",
        ])
        .current_dir(root())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("built without OpenTelemetry export (cargo feature `otlp`"),
        "{err}"
    );
}

#[cfg(feature = "otlp")]
mod with_the_feature {
    use super::*;
    use serde_json_lite::{parse, Json};
    use std::io::{BufRead, BufReader, Read, Write};
    use std::process::Child;
    use std::time::{Duration, Instant};

    /// Whether the receiver's Python packages are there; a failure where they must be.
    fn have_proto() -> bool {
        let ok = Command::new("python3")
            .args(["-c", "import opentelemetry.proto, google.protobuf"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let required = std::env::var_os("RUSTNIFFER_REQUIRE_OTLP_PROTO").is_some()
                || std::env::var("CI").is_ok_and(|v| v == "true");
            assert!(
                !required,
                "the Python packages opentelemetry-proto and protobuf are missing (pip install opentelemetry-proto protobuf; test.sh installs them)"
            );
            eprintln!("note: opentelemetry-proto is not installed: the OTLP test is skipped");
        }
        ok
    }

    /// The receiver, killed on drop; what it decoded is in `out`.
    struct Receiver {
        child: Child,
        out: std::path::PathBuf,
    }

    impl Drop for Receiver {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    impl Receiver {
        fn start(port: u16, mode: &str) -> Receiver {
            let out = std::env::temp_dir().join(format!(
                "rustniffer-otlp-{}-{port}.jsonl",
                std::process::id()
            ));
            let _ = std::fs::remove_file(&out);
            let mut child = Command::new("python3")
                .arg(root().join("tests/otlp/receiver.py"))
                .arg(port.to_string())
                .arg(&out)
                .arg(mode)
                .stdout(Stdio::piped())
                .spawn()
                .expect("python3 runs");
            let mut line = String::new();
            let stdout = child.stdout.take().unwrap();
            BufReader::new(stdout).read_line(&mut line).unwrap();
            assert_eq!(line.trim(), "listening", "the receiver did not start");
            Receiver { child, out }
        }

        /// Every request it decoded, in order.
        fn requests(&self) -> Vec<Json> {
            std::fs::read_to_string(&self.out)
                .unwrap_or_default()
                .lines()
                .map(|l| parse(l).expect("the receiver writes JSON"))
                .collect()
        }

        /// The requests once one carrying metrics is written: the receiver answers
        /// before it writes its line, so the binary can exit first. The final metrics
        /// export is the last request sent; 10 s at most.
        fn requests_with_metrics(&self) -> Vec<Json> {
            for _ in 0..100 {
                let requests = self.requests();
                if requests.iter().any(|r| r.get("metrics").is_some()) {
                    return requests;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            self.requests()
        }

        fn log_records(&self) -> Vec<Json> {
            self.requests()
                .into_iter()
                .filter(|r| r.get("path").and_then(Json::as_str) == Some("/v1/logs"))
                .filter_map(|r| r.get("logs").cloned())
                .flat_map(|l| l.as_array().unwrap().to_vec())
                .collect()
        }
    }

    struct Run {
        stdout: String,
        stderr: String,
        elapsed: Duration,
        success: bool,
    }

    fn run(args: &[&str]) -> Run {
        let started = Instant::now();
        let out = Command::new(binary())
            .args(args)
            .current_dir(root())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        Run {
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            elapsed: started.elapsed(),
            success: out.status.success(),
        }
    }

    /// `value` of a JSON record as the receiver writes an OTLP attribute.
    fn as_attribute(value: &Json) -> Json {
        let typed = |t: &str, v: Json| Json::Array(vec![Json::String(t.into()), v]);
        match value {
            Json::String(_) => typed("string", value.clone()),
            Json::Bool(_) => typed("bool", value.clone()),
            Json::Int(_) => typed("int", value.clone()),
            Json::Float(_) => typed("double", value.clone()),
            Json::Array(items) => typed(
                "array",
                Json::Array(items.iter().map(as_attribute).collect()),
            ),
            Json::Object(o) => match o.iter().find(|(k, _)| k == "base64") {
                Some((_, b64)) => typed("bytes", b64.clone()),
                None => panic!("unexpected object {value:?}"),
            },
            Json::Null => typed("empty", Json::Null),
        }
    }

    /// Each log record has the attributes of the JSON record of the same position, with
    /// the same types and values, and its timestamp.
    fn check_log_records(json_lines: &str, logs: &[Json], capture: &str) {
        let records: Vec<Json> = json_lines.lines().map(|l| parse(l).unwrap()).collect();
        assert!(!records.is_empty());
        assert_eq!(logs.len(), records.len(), "one log record per JSON record");
        for (record, log) in records.iter().zip(logs) {
            let Json::Object(fields) = record else {
                panic!()
            };
            let attributes = log.get("attributes").unwrap();
            let Json::Object(attrs) = attributes else {
                panic!()
            };
            let kind = record.get("type").and_then(Json::as_str).unwrap();
            assert_eq!(
                attributes.get("rustniffer.record.type"),
                Some(&as_attribute(&Json::String(kind.into())))
            );
            assert_eq!(
                log.get("event_name").and_then(Json::as_str),
                Some(format!("rustniffer.{kind}").as_str())
            );
            for (name, value) in fields.iter().filter(|(k, _)| k != "type") {
                let got = attributes.get(name);
                let want = as_attribute(value);
                let same = match (got, &want) {
                    // Durations: the same number of seconds, written as text in JSON.
                    (Some(Json::Array(g)), Json::Array(w)) if w[0].as_str() == Some("double") => {
                        g[0] == w[0]
                            && (g[1].as_f64().unwrap() - w[1].as_f64().unwrap()).abs() < 1e-9
                    }
                    (Some(g), w) => g == w,
                    (None, _) => false,
                };
                assert!(same, "{name}: log record has {got:?}, JSON record {want:?}");
            }
            // Nothing more than the JSON record, but the record type.
            assert_eq!(attrs.len(), fields.len(), "{attrs:?}");
            let time = record
                .get("rustniffer.request.time_us")
                .or_else(|| record.get("tcp.connection.start_us"))
                .and_then(Json::as_i64)
                .unwrap();
            assert_eq!(
                log.get("time_unix_nano").and_then(Json::as_i64),
                Some(time * 1000)
            );
            assert_eq!(
                log.get("severity_text").and_then(Json::as_str),
                Some("INFO")
            );
            let resource = log.get("resource").unwrap();
            let string = |v: &str| as_attribute(&Json::String(v.into()));
            assert_eq!(resource.get("service.name"), Some(&string("rustniffer")));
            assert_eq!(
                resource.get("rustniffer.capture.file"),
                Some(&string(capture))
            );
            assert!(resource.get("host.name").is_some());
        }
    }

    /// Prometheus label name of each OpenTelemetry attribute of the metric set.
    const LABELS: [(&str, &str); 10] = [
        ("server.address", "server_address"),
        ("server.port", "server_port"),
        ("http.request.method", "http_request_method"),
        ("http.response.status_class", "http_response_status_class"),
        ("network.protocol.version", "network_protocol_version"),
        ("tcp.close.by", "closed_by"),
        ("tcp.close.how", "close_how"),
        ("rustniffer.http2.goaway.sender", "sender"),
        ("rustniffer.http2.goaway.error_code", "error_code"),
        ("rustniffer.websocket.end", "end"),
    ];

    /// One sample of an exposition: name, labels (sorted), value.
    type Sample = (String, Vec<(String, String)>, f64);

    /// `name{labels} value` lines of a classic exposition.
    fn samples(text: &str) -> Vec<Sample> {
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|l| {
                let (series, value) = l.rsplit_once(' ').unwrap();
                let (name, labels) = match series.split_once('{') {
                    Some((n, rest)) => (n, rest.trim_end_matches('}')),
                    None => (series, ""),
                };
                let mut labels: Vec<(String, String)> = labels
                    .split("\",")
                    .filter(|p| !p.is_empty())
                    .map(|p| {
                        let (k, v) = p.split_once('=').unwrap();
                        (k.to_string(), v.trim_matches('"').to_string())
                    })
                    .collect();
                labels.sort();
                (name.to_string(), labels, value.parse().unwrap())
            })
            .collect()
    }

    /// Every OTLP data point is a series of the exposition with the same figures, and
    /// every series of the exposition is one of them (the exporter's own `otlp` health
    /// counters aside: the two are read at different moments).
    fn check_metrics(exposition: &str, metrics: &[Json]) {
        let mut expected = samples(exposition);
        expected.retain(|(name, _, _)| !name.starts_with("rustniffer_otlp_"));
        let mut matched = vec![false; expected.len()];
        let mut find = |name: &str, labels: &[(String, String)], value: f64| {
            let mut labels = labels.to_vec();
            labels.sort();
            let at = expected
                .iter()
                .position(|(n, l, _)| n == name && *l == labels)
                .unwrap_or_else(|| panic!("{name}{labels:?} is not in the exposition"));
            let want = expected[at].2;
            assert!(
                (want - value).abs() <= 1e-9 * want.abs().max(1.0),
                "{name}{labels:?}: OTLP {value}, Prometheus {want}"
            );
            matched[at] = true;
        };
        let mut points_seen = 0;
        for m in metrics {
            let name = m.get("name").and_then(Json::as_str).unwrap();
            if name.starts_with("rustniffer.otlp.") {
                continue;
            }
            let mut base = name.replace('.', "_");
            if m.get("unit").and_then(Json::as_str) == Some("s") {
                base.push_str("_seconds");
            }
            for p in m.get("points").and_then(Json::as_array).unwrap() {
                points_seen += 1;
                let Json::Object(attrs) = p.get("attributes").unwrap() else {
                    panic!()
                };
                let mut labels: Vec<(String, String)> = attrs
                    .iter()
                    .map(|(k, v)| {
                        let label = LABELS
                            .iter()
                            .find(|(otel, _)| otel == k)
                            .unwrap_or_else(|| panic!("attribute {k}"))
                            .1;
                        let v = v.as_array().unwrap();
                        let text = match &v[1] {
                            Json::String(s) => s.clone(),
                            Json::Int(n) => n.to_string(),
                            other => panic!("{other:?}"),
                        };
                        (label.to_string(), text)
                    })
                    .collect();
                if attrs.iter().any(|(k, _)| k == "server.address")
                    && !attrs.iter().any(|(k, _)| k == "server.port")
                {
                    labels.push(("server_port".into(), String::new()));
                }
                let value = |key: &str| p.get(key).and_then(Json::as_f64).unwrap();
                match m.get("kind").and_then(Json::as_str).unwrap() {
                    "sum" if m.get("monotonic") == Some(&Json::Bool(true)) => {
                        find(&format!("{base}_total"), &labels, value("value"))
                    }
                    "sum" => find(&base, &labels, value("value")),
                    "histogram" => {
                        find(&format!("{base}_count"), &labels, value("count"));
                        find(&format!("{base}_sum"), &labels, value("sum"));
                        let bounds = p.get("bounds").and_then(Json::as_array).unwrap();
                        let buckets = p.get("buckets").and_then(Json::as_array).unwrap();
                        let mut cumulative = 0.0;
                        for (i, count) in buckets.iter().enumerate() {
                            cumulative += count.as_f64().unwrap();
                            let le = match bounds.get(i) {
                                Some(b) => prometheus_bound(b.as_f64().unwrap(), exposition, &base),
                                None => "+Inf".to_string(),
                            };
                            let mut with_le = labels.clone();
                            with_le.push(("le".into(), le));
                            find(&format!("{base}_bucket"), &with_le, cumulative);
                        }
                    }
                    other => panic!("metric kind {other}"),
                }
            }
        }
        assert!(points_seen > 5, "{metrics:?}");
        let missing: Vec<_> = expected
            .iter()
            .zip(&matched)
            .filter(|(_, m)| !**m)
            .map(|(s, _)| s)
            .collect();
        assert!(missing.is_empty(), "not in the OTLP metrics: {missing:?}");
    }

    /// How the exposition writes the bucket bound `b` of `base` (`0.005`, `1.0`…).
    fn prometheus_bound(b: f64, exposition: &str, base: &str) -> String {
        let prefix = format!("{base}_bucket{{");
        exposition
            .lines()
            .filter(|l| l.starts_with(&prefix))
            .filter_map(|l| l.split("le=\"").nth(1)?.split('"').next())
            .find(|le| le.parse::<f64>().is_ok_and(|v| v == b))
            .unwrap_or_else(|| panic!("bound {b} of {base}"))
            .to_string()
    }

    fn stat(stderr: &str, label: &str) -> Option<u64> {
        stderr.lines().find_map(|l| {
            let rest = l.trim_start().strip_prefix(label)?;
            rest.split_whitespace()
                .next()?
                .replace(',', "")
                .parse()
                .ok()
        })
    }

    #[test]
    fn log_records_and_metrics_carry_what_json_and_the_metrics_file_say() {
        if !have_proto() {
            return;
        }
        let dir = std::env::temp_dir().join(format!("rustniffer-otlp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // HTTP/1.1 exchanges and connections; HTTP/2 streams (h2c) and TLS hellos in
        // messages mode, for the fields typed from their text (protocol, TLS version).
        let messages: &[&str] = &["--exchanges", "messages"];
        for (port, capture, extra) in [
            (18701, "samples/keepalive.pcap", &[][..]),
            (18705, "samples/keepalive.pcap", &["--connections"][..]),
            (18701, "tests/protocols/pcaps/h2_nghttp.pcap", messages),
            (18705, "tests/protocols/pcaps/tls_alpn.pcap", messages),
        ] {
            let receiver = Receiver::start(port, "ok");
            let file = dir.join(format!("metrics-{port}.txt"));
            let url = format!("http://127.0.0.1:{port}");
            // Every field: the log records carry them all; `--json` alone writes a default set.
            let mut args = vec![
                "-f",
                capture,
                "--json",
                "--json-fields",
                "all",
                "--stats",
                "--otlp-endpoint",
                &url,
            ];
            args.extend(extra);
            args.push("--metrics-file");
            args.push(file.to_str().unwrap());
            let out = run(&args);
            assert!(out.success, "{}", out.stderr);
            let records = out.stdout.lines().count() as u64;
            assert!(records >= 5, "{}", out.stdout);
            assert_eq!(
                stat(&out.stderr, "OTLP log records exported"),
                Some(records),
                "{}",
                out.stderr
            );
            assert_eq!(stat(&out.stderr, "OTLP log records not sent"), Some(0));
            assert_eq!(stat(&out.stderr, "OTLP metric exports"), Some(1));
            let requests = receiver.requests_with_metrics();
            assert!(requests.iter().all(|r| {
                r.get("content_type").and_then(Json::as_str) == Some("application/x-protobuf")
                    && r.get("status").and_then(Json::as_i64) == Some(200)
            }));
            check_log_records(&out.stdout, &receiver.log_records(), capture);
            let exposition = std::fs::read_to_string(&file).unwrap();
            let exported = samples(&exposition)
                .into_iter()
                .find(|(n, _, _)| n == "rustniffer_otlp_log_records_exported_total")
                .map(|(_, _, v)| v);
            assert_eq!(exported, Some(records as f64));
            let last_metrics = requests
                .iter()
                .rev()
                .find_map(|r| r.get("metrics"))
                .and_then(Json::as_array)
                .expect("a metrics export");
            check_metrics(&exposition, last_metrics);
        }
    }

    #[test]
    fn an_endpoint_where_nothing_listens_is_a_warning_and_counted_failures() {
        // Nothing listens on 18704 (the tests' own range).
        let out = run(&[
            "-f",
            "samples/keepalive.pcap",
            "--otlp-endpoint",
            "http://127.0.0.1:18704/",
        ]);
        assert!(out.success, "{}", out.stderr);
        assert_eq!(out.stdout.lines().count(), 11, "the records still come out");
        assert!(
            out.stderr
                .contains("rustniffer: OTLP: cannot export log records to http://127.0.0.1:18704/"),
            "{}",
            out.stderr
        );
        assert!(
            out.stderr
                .contains("rustniffer: OTLP: cannot export metrics"),
            "{}",
            out.stderr
        );
        assert_eq!(
            stat(&out.stderr, "OTLP log records not sent"),
            Some(11),
            "{}",
            out.stderr
        );
        assert_eq!(stat(&out.stderr, "export failed after retries"), Some(11));
        assert_eq!(stat(&out.stderr, "OTLP metric exports failed"), Some(1));
        // The SDK's retries (3, from 100 ms doubling) for each signal, then done.
        assert!(out.elapsed < Duration::from_secs(15), "{:?}", out.elapsed);
    }

    #[test]
    fn a_collector_that_answers_503_is_retried_until_it_accepts() {
        if !have_proto() {
            return;
        }
        let receiver = Receiver::start(18702, "fail:3");
        let out = run(&[
            "-f",
            "samples/keepalive.pcap",
            "--stats",
            "--otlp-endpoint",
            "http://127.0.0.1:18702",
        ]);
        assert!(out.success, "{}", out.stderr);
        assert!(!out.stderr.contains("cannot export"), "{}", out.stderr);
        assert_eq!(
            stat(&out.stderr, "OTLP log records exported"),
            Some(11),
            "{}",
            out.stderr
        );
        assert_eq!(stat(&out.stderr, "OTLP log records not sent"), Some(0));
        let statuses: Vec<i64> = receiver
            .requests()
            .iter()
            .filter(|r| r.get("path").and_then(Json::as_str) == Some("/v1/logs"))
            .map(|r| r.get("status").and_then(Json::as_i64).unwrap())
            .collect();
        assert_eq!(statuses, [503, 503, 503, 200]);
        assert_eq!(receiver.log_records().len(), 11);
    }

    #[test]
    fn a_collector_that_never_answers_does_not_hold_the_records_back() {
        if !have_proto() {
            return;
        }
        let _receiver = Receiver::start(18703, "hang");
        let started = Instant::now();
        let mut child = Command::new(binary())
            .args([
                "-f",
                "samples/keepalive.pcap",
                "--otlp-endpoint",
                "http://127.0.0.1:18703",
            ])
            .current_dir(root())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = 0;
        let mut records_done = None;
        for line in BufReader::new(stdout).lines() {
            line.unwrap();
            lines += 1;
            if lines == 11 {
                records_done = Some(started.elapsed());
            }
        }
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        assert!(child.wait().unwrap().success(), "{stderr}");
        let total = started.elapsed();
        // Every record is out while the export still waits for an answer.
        let records_done = records_done.expect("11 records");
        assert!(records_done < Duration::from_secs(2), "{records_done:?}");
        // Each request gives up after 2 s, each signal's flush after 10 s.
        assert!(total < Duration::from_secs(30), "{total:?}");
        assert!(
            stderr.contains("OTLP: cannot export log records"),
            "{stderr}"
        );
        assert_eq!(
            stat(&stderr, "OTLP log records not sent"),
            Some(11),
            "{stderr}"
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

    /// A tiny HTTP/1.1 server on `port` answering every request `200 OK` and closing.
    fn start_server(port: u16) {
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let mut buf = [0u8; 1024];
                let mut head = Vec::new();
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                );
            }
        });
    }

    fn http_get(port: u16, path: &str) -> String {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    }

    /// The value of `name`'s data points added up, in the last metrics export that has it.
    fn metric_total(requests: &[Json], name: &str) -> Option<f64> {
        requests.iter().rev().find_map(|r| {
            let m = r
                .get("metrics")?
                .as_array()?
                .iter()
                .find(|m| m.get("name").and_then(Json::as_str) == Some(name))?;
            let points = m.get("points")?.as_array()?;
            Some(
                points
                    .iter()
                    .filter_map(|p| p.get("count").or_else(|| p.get("value")))
                    .filter_map(Json::as_f64)
                    .sum(),
            )
        })
    }

    #[test]
    fn live_capture_exports_while_it_runs() {
        if !may_capture() {
            assert!(
                std::env::var_os("CI").is_none(),
                "live capture needs root in CI"
            );
            eprintln!("note: live OTLP test skipped: capture needs root or CAP_NET_RAW");
            return;
        }
        if !have_proto() {
            return;
        }
        const SERVER: u16 = 18710;
        let receiver = Receiver::start(18711, "ok");
        start_server(SERVER);
        let mut sniffer = Command::new(binary())
            .args(["-i", "lo", "-q", "-p", &format!("tcp port {SERVER}")])
            .args(["--otlp-endpoint", "http://127.0.0.1:18711"])
            // A metrics export every second instead of every minute.
            .env("OTEL_METRIC_EXPORT_INTERVAL", "1000")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(sniffer.stderr.take().unwrap()).lines();
        let listening = lines.next().and_then(Result::ok).unwrap_or_default();
        assert!(listening.contains("listening on"), "{listening}");
        let stderr = std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>());
        let stdout = sniffer.stdout.take().unwrap();
        let records = std::thread::spawn(move || BufReader::new(stdout).lines().count());
        const LOAD: usize = 20;
        for i in 0..LOAD {
            let reply = http_get(SERVER, &format!("/item/{i}"));
            assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
        }
        // While capture goes on: the log records within a batch interval or so, and
        // the metrics at the next periodic export.
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut seen = (0, None, None);
        while Instant::now() < deadline {
            let requests = receiver.requests();
            seen = (
                receiver.log_records().len(),
                metric_total(&requests, "rustniffer.tcp.connections.opened"),
                metric_total(&requests, "http.server.request.duration"),
            );
            if seen == (LOAD, Some(LOAD as f64), Some(LOAD as f64)) {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        assert!(sniffer.try_wait().unwrap().is_none(), "capture still runs");
        assert_eq!(seen, (LOAD, Some(LOAD as f64), Some(LOAD as f64)));
        let mut paths: Vec<String> = receiver
            .log_records()
            .iter()
            .map(|l| {
                let path = l.get("attributes").and_then(|a| a.get("url.path")).unwrap();
                path.as_array().unwrap()[1].as_str().unwrap().to_string()
            })
            .collect();
        paths.sort();
        let mut sent: Vec<String> = (0..LOAD).map(|i| format!("/item/{i}")).collect();
        sent.sort();
        assert_eq!(paths, sent);
        let interface = receiver.log_records()[0]
            .get("resource")
            .and_then(|r| r.get("rustniffer.capture.interface"))
            .cloned();
        assert_eq!(interface, Some(as_attribute(&Json::String("lo".into()))));
        // SAFETY: plain system call on our own child.
        unsafe { libc::kill(sniffer.id() as i32, libc::SIGINT) };
        assert!(sniffer.wait().unwrap().success());
        assert_eq!(records.join().unwrap(), LOAD);
        let stderr = stderr.join().unwrap();
        assert!(!stderr.iter().any(|l| l.contains("OTLP")), "{stderr:?}");
    }

    /// A small JSON reader for the receiver's and `--json`'s lines (numbers keep whether
    /// they were written as integers).
    mod serde_json_lite {
        #[derive(Clone, Debug, PartialEq)]
        pub enum Json {
            Null,
            Bool(bool),
            Int(i64),
            Float(f64),
            String(String),
            Array(Vec<Json>),
            Object(Vec<(String, Json)>),
        }

        impl Json {
            pub fn get(&self, key: &str) -> Option<&Json> {
                match self {
                    Json::Object(o) => o.iter().find(|(k, _)| k == key).map(|(_, v)| v),
                    _ => None,
                }
            }
            pub fn as_str(&self) -> Option<&str> {
                match self {
                    Json::String(s) => Some(s),
                    _ => None,
                }
            }
            pub fn as_i64(&self) -> Option<i64> {
                match self {
                    Json::Int(n) => Some(*n),
                    _ => None,
                }
            }
            pub fn as_f64(&self) -> Option<f64> {
                match self {
                    Json::Int(n) => Some(*n as f64),
                    Json::Float(f) => Some(*f),
                    _ => None,
                }
            }
            pub fn as_array(&self) -> Option<&[Json]> {
                match self {
                    Json::Array(a) => Some(a),
                    _ => None,
                }
            }
        }

        pub fn parse(text: &str) -> Option<Json> {
            let mut p = Parser {
                s: text.as_bytes(),
                i: 0,
            };
            let v = p.value()?;
            p.ws();
            (p.i == p.s.len()).then_some(v)
        }

        struct Parser<'a> {
            s: &'a [u8],
            i: usize,
        }

        impl Parser<'_> {
            fn ws(&mut self) {
                while self.s.get(self.i).is_some_and(u8::is_ascii_whitespace) {
                    self.i += 1;
                }
            }
            fn eat(&mut self, b: u8) -> Option<()> {
                self.ws();
                (self.s.get(self.i) == Some(&b)).then(|| self.i += 1)
            }
            fn value(&mut self) -> Option<Json> {
                self.ws();
                match *self.s.get(self.i)? {
                    b'{' => {
                        self.i += 1;
                        let mut o = Vec::new();
                        if self.eat(b'}').is_some() {
                            return Some(Json::Object(o));
                        }
                        loop {
                            self.ws();
                            let Json::String(k) = self.value()? else {
                                return None;
                            };
                            self.eat(b':')?;
                            o.push((k, self.value()?));
                            if self.eat(b',').is_none() {
                                self.eat(b'}')?;
                                return Some(Json::Object(o));
                            }
                        }
                    }
                    b'[' => {
                        self.i += 1;
                        let mut a = Vec::new();
                        if self.eat(b']').is_some() {
                            return Some(Json::Array(a));
                        }
                        loop {
                            a.push(self.value()?);
                            if self.eat(b',').is_none() {
                                self.eat(b']')?;
                                return Some(Json::Array(a));
                            }
                        }
                    }
                    b'"' => {
                        self.i += 1;
                        let mut out = String::new();
                        loop {
                            match *self.s.get(self.i)? {
                                b'"' => {
                                    self.i += 1;
                                    return Some(Json::String(out));
                                }
                                b'\\' => {
                                    let e = *self.s.get(self.i + 1)?;
                                    self.i += 2;
                                    match e {
                                        b'n' => out.push('\n'),
                                        b't' => out.push('\t'),
                                        b'r' => out.push('\r'),
                                        b'b' => out.push('\u{8}'),
                                        b'f' => out.push('\u{c}'),
                                        b'u' => {
                                            let hex = std::str::from_utf8(
                                                self.s.get(self.i..self.i + 4)?,
                                            )
                                            .ok()?;
                                            self.i += 4;
                                            let mut c = u32::from_str_radix(hex, 16).ok()?;
                                            if (0xd800..0xdc00).contains(&c) {
                                                let low = std::str::from_utf8(
                                                    self.s.get(self.i + 2..self.i + 6)?,
                                                )
                                                .ok()?;
                                                self.i += 6;
                                                let low = u32::from_str_radix(low, 16).ok()?;
                                                c = 0x10000 + ((c - 0xd800) << 10) + (low - 0xdc00);
                                            }
                                            out.push(char::from_u32(c)?);
                                        }
                                        other => out.push(char::from(other)),
                                    }
                                }
                                _ => {
                                    let rest = std::str::from_utf8(&self.s[self.i..]).ok()?;
                                    let c = rest.chars().next()?;
                                    out.push(c);
                                    self.i += c.len_utf8();
                                }
                            }
                        }
                    }
                    b't' => self.word("true", Json::Bool(true)),
                    b'f' => self.word("false", Json::Bool(false)),
                    b'n' => self.word("null", Json::Null),
                    _ => {
                        let start = self.i;
                        while self
                            .s
                            .get(self.i)
                            .is_some_and(|b| b"+-.eE0123456789".contains(b))
                        {
                            self.i += 1;
                        }
                        let text = std::str::from_utf8(&self.s[start..self.i]).ok()?;
                        if text.contains(['.', 'e', 'E']) {
                            text.parse().ok().map(Json::Float)
                        } else {
                            text.parse().ok().map(Json::Int)
                        }
                    }
                }
            }
            fn word(&mut self, w: &str, v: Json) -> Option<Json> {
                self.s[self.i..].starts_with(w.as_bytes()).then(|| {
                    self.i += w.len();
                    v
                })
            }
        }
    }
}
