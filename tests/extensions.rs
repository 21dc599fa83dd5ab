//! SPEC §7 through the built binary, on the conformance captures: `-e` commands, `-U`,
//! `-P` functions, `%python(...)` handlers, and their errors. Every expectation is derived
//! from the plain records of the same capture. The Python tests run only in a build with
//! the `python` feature; without it, asking for Python must be an error naming the feature.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn corpus_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("RUSTNIFFER_CONFORMANCE") {
        return PathBuf::from(dir);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance")
}

fn pcap(name: &str) -> String {
    corpus_dir()
        .join("pcaps")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// Runs the binary in `dir` with `args` (as the conformance runner does: UTC, C locale,
/// nothing on standard input).
fn run_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rustniffer"));
    command
        .args(args)
        .current_dir(dir)
        .env("TZ", "UTC")
        .env("LC_ALL", "C")
        .env_remove("PYTHONPATH")
        .env_remove("VIRTUAL_ENV")
        .stdin(Stdio::null());
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("the binary runs")
}

fn run(args: &[&str]) -> Output {
    run_in(&corpus_dir(), args, &[])
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A successful run's standard output; its standard error must be empty.
fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "exit {}: {}",
        output.status,
        text(&output.stderr)
    );
    assert_eq!(text(&output.stderr), "", "unexpected standard error");
    text(&output.stdout)
}

/// A successful run's standard output, when standard error may carry rustniffer's
/// summary notes (evictions) but no Python exception.
#[cfg(feature = "python")]
fn ok_with_notes(output: Output) -> String {
    let err = text(&output.stderr);
    assert!(output.status.success(), "exit {}: {err}", output.status);
    // Notes are lines of their own; the end-of-run summary is a titled block whose
    // figures are indented under it.
    let mut in_summary = false;
    for line in err.lines() {
        if line.starts_with("rustniffer: ") {
            in_summary = line.starts_with("rustniffer: summary");
        } else {
            assert!(
                in_summary && line.starts_with("  "),
                "unexpected standard error: {err}"
            );
        }
    }
    text(&output.stdout)
}

/// A start-up error: exit status 1, nothing on standard output, one line on standard
/// error, which is returned.
fn start_up_error(output: Output) -> String {
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    assert!(output.stdout.is_empty(), "stdout: {}", text(&output.stdout));
    let err = text(&output.stderr);
    assert_eq!(err.lines().count(), 1, "not one line: {err}");
    err
}

/// The plain records of a capture, one per line (formats without a newline in them).
fn plain_lines(capture: &str, format: &str) -> Vec<String> {
    ok(run(&["-f", &pcap(capture), "-l", format]))
        .lines()
        .map(str::to_string)
        .collect()
}

/// What `id ARGS` prints (`-u`, `-g`, optionally a user name).
fn id(args: &[&str]) -> String {
    let out = Command::new("id").args(args).output().expect("id runs");
    text(&out.stdout)
}

fn is_root() -> bool {
    id(&["-u"]).trim() == "0"
}

/// A fresh directory for scripts, readable by every user (`-U nobody` imports from it).
#[cfg(feature = "python")]
struct TempDir(PathBuf);

#[cfg(feature = "python")]
impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("rustniffer-ext-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    fn write(&self, name: &str, content: &str) -> String {
        let path = self.0.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("script dir");
        }
        std::fs::write(&path, content).expect("script written");
        path.to_string_lossy().into_owned()
    }
}

#[cfg(feature = "python")]
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const CAPTURES: &[&str] = &[
    "c_ka_reuse_A.pcap",
    "g_big_A.pcap",
    "h_rst_server_A.pcap",
    "i_pipelined_A.pcap",
    "p_truncated_A.pcap",
    "syn_server_first_A.pcap",
    "twin_ipv6_c_ka_reuse_A.pcap",
];

// ---- -e -------------------------------------------------------------------------

#[test]
fn execute_cat_prints_exactly_what_plain_output_prints() {
    for capture in CAPTURES {
        let file = pcap(capture);
        for extra in [&[][..], &["-r"], &["-N"], &["-r", "-x"]] {
            let mut plain = vec!["-f", file.as_str()];
            plain.extend_from_slice(extra);
            let expected = run(&plain).stdout;
            let with_cat = [&plain[..], &["-e", "cat"]].concat();
            let output = run(&with_cat);
            assert!(output.status.success(), "{capture} {extra:?}");
            assert!(output.stderr.is_empty(), "{}", text(&output.stderr));
            assert_eq!(output.stdout, expected, "{capture} {extra:?}");
        }
    }
}

#[test]
fn commands_run_one_after_another_so_outputs_never_interleave() {
    let capture = pcap("c_ka_reuse_A.pcap");
    let records = plain_lines("c_ka_reuse_A.pcap", "%request.url");
    assert!(records.len() > 1);
    // Each command prints its record in two writes with a pause between them: a command
    // still running when the next started would interleave.
    let out = ok(run(&[
        "-f",
        &capture,
        "-l",
        "%request.url",
        "-e",
        "read r; printf '<%s' \"$r\"; sleep 0.05; echo '>'",
    ]));
    let expected: String = records.iter().map(|r| format!("<{r}>\n")).collect();
    assert_eq!(out, expected);
}

#[test]
fn a_failing_command_gives_one_line_with_its_status_and_the_run_goes_on() {
    let capture = pcap("c_ka_reuse_A.pcap");
    let records = plain_lines("c_ka_reuse_A.pcap", "%request.url");
    let output = run(&["-f", &capture, "-e", "cat >/dev/null; exit 3"]);
    assert!(output.status.success());
    assert!(output.stdout.is_empty());
    let err = text(&output.stderr);
    // One line per failed record (fewer than the 10 shown), then the summary's total.
    assert!(records.len() < 10);
    let failures = err.lines().filter(|l| l.contains("exited with status 3"));
    assert_eq!(failures.count(), records.len(), "{err}");
    let total = format!(
        "records -e failed on  {}  (of {} records",
        records.len(),
        records.len()
    );
    assert!(err.contains(&total), "{err}");
    assert_eq!(err.lines().count(), records.len() + 2, "{err}");
    let killed = run(&["-f", &capture, "-e", "kill -9 $$"]);
    assert!(killed.status.success());
    assert!(text(&killed.stderr).contains("killed by signal 9"));
}

#[test]
fn a_command_that_closes_its_input_early_does_not_stop_the_run() {
    // g_big_A carries a 240 KB response: far more than a pipe holds.
    let capture = pcap("g_big_A.pcap");
    let records = ok(run(&["-f", &capture, "-r"]));
    assert!(records.len() > 200_000);
    let first_bytes = ok(run(&["-f", &capture, "-r", "-e", "head -c 4; echo"]));
    assert_eq!(first_bytes, format!("{}\n", &records[..4]));
    ok(run(&["-f", &capture, "-r", "-e", "exec true"]));
}

#[test]
fn user_runs_each_command_as_that_user_and_its_groups() {
    let capture = pcap("c_ka_reuse_A.pcap");
    let output = run(&["-f", &capture, "-U", "nobody", "-e", "id -u; id -g"]);
    if !is_root() {
        let err = start_up_error(output);
        assert!(err.contains("root"), "{err}");
        return;
    }
    let uid = id(&["-u", "nobody"]);
    let gid = id(&["-g", "nobody"]);
    let records = plain_lines("c_ka_reuse_A.pcap", "%request.url");
    let expected = format!("{}{}", uid, gid).repeat(records.len());
    assert_eq!(ok(output), expected);
    // rustniffer itself keeps its privileges: only the commands switch.
    let as_root = ok(run(&["-f", &capture, "-e", "id -u"]));
    assert_eq!(as_root, "0\n".repeat(records.len()));
}

#[test]
fn an_unknown_user_is_an_error_at_start_up() {
    let capture = pcap("c_ka_reuse_A.pcap");
    let err = start_up_error(run(&[
        "-f",
        &capture,
        "-U",
        "no-such-user-rustniffer",
        "-e",
        "cat",
    ]));
    assert!(
        err.contains("unknown user 'no-such-user-rustniffer'"),
        "{err}"
    );
}

#[test]
fn execute_with_python_function_is_an_error() {
    let capture = pcap("c_ka_reuse_A.pcap");
    let err = start_up_error(run(&["-f", &capture, "-e", "cat", "-P", "x.py"]));
    assert!(err.contains("-e") && err.contains("-P"), "{err}");
}

// ---- Python: the default build ---------------------------------------------------

#[cfg(not(feature = "python"))]
#[test]
fn python_without_the_feature_is_one_error_naming_the_feature() {
    let capture = pcap("c_ka_reuse_A.pcap");
    for args in [
        &["-P", "script.py"][..],
        &["-l", "%source.ip %python(module:Class)"],
    ] {
        let mut all = vec!["-f", capture.as_str()];
        all.extend_from_slice(args);
        let err = start_up_error(run(&all));
        assert!(
            err.contains("feature 'python'") && err.contains("--features python"),
            "{err}"
        );
    }
}

// ---- Python: -P ------------------------------------------------------------------

#[cfg(feature = "python")]
const PREFIX_SCRIPT: &str = r#"
import sys

seen = 0

def app(record: bytes):
    global seen
    seen += 1
    sys.stdout.write("%d> " % seen + record.decode("utf-8", "replace"))

def fails_on_second(record: bytes):
    if record.startswith(b"GET /status/404"):
        raise ValueError("no 404s here")
    sys.stdout.write("ok " + record.decode())
"#;

#[cfg(feature = "python")]
#[test]
fn a_python_function_receives_each_record_instead_of_printing() {
    let dir = TempDir::new("prefix");
    let script = dir.write("prefix.py", PREFIX_SCRIPT);
    for capture in CAPTURES {
        let plain = plain_lines(capture, "%source.ip %request.line %response.code");
        let got = ok(run(&[
            "-f",
            &pcap(capture),
            "-l",
            "%source.ip %request.line %response.code",
            "-P",
            &script,
        ]));
        let expected: String = plain
            .iter()
            .enumerate()
            .map(|(i, r)| format!("{}> {r}\n", i + 1))
            .collect();
        assert_eq!(got, expected, "{capture}");
    }
}

#[cfg(feature = "python")]
#[test]
fn an_exception_in_the_function_prints_its_traceback_and_the_run_goes_on() {
    let dir = TempDir::new("fails");
    let script = dir.write("prefix.py", PREFIX_SCRIPT);
    let output = run(&[
        "-f",
        &pcap("c_ka_reuse_A.pcap"),
        "-l",
        "%request.line",
        "-P",
        &format!("{script}:fails_on_second"),
    ]);
    assert!(output.status.success());
    let err = text(&output.stderr);
    assert!(
        err.starts_with("Traceback (most recent call last):"),
        "{err}"
    );
    assert!(err.contains("ValueError: no 404s here"), "{err}");
    let plain = plain_lines("c_ka_reuse_A.pcap", "%request.line");
    let expected: String = plain
        .iter()
        .filter(|r| !r.starts_with("GET /status/404"))
        .map(|r| format!("ok {r}\n"))
        .collect();
    assert_eq!(text(&output.stdout), expected);
}

// ---- Python: %python -------------------------------------------------------------

/// Records every callback of its exchange; the result is
/// `client > server | request line | status line | events`.
#[cfg(feature = "python")]
const SEQUENCE_HANDLER: &str = r#"
def endpoint(e):
    return "%s:%d" % e

class Sequence:
    def __init__(self):
        self.conn = None
        self.events = []
        self.request = b""
        self.response = b""

    def _event(self, conn, name):
        if self.conn is None:
            self.conn = conn
        assert self.conn == conn, (self.conn, conn)
        if not self.events or self.events[-1] != name:
            self.events.append(name)

    def on_opening(self, conn, t):
        self._event(conn, "opening")

    def on_open(self, conn, t):
        self._event(conn, "open")

    def on_request(self, conn, data, t):
        self.request += data
        self._event(conn, "request")

    def on_response(self, conn, data, t):
        self.response += data
        self._event(conn, "response")

    def on_close(self, conn, t, ip, port):
        self._event(conn, "close:%s:%d@%.6f" % (ip, port, t))

    def on_timed_out(self, conn, t):
        self._event(conn, "timed_out")

    def on_interrupted(self):
        self._event(self.conn, "interrupted")

    def result(self, t):
        conn = "%s > %s" % (endpoint(self.conn[0]), endpoint(self.conn[1]))
        line = lambda b: b.split(b"\r")[0].decode("ascii", "replace")
        return "%s | %s | %s | %s" % (conn, line(self.request), line(self.response), " ".join(self.events))

app = Sequence
"#;

/// What [`SEQUENCE_HANDLER`] must return, from the plain record of the same exchange.
#[cfg(feature = "python")]
fn expected_sequence(plain: &str) -> String {
    let f: Vec<&str> = plain.split('\t').collect();
    let [sip, sport, dip, dport, connection, conn_time, originator, close_ts, rq_size, rs_size, rq_line, rs_line] =
        f[..]
    else {
        panic!("unexpected plain record {plain:?}");
    };
    let mut events = Vec::new();
    if connection == "start" || connection == "unique" {
        events.push("opening".to_string());
        if conn_time != "-" {
            events.push("open".into());
        }
    }
    if rq_size != "0" {
        events.push("request".into());
    }
    if rs_size != "0" {
        events.push("response".into());
    }
    match originator {
        "client" => events.push(format!("close:{sip}:{sport}@{close_ts}")),
        "server" => events.push(format!("close:{dip}:{dport}@{close_ts}")),
        "timedout" => events.push("timed_out".into()),
        "truncated" => events.push("interrupted".into()),
        _ => {}
    }
    format!(
        "{sip}:{sport} > {dip}:{dport} | {rq_line} | {rs_line} | {}",
        events.join(" ")
    )
}

#[cfg(feature = "python")]
const PLAIN_FIELDS: &str = "%source.ip%tab%source.port%tab%dest.ip%tab%dest.port%tab%connection%tab%connection.time%tab%close.originator%tab%close.timestamp2%tab%request.size%tab%response.size%tab%request.line%tab%response.line";

#[cfg(feature = "python")]
#[test]
fn a_handler_sees_the_events_of_its_exchange_and_its_result_is_printed() {
    let dir = TempDir::new("sequence");
    dir.write("sequence.py", SEQUENCE_HANDLER);
    let cases: &[(&str, &[&str])] = &[
        ("c_ka_reuse_A.pcap", &[]),
        ("g_big_A.pcap", &[]),
        ("h_rst_client_A.pcap", &[]),
        ("h_rst_server_A.pcap", &[]),
        ("i_pipelined_A.pcap", &[]),
        ("m_refused_A.pcap", &[]),
        ("p_truncated_A.pcap", &[]),
        ("syn_server_first_A.pcap", &[]),
        ("syn_timedout_A.pcap", &["-s", "8"]),
        ("twin_ipv6_c_ka_reuse_A.pcap", &[]),
    ];
    for (capture, extra) in cases {
        let file = pcap(capture);
        let mut plain_args = vec!["-f", file.as_str(), "-l", PLAIN_FIELDS];
        plain_args.extend_from_slice(extra);
        let plain = ok_with_notes(run(&plain_args));
        // `%python` beside a keyword of the plain format: both in the same record.
        let format = format!("%python(sequence)%tab{PLAIN_FIELDS}");
        let mut args = vec!["-f", file.as_str(), "-l", format.as_str()];
        args.extend_from_slice(extra);
        let got = ok_with_notes(run_in(&dir.0, &args, &[]));
        assert_eq!(got.lines().count(), plain.lines().count(), "{capture}");
        for (got_line, plain_line) in got.lines().zip(plain.lines()) {
            let (result, rest) = got_line.split_once('\t').expect("a tab");
            assert_eq!(rest, plain_line, "{capture}");
            assert_eq!(result, expected_sequence(plain_line), "{capture}");
        }
    }
}

#[cfg(feature = "python")]
#[test]
fn handlers_without_callbacks_or_that_raise_leave_the_value_not_found() {
    let dir = TempDir::new("partial");
    dir.write(
        "partial.py",
        r#"
class Nothing:
    pass

class OnlyResult:
    def result(self, t):
        return "t=%s" % ("none" if t is None else "%.6f" % t)

class Broken:
    def __init__(self):
        raise RuntimeError("constructor")

class Raising:
    def on_request(self, conn, data, t):
        raise KeyError("on_request")
    def result(self, t):
        raise ValueError("result")
"#,
    );
    let capture = pcap("c_ka_reuse_A.pcap");
    let output = run_in(
        &dir.0,
        &[
            "-f",
            &capture,
            "-n",
            "NF",
            "-l",
            "%python(partial:Nothing) %python(partial:OnlyResult) %python(partial:Broken) %python(partial:Raising) %request.timestamp2 %close.timestamp2",
        ],
        &[],
    );
    assert!(output.status.success());
    let plain = ok(run(&[
        "-f",
        &capture,
        "-n",
        "NF",
        "-l",
        "%request.timestamp2 %close.timestamp2",
    ]));
    let plain: Vec<&str> = plain.lines().collect();
    let got = text(&output.stdout);
    assert_eq!(got.lines().count(), plain.len());
    for (line, plain) in got.lines().zip(&plain) {
        let fields: Vec<&str> = line.split(' ').collect();
        assert_eq!(fields[0], "NF");
        assert_eq!(fields[2], "NF");
        assert_eq!(fields[3], "NF");
        // result(t) gets the time the record was printed: the next request's time, or
        // the close time.
        assert!(fields[1].starts_with("t="), "{line}");
        assert_eq!(&fields[4..].join(" "), plain);
    }
    let err = text(&output.stderr);
    for exception in [
        "RuntimeError: constructor",
        "KeyError: 'on_request'",
        "ValueError: result",
    ] {
        assert!(err.contains(exception), "{exception} missing from: {err}");
    }
    // The last record was printed at close: t is the close time.
    let last = got.lines().last().unwrap();
    let close = last.rsplit(' ').next().unwrap();
    assert!(last.contains(&format!("t={close}")), "{last}");
    // At the end of the capture, t is None.
    let truncated = ok(run_in(
        &dir.0,
        &[
            "-f",
            &pcap("p_truncated_A.pcap"),
            "-l",
            "%python(partial:OnlyResult)",
        ],
        &[],
    ));
    assert!(truncated.lines().all(|l| l == "t=none"), "{truncated}");
}

#[cfg(feature = "python")]
#[test]
fn modules_come_from_the_current_directory_pythonpath_and_the_virtual_env() {
    let dir = TempDir::new("path");
    let handler = "class app:\n    def result(self, t):\n        return __name__\n";
    dir.write("here.py", handler);
    dir.write("lib/elsewhere.py", handler);
    dir.write(
        "lib/pyversion.py",
        "import sys\nclass app:\n    def result(self, t):\n        return 'python%d.%d' % sys.version_info[:2]\n",
    );
    let site = "venv/lib/VERSION/site-packages/invenv.py";
    let capture = pcap("h_rst_server_A.pcap");
    let lib = dir.0.join("lib").to_string_lossy().into_owned();
    // The virtual environment's site-packages is named after the running Python.
    let version = ok(run_in(
        &dir.0,
        &["-f", &capture, "-l", "%python(pyversion)"],
        &[("PYTHONPATH", &lib)],
    ));
    let version = version.trim();
    dir.write(
        &site.replace("VERSION", version),
        "class app:\n    def result(self, t):\n        return 'venv'\n",
    );
    let venv = dir.0.join("venv").to_string_lossy().into_owned();
    let got = ok(run_in(
        &dir.0,
        &[
            "-f",
            &capture,
            "-l",
            "%python(here) %python(elsewhere) %python(invenv)",
        ],
        &[("PYTHONPATH", &lib), ("VIRTUAL_ENV", &venv)],
    ));
    assert_eq!(got, "here elsewhere venv\n");
}

#[cfg(feature = "python")]
#[test]
fn python_loading_errors_are_one_line_at_start_up() {
    let dir = TempDir::new("errors");
    dir.write("mod_ok.py", "class app:\n    pass\nnot_a_class = 3\n");
    dir.write("broken.py", "def app(:\n");
    let capture = pcap("c_ka_reuse_A.pcap");
    let cases: &[(&[&str], &str)] = &[
        (
            &["-l", "%python(no_such_module)"],
            "No module named 'no_such_module'",
        ),
        (&["-l", "%python(mod_ok:Missing)"], "has no 'Missing'"),
        (&["-l", "%python(mod_ok:not_a_class)"], "is not a class"),
        (&["-l", "%python(broken)"], "SyntaxError"),
        (&["-l", "%python()"], "module name is missing"),
        (&["-P", "no_such_script.py"], "No such file"),
        (&["-P", "broken.py"], "SyntaxError"),
        (&["-P", "mod_ok.py:handle"], "defines no 'handle'"),
        (&["-P", "mod_ok.py:not_a_class"], "is not a function"),
    ];
    for (args, message) in cases {
        let mut all = vec!["-f", capture.as_str()];
        all.extend_from_slice(args);
        let err = start_up_error(run_in(&dir.0, &all, &[]));
        assert!(err.contains(message), "{args:?}: {err}");
    }
}

#[cfg(feature = "python")]
#[test]
fn python_code_runs_as_the_user() {
    let dir = TempDir::new("user");
    let script = dir.write(
        "who.py",
        "import os\ndef app(record):\n    print(os.getuid(), os.getgid(), record.decode().strip())\n",
    );
    dir.write(
        "whohandler.py",
        "import os\nclass app:\n    def result(self, t):\n        return str(os.geteuid())\n",
    );
    let capture = pcap("c_ka_reuse_A.pcap");
    let output = run_in(
        &dir.0,
        &[
            "-f",
            &capture,
            "-l",
            "%request.url",
            "-U",
            "nobody",
            "-P",
            &script,
        ],
        &[],
    );
    if !is_root() {
        let err = start_up_error(output);
        assert!(err.contains("root"), "{err}");
        return;
    }
    let uid = id(&["-u", "nobody"]);
    let gid = id(&["-g", "nobody"]);
    let urls = plain_lines("c_ka_reuse_A.pcap", "%request.url");
    let expected: String = urls
        .iter()
        .map(|u| format!("{} {} {u}\n", uid.trim(), gid.trim()))
        .collect();
    assert_eq!(ok(output), expected);
    // %python and -e together: handlers and commands both run as the user.
    let both = ok(run_in(
        &dir.0,
        &[
            "-f",
            &capture,
            "-l",
            "%python(whohandler)",
            "-U",
            "nobody",
            "-e",
            "cat; id -u",
        ],
        &[],
    ));
    assert_eq!(both, format!("{}{}", uid, uid).repeat(urls.len()));
}

// ---- README ------------------------------------------------------------------------

/// The README's examples: each `sh` block with a `target/release/rustniffer` command and
/// the `text` block after it, the output it must print. Python examples run in a build
/// with the feature, `-U` examples as root.
#[test]
fn readme_examples_print_what_the_readme_shows() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let mut examples = Vec::new();
    let mut command: Option<String> = None;
    let mut lines = readme.lines();
    while let Some(line) = lines.next() {
        let block = |lines: &mut std::str::Lines<'_>| -> Vec<String> {
            lines
                .take_while(|l| *l != "```")
                .map(str::to_string)
                .collect()
        };
        match line {
            "```sh" => {
                command = block(&mut lines)
                    .into_iter()
                    .find(|l| l.contains("target/release/rustniffer -f"));
            }
            "```text" => {
                let output = block(&mut lines);
                if let Some(command) = command.take() {
                    examples.push((command, output.join("\n") + "\n"));
                }
            }
            _ => {}
        }
    }
    assert!(examples.len() >= 4, "README examples not found");
    for (command, expected) in examples {
        let python = command.contains(" -P ") || command.contains("%python");
        if (python && !cfg!(feature = "python")) || (command.contains(" -U ") && !is_root()) {
            continue;
        }
        let command = command.replace(
            "target/release/rustniffer",
            env!("CARGO_BIN_EXE_rustniffer"),
        );
        let output = Command::new("/bin/sh")
            .args(["-c", &command])
            .current_dir(root)
            .env_remove("PYTHONPATH")
            .env_remove("VIRTUAL_ENV")
            .stdin(Stdio::null())
            .output()
            .expect("sh runs");
        assert_eq!(text(&output.stderr), "", "{command}");
        assert_eq!(text(&output.stdout), expected, "{command}");
    }
}
