//! Wiring: capture → decode → flow → exchange → format → output, and the summary
//! reported on standard error at exit.

use std::fmt;

use crate::capture::{file, CaptureError, Next, PacketSource};
use crate::cli::{Input, Options};
use crate::decode::Decoder;
use crate::exchange::{ExchangeTracker, Mode};
use crate::filter::{Filter, FilterError};
use crate::flow::{FlowConfig, FlowStats, FlowTable};
use crate::format::{FormatError, RenderOptions, Template};
use crate::output::metrics::{Metered, Metrics};
use crate::output::otlp;
use crate::output::{
    python, report::ReportSink, ExtensionError, Extensions, Output, OutputStage, Pipeline,
    RecordSink, TemplateSink, WriterSink,
};
use crate::parallel::Plan;
use crate::time::Timestamp;

/// Why a run could not start or had to stop: one line for standard error, exit 1.
#[derive(Debug)]
pub enum RunError {
    /// The `-l`/`-a` format does not parse.
    Format(FormatError),
    /// The `-p` filter does not compile.
    Filter(FilterError),
    Capture(CaptureError),
    /// Records could not be written to `target`.
    Output {
        target: OutputTarget,
        source: std::io::Error,
    },
    /// `-e`, `-U`, `-P`, `%python` (SPEC §7).
    Extension(ExtensionError),
    /// `--metrics-listen` could not bind its address.
    MetricsListen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    /// `--otlp-endpoint` is not a usable URL, or the build has no OTLP export.
    Otlp(crate::output::otlp::OtlpError),
}

/// Where records go, to say which output failed ([`RunError::Output`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutputTarget {
    Stdout,
    /// An `-e` command.
    Command {
        command: String,
    },
    /// A `-P SCRIPT[:FUNC]` function.
    Python {
        spec: String,
    },
}

impl OutputTarget {
    /// Where `options` send records (`-e` and `-P` never come together).
    pub fn of(options: &Options) -> OutputTarget {
        match (&options.execute, &options.python) {
            (Some(command), _) => OutputTarget::Command {
                command: command.clone(),
            },
            (None, Some(spec)) => OutputTarget::Python { spec: spec.clone() },
            (None, None) => OutputTarget::Stdout,
        }
    }
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Format(e) => write!(f, "{e}"),
            RunError::Filter(e) => write!(f, "{e}"),
            RunError::Capture(e) => write!(f, "{e}"),
            RunError::Output { target, source } => write!(f, "writing output {target}: {source}"),
            RunError::Extension(e) => write!(f, "{e}"),
            RunError::MetricsListen { addr, source } => {
                write!(f, "--metrics-listen {addr}: cannot listen there: {source}")
            }
            RunError::Otlp(e) => write!(f, "{e}"),
        }
    }
}

impl fmt::Display for OutputTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutputTarget::Stdout => f.write_str("to standard output"),
            OutputTarget::Command { command } => write!(f, "to command '{command}' (-e)"),
            OutputTarget::Python { spec } => write!(f, "to Python function '{spec}' (-P)"),
        }
    }
}

impl std::error::Error for RunError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RunError::Format(e) => Some(e),
            RunError::Filter(e) => Some(e),
            RunError::Capture(e) => Some(e),
            RunError::Output { source, .. } => Some(source),
            RunError::Extension(e) => Some(e),
            RunError::MetricsListen { source, .. } => Some(source),
            RunError::Otlp(_) => None,
        }
    }
}

/// What a finished run reports on standard error: warnings, then the summary.
#[derive(Debug, Default)]
pub struct Summary {
    /// Warnings that are not counters (e.g. a damaged capture file), one line each.
    pub notes: Vec<String>,
    /// Every counter of the run, for the end-of-run summary ([`crate::cli::summary`]).
    pub stats: RunStats,
}

/// Every figure of a run, filled from the stages' counters at its end: plain data, so
/// that the text summary ([`crate::cli::summary::render`]) and any later sink (JSON,
/// metrics) read the same values. Counts are of packets unless the name says bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunStats {
    /// Packets the capture gave (before the filter).
    pub packets_read: u64,
    /// Packets of a link type that cannot be decoded (pcapng interfaces), skipped.
    pub unsupported_link: u64,
    /// Packets the `-p` filter rejected.
    pub filtered_out: u64,
    /// Frames whose link layer carries something other than IP (ignored).
    pub not_ip: u64,
    /// IP datagrams that carry something other than TCP (ignored).
    pub not_tcp: u64,
    /// Frames cut by the snapshot length before the end of their IP datagram.
    pub truncated: u64,
    /// Frames whose headers contradict themselves.
    pub malformed: u64,
    /// IP fragments of datagrams that may carry TCP, taken into reassembly.
    pub fragments: u64,
    /// Datagrams rebuilt from fragments.
    pub datagrams_reassembled: u64,
    /// Fragments lost because their host was pushed out of the `-d` table.
    pub fragments_lost_hosts: u64,
    /// Fragments lost to the byte bounds (per host, in all) or too many pieces.
    pub fragments_lost_size: u64,
    /// Fragments lost because their datagram saw no new fragment for 30 s.
    pub fragments_lost_timeout: u64,
    /// Fragments that overlap inconsistently, contradict their datagram's length, or
    /// carry nothing.
    pub fragments_lost_invalid: u64,
    /// Fragments still waiting for the rest of their datagram at the end.
    pub fragments_incomplete: u64,
    /// TCP segments decoded.
    pub tcp_segments: u64,
    /// Segments of no tracked connection that could not start one (e.g. the SYN was
    /// not seen and `-m` is off).
    pub segments_no_connection: u64,
    /// Segments outside the receiver's window.
    pub segments_out_of_window: u64,
    /// Segments refused by the timestamp check (PAWS).
    pub segments_paws: u64,
    /// Connections tracked.
    pub connections: u64,
    /// Of those, picked up mid-stream (`-m`).
    pub connections_midstream: u64,
    /// Connections evicted to make room (`-s`); their records say `timedout`.
    pub connections_evicted: u64,
    /// Ended by `--idle-timeout`.
    pub connections_idle_timed_out: u64,
    /// Connections still open at the end, reported `truncated`.
    pub connections_open_at_end: u64,
    /// Most connections tracked at once.
    pub connections_peak: u64,
    /// Out-of-order payload bytes discarded because waiting data reached its bound,
    /// and the segments they came in.
    pub out_of_order_discarded_bytes: u64,
    pub out_of_order_discarded_segments: u64,
    /// Out-of-order payload bytes never delivered: the gap before them never filled.
    pub out_of_order_undelivered_bytes: u64,
    /// Payload bytes the format needed but that the exchange bounds refused to keep.
    pub payload_not_kept_bytes: u64,
    /// Holes in a stream that the receiver acknowledged but the capture missed,
    /// skipped (`messages` mode, `--skip-gaps`), and their bytes.
    pub gaps: u64,
    pub gap_bytes: u64,
    /// Requests beyond a connection's pipeline bound, folded into its newest exchange.
    pub pipeline_overflow: u64,
    /// HTTP/2 streams beyond a connection's bound of open exchanges, not followed.
    pub open_overflow: u64,
    /// Records rendered (printed, or given to `-e`/`-P`).
    pub records: u64,
    /// Records the `-e` command failed on (or could not start for).
    pub command_failures: u64,
    /// The `-e` command, to name it.
    pub command: Option<String>,
    /// `-s` and `-d`, to explain the evictions and fragment losses.
    pub max_streams: u64,
    pub max_fragmented_hosts: u64,
    /// Live capture only: the kernel's counters.
    pub kernel: Option<KernelStats>,
    /// `--otlp-endpoint`: what the exporter sent and lost.
    pub otlp: Option<OtlpStats>,
}

/// The OpenTelemetry exporter's counters (`--otlp-endpoint`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OtlpStats {
    /// Log records the collector accepted.
    pub log_records_exported: u64,
    /// Log records dropped because the export queue was full.
    pub log_records_dropped: u64,
    /// Log records whose export failed after its retries.
    pub log_records_failed: u64,
    /// Log records still queued when the end-of-run flush timed out.
    pub log_records_unsent: u64,
    /// Metric exports the collector accepted, and those that failed after retries.
    pub metric_exports: u64,
    pub metric_export_failures: u64,
}

/// A live capture's counters from the kernel and the ring.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelStats {
    /// Packets the ring delivered.
    pub captured: u64,
    /// Packets the kernel dropped because the ring was full.
    pub dropped: u64,
    /// Ring blocks or frames with impossible offsets, skipped.
    pub malformed: u64,
}

impl RunStats {
    /// Connections tracked at once at most before eviction starts: `3*N/4 + 1` (`-s N`).
    pub fn tracked_limit(&self) -> u64 {
        self.max_streams.saturating_mul(3) / 4 + 1
    }

    /// Fragments lost, all reasons together.
    pub fn fragments_lost(&self) -> u64 {
        self.fragments_lost_hosts
            + self.fragments_lost_size
            + self.fragments_lost_timeout
            + self.fragments_lost_invalid
            + self.fragments_incomplete
    }
}

/// Everything built from the options before the first packet: errors surface here.
pub struct Prepared {
    template: Template,
    render: RenderOptions,
    filter: Option<Filter>,
    extensions: Extensions,
    /// The `%python(...)` handlers, once [`Extensions::start`] loaded them.
    python: Option<python::Handlers>,
    /// `--metrics-listen` / `--metrics-file` / `--otlp-endpoint`: the metrics, already
    /// served when listening (the OTLP exporter joins them in [`process`]).
    metrics: Option<Metrics>,
}

/// Checks the options and compiles the format and filter (SPEC §8: before any packet).
pub fn prepare(options: &Options) -> Result<Prepared, RunError> {
    let template = Template::parse(&options.format).map_err(RunError::Format)?;
    let extensions = Extensions::check(
        options.execute.as_deref(),
        options.user.as_deref(),
        options.python.as_deref(),
        &template,
    )
    .map_err(RunError::Extension)?;
    let filter = match &options.filter {
        Some(expr) => Some(Filter::compile(expr).map_err(RunError::Filter)?),
        None => None,
    };
    let render = render_options(options);
    let metrics = start_metrics(options)?;
    Ok(Prepared {
        template,
        render,
        filter,
        extensions,
        python: None,
        metrics,
    })
}

/// How records are printed (`-n`, `-u`/`-x`, `-N`).
pub(crate) fn render_options(options: &Options) -> RenderOptions {
    RenderOptions {
        not_found: options.not_found.clone().into_bytes(),
        encoding: options.encoding,
        newline: options.newline,
    }
}

/// The flow table's limits and modes for `options` (a parallel run's workers take the
/// same, [`crate::parallel`]).
pub fn flow_config(options: &Options) -> FlowConfig {
    FlowConfig {
        max_streams: options.max_streams,
        midstream: options.midstream,
        skip_gaps: options.skip_gaps || options.exchanges == Mode::Messages,
        syn_data: options.exchanges == Mode::Messages,
        lifecycle: options.connections
            || options.metered()
            || options.report.enabled()
            || options.idle_timeout.is_some()
            || options.open_report.is_some(),
        idle_timeout: options.idle_timeout,
        ..FlowConfig::default()
    }
}

/// The metrics of `--metrics-listen` / `--metrics-file` / `--otlp-endpoint`, and the
/// endpoint bound and served: before the capture opens, so that `/metrics` answers once
/// the capture says it listens, and an address in use is an error before anything else
/// starts.
fn start_metrics(options: &Options) -> Result<Option<Metrics>, RunError> {
    if !options.metered() {
        return Ok(None);
    }
    let metrics = Metrics::new(options.metrics_services);
    if let Some(addr) = options.metrics_listen {
        let listener = crate::output::metrics::listen(addr)
            .map_err(|source| RunError::MetricsListen { addr, source })?;
        crate::output::metrics::serve(listener, metrics.registry());
    }
    Ok(Some(metrics))
}

/// Runs the whole pipeline, writing records to standard output.
pub fn run(options: &Options) -> Result<Summary, RunError> {
    let prepared = prepare(options)?;
    let path = match &options.input {
        Input::File(path) => path.clone(),
        Input::Interface(_) | Input::DefaultInterface => return run_live(options, prepared),
    };
    let mut source = file::open(&path, options.force_read).map_err(RunError::Capture)?;
    let plan = chosen_plan(options, &prepared.template);
    process_with_extensions(Capture::One(&mut source), plan, options, prepared, false)
}

/// What a run reads: one source, or the members of a live fanout group, one per worker.
enum Capture<'a> {
    One(&'a mut dyn PacketSource),
    #[cfg(target_os = "linux")]
    Group {
        members: Vec<crate::capture::live::LiveSource>,
        stop: &'static std::sync::atomic::AtomicBool,
        start: Timestamp,
    },
}

/// How the run is analysed ([`crate::parallel::plan`]).
fn chosen_plan(options: &Options, template: &Template) -> Plan {
    let plan = crate::parallel::plan(options, template);
    if std::env::var_os("RUSTNIFFER_DEBUG_PLAN").is_some() {
        // For the tests that check which path a run took.
        match plan {
            Plan::Parallel(n) => eprintln!("rustniffer: debug: {n} workers"),
            Plan::OneThread(why) => eprintln!("rustniffer: debug: one thread ({why})"),
        }
    }
    plan
}

/// Starts the extensions (SPEC §7) once the capture is open, since Python may switch
/// the process to `-U`'s user, then runs the pipeline into the chosen output.
/// `live` (or Python handlers, which print through their own buffer) flushes each record.
/// A group's members are read by one worker each (`plan` said parallel); one source
/// goes through [`crate::parallel::process`] or the one-thread loop, as `plan` says.
fn process_with_extensions(
    capture: Capture<'_>,
    plan: Plan,
    options: &Options,
    mut prepared: Prepared,
    live: bool,
) -> Result<Summary, RunError> {
    let extensions = std::mem::replace(&mut prepared.extensions, Extensions::none());
    let started = extensions.start().map_err(RunError::Extension)?;
    let flush_each = live || started.handlers.is_some();
    prepared.python = started.handlers;
    let source = match capture {
        Capture::One(source) => source,
        #[cfg(target_os = "linux")]
        Capture::Group {
            members,
            stop,
            start,
        } => {
            let Prepared { filter, render, .. } = prepared;
            return match started.output {
                // Unlocked: the merger writes from this thread, through its buffer.
                Output::Stdout => crate::parallel::live::process(
                    members,
                    options,
                    filter,
                    render,
                    stop,
                    start,
                    WriterSink::new(std::io::stdout(), flush_each),
                ),
                Output::Command(records) => crate::parallel::live::process(
                    members, options, filter, render, stop, start, records,
                ),
                // `plan` keeps -P on one socket: a group is never opened with it.
                Output::Python(_) => Err(RunError::Extension(ExtensionError::Conflict {
                    first: "-P (--python)",
                    second: "--threads",
                    reason: "Python handlers run on one thread",
                })),
            };
        }
    };
    if let Plan::Parallel(threads) = plan {
        return match started.output {
            Output::Stdout => {
                // Unlocked: the merger writes from its own thread, through its buffer.
                let records = WriterSink::new(std::io::stdout(), flush_each);
                let Prepared { filter, render, .. } = prepared;
                crate::parallel::process(source, options, filter, render, threads, records)
            }
            Output::Command(records) => {
                let Prepared { filter, render, .. } = prepared;
                crate::parallel::process(source, options, filter, render, threads, records)
            }
            // `plan` keeps -P on one thread.
            Output::Python(records) => process(source, options, prepared, records),
        };
    }
    match started.output {
        Output::Stdout => {
            let stdout = std::io::stdout().lock();
            let records = WriterSink::new(stdout, flush_each);
            process(source, options, prepared, records)
        }
        Output::Command(records) => process(source, options, prepared, records),
        Output::Python(records) => process(source, options, prepared, records),
    }
}

/// Live capture (SPEC §1, §6). SIGINT/SIGTERM make the source end (after it read what
/// the kernel had already captured), so `process` reports every open connection as
/// `truncated` and the exit status is 0. Records are flushed one by one. The kernel's
/// counters join the end-of-run summary.
#[cfg(target_os = "linux")]
fn run_live(options: &Options, prepared: Prepared) -> Result<Summary, RunError> {
    use crate::capture::live::{self, LiveConfig, LiveGroup, LiveSource};
    use crate::capture::LinkType;
    let (interface, chosen) = match &options.input {
        Input::Interface(name) => (name.clone(), false),
        _ => (live::default_interface().map_err(RunError::Capture)?, true),
    };
    let stop = crate::cli::signals::stop_on_interrupt().map_err(|source| {
        RunError::Capture(CaptureError::Io {
            what: "installing the SIGINT/SIGTERM handlers".into(),
            source,
        })
    })?;
    // The -p filter also runs in the kernel when it compiles to classic BPF for Ethernet
    // (real interfaces and `lo`), so that frames it rejects never reach the ring. It still
    // runs in user space too (`process`): cheap, and it covers every other case (`any`,
    // cooked and raw-IP interfaces, filters too long for the kernel), where only user
    // space filters.
    let kernel_program = prepared
        .filter
        .as_ref()
        .and_then(|filter| filter.to_bpf(LinkType::ETHERNET).ok())
        .and_then(|program| live::kernel_program(&program));
    let config = LiveConfig {
        interface,
        buffer_bytes: options.buffer_size_mb.saturating_mul(1 << 20),
        kernel_filter: kernel_program.as_deref().map(|program| live::KernelFilter {
            link: LinkType::ETHERNET,
            program,
        }),
    };
    // From here the interface chosen is the one named: the OTLP resource says it.
    let named;
    let options = if chosen {
        named = Options {
            input: Input::Interface(config.interface.clone()),
            ..options.clone()
        };
        &named
    } else {
        options
    };
    // Said once the capture is open: a failure to open is the only line otherwise.
    let say_chosen = || {
        if chosen {
            eprintln!(
                "rustniffer: no interface named (-i), capturing on {}",
                config.interface
            );
        }
    };
    let plan = chosen_plan(options, &prepared.template);
    if let Plan::Parallel(threads) = plan {
        // One socket per worker, in one fanout group: each gets whole flows.
        let group = LiveGroup::open(&config, threads, stop).map_err(RunError::Capture)?;
        say_chosen();
        eprintln!("rustniffer: listening on {}", group.description());
        let capture = Capture::Group {
            members: group.into_members(),
            stop,
            start: crate::parallel::live::start_time(),
        };
        // The members' kernel counters are summed into the summary there.
        return process_with_extensions(capture, plan, options, prepared, true);
    }
    let mut source = LiveSource::open(&config, stop).map_err(RunError::Capture)?;
    say_chosen();
    // Tests and scripts wait for this line before generating traffic.
    eprintln!("rustniffer: listening on {}", source.description());
    let mut summary =
        process_with_extensions(Capture::One(&mut source), plan, options, prepared, true)?;
    let stats = source.stats();
    summary.stats.kernel = Some(KernelStats {
        captured: stats.captured,
        dropped: stats.dropped,
        malformed: stats.malformed,
    });
    Ok(summary)
}

#[cfg(not(target_os = "linux"))]
fn run_live(_: &Options, _: Prepared) -> Result<Summary, RunError> {
    Err(RunError::Capture(CaptureError::LiveUnsupported))
}

/// Reads every packet of `source` through the pipeline into `records`.
pub fn process<R: RecordSink>(
    source: &mut dyn PacketSource,
    options: &Options,
    prepared: Prepared,
    records: R,
) -> Result<Summary, RunError> {
    let Prepared {
        template,
        render,
        filter,
        extensions: _,
        python,
        metrics,
    } = prepared;
    let mut exporter = match &options.otlp_endpoint {
        None => None,
        Some(url) => {
            let source = match &options.input {
                Input::File(path) => otlp::CaptureSource::File(path.into()),
                Input::Interface(name) => otlp::CaptureSource::Interface(name.clone()),
                // `run_live` names the interface it chose before it gets here.
                Input::DefaultInterface => otlp::CaptureSource::Interface("(default)".into()),
            };
            Some(otlp::Exporter::start(url, &source).map_err(RunError::Otlp)?)
        }
    };
    let otlp_stats = exporter.as_ref().map(otlp::Exporter::stats_handle);
    let otlp_needs = exporter.as_ref().map(otlp::Exporter::needs);
    let metered = options.metered();
    let report = options.report.enabled();
    let summaries = options.connections || metered || report;
    let connection_needs = |mut needs: crate::exchange::Needs| {
        if let Some(more) = otlp_needs {
            needs = union(needs, more);
        }
        if summaries {
            // Connection records read the first exchange's keep-alive headers; metrics
            // read every exchange's first lines; the report names services by Host.
            needs.request.header = true;
            needs.response.header = true;
        }
        needs
    };
    // The listener was bound in `prepare`; the exporter adds its health counters to the
    // same registry and mirrors every measurement.
    let metrics = match (metrics, &mut exporter) {
        (Some(metrics), Some(e)) => Some(e.meter(metrics)),
        (metrics, _) => metrics,
    };
    let file = options.metrics_file.clone();
    let summary = |result: Result<Summary, RunError>| {
        let mut summary = result?;
        summary.stats.otlp = otlp_stats.as_ref().map(otlp::StatsHandle::stats);
        Ok(summary)
    };
    let per_connection = options.connections;
    // OTLP log records carry connection records' values even when the report replaces
    // the records.
    let logs = exporter.is_some();
    if options.json {
        let format = match (options.json_fields, options.json_all) {
            (true, _) => crate::output::json::JsonFormat::selected(&template),
            (false, true) => crate::output::json::JsonFormat::new(),
            (false, false) => crate::output::json::JsonFormat::default_fields(),
        };
        let sink = crate::output::json::JsonSink::new(format, records, options.connections);
        let needs = connection_needs(sink.needs());
        if report {
            let sink = otlp::logged(
                ReportSink::new(sink, report_config(options)),
                exporter,
                per_connection,
            );
            let values = options.connections && (sink.renders_records() || logs);
            let sink = Metered::new(sink, metrics, file);
            let tracker = ExchangeTracker::with_mode(needs, options.exchanges, sink)
                .with_options(options.analyzers)
                .with_connection_records(values);
            return summary(process_events(source, options, filter, tracker));
        }
        let sink = otlp::logged(sink, exporter, per_connection);
        let sink = Metered::new(sink, metrics, file);
        let mut tracker = ExchangeTracker::with_mode(needs, options.exchanges, sink)
            .with_options(options.analyzers);
        if summaries {
            // Connection records print the keep-alive values; metrics do not read them.
            tracker = tracker.with_connection_records(options.connections);
        }
        return summary(process_events(source, options, filter, tracker));
    }
    let needs = connection_needs(template.needs());
    let sink = TemplateSink::new(template, render, records)
        .per_connection(options.connections)
        .with_values(python);
    if report {
        let sink = ReportSink::new(sink, report_config(options));
        // The text report replaces the records: it reads only whether keep-alive was
        // asked, not the values (which OTLP log records still carry).
        let values = options.connections && (sink.renders_records() || logs);
        let sink = otlp::logged(sink, exporter, per_connection);
        let sink = Metered::new(sink, metrics, file);
        let tracker = ExchangeTracker::with_mode(needs, options.exchanges, sink)
            .with_options(options.analyzers)
            .with_connection_records(values);
        return summary(process_events(source, options, filter, tracker));
    }
    let sink = otlp::logged(sink, exporter, per_connection);
    let sink = Metered::new(sink, metrics, file);
    let mut tracker =
        ExchangeTracker::with_mode(needs, options.exchanges, sink).with_options(options.analyzers);
    if summaries {
        tracker = tracker.with_connection_records(options.connections);
    }
    summary(process_events(source, options, filter, tracker))
}

/// What either of `a` and `b` needs kept.
fn union(a: crate::exchange::Needs, b: crate::exchange::Needs) -> crate::exchange::Needs {
    let side =
        |a: crate::exchange::Retention, b: crate::exchange::Retention| crate::exchange::Retention {
            all: a.all || b.all,
            header: a.header || b.header,
            prefix: a.prefix.max(b.prefix),
        };
    crate::exchange::Needs {
        request: side(a.request, b.request),
        response: side(a.response, b.response),
    }
}

/// The report's configuration for this run.
pub(crate) fn report_config(options: &Options) -> crate::output::report::ReportConfig {
    // Checked when the options were parsed.
    let mut config = options.report.config().unwrap_or_default();
    // HTTP/2 and WebSocket facts are read in messages mode only.
    config.protocol_facts = options.exchanges == Mode::Messages;
    config.json = options.json;
    config
}

/// Packets between two updates of the tool's own metrics (at most: also once per second
/// of capture time, so that a live capture's figures stay fresh under a light load).
const HEALTH_EVERY: u64 = 4096;

/// Capture time between two updates of the tool's own metrics, in microseconds.
const HEALTH_INTERVAL_US: i64 = 1_000_000;

/// The run loop's counters for the metrics; the kernel's drop count is asked of a live
/// source (one system call).
fn health(
    source: &mut dyn PacketSource,
    decoder: &Decoder,
    flows: &FlowTable,
    packets: u64,
) -> crate::output::metrics::Health {
    let d = decoder.stats();
    crate::output::metrics::Health {
        packets,
        kernel_drops: source.kernel_drops().unwrap_or(0),
        decode_failures: d.truncated + d.malformed,
        evictions: flows.stats().evicted,
        out_of_order_discarded_bytes: flows.queue_budget().discarded_bytes,
    }
}

/// An interim record of every connection still open at `now`, oldest first.
fn report_open<P: Pipeline>(
    flows: &FlowTable,
    tracker: &mut P,
    now: Timestamp,
) -> std::io::Result<()> {
    let streams = flows.tracked();
    for (conn, lifecycle) in flows.open_connections() {
        tracker.report_open(conn, &lifecycle, now, streams)?;
    }
    Ok(())
}

/// The run loop: every packet of `source` through decode and the flow table into `tracker`,
/// whatever its sinks.
fn process_events<P: Pipeline>(
    source: &mut dyn PacketSource,
    options: &Options,
    filter: Option<Filter>,
    mut tracker: P,
) -> Result<Summary, RunError> {
    let mut decoder =
        Decoder::new(options.max_fragmented_hosts).with_tunnels(options.tunnels.clone());
    let mut flows = FlowTable::new(flow_config(options));
    let mut summary = Summary::default();
    let mut filtered_out = 0u64;
    let mut packets_seen = 0u64;
    let mut next_health = Timestamp(i64::MIN);
    // The first packet starts the `--open-report` clock.
    let mut next_open_report = Timestamp(i64::MIN);
    let mut progress = source
        .position()
        .and_then(|_| crate::cli::progress::Progress::on_terminal());
    let outcome: std::io::Result<()> = (|| {
        loop {
            if let Some(p) = &mut progress {
                p.packet(|| source.position());
            }
            match source.next_packet() {
                Next::Packet(packet) => {
                    if let Some(f) = &filter {
                        if !f.matches(packet.link, packet.data, packet.orig_len) {
                            filtered_out += 1;
                            continue;
                        }
                    }
                    packets_seen += 1;
                    let due = packets_seen % HEALTH_EVERY == 0 || packet.ts >= next_health;
                    if due {
                        next_health = Timestamp(packet.ts.0.saturating_add(HEALTH_INTERVAL_US));
                    }
                    if let Some(segment) = decoder.decode(&packet) {
                        if let Some(every) = options.open_report {
                            if segment.ts >= next_open_report {
                                if next_open_report.0 == i64::MIN {
                                    next_open_report = segment.ts;
                                } else {
                                    // At the last due time passed: a stretch without
                                    // packets is reported once, as it stood.
                                    let missed = (segment.ts.0 - next_open_report.0) / every;
                                    let due = next_open_report.0 + missed * every;
                                    report_open(&flows, &mut tracker, Timestamp(due))?;
                                    next_open_report = Timestamp(due);
                                }
                                next_open_report =
                                    Timestamp(next_open_report.0.saturating_add(every));
                            }
                        }
                        // Only a SYN, or any packet with -m, may open a connection.
                        if options.midstream || segment.flags.syn() {
                            tracker.seen_in(segment.tunnel);
                        }
                        flows.process(&segment, &mut tracker)?;
                    }
                    if due {
                        tracker.health(health(source, &decoder, &flows, packets_seen));
                    }
                }
                Next::End => break,
                Next::Damaged(reason) => {
                    summary
                        .notes
                        .push(format!("warning: {reason}; stopped reading there"));
                    break;
                }
            }
        }
        flows.finish(&mut tracker)?;
        tracker.health(health(source, &decoder, &flows, packets_seen));
        tracker.finish()
    })();
    if let Some(p) = &mut progress {
        p.finish();
    }
    match outcome {
        Ok(()) => {}
        // The reader went away (e.g. `| head`): stop quietly, as other filters do.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(source) => {
            return Err(RunError::Output {
                target: OutputTarget::of(options),
                source,
            })
        }
    }
    summary.stats = run_stats(
        options,
        decoder.stats(),
        source.unsupported_link_packets(),
        filtered_out,
        &AnalysisStats::of(&flows, &tracker),
        flows.stats().peak_tracked as u64,
        tracker.record_failures(),
    );
    Ok(summary)
}

/// The analysis stages' counters at the end of a run: one thread's, or a parallel
/// worker's (summed by the caller).
#[derive(Debug, Default)]
pub struct AnalysisStats {
    pub flow: FlowStats,
    pub discarded_bytes: u64,
    pub discarded_segments: u64,
    pub abandoned_bytes: u64,
    pub refused_bytes: u64,
    pub pipeline_overflow: u64,
    pub open_overflow: u64,
    pub records: u64,
}

impl AnalysisStats {
    /// Reads them off a flow table and the pipeline it fed.
    pub fn of<P: Pipeline>(flows: &FlowTable, pipeline: &P) -> Self {
        let budget = flows.queue_budget();
        AnalysisStats {
            flow: flows.stats().clone(),
            discarded_bytes: budget.discarded_bytes,
            discarded_segments: budget.discarded_segments,
            abandoned_bytes: budget.abandoned_bytes,
            refused_bytes: pipeline.refused_bytes(),
            pipeline_overflow: pipeline.pipeline_overflow(),
            open_overflow: pipeline.open_overflow(),
            records: pipeline.records(),
        }
    }
}

/// The run's summary figures from the decoding, the analysis counters (summed over the
/// workers when parallel) and the peak of connections tracked at once: the one place a
/// new counter is added, whatever the path.
pub(crate) fn run_stats(
    options: &Options,
    decoded: &crate::decode::DecodeStats,
    unsupported_link: u64,
    filtered_out: u64,
    stats: &AnalysisStats,
    peak: u64,
    command_failures: u64,
) -> RunStats {
    let flow = &stats.flow;
    RunStats {
        packets_read: filtered_out + decoded.frames + unsupported_link,
        unsupported_link,
        filtered_out,
        not_ip: decoded.non_ip,
        not_tcp: decoded.non_tcp,
        truncated: decoded.truncated,
        malformed: decoded.malformed,
        fragments: decoded.fragments,
        datagrams_reassembled: decoded.datagrams_reassembled,
        fragments_lost_hosts: decoded.fragments_discarded_hosts,
        fragments_lost_size: decoded.fragments_discarded_size,
        fragments_lost_timeout: decoded.fragments_discarded_timeout,
        fragments_lost_invalid: decoded.fragments_discarded_invalid,
        fragments_incomplete: decoded.fragments_pending,
        tcp_segments: decoded.tcp_segments,
        segments_no_connection: flow.unknown_packets,
        segments_out_of_window: flow.out_of_window,
        segments_paws: flow.paws_dropped,
        connections: flow.connections,
        connections_midstream: flow.midstream_connections,
        connections_evicted: flow.evicted,
        connections_idle_timed_out: flow.idle_timed_out,
        connections_open_at_end: flow.open_at_end,
        connections_peak: peak,
        out_of_order_discarded_bytes: stats.discarded_bytes,
        out_of_order_discarded_segments: stats.discarded_segments,
        out_of_order_undelivered_bytes: stats.abandoned_bytes,
        payload_not_kept_bytes: stats.refused_bytes,
        gaps: flow.gaps,
        gap_bytes: flow.gap_bytes,
        pipeline_overflow: stats.pipeline_overflow,
        open_overflow: stats.open_overflow,
        records: stats.records,
        command_failures,
        command: options.execute.clone(),
        max_streams: options.max_streams as u64,
        max_fragmented_hosts: options.max_fragmented_hosts as u64,
        kernel: None,
        otlp: None,
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error;

    use super::*;

    #[test]
    fn errors_keep_their_inner_error_as_the_source() {
        let format = Template::parse("%nope").unwrap_err();
        let err = RunError::Format(format.clone());
        assert_eq!(err.to_string(), format.to_string());
        let source = err.source().and_then(|e| e.downcast_ref::<FormatError>());
        assert_eq!(source, Some(&format));

        let filter = Filter::compile("tcp port").err().unwrap();
        let err = RunError::Filter(filter.clone());
        assert_eq!(err.to_string(), filter.to_string());
        let source = err.source().and_then(|e| e.downcast_ref::<FilterError>());
        assert_eq!(source, Some(&filter));

        let err = RunError::Extension(ExtensionError::UnknownUser { name: "x".into() });
        assert_eq!(err.to_string(), "-U: unknown user 'x'");
        assert!(err.source().is_some_and(|e| e.is::<ExtensionError>()));
    }

    #[test]
    fn an_output_error_says_what_was_written() {
        let full = || std::io::Error::from_raw_os_error(libc::ENOSPC);
        let err = RunError::Output {
            target: OutputTarget::Command {
                command: "cat".into(),
            },
            source: full(),
        };
        let text = err.to_string();
        assert!(
            text.starts_with("writing output to command 'cat' (-e): "),
            "{text}"
        );
        assert!(err.source().is_some_and(|e| e.is::<std::io::Error>()));
        let err = RunError::Output {
            target: OutputTarget::Stdout,
            source: full(),
        };
        assert!(err
            .to_string()
            .starts_with("writing output to standard output: "));
    }
}
