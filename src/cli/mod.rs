//! Command-line options and configuration files (SPEC §1).
//!
//! One place turns the argument vector (and an optional `-c FILE`) into one plain
//! [`Options`] value that the rest of the program reads.

use clap::{Arg, ArgAction, ArgMatches, Command};

mod config;
#[cfg(unix)]
pub mod progress;
pub mod signals;
pub mod summary;

pub use config::read_config;

pub use crate::format::{Encoding, DEFAULT_CONNECTION_FORMAT, DEFAULT_FORMAT, RAW_FORMAT};

pub use crate::decode::DEFAULT_MAX_FRAGMENTED_HOSTS;
pub use crate::flow::DEFAULT_MAX_STREAMS;

/// Default and largest `--buffer-size` (MiB of kernel ring for live capture).
pub const DEFAULT_BUFFER_MB: usize = 32;
pub const MAX_BUFFER_MB: usize = 64 * 1024;

/// Where packets come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// `-f FILE` (`-` = standard input).
    File(String),
    /// `-i IF`.
    Interface(String),
    /// Neither: the default interface.
    DefaultInterface,
}

/// What the end-of-run summary on standard error shows (`--stats`, `-q`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SummaryMode {
    /// Only what was lost: nothing at all for a clean run.
    #[default]
    Losses,
    /// `--stats`: every figure, always.
    Full,
    /// `-q`: no summary and no end-of-run notes (errors still print).
    Quiet,
}

/// Everything the run needs to know, resolved from the command line and `-c`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    pub input: Input,
    pub format: String,
    pub not_found: String,
    pub encoding: Encoding,
    pub newline: bool,
    pub truncated: bool,
    pub midstream: bool,
    pub force_read: bool,
    pub max_streams: usize,
    pub max_fragmented_hosts: usize,
    /// Live capture: size of the kernel ring in MiB (`--buffer-size`).
    pub buffer_size_mb: usize,
    pub filter: Option<String>,
    pub execute: Option<String>,
    pub user: Option<String>,
    pub python: Option<String>,
    pub summary: SummaryMode,
    /// `--metrics-listen`: where to serve `/metrics`.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// `--metrics-file`: where to write the metrics at the end.
    pub metrics_file: Option<std::path::PathBuf>,
    /// `--metrics-services`: services with labels of their own.
    pub metrics_services: usize,
    /// `--otlp-endpoint`: the OpenTelemetry collector's OTLP/HTTP base URL.
    pub otlp_endpoint: Option<String>,
    /// `--open-report`: nanoseconds of capture time between interim records.
    pub open_report: Option<i64>,
    /// `--idle-timeout`: nanoseconds without a packet that end a connection.
    pub idle_timeout: Option<i64>,
    /// `--threads`: analysis threads for a capture file, or sockets and threads of a live
    /// capture (1: today's single thread);
    /// [`crate::parallel::plan`] says whether the options allow more.
    pub threads: usize,
    /// `--json`: JSON lines instead of the format.
    pub json: bool,
    /// `--json -l FORMAT`: only the fields of the format's keywords.
    pub json_fields: bool,
    /// `--json-fields all`: every field (without `-l`); else the default set.
    pub json_all: bool,
    /// `--connections`: one record per connection instead of one per exchange.
    pub connections: bool,
    /// `--exchanges`: how connections are cut into exchanges.
    pub exchanges: crate::exchange::Mode,
    /// `--skip-gaps` (always on in `messages` mode): go on past data the capture missed.
    pub skip_gaps: bool,
    /// `--ws-messages` and `--ws-max-message`.
    pub analyzers: crate::exchange::AnalyzerOptions,
    /// `--report`, `--report-html` and their settings.
    pub report: ReportOptions,
    /// The UDP ports of the encapsulations (`--vxlan-port`, `--geneve-port` add to the
    /// defaults); `None` with `--no-tunnels`.
    pub tunnels: Option<crate::decode::TunnelPorts>,
}

/// The diagnosis report's options, as given (checked when parsed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportOptions {
    /// `--report`: the text report, alone, on standard output.
    pub text: bool,
    /// `--report-html FILE`.
    pub html: Option<String>,
    /// `--report-services N`.
    pub services: usize,
    /// `--report-every SECONDS`.
    pub every: Option<u64>,
    /// `--report-threshold NAME=VALUE`, each.
    pub thresholds: Vec<String>,
}

impl Options {
    /// Whether the metric set is kept: Prometheus (`--metrics-listen`, `--metrics-file`)
    /// or OpenTelemetry (`--otlp-endpoint`).
    pub fn metered(&self) -> bool {
        self.metrics_listen.is_some() || self.metrics_file.is_some() || self.otlp_endpoint.is_some()
    }
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            text: false,
            html: None,
            services: crate::output::report::DEFAULT_SERVICES,
            every: None,
            thresholds: Vec::new(),
        }
    }
}

impl ReportOptions {
    pub fn enabled(&self) -> bool {
        self.text || self.html.is_some()
    }

    /// The report's configuration (thresholds already checked by the parser).
    pub fn config(&self) -> Result<crate::output::report::ReportConfig, String> {
        let mut thresholds = crate::output::report::Thresholds::default();
        for t in &self.thresholds {
            thresholds.set(t)?;
        }
        Ok(crate::output::report::ReportConfig {
            text: self.text,
            // The run says whether the report is JSON (`--json`).
            json: false,
            html: self.html.as_ref().map(std::path::PathBuf::from),
            services: self.services,
            every: self
                .every
                .map(|s| i64::try_from(s.saturating_mul(1_000_000)).unwrap_or(i64::MAX)),
            thresholds,
            // The run says whether it reads them (messages mode).
            protocol_facts: true,
        })
    }
}

/// What the command line asks for.
#[derive(Debug)]
pub enum Request {
    Run(Box<Options>),
    Help(String),
    Version(String),
}

/// A usage error: one line for standard error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError {
    message: String,
    /// Whether the line should send the reader to `--help`; a line that already
    /// suggests the fix ("did you mean ...?") does not.
    points_to_help: bool,
}

impl UsageError {
    /// An error whose line ends by pointing to `--help`.
    pub fn new(message: impl Into<String>) -> UsageError {
        UsageError {
            message: message.into(),
            points_to_help: true,
        }
    }

    /// An error whose line already says what to write instead.
    pub fn suggestion(message: impl Into<String>) -> UsageError {
        UsageError {
            message: message.into(),
            points_to_help: false,
        }
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn points_to_help(&self) -> bool {
        self.points_to_help
    }
}

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for UsageError {}

/// The headings of `--help`, in order.
const INPUT: &str = "Input";
const FORMAT: &str = "Format";
const OUTPUT: &str = "Output";
const LIMITS: &str = "Limits";

/// `--threads`: what runs in parallel is said in docs/parallel.md.
const THREADS_HELP: &str = "capture files: N worker threads, each holding part of the connections, beside a reader and a merger; the output is exactly what one thread prints (0 or absent: 1); live capture: N sockets in one fanout group, one worker each, records merged in capture-time order about 100 ms late; a file's --report, --report-html and --metrics-file are added up by the merger in the one-thread order; --metrics-listen, OTLP, -P and %python run on one thread (one socket) whatever N, and so do the report and metrics of a live capture; a file's table kept full at the -s limit makes the workers wait for each other at every new connection (docs/parallel.md)";
const EXTENSIONS: &str = "Extensions";
const OTHER: &str = "Other";
const HEADINGS: &[&str] = &[INPUT, FORMAT, OUTPUT, LIMITS, EXTENSIONS, OTHER];

/// The options that take several words (`-l`, `-p`), as (short, long, what the words are).
const WORD_OPTIONS: &[(char, &str, &str)] = &[
    ('l', "log-format", "the format"),
    ('p', "packet-filter", "the filter"),
];

fn command() -> Command {
    let flag = |id: &'static str, short: char, heading: &'static str, help: &'static str| {
        Arg::new(id)
            .short(short)
            .long(id)
            .action(ArgAction::SetTrue)
            .help_heading(heading)
            .help(help)
    };
    let value = |id: &'static str,
                 short: char,
                 name: &'static str,
                 heading: &'static str,
                 help: &'static str| {
        Arg::new(id)
            .short(short)
            .long(id)
            .value_name(name)
            .action(ArgAction::Set)
            .help_heading(heading)
            .help(help)
    };
    // Several words up to the next option, joined with one space (justniffer's
    // multitoken options). A first word that starts with '-' is handled before clap
    // sees it (see `protect_hyphen_words`): clap's own `allow_hyphen_values` would
    // swallow every option after them too.
    let words = |id: &'static str,
                 short: char,
                 name: &'static str,
                 heading: &'static str,
                 help: &'static str| {
        Arg::new(id)
            .short(short)
            .long(id)
            .value_name(name)
            .num_args(1..)
            .action(ArgAction::Append)
            .help_heading(heading)
            .help(help)
    };
    Command::new("rustniffer")
        .disable_help_flag(true)
        .disable_version_flag(true)
        .arg(value("filecap", 'f', "FILE", INPUT, "read a pcap or pcapng capture file ('-' = standard input)"))
        .arg(value("interface", 'i', "IF", INPUT, "capture live from interface IF ('any' = all interfaces); without -f or -i: the first interface that is up"))
        .arg(words("packet-filter", 'p', "EXPR", INPUT, "tcpdump filter expression applied to each frame; takes the words up to the next option"))
        .arg(flag("capture-in-the-middle", 'm', INPUT, "also track connections whose SYN was not seen"))
        .arg(flag("force-read-pcap", 'F', INPUT, "read a capture whose snapshot length is below 65535"))
        .arg(value("config", 'c', "FILE", INPUT, "read options from FILE ('long-option-name = value' lines); the command line wins"))
        .arg(words("log-format", 'l', "FMT", FORMAT, "the format of each record (keywords below); takes the words up to the next option and joins them with one space"))
        .arg(value("append-log-format", 'a', "FMT", FORMAT, "the default format followed directly by FMT"))
        .arg(flag("raw", 'r', FORMAT, "print the raw exchange: the same as -l '%request%response'"))
        .arg(value("not-found", 'n', "STR", FORMAT, "text printed for a value that cannot be found (NF; default '-', may be empty)")
            .allow_hyphen_values(true))
        .arg(flag("unprintable", 'u', OUTPUT, "print bytes that are not printable ASCII, \\n or \\t as '.'"))
        .arg(flag("hex-encode", 'x', OUTPUT, "print such bytes as [0xHH] instead"))
        .arg(flag("no-newline", 'N', OUTPUT, "no newline after each record"))
        .arg(flag("truncated", 't', OUTPUT, "accepted for compatibility: connections cut by the end of the capture are always reported"))
        .arg(value("max-tcp-streams", 's', "N", LIMITS, "track at most 3*N/4+1 connections at once; the oldest is evicted (default 1048576)"))
        .arg(value("max-fragmented-ip", 'd', "N", LIMITS, "most hosts with IP fragments pending at once (default 1024)"))
        .arg(
            Arg::new("threads")
                .long("threads")
                .value_name("N")
                .action(ArgAction::Set)
                .help_heading(LIMITS)
                .help(THREADS_HELP),
        )
        .arg(
            Arg::new("buffer-size")
                .long("buffer-size")
                .value_name("MB")
                .action(ArgAction::Set)
                .help_heading(LIMITS)
                .help("live capture: kernel ring size in MiB (default 32, at least 2)"),
        )
        .arg(
            Arg::new("exchanges")
                .long("exchanges")
                .value_name("MODE")
                .action(ArgAction::Set)
                .help_heading(FORMAT)
                .help("how connections are cut into records: turns (default, justniffer's rule: a run of client data, then a run of server data) or messages (each HTTP/1.x request and its response, pipelining included; each HTTP/2 stream (h2c); TLS handshakes as facts; gaps skipped)"),
        )
        .arg(
            Arg::new("json")
                .long("json")
                .action(ArgAction::SetTrue)
                .help_heading(OUTPUT)
                .help("one JSON object per line instead of text (with --report, the report's findings and service tables): by default the connection's identity, the request (time, method, target, User-Agent), the response (status, body size), the timings and, for --connections, the connection's fields (--json-fields all: every keyword's value; -l FORMAT: the fields of the format's keywords); each value under its OpenTelemetry name (client.address, http.request.method, url.path, http.response.status_code, tls.server.name...) or a tcp.*/rustniffer.* one; numbers as numbers, durations in seconds, times as RFC 3339 UTC plus NAME_us; not-found values left out (docs/json.md, schema/record.schema.json)"),
        )
        .arg(
            Arg::new("json-fields")
                .long("json-fields")
                .value_name("SET")
                .action(ArgAction::Set)
                .help_heading(OUTPUT)
                .help("with --json: 'default' (the set above) or 'all' (every field of every keyword: about 2.5 times the bytes)"),
        )
        .arg(
            Arg::new("metrics-listen")
                .long("metrics-listen")
                .value_name("ADDR:PORT")
                .action(ArgAction::Set)
                .help_heading(OUTPUT)
                .help("serve Prometheus metrics at http://ADDR:PORT/metrics while capturing: http_server_request_duration_seconds, TCP connections opened/closed (by whom, how)/open, exchanges per connection, handshake and idle-before-close durations, and the tool's own packets, drops and losses"),
        )
        .arg(
            Arg::new("metrics-file")
                .long("metrics-file")
                .value_name("FILE")
                .action(ArgAction::Set)
                .help_heading(OUTPUT)
                .help("at the end, write the same metrics to FILE (OpenMetrics text)"),
        )
        .arg(
            Arg::new("otlp-endpoint")
                .long("otlp-endpoint")
                .value_name("URL")
                .action(ArgAction::Set)
                .help_heading(OUTPUT)
                .help("also send the records as OpenTelemetry log records and the same metrics to the collector at URL (OTLP/HTTP with protobuf, such as http://127.0.0.1:4318: URL/v1/logs and URL/v1/metrics); batched from a bounded queue that drops and counts rather than slow capture; builds with cargo feature `otlp` (docs/otlp.md)"),
        )
        .arg(
            Arg::new("metrics-services")
                .long("metrics-services")
                .value_name("N")
                .action(ArgAction::Set)
                .help_heading(LIMITS)
                .help("metrics: the first N services (server address and port) get labels of their own, later ones are counted as server_address=\"other\" (default 100)"),
        )
        .arg(
            Arg::new("open-report")
                .long("open-report")
                .value_name("SECONDS")
                .action(ArgAction::Set)
                .help_heading(OUTPUT)
                .help("every SECONDS of capture time, an interim record of each connection still open: its pending exchange as it stands (%connection is 'open'), or with --connections its record so far (%conn.state is 'open', %conn.idle.now how long it has been idle)"),
        )
        .arg(
            Arg::new("idle-timeout")
                .long("idle-timeout")
                .value_name("SECONDS")
                .action(ArgAction::Set)
                .help_heading(LIMITS)
                .help("end a connection with no packet either way for SECONDS of capture time and free it (its close is 'idle-timeout'; default: never, as justniffer)"),
        )
        .arg(
            Arg::new("connections")
                .long("connections")
                .action(ArgAction::SetTrue)
                .help_heading(FORMAT)
                .help("one record per connection, when it ends, instead of one per exchange: its Zeek state and history, duration, handshake, exchanges, idle times, how and by whom it closed, packets and bytes (%conn.* keywords; default format below)"),
        )
        .arg(
            Arg::new("skip-gaps")
                .long("skip-gaps")
                .action(ArgAction::SetTrue)
                .help_heading(FORMAT)
                .help("when a receiver acknowledges data the capture missed, go on after it instead of waiting for it for ever (always on with --exchanges messages)"),
        )
        .arg(
            Arg::new("ws-messages")
                .long("ws-messages")
                .action(ArgAction::SetTrue)
                .help_heading(FORMAT)
                .help("with --exchanges messages: every WebSocket message (text, binary, ping, pong, close) is a record of its own, a client message on the request side, a server message on the response side (default: only the upgrade is a record; %ws.* keywords summarise the rest)"),
        )
        .arg(
            Arg::new("ws-max-message")
                .long("ws-max-message")
                .value_name("BYTES")
                .action(ArgAction::Set)
                .help_heading(LIMITS)
                .help("largest WebSocket message analyzed: a frame claiming more stops the connection's WebSocket analysis, a compressed message inflating to more is not decoded (default 67108864, 64 MiB)"),
        )
        .arg(
            Arg::new("no-tunnels")
                .long("no-tunnels")
                .action(ArgAction::SetTrue)
                .help_heading(INPUT)
                .help("do not look inside VXLAN, Geneve, GTP-U, GRE, ERSPAN, IP-in-IP, MPLS and PPPoE: justniffer's view, where only plain TCP over IP is seen"),
        )
        .arg(
            Arg::new("vxlan-port")
                .long("vxlan-port")
                .value_name("PORTS")
                .action(ArgAction::Set)
                .help_heading(INPUT)
                .help("more UDP destination ports that carry VXLAN, comma-separated (4789 and 8472 always do)"),
        )
        .arg(
            Arg::new("geneve-port")
                .long("geneve-port")
                .value_name("PORTS")
                .action(ArgAction::Set)
                .help_heading(INPUT)
                .help("more UDP destination ports that carry Geneve, comma-separated (6081 always does)"),
        )
        .arg(value("execute", 'e', "CMD", EXTENSIONS, "run CMD (/bin/sh -c) once per record, with the record on its standard input"))
        .arg(value("user", 'U', "USER", EXTENSIONS, "run -e commands and Python code as USER"))
        .arg(value("python", 'P', "SCRIPT[:FUNC]", EXTENSIONS, "call the Python function FUNC (default 'app') with each record"))
        .arg(
            Arg::new("stats")
                .long("stats")
                .action(ArgAction::SetTrue)
                .help_heading(OUTPUT)
                .help("at exit, print the whole summary of what was read, dropped and printed on standard error (by default only what was lost)"),
        )
        .arg(
            Arg::new("report")
                .long("report")
                .action(ArgAction::SetTrue)
                .help_heading(OUTPUT)
                .help("instead of the records, print the diagnosis report at the end (and at SIGINT): per service (server address:port, named by its TLS SNI or HTTP Host) connections, exchanges per connection, keep-alive reuse, who closes, handshake, response and idle-before-close times with the detected pool timeouts; then the findings (churn, keep-alive not reused, server closes first, RST storm, intermediary timeouts) with cause, action and an example (docs/report.md)"),
        )
        .arg(
            Arg::new("report-html")
                .long("report-html")
                .value_name("FILE")
                .action(ArgAction::Set)
                .help_heading(OUTPUT)
                .help("write the diagnosis report as one self-contained HTML page (charts, timeline, slowest connections) to FILE at the end; the records are still printed unless --report is given"),
        )
        .arg(
            Arg::new("report-services")
                .long("report-services")
                .value_name("N")
                .action(ArgAction::Set)
                .help_heading(OUTPUT)
                .help(concat!("services with their own table in the report; later ones are counted together as 'other' (default ", "32", ")")),
        )
        .arg(
            Arg::new("report-every")
                .long("report-every")
                .value_name("SECONDS")
                .action(ArgAction::Set)
                .help_heading(OUTPUT)
                .help("with --report: also print the report every SECONDS of capture time (at the first record after each period)"),
        )
        .arg(
            Arg::new("report-threshold")
                .long("report-threshold")
                .value_name("NAME=VALUE")
                .action(ArgAction::Append)
                .help_heading(OUTPUT)
                .help("change a threshold of the report's findings (repeat, or separate by commas): min-connections (10), churn (0.9), keepalive-unused (0.5), server-closes (0.5), rst (0.2), cluster-share (0.5), cluster-min (5), cluster-width (50 ms), cluster-relative (0.02), timeout-min (0.5 s), intermediary-margin (0.05), ws-silence (60 s)"),
        )
        .arg(flag("quiet", 'q', OUTPUT, "no end-of-run summary or notes on standard error (errors still print)"))
        .arg(flag("version", 'V', OTHER, "print the version"))
        .arg(Arg::new("help").long("help").short('h').action(ArgAction::SetTrue).help_heading(OTHER).help("print this help"))
        // Words that belong to no option; refused in `resolve`, with a hint when one
        // of them is a capture file.
        .arg(Arg::new("stray").num_args(1..).action(ArgAction::Append).hide(true))
}

/// Widest line of `--help` (tested).
pub const HELP_WIDTH: usize = 99;

/// `text` in lines of at most `width` columns, broken at spaces (a longer word stays whole).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    lines.push(line);
    lines
}

/// A two-column table row: `name` then `meaning` at column `indent + column`; the
/// meaning starts on the next line when the name does not fit, and wraps in its column.
fn table_row(out: &mut String, indent: usize, column: usize, name: &str, meaning: &str) {
    let pad = " ".repeat(indent + column);
    let lines = wrap(meaning, HELP_WIDTH - indent - column);
    let name_width = name.chars().count();
    out.push_str(&" ".repeat(indent));
    out.push_str(name);
    let mut rest = lines.iter();
    if name_width + 2 <= column {
        if let Some(first) = rest.next() {
            out.push_str(&" ".repeat(column - name_width));
            out.push_str(first);
        }
    }
    out.push('\n');
    for line in rest {
        out.push_str(&pad);
        out.push_str(line);
        out.push('\n');
    }
}

/// Indented text wrapped to the help width.
fn paragraph(out: &mut String, indent: usize, text: &str) {
    for line in wrap(text, HELP_WIDTH - indent) {
        out.push_str(&" ".repeat(indent));
        out.push_str(&line);
        out.push('\n');
    }
}

/// The lines of `--help` before the options.
const HELP_INTRO: &str = "\
rustniffer: passive TCP observability. It rebuilds every TCP connection of a capture file or a
live interface and prints one line per request/response exchange, in a format you choose.

Usage: rustniffer [-f FILE | -i IF] [options] [-p EXPR...] [-l FMT... | -a FMT | -r]
";

/// The examples of `--help`: (what it does, the command lines).
const HELP_EXAMPLES: &[(&str, &str)] = &[
    (
        "Timings of every exchange (the format of the justniffer article; the words of -l run up to the next option, so -l comes last):",
        "rustniffer -i eth0 -l %request.timestamp %dest.ip %dest.port c=%connection.time \\\n\
         \x20   i=%idle.time.0 req=%request.time resp=%response.time i2=%idle.time.1 \\\n\
         \x20   s=%session.time %connection %close.originator \\\n\
         \x20   req_h=%request.header.connection resp_h=%response.header.connection",
    ),
    (
        "Host, URL and status code of each request in a capture file:",
        "rustniffer -f capture.pcap -l '%request.header.host %request.url %response.code'",
    ),
    (
        "Only the traffic of port 80, in the default (Apache-like) format:",
        "rustniffer -i eth0 -p 'tcp port 80'",
    ),
];

/// The `--help` text: what the tool is, the options by heading, examples, and every
/// format keyword with its meaning. No line is wider than [`HELP_WIDTH`].
pub fn help_text(keywords: &[(&str, &str)]) -> String {
    let mut text = String::from(HELP_INTRO);
    let cmd = command();
    for heading in HEADINGS {
        text.push_str(&format!("\n{heading}:\n"));
        for arg in cmd
            .get_arguments()
            .filter(|a| a.get_help_heading() == Some(heading) && !a.is_hide_set())
        {
            let short = arg
                .get_short()
                .map_or_else(|| "    ".to_string(), |c| format!("-{c}, "));
            let long = arg.get_long().map(|l| format!("--{l}")).unwrap_or_default();
            let value = arg
                .get_value_names()
                .and_then(|names| names.first())
                .map(|n| {
                    let several = arg.get_num_args().is_some_and(|n| n.max_values() > 1);
                    format!(" {n}{}", if several { "..." } else { "" })
                })
                .unwrap_or_default();
            let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
            table_row(&mut text, 2, 30, &format!("{short}{long}{value}"), &help);
        }
    }
    text.push_str("\nExamples:\n");
    for (what, command_line) in HELP_EXAMPLES {
        paragraph(&mut text, 2, what);
        for line in command_line.lines() {
            text.push_str(&format!("    {line}\n"));
        }
    }
    text.push_str("\nNot found (NF):\n");
    paragraph(
        &mut text,
        2,
        "A value an exchange does not have (a missing header, no response yet, a time that \
         does not apply) prints as the not-found text: '-', or what -n gives. A keyword shown \
         with [(NF)] takes an optional (TEXT) that replaces it for that occurrence: \
         %request.header.referer() prints nothing when there is no Referer.",
    );
    text.push_str("\nA format (-l) or filter (-p) that starts with '-' is taken as such unless it could be an\noption; then write it as --log-format='-...' or --packet-filter='-...'.\n");
    text.push_str("\nDefault format:\n");
    paragraph(&mut text, 2, DEFAULT_FORMAT);
    text.push_str("\nDefault format with --connections:\n");
    paragraph(&mut text, 2, DEFAULT_CONNECTION_FORMAT);
    text.push_str("\nFormat keywords:\n");
    for (name, meaning) in keywords {
        table_row(&mut text, 2, 34, name, meaning);
    }
    text.push('\n');
    paragraph(
        &mut text,
        0,
        "Keywords take an optional (PARAMETER) right after the name: NF = not-found text, \
         RE = a regular expression (case-insensitive), strftime = a time format. %% prints %, \
         %- separates a keyword from following text: %response.time%-ms. Durations print as \
         seconds with six decimals.",
    );
    text
}

/// Whether `word`, met among the words of `-l` or `-p`, is an option rather than a word
/// that happens to start with '-': `--`, `--name[=...]` with a plain name, or `-X...`
/// with `X` a letter or digit, none of them containing a space or `%` (which options do
/// not, and formats and filters do).
fn looks_like_option(word: &str) -> bool {
    if word.contains(char::is_whitespace) || word.contains('%') {
        return false;
    }
    if word == "--" {
        return true;
    }
    if let Some(long) = word.strip_prefix("--") {
        let name = long.split('=').next().unwrap_or_default();
        return !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    }
    word.strip_prefix('-')
        .and_then(|rest| rest.chars().next())
        .is_some_and(|c| c.is_ascii_alphanumeric())
}

/// Rewrites the argument vector so that a word of `-l`/`-p` starting with '-' (e.g.
/// `-l '-> %dest.ip'`) reaches clap as `--log-format=WORD`, and the words after it as
/// another `--log-format WORDS...`. Values of the other options are left alone (`-n -`
/// keeps its `-`), and so is everything after `--`.
fn protect_hyphen_words(args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    use std::ffi::OsString;
    let cmd = command();
    let takes_one_value = |word: &str| {
        cmd.get_arguments().any(|a| {
            a.get_action().takes_values()
                && a.get_num_args().is_some_and(|n| n.max_values() == 1)
                && (a.get_short().is_some_and(|c| word == format!("-{c}"))
                    || a.get_long().is_some_and(|l| word == format!("--{l}")))
        })
    };
    let word_option = |word: &str| {
        WORD_OPTIONS
            .iter()
            .find(|(short, long, _)| word == format!("-{short}") || word == format!("--{long}"))
            .map(|(_, long, _)| *long)
    };
    let hyphen_word = |word: &str| word.starts_with('-') && word != "-" && !looks_like_option(word);
    let mut out = Vec::with_capacity(args.len());
    // The option whose words are being read, and whether clap has it open for more
    // (false after a `--long=WORD`, whose value clap closes).
    let mut words: Option<(&str, bool)> = None;
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        let word = arg.to_string_lossy();
        i += 1;
        if let Some((long, open)) = words {
            if hyphen_word(&word) {
                out.push(OsString::from(format!("--{long}={word}")));
                words = Some((long, false));
                continue;
            }
            if !looks_like_option(&word) {
                if !open {
                    out.push(OsString::from(format!("--{long}")));
                    words = Some((long, true));
                }
                out.push(arg.clone());
                continue;
            }
            words = None;
        }
        if word == "--" {
            out.extend(args[i - 1..].iter().cloned());
            break;
        }
        if let Some(long) = word_option(&word) {
            match args.get(i).map(|next| next.to_string_lossy()) {
                Some(first) if hyphen_word(&first) => {
                    out.push(OsString::from(format!("--{long}={first}")));
                    words = Some((long, false));
                    i += 1;
                }
                // No word at all (`-l -n X`, `-l` last): clap says what is missing.
                Some(first) if looks_like_option(&first) => out.push(arg.clone()),
                None => out.push(arg.clone()),
                Some(_) => {
                    out.push(arg.clone());
                    words = Some((long, true));
                }
            }
            continue;
        }
        out.push(arg.clone());
        if takes_one_value(&word) {
            out.extend(args.get(i).cloned());
            i += 1;
        }
    }
    out
}

/// One line for a clap error: its first line, without clap's tips and usage block; an
/// unknown long option gets the nearest known one as a suggestion.
fn clap_error_line(e: &clap::Error) -> UsageError {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if e.kind() == ErrorKind::UnknownArgument {
        if let Some(ContextValue::String(arg)) = e.get(ContextKind::InvalidArg) {
            let written = arg.split('=').next().unwrap_or(arg);
            let cmd = command();
            let nearest = written.strip_prefix("--").and_then(|name| {
                cmd.get_arguments()
                    .filter_map(|a| a.get_long())
                    .map(|long| (crate::format::edit_distance(name, long, 2), long))
                    .filter(|(d, _)| *d <= 2)
                    .min_by_key(|(d, _)| *d)
                    .map(|(_, long)| long)
            });
            return match nearest {
                Some(long) => UsageError::suggestion(format!(
                    "unknown option '{written}'; did you mean --{long}?"
                )),
                None => UsageError::new(format!("unknown option '{written}'")),
            };
        }
    }
    let text = e.to_string();
    UsageError::new(
        text.lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("invalid arguments")
            .trim_start_matches("error: "),
    )
}

/// Parses the argument vector (without the program name).
pub fn parse<I, T>(args: I, keywords: &[(&str, &str)]) -> Result<Request, UsageError>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let args = protect_hyphen_words(args.into_iter().map(Into::into).collect());
    let argv = std::iter::once(std::ffi::OsString::from("rustniffer")).chain(args);
    let matches = command()
        .try_get_matches_from(argv)
        .map_err(|e| clap_error_line(&e))?;
    if matches.get_flag("help") {
        return Ok(Request::Help(help_text(keywords)));
    }
    if matches.get_flag("version") {
        return Ok(Request::Version(format!(
            "rustniffer {} (justniffer 0.6.14 compatible)",
            env!("CARGO_PKG_VERSION")
        )));
    }
    let config = match matches.get_one::<String>("config") {
        Some(path) => read_config(path)?,
        None => Vec::new(),
    };
    resolve(&matches, &config).map(|o| Request::Run(Box::new(o)))
}

/// The short usage printed when rustniffer is run with no option at all and cannot
/// capture live (`reason`): what to run instead.
pub fn short_usage(reason: &str) -> String {
    format!(
        "rustniffer: nothing to read: no -f FILE, and no live capture here ({reason})\n\
         Usage: rustniffer -f FILE.pcap [-l FORMAT...]   one line per exchange of a capture file\n\
         \x20      rustniffer -i IF [-l FORMAT...]          the same, live from interface IF (root)\n\
         'rustniffer --help' lists the options and the format keywords.\n"
    )
}

/// Refuses words that belong to no option, and words of `-l`/`-p` that name a capture
/// file when no input was given (`rustniffer -l %request.url x.pcap`): that is a
/// forgotten `-f`, not a live capture.
fn check_stray_words(matches: &ArgMatches, input: &Input) -> Result<(), UsageError> {
    let no_input = *input == Input::DefaultInterface;
    if let Some(mut stray) = matches.get_many::<String>("stray") {
        let word = stray.next().cloned().unwrap_or_default();
        if no_input && crate::capture::file::looks_like_capture(&word) {
            return Err(UsageError::suggestion(format!(
                "unexpected argument '{word}'; did you mean -f {word}?"
            )));
        }
        return Err(UsageError::new(format!("unexpected argument '{word}'")));
    }
    if !no_input {
        return Ok(());
    }
    for (short, long, what) in WORD_OPTIONS {
        let Some(words) = matches.get_many::<String>(long) else {
            continue;
        };
        for word in words {
            if crate::capture::file::looks_like_capture(word) {
                return Err(UsageError::suggestion(format!(
                    "'-{short}' took '{word}' as part of {what}; did you mean -f {word}?"
                )));
            }
        }
    }
    Ok(())
}

/// A value from the command line, else from the configuration file.
struct Sources<'a> {
    matches: &'a ArgMatches,
    config: &'a [(String, String)],
}

impl Sources<'_> {
    fn cli(&self, name: &str) -> bool {
        self.matches.value_source(name) == Some(clap::parser::ValueSource::CommandLine)
    }

    fn config_value(&self, name: &str) -> Option<&str> {
        self.config
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn value(&self, name: &str) -> Option<String> {
        if self.cli(name) {
            if let Ok(Some(values)) = self.matches.try_get_many::<String>(name) {
                return Some(values.cloned().collect::<Vec<_>>().join(" "));
            }
        }
        self.config_value(name).map(str::to_string)
    }

    fn flag(&self, name: &str) -> Result<bool, UsageError> {
        if self.cli(name) {
            return Ok(self.matches.get_flag(name));
        }
        match self.config_value(name) {
            None => Ok(false),
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "" | "1" | "true" | "yes" | "on" => Ok(true),
                "0" | "false" | "no" | "off" => Ok(false),
                other => Err(UsageError::new(format!(
                    "configuration: option '{name}' takes true or false, not '{other}'"
                ))),
            },
        }
    }

    /// The first of a group of mutually exclusive options the command line names; the
    /// configuration file is consulted only when the command line names none of them.
    fn named_on_command_line(&self, group: &[&str]) -> bool {
        group.iter().any(|name| self.cli(name))
    }
}

const KNOWN_CONFIG_KEYS: &[&str] = &[
    "filecap",
    "interface",
    "log-format",
    "append-log-format",
    "raw",
    "packet-filter",
    "not-found",
    "unprintable",
    "hex-encode",
    "no-newline",
    "truncated",
    "capture-in-the-middle",
    "max-tcp-streams",
    "max-fragmented-ip",
    "threads",
    "force-read-pcap",
    "buffer-size",
    "execute",
    "user",
    "python",
    "stats",
    "quiet",
    "no-tunnels",
    "vxlan-port",
    "geneve-port",
];

/// A comma-separated list of UDP ports (1 to 65535) given to option `name`.
fn port_list(all: &Sources<'_>, name: &str) -> Result<Vec<u16>, UsageError> {
    let Some(v) = all.value(name) else {
        return Ok(Vec::new());
    };
    v.split(',')
        .map(|p| match p.trim().parse::<u16>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(UsageError::new(format!(
                "--{name} takes UDP ports from 1 to 65535 separated by commas, not '{v}'"
            ))),
        })
        .collect()
}

fn resolve(matches: &ArgMatches, config: &[(String, String)]) -> Result<Options, UsageError> {
    for (key, _) in config {
        if !KNOWN_CONFIG_KEYS.contains(&key.as_str()) {
            return Err(UsageError::new(format!(
                "configuration: unknown option '{key}'"
            )));
        }
    }
    let all = Sources { matches, config };
    let empty: &[(String, String)] = &[];
    let cli_only = Sources {
        matches,
        config: empty,
    };
    // Within a group of exclusive options, the command line wins as a whole.
    let group_source = |group: &[&str]| {
        if all.named_on_command_line(group) {
            &cli_only
        } else {
            &all
        }
    };

    let input_src = group_source(&["filecap", "interface"]);
    let file = input_src.value("filecap");
    let interface = input_src.value("interface");
    let input = match (file, interface) {
        (Some(_), Some(_)) => {
            return Err(UsageError::new(
                "-f (--filecap) and -i (--interface) cannot be used together",
            ))
        }
        (Some(f), None) => Input::File(f),
        (None, Some(i)) => Input::Interface(i),
        (None, None) => Input::DefaultInterface,
    };
    check_stray_words(matches, &input)?;

    let format_src = group_source(&["log-format", "append-log-format", "raw"]);
    let log = format_src.value("log-format");
    let append = format_src.value("append-log-format");
    let raw = format_src.flag("raw")?;
    let chosen = [log.is_some(), append.is_some(), raw]
        .iter()
        .filter(|&&b| b)
        .count();
    if chosen > 1 {
        return Err(UsageError::new(
            "only one of -l (--log-format), -a (--append-log-format) and -r (--raw) may be given",
        ));
    }
    let json_fields = log.is_some();
    let connections = all.flag("connections")?;
    let json = all.flag("json")?;
    let json_all = match all.value("json-fields").as_deref().map(str::trim) {
        None | Some("default") => false,
        Some("all") => true,
        Some(other) => {
            return Err(UsageError::new(format!(
                "--json-fields takes 'default' or 'all', not '{other}'"
            )))
        }
    };
    if all.value("json-fields").is_some() && (!json || json_fields) {
        return Err(UsageError::new(
            "--json-fields chooses the fields of --json without -l (with -l, the format's keywords choose them)",
        ));
    }
    if json && (append.is_some() || raw) {
        return Err(UsageError::new(
            "--json takes its fields from -l FORMAT, or writes every field without it: not -a or -r",
        ));
    }
    let default_format = if connections {
        DEFAULT_CONNECTION_FORMAT
    } else {
        DEFAULT_FORMAT
    };
    let format = match (log, append, raw) {
        (Some(l), _, _) => l,
        (_, Some(a), _) => format!("{default_format}{a}"),
        (_, _, true) => RAW_FORMAT.to_string(),
        _ => default_format.to_string(),
    };

    let enc_src = group_source(&["unprintable", "hex-encode"]);
    let encoding = match (enc_src.flag("unprintable")?, enc_src.flag("hex-encode")?) {
        (true, true) => {
            return Err(UsageError::new(
                "-u (--unprintable) and -x (--hex-encode) cannot be used together",
            ))
        }
        (true, false) => Encoding::Unprintable,
        (false, true) => Encoding::Hex,
        (false, false) => Encoding::Plain,
    };

    let summary_src = group_source(&["stats", "quiet"]);
    let summary = match (summary_src.flag("stats")?, summary_src.flag("quiet")?) {
        (true, true) => {
            return Err(UsageError::new(
                "--stats and -q (--quiet) cannot be used together",
            ))
        }
        (true, false) => SummaryMode::Full,
        (false, true) => SummaryMode::Quiet,
        (false, false) => SummaryMode::Losses,
    };

    let number = |name: &str, default: usize| -> Result<usize, UsageError> {
        match all.value(name) {
            None => Ok(default),
            Some(v) => match v.trim().parse::<usize>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(UsageError::new(format!(
                    "--{name} takes a positive whole number, not '{v}'"
                ))),
            },
        }
    };

    let seconds = |name: &str| -> Result<Option<i64>, UsageError> {
        let Some(v) = all.value(name) else {
            return Ok(None);
        };
        match v.trim().parse::<f64>() {
            // Whole microseconds, as every time here; at most ten years.
            Ok(s) if (0.000_001..=3.2e8).contains(&s) => Ok(Some((s * 1e6).round() as i64 * 1_000)),
            _ => Err(UsageError::new(format!(
                "--{name} takes a number of seconds greater than 0, such as 30 or 0.5, not '{v}'"
            ))),
        }
    };

    let metrics_listen = match all.value("metrics-listen") {
        None => None,
        Some(v) => Some(v.trim().parse::<std::net::SocketAddr>().map_err(|_| {
            UsageError::new(format!(
                "--metrics-listen takes ADDR:PORT, such as 127.0.0.1:9464 or [::1]:9464, not '{v}'"
            ))
        })?),
    };

    Ok(Options {
        metrics_listen,
        metrics_file: all.value("metrics-file").map(std::path::PathBuf::from),
        otlp_endpoint: all.value("otlp-endpoint"),
        metrics_services: number(
            "metrics-services",
            crate::output::metrics::DEFAULT_MAX_SERVICES,
        )?,
        open_report: seconds("open-report")?,
        idle_timeout: seconds("idle-timeout")?,
        threads: match all.value("threads") {
            None => crate::parallel::default_threads(),
            Some(v) => match v.trim().parse::<usize>() {
                Ok(0) => crate::parallel::default_threads(),
                Ok(n) if n <= crate::parallel::MAX_THREADS => n,
                _ => {
                    return Err(UsageError::new(format!(
                        "--threads takes a whole number from 0 (the default) to {}, not '{v}'",
                        crate::parallel::MAX_THREADS
                    )))
                }
            },
        },
        input,
        format,
        not_found: all.value("not-found").unwrap_or_else(|| "-".to_string()),
        encoding,
        newline: !all.flag("no-newline")?,
        truncated: all.flag("truncated")?,
        midstream: all.flag("capture-in-the-middle")?,
        force_read: all.flag("force-read-pcap")?,
        max_streams: number("max-tcp-streams", DEFAULT_MAX_STREAMS)?,
        max_fragmented_hosts: number("max-fragmented-ip", DEFAULT_MAX_FRAGMENTED_HOSTS)?,
        buffer_size_mb: match number("buffer-size", DEFAULT_BUFFER_MB)? {
            mb if mb <= MAX_BUFFER_MB => mb,
            mb => {
                return Err(UsageError::new(format!(
                    "--buffer-size takes at most {MAX_BUFFER_MB} (MiB), not {mb}"
                )))
            }
        },
        filter: all.value("packet-filter"),
        execute: all.value("execute"),
        user: all.value("user"),
        python: all.value("python"),
        summary,
        exchanges: match all.value("exchanges").as_deref().map(str::trim) {
            None | Some("turns") => crate::exchange::Mode::Turns,
            Some("messages") => crate::exchange::Mode::Messages,
            Some(other) => {
                return Err(UsageError::new(format!(
                    "--exchanges takes 'turns' or 'messages', not '{other}'"
                )))
            }
        },
        skip_gaps: all.flag("skip-gaps")?,
        json,
        json_fields: json && json_fields,
        json_all,
        tunnels: if all.flag("no-tunnels")? {
            None
        } else {
            let mut ports = crate::decode::TunnelPorts::default();
            ports.vxlan.extend(port_list(&all, "vxlan-port")?);
            ports.geneve.extend(port_list(&all, "geneve-port")?);
            Some(ports)
        },
        connections,
        analyzers: crate::exchange::AnalyzerOptions {
            ws_messages: all.flag("ws-messages")?,
            ws_max_message: match all.value("ws-max-message") {
                None => crate::exchange::ws_frame::DEFAULT_MAX_MESSAGE,
                Some(v) => match v.trim().parse::<u64>() {
                    Ok(n) if n > 0 => n,
                    _ => {
                        return Err(UsageError::new(format!(
                            "--ws-max-message takes a positive number of bytes, not '{v}'"
                        )))
                    }
                },
            },
        },
        report: {
            let report = ReportOptions {
                text: all.flag("report")?,
                html: all.value("report-html"),
                services: number("report-services", crate::output::report::DEFAULT_SERVICES)?,
                every: match all.value("report-every") {
                    None => None,
                    Some(_) => Some(number("report-every", 1)? as u64),
                },
                thresholds: all
                    .value("report-threshold")
                    .map(|v| {
                        v.split([',', ' '])
                            .filter(|t| !t.is_empty())
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default(),
            };
            report.config().map_err(UsageError::new)?;
            if report.every.is_some() && !report.text {
                return Err(UsageError::new("--report-every needs --report"));
            }
            report
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Options, UsageError> {
        match parse(args.iter().map(|s| s.to_string()), &[])? {
            Request::Run(o) => Ok(*o),
            other => panic!("expected a run, got {other:?}"),
        }
    }

    #[test]
    fn report_options_are_checked_when_parsed() {
        let o = run(&[
            "-f",
            "x.pcap",
            "--report",
            "--report-threshold",
            "churn=0.5,rst=0.1",
            "--report-threshold",
            "min-connections=3",
            "--report-every",
            "60",
        ])
        .unwrap();
        assert!(o.report.text && o.report.enabled());
        assert_eq!(
            o.report.thresholds,
            ["churn=0.5", "rst=0.1", "min-connections=3"]
        );
        assert_eq!(o.report.every, Some(60));
        let config = o.report.config().unwrap();
        assert_eq!(config.thresholds.min_connections, 3);
        assert_eq!(config.every, Some(60_000_000));
        let o = run(&["-f", "x.pcap", "--report-html", "r.html"]).unwrap();
        assert!(!o.report.text && o.report.enabled());
        assert!(run(&["-f", "x.pcap", "--report-every", "5"]).is_err());
        assert!(run(&["-f", "x.pcap", "--report", "--report-threshold", "churn=7"]).is_err());
        assert!(run(&["-f", "x.pcap", "--report", "--report-services", "0"]).is_err());
    }

    #[test]
    fn help_states_the_defaults_the_code_uses() {
        let help = help_text(&[]).replace('\n', " ");
        let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            help.contains(&format!("(default {DEFAULT_MAX_STREAMS})")),
            "{help}"
        );
        assert!(
            help.contains(&format!("(default {DEFAULT_MAX_FRAGMENTED_HOSTS})")),
            "{help}"
        );
        assert!(
            help.contains(&format!("(default {DEFAULT_BUFFER_MB},")),
            "{help}"
        );
    }

    #[test]
    fn several_log_format_words_are_joined_with_one_space() {
        let o = run(&[
            "-f",
            "x.pcap",
            "-l",
            "%source.ip",
            "%dest.ip",
            "%request.url",
        ])
        .unwrap();
        assert_eq!(o.format, "%source.ip %dest.ip %request.url");
        assert_eq!(o.input, Input::File("x.pcap".into()));
    }

    #[test]
    fn append_follows_the_default_format_directly() {
        let o = run(&["-f", "x", "-a", " %response.time"]).unwrap();
        assert_eq!(o.format, format!("{DEFAULT_FORMAT} %response.time"));
    }

    #[test]
    fn raw_is_request_then_response() {
        assert_eq!(run(&["-f", "x", "-r"]).unwrap().format, "%request%response");
    }

    #[test]
    fn conflicting_options_are_errors() {
        assert!(run(&["-f", "x", "-r", "-l", "x"]).is_err());
        assert!(run(&["-f", "x", "-u", "-x"]).is_err());
        assert!(run(&["-f", "x", "-i", "lo"]).is_err());
        assert!(run(&[
            "--filecap",
            "x",
            "--log-format",
            "a",
            "--append-log-format",
            "b"
        ])
        .is_err());
    }

    #[test]
    fn not_found_text_may_be_empty() {
        assert_eq!(run(&["-f", "x", "-n", ""]).unwrap().not_found, "");
        assert_eq!(run(&["-f", "x"]).unwrap().not_found, "-");
    }

    #[test]
    fn an_unknown_option_is_an_error_on_one_line() {
        let err = run(&["-f", "x", "--bogus"]).unwrap_err();
        assert!(err.message().contains("--bogus"), "{err}");
        assert!(!err.message().contains('\n'));
    }

    #[test]
    fn buffer_size_is_in_mebibytes_with_a_default_and_a_ceiling() {
        assert_eq!(
            run(&["-i", "lo"]).unwrap().buffer_size_mb,
            DEFAULT_BUFFER_MB
        );
        assert_eq!(
            run(&["-i", "lo", "--buffer-size", "256"])
                .unwrap()
                .buffer_size_mb,
            256
        );
        assert!(run(&["-i", "lo", "--buffer-size", "0"]).is_err());
        assert!(run(&["-i", "lo", "--buffer-size", "1000000"]).is_err());
    }

    #[test]
    fn stats_and_quiet_choose_the_summary_and_exclude_each_other() {
        assert_eq!(run(&["-f", "x"]).unwrap().summary, SummaryMode::Losses);
        assert_eq!(
            run(&["-f", "x", "--stats"]).unwrap().summary,
            SummaryMode::Full
        );
        assert_eq!(run(&["-f", "x", "-q"]).unwrap().summary, SummaryMode::Quiet);
        assert_eq!(
            run(&["-f", "x", "--quiet"]).unwrap().summary,
            SummaryMode::Quiet
        );
        let err = run(&["-f", "x", "--stats", "-q"]).unwrap_err();
        assert!(
            err.to_string().contains("--stats") && !err.to_string().contains('\n'),
            "{err}"
        );
    }

    #[test]
    fn threads_are_a_count_up_to_the_maximum() {
        assert_eq!(run(&["-f", "x"]).unwrap().threads, 1);
        assert_eq!(run(&["-f", "x", "--threads", "0"]).unwrap().threads, 1);
        assert_eq!(run(&["-f", "x", "--threads", "3"]).unwrap().threads, 3);
        let max = crate::parallel::MAX_THREADS.to_string();
        assert_eq!(
            run(&["-f", "x", "--threads", &max]).unwrap().threads,
            crate::parallel::MAX_THREADS
        );
        let over = (crate::parallel::MAX_THREADS + 1).to_string();
        for bad in [over.as_str(), "1.5", "two"] {
            let err = run(&["-f", "x", "--threads", bad]).unwrap_err().to_string();
            assert!(
                err.contains("--threads takes a whole number"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn numbers_must_be_positive() {
        assert_eq!(run(&["-f", "x", "-s", "8"]).unwrap().max_streams, 8);
        assert!(run(&["-f", "x", "-s", "zero"]).is_err());
        assert!(run(&["-f", "x", "-s", "0"]).is_err());
    }

    #[test]
    fn websocket_options_default_and_parse() {
        let o = run(&["-f", "x"]).unwrap().analyzers;
        assert_eq!(o, crate::exchange::AnalyzerOptions::default());
        assert_eq!(o.ws_max_message, 64 << 20);
        let o = run(&["-f", "x", "--ws-messages", "--ws-max-message", "4096"])
            .unwrap()
            .analyzers;
        assert!(o.ws_messages);
        assert_eq!(o.ws_max_message, 4096);
        assert!(run(&["-f", "x", "--ws-max-message", "0"]).is_err());
        assert!(run(&["-f", "x", "--ws-max-message", "big"]).is_err());
    }

    const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/samples/keepalive.pcap");

    fn usage_error(args: &[&str]) -> UsageError {
        match parse(args.iter().map(|s| s.to_string()), &[]) {
            Err(e) => e,
            Ok(other) => panic!("{args:?} should fail, got {other:?}"),
        }
    }

    #[test]
    fn a_format_may_start_with_a_hyphen() {
        assert_eq!(
            run(&["-f", "x", "-l", "-> %dest.ip"]).unwrap().format,
            "-> %dest.ip"
        );
        assert_eq!(
            run(&["-l", "-> %dest.ip", "-f", "x"]).unwrap().input,
            Input::File("x".into())
        );
        assert_eq!(
            run(&["-f", "x", "--log-format", "->", "%dest.ip"])
                .unwrap()
                .format,
            "-> %dest.ip"
        );
        // Hyphen words after the first, then more words, then an option.
        let o = run(&[
            "-f",
            "x",
            "-l",
            "%source.ip",
            "-|",
            "%dest.ip",
            "->",
            "-n",
            "NF",
        ])
        .unwrap();
        assert_eq!(o.format, "%source.ip -| %dest.ip ->");
        assert_eq!(o.not_found, "NF");
        // The attached forms and '=' still work.
        assert_eq!(run(&["-f", "x", "--log-format=-x"]).unwrap().format, "-x");
        assert_eq!(
            run(&["-f", "x", "-p", "-> not a filter"])
                .unwrap()
                .filter
                .as_deref(),
            Some("-> not a filter")
        );
    }

    #[test]
    fn options_after_the_words_of_l_and_p_stay_options() {
        // args_multitoken_log, args_long_options, args_bad_filter.
        let o = run(&["-f", "x", "-l", "%source.ip", "%dest.ip", "%request.url"]).unwrap();
        assert_eq!(o.format, "%source.ip %dest.ip %request.url");
        let o = run(&[
            "--filecap",
            "x",
            "--log-format",
            "%request.method %request.url",
            "--not-found",
            "NF",
        ])
        .unwrap();
        assert_eq!(o.format, "%request.method %request.url");
        assert_eq!(o.not_found, "NF");
        let o = run(&["-f", "x", "-p", "tcp port", "-l", "%source.ip"]).unwrap();
        assert_eq!(o.filter.as_deref(), Some("tcp port"));
        assert_eq!(o.format, "%source.ip");
        // -n takes its value whatever it is, even one that looks like an option.
        let o = run(&["-f", "x", "-n", "-l", "-l", "%a"]).unwrap();
        assert_eq!((o.format.as_str(), o.not_found.as_str()), ("%a", "-l"));
        let o = run(&["-f", "x", "-l", "%a", "-n", "-"]).unwrap();
        assert_eq!((o.format.as_str(), o.not_found.as_str()), ("%a", "-"));
        // An option right after -l: -l has no words.
        assert!(usage_error(&["-f", "x", "-l", "-n", "X"])
            .message()
            .starts_with("a value is required for '--log-format"));
    }

    #[test]
    fn a_capture_file_among_the_words_of_l_or_p_is_a_forgotten_f() {
        let e = usage_error(&["-l", "%request.url", SAMPLE]);
        assert_eq!(
            e.message(),
            format!("'-l' took '{SAMPLE}' as part of the format; did you mean -f {SAMPLE}?")
        );
        assert!(!e.points_to_help());
        let e = usage_error(&["-p", "tcp", SAMPLE]);
        assert_eq!(
            e.message(),
            format!("'-p' took '{SAMPLE}' as part of the filter; did you mean -f {SAMPLE}?")
        );
        // With an input the word is format text, as in justniffer.
        let o = run(&["-i", "lo", "-l", "%request.url", SAMPLE]).unwrap();
        assert_eq!(o.format, format!("%request.url {SAMPLE}"));
        // A file that is not a capture is not taken for one.
        let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
        assert_eq!(
            run(&["-l", "%request.url", manifest]).unwrap().input,
            Input::DefaultInterface
        );
    }

    #[test]
    fn a_bare_capture_path_is_a_forgotten_f() {
        let e = usage_error(&[SAMPLE]);
        assert_eq!(
            e.message(),
            format!("unexpected argument '{SAMPLE}'; did you mean -f {SAMPLE}?")
        );
        let e = usage_error(&["-r", SAMPLE]);
        assert!(e.message().ends_with(&format!("did you mean -f {SAMPLE}?")));
        let e = usage_error(&["-f", SAMPLE, "other"]);
        assert_eq!(e.message(), "unexpected argument 'other'");
        assert!(e.points_to_help());
    }

    #[test]
    fn clap_errors_are_one_line_with_a_suggestion_for_a_misspelt_option() {
        let e = usage_error(&["-f", "x", "--log-formt", "%a"]);
        assert_eq!(
            e.message(),
            "unknown option '--log-formt'; did you mean --log-format?"
        );
        let e = usage_error(&["-f", "x", "--bogus"]);
        assert_eq!(e.message(), "unknown option '--bogus'");
        let e = usage_error(&["-f"]);
        assert!(!e.message().contains('\n'), "{e}");
        assert!(!e.message().contains("Usage"), "{e}");
    }

    fn help() -> String {
        match parse(["--help"], crate::format::keywords_help()).unwrap() {
            Request::Help(text) => text,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_help_line_is_under_100_columns() {
        for line in help().lines() {
            assert!(line.chars().count() < 100, "{} columns: {line}", line.len());
        }
    }

    #[test]
    fn help_groups_the_options_and_shows_examples_and_keywords() {
        let text = help();
        let mut last = 0;
        for heading in HEADINGS {
            let at = text.find(&format!("\n{heading}:\n")).expect(heading);
            assert!(at > last, "{heading} out of order");
            last = at;
        }
        for option in [
            "--filecap",
            "--log-format",
            "--unprintable",
            "--max-tcp-streams",
            "--python",
        ] {
            assert!(text.contains(option), "{option}");
        }
        assert!(text.contains(
            "rustniffer -f capture.pcap -l '%request.header.host %request.url %response.code'"
        ));
        assert!(text.contains("rustniffer -i eth0 -p 'tcp port 80'"));
        assert!(
            text.contains("req_h=%request.header.connection resp_h=%response.header.connection")
        );
        assert!(text.contains("Not found (NF):"));
        assert!(text.contains("--log-format='-...'"));
        // A name too long for the keyword column puts its meaning on the next line.
        assert!(text.contains(
            "  %response.header.transfer-encoding[(NF)]\n                                    Transfer-Encoding response header\n"
        ));
        assert!(
            text.contains("  %request.url[(RE)]                second word of the request line\n")
        );
    }

    #[test]
    fn the_short_usage_is_a_few_lines_ending_with_help() {
        let text = short_usage("no network interface is up");
        assert!(text.lines().count() <= 5);
        assert!(text.starts_with("rustniffer: nothing to read"));
        assert!(text.contains("(no network interface is up)"));
        assert!(text.contains("rustniffer -f FILE.pcap"));
        assert!(text
            .trim_end()
            .ends_with("'rustniffer --help' lists the options and the format keywords."));
        assert!(text.lines().all(|l| l.chars().count() < 100));
    }
}
