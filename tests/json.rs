//! `--json` through the built binary: every record of the shipped and test captures, in
//! every record type (exchanges in both modes, connections, interim records), is valid
//! against `schema/record.schema.json` (checked by the `jsonschema` Python package), the
//! committed schema is what `schema/make_schema.py` writes from the field table, the
//! values are the format language's, the default fields are a subset of all of them with
//! the same values, and `--report --json` says what the text report of the same capture
//! says (each report capture, both modes; its records validated too).

use std::path::Path;
use std::process::{Command, Stdio};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn rustniffer(args: &[&str]) -> Vec<u8> {
    let out = Command::new(env!("CARGO_BIN_EXE_rustniffer"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("the binary runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn has_jsonschema() -> bool {
    Command::new("python3")
        .args(["-c", "import jsonschema"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn captures() -> Vec<String> {
    let mut list = vec!["samples/keepalive.pcap".to_string()];
    let dir = root().join("tests/protocols/pcaps");
    let mut pcaps: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/protocols/pcaps")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pcap"))
        .collect();
    pcaps.sort();
    list.extend(pcaps.iter().map(|p| p.display().to_string()));
    list
}

#[test]
fn every_record_is_valid_against_the_schema() {
    if !has_jsonschema() {
        eprintln!(
            "note: python3 jsonschema not found (test.sh installs it): JSON schema check skipped"
        );
        return;
    }
    let modes: &[&[&str]] = &[
        &[],
        &["--json-fields", "all"],
        &["--json-fields", "all", "--exchanges", "messages"],
        &["--json-fields", "all", "--connections"],
        &[
            "-l",
            "%request.timestamp %dest.port %response.time %request.header.connection %tls.sni",
        ],
        &["--exchanges", "messages"],
        &["--connections"],
        &[
            "--connections",
            "--exchanges",
            "messages",
            "--open-report",
            "0.05",
        ],
        &["--open-report", "0.05"],
    ];
    let mut all = Vec::new();
    for capture in captures() {
        for extra in modes {
            let mut args = vec!["-q", "--json", "-f", capture.as_str()];
            args.extend_from_slice(extra);
            all.extend(rustniffer(&args));
        }
    }
    let mut child = Command::new("python3")
        .arg(root().join("tests/json/validate.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), &all).unwrap();
    let out = child.wait_with_output().unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{report}");
    // Every type of record was produced and checked.
    let text = String::from_utf8(all).unwrap();
    for kind in ["exchange", "connection", "open"] {
        assert!(
            text.contains(&format!("{{\"type\":\"{kind}\"")),
            "no {kind} record"
        );
    }
    eprintln!("{report}");
}

#[test]
fn the_committed_schema_is_the_generated_one() {
    let committed = std::fs::read_to_string(root().join("schema/record.schema.json")).unwrap();
    let scratch = std::env::temp_dir().join(format!("rustniffer-schema-{}", std::process::id()));
    std::fs::create_dir_all(scratch.join("schema")).unwrap();
    std::fs::create_dir_all(scratch.join("src/output")).unwrap();
    std::fs::copy(
        root().join("schema/make_schema.py"),
        scratch.join("schema/make_schema.py"),
    )
    .unwrap();
    std::fs::copy(
        root().join("src/output/json.rs"),
        scratch.join("src/output/json.rs"),
    )
    .unwrap();
    let status = Command::new("python3")
        .arg(scratch.join("schema/make_schema.py"))
        .status()
        .expect("python3 runs");
    assert!(status.success());
    let generated = std::fs::read_to_string(scratch.join("schema/record.schema.json")).unwrap();
    let _ = std::fs::remove_dir_all(&scratch);
    assert_eq!(committed, generated, "run python3 schema/make_schema.py");
}

#[test]
fn values_are_the_format_languages_typed() {
    let json = rustniffer(&[
        "-q",
        "--json",
        "--json-fields",
        "all",
        "-f",
        "samples/keepalive.pcap",
    ]);
    let text = rustniffer(&[
        "-q", "-f", "samples/keepalive.pcap", "-l",
        "%source.port %request.method %request.url %response.code %response.time %request.header.host %response.header.connection",
    ]);
    let json = String::from_utf8(json).unwrap();
    let text = String::from_utf8(text).unwrap();
    assert_eq!(json.lines().count(), text.lines().count());
    for (j, t) in json.lines().zip(text.lines()) {
        let f: Vec<&str> = t.split(' ').collect();
        assert!(j.contains(&format!("\"client.port\":{},", f[0])), "{j}");
        assert!(
            j.contains(&format!("\"http.request.method\":\"{}\"", f[1])),
            "{j}"
        );
        assert!(j.contains(&format!("\"url.path\":\"{}\"", f[2])), "{j}");
        assert!(
            j.contains(&format!("\"http.response.status_code\":{},", f[3])),
            "{j}"
        );
        assert!(
            j.contains(&format!("\"rustniffer.response.duration\":{},", f[4])),
            "{j}"
        );
        assert!(
            j.contains(&format!("\"http.request.header.host\":[\"{}\"]", f[5])),
            "{j}"
        );
        assert!(
            j.contains(&format!(
                "\"http.response.header.connection\":[\"{}\"]",
                f[6]
            )),
            "{j}"
        );
        // Not-found values are absent, never "-".
        assert!(!j.contains(":\"-\""), "{j}");
    }
}

#[test]
fn with_a_format_only_its_keywords_fields_are_written() {
    let out = rustniffer(&[
        "-q",
        "--json",
        "-f",
        "samples/keepalive.pcap",
        "-l",
        "%request.timestamp %dest.port %response.time %request.header.connection %connection",
    ]);
    let first = String::from_utf8(out)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string();
    // The keys, in order: every `"name":` (no value here holds such text).
    let keys: Vec<&str> = regex::Regex::new(r#""([a-z0-9_.-]+)":"#)
        .unwrap()
        .captures_iter(&first)
        .map(|c| c.get(1).unwrap().as_str())
        .collect();
    assert_eq!(
        keys,
        [
            "type",
            "server.port",
            "rustniffer.connection.position",
            "rustniffer.request.time",
            "rustniffer.request.time_us",
            "http.request.header.connection",
            "rustniffer.response.duration",
        ],
        "{first}"
    );
}

/// The `"name":value` pairs of a one-line JSON object, in order, values as written
/// (strings, arrays and objects kept whole: commas inside them do not split).
fn pairs(line: &str) -> Vec<(String, String)> {
    let body = line
        .trim()
        .strip_prefix('{')
        .and_then(|l| l.strip_suffix('}'))
        .unwrap();
    let mut out = Vec::new();
    let (mut depth, mut in_string, mut escaped, mut start) = (0, false, false, 0);
    let mut split = |piece: &str| {
        let (name, value) = piece.split_once("\":").unwrap();
        out.push((name.trim_start_matches('"').to_string(), value.to_string()));
    };
    for (i, c) in body.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_string => escaped = true,
            '"' => in_string = !in_string,
            '[' | '{' if !in_string => depth += 1,
            ']' | '}' if !in_string => depth -= 1,
            ',' if !in_string && depth == 0 => {
                split(&body[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    split(&body[start..]);
    out
}

#[test]
fn the_default_fields_are_a_subset_of_all_with_the_same_values() {
    for extra in [
        &[][..],
        &["--connections"][..],
        &["--exchanges", "messages"][..],
    ] {
        let mut args = vec!["-q", "--json", "-f", "samples/keepalive.pcap"];
        args.extend_from_slice(extra);
        let default = String::from_utf8(rustniffer(&args)).unwrap();
        args.extend_from_slice(&["--json-fields", "all"]);
        let all = String::from_utf8(rustniffer(&args)).unwrap();
        assert_eq!(default.lines().count(), all.lines().count());
        assert!(default.len() < all.len(), "{extra:?}");
        for (d, a) in default.lines().zip(all.lines()) {
            let a = pairs(a);
            let d = pairs(d);
            assert!(d.len() > 5, "{d:?}");
            for pair in &d {
                assert!(a.contains(pair), "{pair:?} of {d:?} not in {a:?}");
            }
        }
    }
}

#[test]
fn json_fields_takes_default_or_all_and_not_with_a_format() {
    for args in [
        &["--json-fields", "some"][..],
        &["--json-fields", "all", "-l", "%source.ip"][..],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_rustniffer"))
            .args(["--json", "-f", "samples/keepalive.pcap"])
            .args(args)
            .current_dir(root())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("--json-fields"));
    }
}

#[test]
fn json_takes_no_append_or_raw_format() {
    for extra in [["-a", "%source.ip"], ["-r", "-q"]] {
        let out = Command::new(env!("CARGO_BIN_EXE_rustniffer"))
            .args(["--json", "-f", "samples/keepalive.pcap"])
            .args(extra)
            .current_dir(root())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).contains("--json takes its fields from -l"));
    }
}

/// A JSON value, as far as these tests read them.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Str(String),
    /// The number as written.
    Num(String),
    Bool(bool),
    Arr(Vec<Value>),
    Obj(Vec<(String, Value)>),
}

impl Value {
    fn get(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Obj(pairs) => pairs.iter().find(|(n, _)| n == name).map(|(_, v)| v),
            _ => None,
        }
    }

    fn str(&self, name: &str) -> &str {
        match self.get(name) {
            Some(Value::Str(s)) => s,
            other => panic!("{name}: {other:?} in {self:?}"),
        }
    }

    fn num(&self, name: &str) -> f64 {
        match self.get(name) {
            Some(Value::Num(n)) => n.parse().unwrap(),
            other => panic!("{name}: {other:?} in {self:?}"),
        }
    }
}

/// Parses one JSON value (the subset rustniffer writes: no `null`, `\u` escapes of
/// control characters only).
fn parse(text: &str) -> Value {
    fn value(b: &[u8], i: &mut usize) -> Value {
        while b[*i] == b' ' {
            *i += 1;
        }
        match b[*i] {
            b'"' => {
                *i += 1;
                let mut s = Vec::new();
                while b[*i] != b'"' {
                    if b[*i] == b'\\' {
                        *i += 1;
                        match b[*i] {
                            b'n' => s.push(b'\n'),
                            b't' => s.push(b'\t'),
                            b'r' => s.push(b'\r'),
                            b'u' => {
                                let hex = std::str::from_utf8(&b[*i + 1..*i + 5]).unwrap();
                                s.push(u8::from_str_radix(hex, 16).unwrap());
                                *i += 4;
                            }
                            c => s.push(c),
                        }
                    } else {
                        s.push(b[*i]);
                    }
                    *i += 1;
                }
                *i += 1;
                Value::Str(String::from_utf8(s).unwrap())
            }
            b'[' | b'{' => {
                let object = b[*i] == b'{';
                *i += 1;
                let mut items = Vec::new();
                let mut pairs = Vec::new();
                loop {
                    if b[*i] == b']' || b[*i] == b'}' {
                        *i += 1;
                        break;
                    }
                    if object {
                        let Value::Str(name) = value(b, i) else {
                            panic!("a name")
                        };
                        assert_eq!(b[*i], b':');
                        *i += 1;
                        pairs.push((name, value(b, i)));
                    } else {
                        items.push(value(b, i));
                    }
                    if b[*i] == b',' {
                        *i += 1;
                    }
                }
                match object {
                    true => Value::Obj(pairs),
                    false => Value::Arr(items),
                }
            }
            b't' => {
                *i += 4;
                Value::Bool(true)
            }
            b'f' => {
                *i += 5;
                Value::Bool(false)
            }
            _ => {
                let start = *i;
                while *i < b.len() && !b",]}".contains(&b[*i]) {
                    *i += 1;
                }
                Value::Num(String::from_utf8(b[start..*i].to_vec()).unwrap())
            }
        }
    }
    let mut i = 0;
    let v = value(text.as_bytes(), &mut i);
    assert_eq!(i, text.len(), "trailing text in {text}");
    v
}

/// The text report's duration (`src/output/report/text.rs`), from seconds.
fn report_duration(seconds: f64) -> String {
    let us = (seconds * 1e6).round() as i64;
    let a = us.unsigned_abs();
    if a < 1_000 {
        format!("{us} µs")
    } else if a < 1_000_000 {
        format!("{:.1} ms", us as f64 / 1e3)
    } else if a < 100_000_000 {
        format!("{:.2} s", us as f64 / 1e6)
    } else {
        format!("{:.0} s", us as f64 / 1e6)
    }
}

/// `p50 A  p99 B  max C  (n=N)` of a distribution, as the text report prints it.
fn quantiles(d: &Value, f: impl Fn(f64) -> String) -> String {
    format!(
        "p50 {}  p99 {}  max {}  (n={})",
        f(d.num("p50")),
        f(d.num("p99")),
        f(d.num("max")),
        d.num("count")
    )
}

#[test]
fn the_report_as_json_says_what_the_text_report_says() {
    let dir = root().join("tests/report/pcaps");
    let mut pcaps: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/report/pcaps")
        .filter_map(|e| e.ok().map(|e| e.path().display().to_string()))
        .filter(|p| p.ends_with(".pcap"))
        .collect();
    pcaps.sort();
    assert!(pcaps.len() >= 5);
    let mut all = Vec::new();
    let mut kinds = std::collections::BTreeSet::new();
    for capture in &pcaps {
        for mode in ["turns", "messages"] {
            let args = ["-q", "--report", "-f", capture, "--exchanges", mode];
            let text = String::from_utf8(rustniffer(&args)).unwrap();
            let json_args = [&args[..], &["--json"]].concat();
            let json = rustniffer(&json_args);
            // Deterministic for a file.
            assert_eq!(json, rustniffer(&json_args), "{capture} {mode}");
            let json = String::from_utf8(json).unwrap();
            all.extend_from_slice(json.as_bytes());
            let records: Vec<Value> = json.lines().map(parse).collect();
            let findings: Vec<&Value> = records
                .iter()
                .filter(|r| r.str("type") == "finding")
                .collect();
            let services: Vec<&Value> = records
                .iter()
                .filter(|r| r.str("type") == "service")
                .collect();
            assert_eq!(findings.len() + services.len(), records.len());
            let context = format!("{capture} {mode}\n{text}\n{json}");
            assert!(
                text.contains(&format!("\nFindings ({})\n", findings.len())),
                "{context}"
            );
            // Each finding: its block of the text, line by line.
            for (i, f) in findings.iter().enumerate() {
                kinds.insert(f.str("rustniffer.finding.kind").to_string());
                let head = format!(
                    "{:>2}. [{}] {}\n    {}\n",
                    i + 1,
                    f.str("rustniffer.finding.kind"),
                    f.str("rustniffer.service"),
                    f.str("rustniffer.finding.message")
                );
                let at = text
                    .find(&head)
                    .unwrap_or_else(|| panic!("{head}\n{context}"));
                let block = &text[at + head.len()..];
                let mut lines = block.lines();
                let Some(Value::Arr(evidence)) = f.get("rustniffer.finding.evidence") else {
                    panic!("{context}")
                };
                for e in evidence {
                    let Value::Str(e) = e else { panic!() };
                    assert_eq!(lines.next(), Some(format!("    evidence: {e}").as_str()));
                }
                if let Some(example) = f.get("rustniffer.finding.example") {
                    let line = lines.next().unwrap();
                    let opened = example.str("tcp.connection.start");
                    assert!(
                        line.starts_with(&format!(
                            "    example: {}:{} → {}:{} opened {} UTC, {} exchange(s), ",
                            example.str("client.address"),
                            example.num("client.port"),
                            example.str("server.address"),
                            example.num("server.port"),
                            &opened[11..26],
                            example.num("rustniffer.conn.exchanges"),
                        )),
                        "{line}\n{example:?}"
                    );
                    assert!(line.ends_with(&format!(
                        ", lasted {}",
                        report_duration(example.num("rustniffer.conn.duration"))
                    )));
                }
                assert_eq!(
                    lines.next(),
                    Some(
                        format!("    likely cause: {}", f.str("rustniffer.finding.cause")).as_str()
                    )
                );
                assert_eq!(
                    lines.next(),
                    Some(format!("    action: {}", f.str("rustniffer.finding.action")).as_str())
                );
            }
            // Each service: its table's figures.
            for s in &services {
                let head = format!("\nService {}\n", s.str("rustniffer.service"));
                let at = text
                    .find(&head)
                    .unwrap_or_else(|| panic!("{head}\n{context}"));
                let table = &text[at + head.len()..];
                let table = &table[..table.find("\nService ").unwrap_or(table.len())];
                let row = |name: &str| -> String {
                    table
                        .lines()
                        .find_map(|l| l.strip_prefix(&format!("  {name:<34} ")))
                        .unwrap_or_else(|| panic!("{name}\n{context}"))
                        .to_string()
                };
                assert_eq!(
                    row("connections"),
                    s.num("rustniffer.service.connections").to_string()
                );
                assert_eq!(
                    row("exchanges"),
                    s.num("rustniffer.service.exchanges").to_string()
                );
                let single = s.num("rustniffer.service.single_exchange").to_string();
                assert!(row("single-exchange connections").starts_with(&format!("{single} (")));
                assert!(row("asked keep-alive, carried one").starts_with(&format!(
                    "{} of {} asking",
                    s.num("rustniffer.service.keep_alive.asked_single"),
                    s.num("rustniffer.service.keep_alive.asked")
                )));
                let dist = |name: &str, row_name: &str, seconds: bool| {
                    let shown = row(row_name);
                    match s.get(name) {
                        Some(d) => {
                            let expected = match seconds {
                                true => quantiles(d, report_duration),
                                false => quantiles(d, |v| v.to_string()),
                            };
                            assert!(shown.starts_with(&expected), "{shown} / {expected}");
                        }
                        None => assert!(shown.starts_with('-'), "{shown}\n{context}"),
                    }
                };
                dist(
                    "rustniffer.service.exchanges_per_connection",
                    "exchanges per connection",
                    false,
                );
                dist("rustniffer.service.handshake", "handshake time", true);
                dist("rustniffer.service.response", "response time", true);
                dist(
                    "rustniffer.service.idle_before_close.client",
                    "idle before close (client closes)",
                    true,
                );
                dist(
                    "rustniffer.service.idle_before_close.server",
                    "idle before close (server closes)",
                    true,
                );
                for who in ["client", "server"] {
                    let shown = row(&format!("idle before close ({who} closes)"));
                    let name = format!("rustniffer.service.idle_before_close.{who}.timeout");
                    match s.get(&name) {
                        Some(c) => assert!(
                            shown.contains(&format!(
                                "; timeout {} ± {} in ",
                                report_duration(c.num("seconds")),
                                report_duration(c.num("spread"))
                            )),
                            "{shown} {c:?}"
                        ),
                        None => assert!(!shown.contains("; timeout"), "{shown}"),
                    }
                }
                let cut = (
                    s.num("rustniffer.service.server_close_then_reset"),
                    s.num("rustniffer.service.unanswered_at_server_close"),
                );
                if cut != (0.0, 0.0) {
                    assert_eq!(
                        row("requests cut by the server's close"),
                        format!(
                            "{} reset after its FIN, {} without a response",
                            cut.0, cut.1
                        )
                    );
                }
                // `closed by` shows shares of the connections: the counts give them.
                let Some(Value::Obj(closed)) = s.get("rustniffer.service.closed_by") else {
                    panic!("{context}")
                };
                let connections = s.num("rustniffer.service.connections").max(1.0);
                let shown = row("closed by");
                for (who, n) in closed {
                    let Value::Num(n) = n else { panic!() };
                    let p = n.parse::<f64>().unwrap() / connections * 100.0;
                    let p = if p > 0.0 && p < 10.0 {
                        format!("{p:.1} %")
                    } else {
                        format!("{p:.0} %")
                    };
                    assert!(shown.contains(&format!("{who} {p}")), "{shown} {who} {p}");
                }
                assert_eq!(
                    s.get("rustniffer.service.protocol_facts"),
                    Some(&Value::Bool(mode == "messages"))
                );
                if let Some(d) = s.get("rustniffer.service.http2.streams") {
                    assert!(row("HTTP/2 streams per connection")
                        .starts_with(&quantiles(d, |v| v.to_string())));
                }
            }
        }
    }
    // The captures cover several findings, problems and information.
    assert!(kinds.len() >= 4, "{kinds:?}");
    assert!(kinds.contains("pool-timeout"), "{kinds:?}");
    if !has_jsonschema() {
        assert!(
            std::env::var_os("CI").is_none(),
            "python3 jsonschema is missing (test.sh installs it)"
        );
        eprintln!("note: python3 jsonschema not found: the report's records were not validated");
        return;
    }
    let mut child = Command::new("python3")
        .arg(root().join("tests/json/validate.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), &all).unwrap();
    let out = child.wait_with_output().unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{report}");
}
