//! `--json` through the built binary: every record of the shipped and test captures, in
//! every record type (exchanges in both modes, connections, interim records), is valid
//! against `schema/record.schema.json` (checked by the `jsonschema` Python package), the
//! committed schema is what `schema/make_schema.py` writes from the field table, and the
//! values are the format language's.

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
