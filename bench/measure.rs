//! Runs rustniffer (default format, the article format, `-r`, the article format with
//! `--exchanges messages`, `--connections`, `--report`, `--connections --report` and
//! `--threads 2`, and
//! `--json` with its default fields, the article's and all) and the
//! `tcpdump -r FILE -w /dev/null` floor over the captures `gen_bench` wrote, alternately,
//! and prints a table of medians, then each variant's wall time, CPU time and peak RSS
//! against the article format's. Wall time is taken around each run, peak RSS and CPU
//! time from the kernel when the run is reaped (`wait4`).
//!
//! ```text
//! bench_measure --binary PATH --dir DIR [--runs N] [--commands LIST] [SCENARIO...]
//! ```
//!
//! `--commands` runs only the listed commands (`default`, `messages`, `raw`,
//! `connections`, `report`, `connections-report`, `json`, `json-article`, `json-all`,
//! `threads2`)
//! beside tcpdump and the article format.
//!
//! Before the timed runs, one untimed run per format checks the records: the default,
//! article and JSON outputs must print one line per exchange, every default-format line
//! with status 200, every JSON line an exchange with its response time. Timed runs write
//! to /dev/null, as tcpdump does.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// The article format of the issue.
const ARTICLE: &str = "%request.timestamp %dest.ip %dest.port c=%connection.time i=%idle.time.0 \
    req=%request.time resp=%response.time i2=%idle.time.1 s=%session.time %connection \
    %close.originator req_h=%request.header.connection resp_h=%response.header.connection";

const SCENARIOS: [&str; 6] = [
    "concurrent",
    "keepalive",
    "churn",
    "bulk",
    "h2",
    "h2-serial",
];

/// Recorded by `bench/h2_capture.sh` (real HTTP/2 traffic), not written by `gen_bench`:
/// their exchanges are streams, which only `--exchanges messages` cuts.
fn is_h2(name: &str) -> bool {
    name == "h2" || name == "h2-serial"
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Tool {
    Tcpdump,
    Default,
    Article,
    /// The article format with `--exchanges messages`.
    Messages,
    Raw,
    /// The article format, one record per connection (`--connections`).
    Connections,
    /// The article format with `--report`: the diagnosis report instead of the records.
    Report,
    /// `--connections --report` in one run: the report counted from connection records
    /// (the issue's speed target).
    ConnectionsReport,
    /// `--json`: JSON lines, the default fields.
    Json,
    /// `--json -l ARTICLE`: the fields of the article format's keywords.
    JsonArticle,
    /// `--json --json-fields all`: every field.
    JsonAll,
    /// The article format with `--threads 2` (docs/parallel.md).
    Threads2,
}

impl Tool {
    const ALL: [Tool; 12] = [
        Tool::Tcpdump,
        Tool::Default,
        Tool::Article,
        Tool::Messages,
        Tool::Raw,
        Tool::Connections,
        Tool::Report,
        Tool::ConnectionsReport,
        Tool::Json,
        Tool::JsonArticle,
        Tool::JsonAll,
        Tool::Threads2,
    ];

    /// The name `--commands` takes.
    fn name(self) -> &'static str {
        match self {
            Tool::Tcpdump => "tcpdump",
            Tool::Default => "default",
            Tool::Article => "article",
            Tool::Messages => "messages",
            Tool::Raw => "raw",
            Tool::Connections => "connections",
            Tool::Report => "report",
            Tool::ConnectionsReport => "connections-report",
            Tool::Json => "json",
            Tool::JsonArticle => "json-article",
            Tool::JsonAll => "json-all",
            Tool::Threads2 => "threads2",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Tool::Tcpdump => "tcpdump -r -w /dev/null",
            Tool::Default => "rustniffer (default format)",
            Tool::Article => "rustniffer -l ARTICLE",
            Tool::Messages => "rustniffer --exchanges messages -l ARTICLE",
            Tool::Raw => "rustniffer -r",
            Tool::Connections => "rustniffer --connections -l ARTICLE",
            Tool::Report => "rustniffer --report -l ARTICLE",
            Tool::ConnectionsReport => "rustniffer --connections --report -l ARTICLE",
            Tool::Json => "rustniffer --json",
            Tool::JsonArticle => "rustniffer --json -l ARTICLE",
            Tool::JsonAll => "rustniffer --json --json-fields all",
            Tool::Threads2 => "rustniffer --threads 2 -l ARTICLE",
        }
    }

    fn command(self, binary: &Path, capture: &Path) -> Command {
        let mut c = match self {
            Tool::Tcpdump => {
                let mut c = Command::new("tcpdump");
                c.arg("-r").arg(capture).args(["-w", "/dev/null"]);
                c
            }
            _ => {
                let mut c = Command::new(binary);
                c.arg("-f").arg(capture);
                c
            }
        };
        match self {
            Tool::Article => {
                c.arg("-l").arg(ARTICLE);
            }
            Tool::Messages => {
                c.args(["--exchanges", "messages", "-l", ARTICLE]);
            }
            Tool::Threads2 => {
                c.args(["--threads", "2", "-l", ARTICLE]);
            }
            Tool::Raw => {
                c.arg("-r");
            }
            Tool::Connections => {
                c.args(["--connections", "-l", ARTICLE]);
            }
            Tool::Report => {
                c.args(["--report", "-l", ARTICLE]);
            }
            Tool::ConnectionsReport => {
                c.args(["--connections", "--report", "-l", ARTICLE]);
            }
            Tool::Json => {
                c.arg("--json");
            }
            Tool::JsonArticle => {
                c.args(["--json", "-l", ARTICLE]);
            }
            Tool::JsonAll => {
                c.args(["--json", "--json-fields", "all"]);
            }
            Tool::Tcpdump | Tool::Default => {}
        }
        c
    }
}

/// One reaped run.
#[derive(Clone, Copy, Debug)]
struct Sample {
    wall: f64,
    cpu: f64,
    peak_rss: u64,
}

struct Info {
    packets: u64,
    exchanges: u64,
    bytes: u64,
}

fn main() {
    let mut binary = None;
    let mut dir = None;
    let mut runs = 5usize;
    let mut scenarios = Vec::new();
    let mut tools = Tool::ALL.to_vec();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--binary" => binary = args.next().map(PathBuf::from),
            "--dir" => dir = args.next().map(PathBuf::from),
            "--runs" => runs = args.next().and_then(|n| n.parse().ok()).unwrap_or(0),
            "--commands" => tools = commands(&args.next().unwrap_or_default()),
            name if SCENARIOS.contains(&name) => scenarios.push(name.to_string()),
            other => fail(&format!("unknown argument {other:?}")),
        }
    }
    let (Some(binary), Some(dir)) = (binary, dir) else {
        fail(
            "usage: bench_measure --binary PATH --dir DIR [--runs N] [--commands LIST] [SCENARIO...]",
        );
    };
    if runs < 1 {
        fail("--runs needs a positive number");
    }
    if scenarios.is_empty() {
        scenarios = SCENARIOS.iter().map(|s| s.to_string()).collect();
    }

    println!("machine: {}", machine());
    println!("runs per command: {runs} (alternating), medians shown; MB = 10^6 bytes");
    println!();
    println!(
        "| scenario | command | wall s | MB/s | packets/s | exchanges/s | peak RSS MiB | CPU s | × tcpdump |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|");
    let mut ratios = Vec::new();
    for name in &scenarios {
        let capture = dir.join(format!("{name}.pcap"));
        let info = read_info(&dir.join(format!("{name}.info")))
            .unwrap_or_else(|e| fail(&format!("{name}.info: {e} (run gen_bench first)")));
        verify(&binary, &capture, name, &info);
        let mut samples: BTreeMap<Tool, Vec<Sample>> = BTreeMap::new();
        for round in 0..runs {
            // Alternate, and rotate who goes first, so drift hits every command alike.
            for k in 0..tools.len() {
                let tool = tools[(round + k) % tools.len()];
                let sample = measure(tool.command(&binary, &capture))
                    .unwrap_or_else(|e| fail(&format!("{name}: {}: {e}", tool.label())));
                samples.entry(tool).or_default().push(sample);
            }
        }
        let floor = median(samples[&Tool::Tcpdump].iter().map(|s| s.wall));
        for &tool in &tools {
            let s = &samples[&tool];
            let wall = median(s.iter().map(|s| s.wall));
            let cpu = median(s.iter().map(|s| s.cpu));
            let rss = median(s.iter().map(|s| s.peak_rss as f64));
            let exchanges = if tool == Tool::Tcpdump {
                "".to_string()
            } else {
                format!("{:.0}", info.exchanges as f64 / wall)
            };
            println!(
                "| {name} | {} | {wall:.3} | {:.0} | {:.0} | {exchanges} | {:.1} | {cpu:.3} | {:.2} |",
                tool.label(),
                info.bytes as f64 / 1e6 / wall,
                info.packets as f64 / wall,
                rss / (1024.0 * 1024.0),
                wall / floor,
            );
        }
        let of = |tool: Tool, f: fn(&Sample) -> f64| median(samples[&tool].iter().map(f));
        let relative = [
            (Tool::Messages, "messages / turns (ARTICLE)"),
            (Tool::Connections, "--connections / ARTICLE"),
            (Tool::Report, "--report / ARTICLE"),
            (Tool::ConnectionsReport, "--connections --report / ARTICLE"),
            (Tool::Json, "--json / ARTICLE"),
            (Tool::JsonArticle, "--json -l ARTICLE / ARTICLE"),
            (Tool::JsonAll, "--json --json-fields all / ARTICLE"),
            (Tool::Threads2, "--threads 2 / ARTICLE"),
        ];
        for (tool, label) in relative {
            if !samples.contains_key(&tool) {
                continue;
            }
            ratios.push(format!(
                "| {name} | {label} | {:.2}x | {:.2}x | {:+.1} MiB |",
                of(tool, |s| s.wall) / of(Tool::Article, |s| s.wall),
                of(tool, |s| s.cpu) / of(Tool::Article, |s| s.cpu),
                (of(tool, |s| s.peak_rss as f64) - of(Tool::Article, |s| s.peak_rss as f64))
                    / (1024.0 * 1024.0),
            ));
        }
    }
    // Ratios of medians, each against the article format of the same scenario and run.
    println!();
    println!("| scenario | against ARTICLE | wall | CPU | peak RSS |");
    println!("|---|---|---:|---:|---:|");
    for line in ratios {
        println!("{line}");
    }
}

/// The commands `--commands` names (comma-separated, see [`Tool::name`]); tcpdump and
/// the article format are always run, every ratio needs them.
fn commands(list: &str) -> Vec<Tool> {
    let mut tools = vec![Tool::Tcpdump, Tool::Article];
    for name in list.split(',').filter(|n| !n.is_empty()) {
        match Tool::ALL.iter().find(|t| t.name() == name) {
            Some(t) if !tools.contains(t) => tools.push(*t),
            Some(_) => {}
            None => fail(&format!(
                "--commands: unknown command {name:?} (one of: {})",
                Tool::ALL.map(Tool::name).join(", ")
            )),
        }
    }
    tools
}

fn fail(message: &str) -> ! {
    eprintln!("bench_measure: {message}");
    std::process::exit(1);
}

fn read_info(path: &Path) -> io::Result<Info> {
    let mut text = String::new();
    File::open(path)?.read_to_string(&mut text)?;
    let field = |key: &str| -> io::Result<u64> {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.trim().parse().ok())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("no {key}")))
    };
    Ok(Info {
        packets: field("packets ")?,
        exchanges: field("exchanges ")?,
        bytes: field("bytes ")?,
    })
}

/// Checks the records of the default and article formats, and that the report counted
/// every exchange, untimed.
fn verify(binary: &Path, capture: &Path, name: &str, info: &Info) {
    // The report counts turns mode's exchanges; HTTP/2 is measured in messages mode only.
    for tool in [Tool::Report, Tool::ConnectionsReport] {
        if is_h2(name) {
            break;
        }
        let report = tool
            .command(binary, capture)
            .output()
            .unwrap_or_else(|e| fail(&format!("starting {}: {e}", binary.display())));
        let text = String::from_utf8_lossy(&report.stdout);
        let counted = format!(" {} exchange(s)", info.exchanges);
        if !report.status.success() || !text.lines().next().is_some_and(|l| l.contains(&counted)) {
            fail(&format!(
                "{name}: {}: its first line does not count {} exchanges: {:?}",
                tool.label(),
                info.exchanges,
                text.lines().next()
            ));
        }
    }
    // HTTP/2: `turns` mode cuts direction turns of many streams; only messages mode
    // has one record per exchange.
    let tools: &[Tool] = if is_h2(name) {
        &[Tool::Messages]
    } else {
        &[
            Tool::Default,
            Tool::Article,
            Tool::Threads2,
            Tool::Messages,
            Tool::Json,
            Tool::JsonArticle,
            Tool::JsonAll,
        ]
    };
    for &tool in tools {
        let mut child = tool
            .command(binary, capture)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| fail(&format!("starting {}: {e}", binary.display())));
        let stdout = child.stdout.take().expect("piped");
        let mut stderr = child.stderr.take().expect("piped");
        let errors = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let (mut lines, mut ok) = (0u64, 0u64);
        for line in BufReader::new(stdout).split(b'\n') {
            let line = line.unwrap_or_else(|e| fail(&format!("reading records: {e}")));
            lines += 1;
            // Default format: `"GET ... HTTP/1.1" 200 LENGTH`. Article: a response
            // time, and neither eviction nor the end of the capture ended it.
            let complete = match tool {
                Tool::Default => contains(&line, b"\" 200 "),
                // A JSON exchange record with a response duration (absent when not found).
                Tool::Json | Tool::JsonArticle | Tool::JsonAll => {
                    line.starts_with(b"{\"type\":\"exchange\"")
                        && contains(&line, b"\"rustniffer.response.duration\":")
                }
                _ => {
                    !contains(&line, b" resp=-")
                        && !contains(&line, b" timedout ")
                        && !contains(&line, b" truncated ")
                }
            };
            ok += u64::from(complete);
        }
        let status = child.wait().unwrap_or_else(|e| fail(&format!("wait: {e}")));
        let stderr = errors.join().unwrap_or_default();
        if !status.success() || lines != info.exchanges || ok != info.exchanges {
            fail(&format!(
                "{name}: {}: {lines} records, {ok} complete, {} exchanges expected ({status}); stderr: {stderr}",
                tool.label(),
                info.exchanges
            ));
        }
        eprintln!(
            "bench_measure: {name}: {}: all {lines} exchanges complete",
            tool.label()
        );
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Runs `command` with stdout and stderr to /dev/null and reaps it with `wait4`.
fn measure(mut command: Command) -> io::Result<Sample> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let start = Instant::now();
    let child = command.spawn()?;
    let pid = libc::pid_t::try_from(child.id()).map_err(io::Error::other)?;
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain old data; all zeros is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `pid` is our child, reaped only here; the pointers are valid.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            break;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    let wall = start.elapsed().as_secs_f64();
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        return Err(io::Error::other(format!("exit status {status:#x}")));
    }
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Ok(Sample {
        wall,
        cpu: seconds(usage.ru_utime) + seconds(usage.ru_stime),
        // Linux reports KiB.
        peak_rss: u64::try_from(usage.ru_maxrss).unwrap_or(0) * 1024,
    })
}

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("model name")?.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    format!("{cpu}, {cores} cores, Linux {kernel}")
}
