//! OpenTelemetry export (`--otlp-endpoint URL`, feature `otlp`): records as OTLP log
//! records and the metric set as OTLP metrics, over OTLP/HTTP with protobuf, through the
//! official `opentelemetry_sdk` and `opentelemetry-otlp` crates.
//!
//! Capture never waits for the collector. Records: [`Logged`] turns each record into a
//! log record (attributes from the JSON field table, [`super::json`]) and hands it to a
//! bounded queue without blocking; when the queue is full the record is dropped and
//! counted. A thread of its own batches the queue (up to [`BATCH`] records, or what came
//! in [`BATCH_EVERY`]) and exports each batch; the exporter retries a failed export with
//! exponential back-off (the SDK's [`RetryPolicy`]) within [`EXPORT_TIMEOUT`]. Metrics:
//! [`super::metrics::Metrics`] tells each measurement to the SDK's instruments
//! ([`Instruments`]), which only aggregate in memory; the SDK's periodic reader exports
//! them from its own thread (every `OTEL_METRIC_EXPORT_INTERVAL` ms, default 60 s) and at
//! the end. At the end of the run both are flushed, each within a bounded time, and what
//! could not be sent is counted ([`crate::run::OtlpStats`]).

mod http;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::{InstrumentationScope, Key, KeyValue};
use opentelemetry_otlp::{Protocol, RetryPolicy, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{LogBatch, LogExporter as _, SdkLogRecord, SdkLoggerProvider};
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider, Temporality};
use opentelemetry_sdk::Resource;
use prometheus_client::metrics::counter::Counter;

use super::json::{FieldRenderer, Fields, JsonFormat, RecordType};
use super::metrics::{Kind, Metric, Metrics, Mirror, SET};
use super::OutputStage;
use crate::exchange::{Exchange, ExchangeSink};
use crate::run::OtlpStats;

/// Most log records waiting for export.
const QUEUE: usize = 4096;
/// Most bytes of log records waiting for export, as [`ATTRIBUTE_BYTES`] estimates them:
/// with [`QUEUE`], the queue's memory bound.
const QUEUE_BYTES: usize = 32 << 20;
/// A log record's memory per attribute besides its text: the key and value, their heap
/// copies and the record's slot (measured: an exchange record of `keepalive.pcap`, 60
/// attributes and 1 KB of text, costs about 10 KB queued).
const ATTRIBUTE_BYTES: usize = 160;
/// Most log records per export request.
const BATCH: usize = 512;
/// A batch that is not full is exported this long after its first record.
const BATCH_EVERY: Duration = Duration::from_secs(1);
/// One export, retries and back-off included (the SDK's deadline for its retries).
const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);
/// One HTTP request (connect, send, answer).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// At the end, how long the queued log records may take to leave, and then the metrics.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the records come from, for the resource attributes.
#[derive(Clone, Debug)]
pub enum CaptureSource {
    Interface(String),
    File(std::path::PathBuf),
}

/// Why the exporter could not start.
#[derive(Debug)]
pub struct OtlpError(pub String);

impl std::fmt::Display for OtlpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "--otlp-endpoint: {}", self.0)
    }
}

/// The exporter's own health, shared with its threads: plain counters, also exposed as
/// metrics (both exporters, [`HEALTH`]).
#[derive(Clone, Debug, Default)]
struct Counters {
    exported: Counter,
    dropped: Counter,
    failed: Counter,
    unsent: Counter,
    metric_exports: Counter,
    metric_export_failures: Counter,
}

/// One of the exporter's health metrics: OpenTelemetry name, help, its counter.
type HealthMetric = (&'static str, &'static str, fn(&Counters) -> &Counter);

/// The exporter's health metrics.
#[rustfmt::skip]
const HEALTH: [HealthMetric; 5] = [
    ("rustniffer.otlp.log_records.exported", "Log records the collector accepted", |c| &c.exported),
    ("rustniffer.otlp.log_records.dropped", "Log records dropped because the export queue was full", |c| &c.dropped),
    ("rustniffer.otlp.log_records.failed", "Log records whose export failed after its retries", |c| &c.failed),
    ("rustniffer.otlp.metric_exports", "Metric exports the collector accepted", |c| &c.metric_exports),
    ("rustniffer.otlp.metric_exports.failed", "Metric exports that failed after their retries", |c| &c.metric_export_failures),
];

/// The running exporter: the log records' queue and thread, the meter provider.
pub struct Exporter {
    endpoint: String,
    counters: Counters,
    logs: Option<LogQueue>,
    meters: SdkMeterProvider,
    instruments: Option<Instruments>,
}

impl std::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exporter")
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

/// The capture side of the log records' queue.
struct LogQueue {
    renderer: FieldRenderer,
    logger: opentelemetry_sdk::logs::SdkLogger,
    sender: SyncSender<(SdkLogRecord, usize)>,
    /// Bytes of attribute text queued.
    queued_bytes: Arc<AtomicUsize>,
    /// Records queued and not yet exported or failed.
    pending: Arc<AtomicU64>,
    counters: Counters,
    /// Told when the export thread has finished.
    done: Receiver<()>,
    fields: LogFields,
}

fn hostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; the kernel NUL-terminates a name that
    // fits, and a name that does not is cut at the buffer's end below.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8(buf.get(..len)?.to_vec()).ok()
}

/// `URL` + `path`, with one slash between.
fn signal_url(base: &str, path: &str) -> String {
    format!("{}{path}", base.trim_end_matches('/'))
}

impl Exporter {
    /// Checks `endpoint` (`http://HOST:PORT`, the collector's OTLP/HTTP base), builds the
    /// exporters and starts the log records' thread. Nothing is sent yet.
    pub fn start(endpoint: &str, source: &CaptureSource) -> Result<Exporter, OtlpError> {
        let uri: ::http::Uri = endpoint
            .parse()
            .map_err(|e| OtlpError(format!("'{endpoint}' is not a URL: {e}")))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => {
                return Err(OtlpError(format!(
                "'{endpoint}': https is not supported; send to a node-local collector over http://"
            )))
            }
            _ => {
                return Err(OtlpError(format!(
                    "'{endpoint}' is not an http:// URL (such as http://127.0.0.1:4318)"
                )))
            }
        }
        if uri.host().is_none() {
            return Err(OtlpError(format!("'{endpoint}' has no host")));
        }
        let mut resource = Resource::builder()
            .with_service_name("rustniffer")
            .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")));
        if let Some(host) = hostname() {
            resource = resource.with_attribute(KeyValue::new("host.name", host));
        }
        resource = resource.with_attribute(match source {
            CaptureSource::Interface(name) => {
                KeyValue::new("rustniffer.capture.interface", name.clone())
            }
            CaptureSource::File(path) => {
                KeyValue::new("rustniffer.capture.file", path.display().to_string())
            }
        });
        let resource = resource.build();
        let client = http::StdClient {
            timeout: REQUEST_TIMEOUT,
        };
        let retry = RetryPolicy::recommended();
        let build_error = |e: opentelemetry_otlp::ExporterBuildError| OtlpError(e.to_string());
        let mut log_exporter = opentelemetry_otlp::LogExporter::builder()
            .with_http()
            .with_http_client(client)
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(signal_url(endpoint, "/v1/logs"))
            .with_timeout(EXPORT_TIMEOUT)
            .with_retry_policy(retry.clone())
            .build()
            .map_err(build_error)?;
        log_exporter.set_resource(&resource);
        let metric_exporter = opentelemetry_otlp::MetricExporter::builder()
            .with_http()
            .with_http_client(client)
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(signal_url(endpoint, "/v1/metrics"))
            .with_timeout(EXPORT_TIMEOUT)
            .with_retry_policy(retry)
            .build()
            .map_err(build_error)?;
        let counters = Counters::default();
        let reader = PeriodicReader::builder(CountedMetricExporter {
            inner: metric_exporter,
            counters: counters.clone(),
            endpoint: endpoint.to_string(),
            warned: Mutex::new(false),
        })
        .build();
        let meters = SdkMeterProvider::builder()
            .with_resource(resource.clone())
            .with_reader(reader)
            .build();
        let scope = InstrumentationScope::builder("rustniffer")
            .with_version(env!("CARGO_PKG_VERSION"))
            .build();
        let meter = meters.meter_with_scope(scope.clone());
        let instruments = Instruments::new(&meter);
        for (name, help, counter) in HEALTH {
            let counter = counter(&counters).clone();
            meter
                .u64_observable_counter(name)
                .with_description(help)
                .with_callback(move |observer| observer.observe(counter.get(), &[]))
                .build();
        }
        // The provider only makes loggers: records go through our queue, not its
        // processors.
        let loggers = SdkLoggerProvider::builder().with_resource(resource).build();
        let logger = loggers.logger_with_scope(scope.clone());
        let (sender, receiver) = std::sync::mpsc::sync_channel(QUEUE);
        let (done_sender, done) = std::sync::mpsc::channel();
        let queued_bytes = Arc::new(AtomicUsize::new(0));
        let pending = Arc::new(AtomicU64::new(0));
        let thread = ExportThread {
            exporter: log_exporter,
            scope,
            receiver,
            queued_bytes: Arc::clone(&queued_bytes),
            pending: Arc::clone(&pending),
            counters: counters.clone(),
            endpoint: endpoint.to_string(),
            warned: false,
        };
        std::thread::Builder::new()
            .name("otlp-logs".into())
            .spawn(move || {
                thread.run();
                let _ = done_sender.send(());
            })
            .map_err(|e| OtlpError(format!("cannot start the export thread: {e}")))?;
        Ok(Exporter {
            endpoint: endpoint.to_string(),
            counters: counters.clone(),
            logs: Some(LogQueue {
                renderer: FieldRenderer::new(JsonFormat::new()),
                logger,
                sender,
                queued_bytes,
                pending,
                counters,
                done,
                fields: LogFields::default(),
            }),
            meters,
            instruments: Some(instruments),
        })
    }

    /// What the exchange layer must keep for the log records' attributes.
    pub fn needs(&self) -> crate::exchange::Needs {
        self.logs
            .as_ref()
            .map_or_else(Default::default, |l| l.renderer.needs())
    }

    /// `metrics` with every measurement also recorded by the OpenTelemetry instruments,
    /// and the exporter's health counters in its Prometheus registry.
    pub fn meter(&mut self, metrics: Metrics) -> Metrics {
        for (name, help, counter) in HEALTH {
            let name = name.replace('.', "_");
            metrics.register_counter(&name, help, counter(&self.counters).clone());
        }
        match self.instruments.take() {
            Some(instruments) => metrics.with_mirror(Box::new(instruments)),
            None => metrics,
        }
    }

    /// Sends what is left (each signal within [`FLUSH_TIMEOUT`]) and stops.
    fn finish(&mut self) {
        if let Some(logs) = self.logs.take() {
            let LogQueue {
                sender,
                done,
                pending,
                counters,
                ..
            } = logs;
            // The thread exports what is queued, then ends.
            drop(sender);
            if done.recv_timeout(FLUSH_TIMEOUT).is_err() {
                counters.unsent.inc_by(pending.load(Ordering::Relaxed));
            }
        }
        let _ = self.meters.shutdown_with_timeout(FLUSH_TIMEOUT);
    }

    /// A handle on the counters that outlives the exporter (for the end-of-run summary).
    pub fn stats_handle(&self) -> StatsHandle {
        StatsHandle(self.counters.clone())
    }
}

/// A run that stops early (an output error) still sends what it can, within the same
/// bounds.
impl Drop for Exporter {
    fn drop(&mut self) {
        if self.logs.is_some() {
            self.finish();
        }
    }
}

/// Reads the exporter's counters after the pipeline that owns it has finished.
#[derive(Clone, Debug)]
pub struct StatsHandle(Counters);

impl StatsHandle {
    pub fn stats(&self) -> OtlpStats {
        let c = &self.0;
        OtlpStats {
            log_records_exported: c.exported.get(),
            log_records_dropped: c.dropped.get(),
            log_records_failed: c.failed.get(),
            log_records_unsent: c.unsent.get(),
            metric_exports: c.metric_exports.get(),
            metric_export_failures: c.metric_export_failures.get(),
        }
    }
}

impl LogQueue {
    /// `record` as a log record, queued; dropped and counted when the queue is full.
    fn emit(&mut self, kind: RecordType, record: &Exchange<'_>) {
        let mut log = self.logger.create_log_record();
        self.fields.clear();
        self.renderer.fields(record, &mut self.fields);
        let fields = &mut self.fields;
        let size = fields.bytes + fields.attributes.len() * ATTRIBUTE_BYTES;
        let queued = self.queued_bytes.load(Ordering::Relaxed);
        if queued.saturating_add(size) > QUEUE_BYTES {
            self.counters.dropped.inc();
            return;
        }
        log.set_event_name(match kind {
            RecordType::Exchange => "rustniffer.exchange",
            RecordType::Connection => "rustniffer.connection",
            RecordType::Open => "rustniffer.open",
        });
        log.set_severity_number(Severity::Info);
        log.set_severity_text("INFO");
        log.set_observed_timestamp(SystemTime::now());
        // The record's own time: when its request began, else when its connection did.
        if let Some(us) = fields.request_time.or(fields.connection_start) {
            if let Some(t) = epoch_micros(us) {
                log.set_timestamp(t);
            }
        }
        log.set_body(AnyValue::from(fields.body(kind)));
        log.add_attribute(
            Key::from_static_str("rustniffer.record.type"),
            kind.as_str(),
        );
        for (key, value) in fields.attributes.drain(..) {
            log.add_attribute(key, value);
        }
        self.queued_bytes.fetch_add(size, Ordering::Relaxed);
        self.pending.fetch_add(1, Ordering::Relaxed);
        match self.sender.try_send((log, size)) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.queued_bytes.fetch_sub(size, Ordering::Relaxed);
                self.pending.fetch_sub(1, Ordering::Relaxed);
                self.counters.dropped.inc();
            }
        }
    }
}

fn epoch_micros(us: i64) -> Option<SystemTime> {
    let us = u64::try_from(us).ok()?;
    SystemTime::UNIX_EPOCH.checked_add(Duration::from_micros(us))
}

/// A record's fields as log record attributes, typed.
#[derive(Default)]
struct LogFields {
    attributes: Vec<(Key, AnyValue)>,
    /// Bytes of text, for the queue's bound.
    bytes: usize,
    request_time: Option<i64>,
    connection_start: Option<i64>,
    method: Option<String>,
    path: Option<String>,
    status: Option<i64>,
    client: Option<String>,
    server: Option<String>,
}

impl LogFields {
    fn clear(&mut self) {
        self.attributes.clear();
        self.bytes = 0;
        self.request_time = None;
        self.connection_start = None;
        self.method = None;
        self.path = None;
        self.status = None;
        self.client = None;
        self.server = None;
    }

    fn push(&mut self, name: &str, value: AnyValue) {
        self.bytes += name.len();
        self.attributes.push((Key::from(name.to_string()), value));
    }

    /// A short text: `GET /path 200` for an exchange, the endpoints otherwise.
    fn body(&self, kind: RecordType) -> String {
        match (kind, &self.method) {
            (RecordType::Exchange, Some(method)) => {
                let mut body = format!("{method} {}", self.path.as_deref().unwrap_or("-"));
                if let Some(status) = self.status {
                    body.push_str(&format!(" {status}"));
                }
                body
            }
            _ => format!(
                "{} {} -> {}",
                kind.as_str(),
                self.client.as_deref().unwrap_or("-"),
                self.server.as_deref().unwrap_or("-")
            ),
        }
    }
}

/// Text as a string value, or bytes when it is not UTF-8 (lossless).
fn text_value(value: &[u8]) -> AnyValue {
    match std::str::from_utf8(value) {
        Ok(text) => AnyValue::String(text.to_string().into()),
        Err(_) => AnyValue::Bytes(Box::new(value.to_vec())),
    }
}

impl Fields for LogFields {
    fn text(&mut self, name: &str, value: &[u8]) {
        self.bytes += value.len();
        let text = || String::from_utf8_lossy(value).into_owned();
        match name {
            "http.request.method" => self.method = Some(text()),
            "url.path" => self.path = Some(text()),
            "client.address" => self.client = Some(text()),
            "server.address" => self.server = Some(text()),
            _ => {}
        }
        self.push(name, text_value(value));
    }

    fn int(&mut self, name: &str, digits: &[u8]) {
        let Some(n) = std::str::from_utf8(digits)
            .ok()
            .and_then(|d| d.parse::<i64>().ok())
        else {
            return;
        };
        match name {
            "http.response.status_code" => self.status = Some(n),
            "client.port" => {
                if let Some(c) = &mut self.client {
                    c.push_str(&format!(":{n}"));
                }
            }
            "server.port" => {
                if let Some(s) = &mut self.server {
                    s.push_str(&format!(":{n}"));
                }
            }
            _ => {}
        }
        self.push(name, AnyValue::Int(n));
    }

    fn seconds(&mut self, name: &str, text: &[u8]) {
        if let Some(s) = std::str::from_utf8(text)
            .ok()
            .and_then(|t| t.parse::<f64>().ok())
        {
            self.push(name, AnyValue::Double(s));
        }
    }

    fn time(&mut self, name: &str, epoch_name: &str, us: i64) {
        match name {
            "rustniffer.request.time" => self.request_time = Some(us),
            "tcp.connection.start" => self.connection_start = Some(us),
            _ => {}
        }
        let mut text = Vec::with_capacity(27);
        super::json::write_rfc3339(&mut text, us);
        self.push(
            name,
            AnyValue::String(String::from_utf8_lossy(&text).into_owned().into()),
        );
        self.push(epoch_name, AnyValue::Int(us));
    }

    fn bool(&mut self, name: &str, value: Option<bool>) {
        if let Some(b) = value {
            self.push(name, AnyValue::Boolean(b));
        }
    }

    fn header<'v>(&mut self, prefix: &str, name: &[u8], values: impl Iterator<Item = &'v [u8]>) {
        let mut key = String::with_capacity(prefix.len() + name.len());
        key.push_str(prefix);
        key.extend(name.iter().map(|b| char::from(b.to_ascii_lowercase())));
        let values: Vec<AnyValue> = values
            .map(|v| {
                self.bytes += v.len();
                text_value(v)
            })
            .collect();
        self.push(&key, AnyValue::ListAny(Box::new(values)));
    }
}

/// The log records' export thread: batches the queue and exports each batch.
struct ExportThread {
    exporter: opentelemetry_otlp::LogExporter,
    scope: InstrumentationScope,
    receiver: Receiver<(SdkLogRecord, usize)>,
    queued_bytes: Arc<AtomicUsize>,
    pending: Arc<AtomicU64>,
    counters: Counters,
    endpoint: String,
    /// A failure was said (once per run).
    warned: bool,
}

impl ExportThread {
    fn run(mut self) {
        let mut batch: Vec<(SdkLogRecord, usize)> = Vec::with_capacity(BATCH);
        let mut first_at = Instant::now();
        loop {
            let wait = match batch.is_empty() {
                true => BATCH_EVERY,
                false => BATCH_EVERY.saturating_sub(first_at.elapsed()),
            };
            match self.receiver.recv_timeout(wait) {
                Ok(record) => {
                    if batch.is_empty() {
                        first_at = Instant::now();
                    }
                    batch.push(record);
                    if batch.len() >= BATCH {
                        self.export(&mut batch);
                    }
                }
                Err(RecvTimeoutError::Timeout) => self.export(&mut batch),
                Err(RecvTimeoutError::Disconnected) => {
                    self.export(&mut batch);
                    break;
                }
            }
        }
        let _ = self.exporter.shutdown_with_timeout(REQUEST_TIMEOUT);
    }

    fn export(&mut self, batch: &mut Vec<(SdkLogRecord, usize)>) {
        if batch.is_empty() {
            return;
        }
        let refs: Vec<(&SdkLogRecord, &InstrumentationScope)> =
            batch.iter().map(|(r, _)| (r, &self.scope)).collect();
        let result = block_on(self.exporter.export(LogBatch::new(&refs)));
        let n = batch.len() as u64;
        match result {
            Ok(()) => {
                self.counters.exported.inc_by(n);
            }
            Err(e) => {
                self.counters.failed.inc_by(n);
                if !self.warned {
                    self.warned = true;
                    super::warn(format_args!(
                        "OTLP: cannot export log records to {}: {e} (retried; such records are counted as failed)",
                        self.endpoint
                    ));
                }
            }
        }
        let bytes: usize = batch.iter().map(|(_, size)| size).sum();
        self.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
        self.pending.fetch_sub(n, Ordering::Relaxed);
        batch.clear();
    }
}

/// Runs an export future on this thread. The transport is blocking (`http::StdClient`)
/// and the SDK's retries sleep on the thread, so the future is ready at its first poll
/// in practice; a pending one is polled again after a short sleep.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut context) {
            return out;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The metric exporter, counting exports and saying the first failure.
struct CountedMetricExporter {
    inner: opentelemetry_otlp::MetricExporter,
    counters: Counters,
    endpoint: String,
    warned: Mutex<bool>,
}

impl PushMetricExporter for CountedMetricExporter {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        let result = self.inner.export(metrics).await;
        match &result {
            Ok(()) => {
                self.counters.metric_exports.inc();
            }
            Err(e) => {
                self.counters.metric_export_failures.inc();
                let mut warned = self.warned.lock().unwrap_or_else(|p| p.into_inner());
                if !*warned {
                    *warned = true;
                    super::warn(format_args!(
                        "OTLP: cannot export metrics to {}: {e} (retried; the next export carries the totals)",
                        self.endpoint
                    ));
                }
            }
        }
        result
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn temporality(&self) -> Temporality {
        self.inner.temporality()
    }
}

/// One OpenTelemetry instrument per metric of [`SET`].
enum Instrument {
    Counter(opentelemetry::metrics::Counter<u64>),
    UpDown(opentelemetry::metrics::UpDownCounter<i64>),
    Histogram(opentelemetry::metrics::Histogram<f64>),
}

/// The metric set as OpenTelemetry instruments: the [`Mirror`] of [`Metrics`].
struct Instruments {
    all: Vec<Instrument>,
    attributes: Vec<KeyValue>,
}

impl Instruments {
    fn new(meter: &opentelemetry::metrics::Meter) -> Self {
        let all = SET
            .iter()
            .map(|d| match d.kind {
                Kind::Counter => Instrument::Counter(
                    meter
                        .u64_counter(d.name)
                        .with_description(d.help)
                        .with_unit(d.unit)
                        .build(),
                ),
                Kind::UpDown => Instrument::UpDown(
                    meter
                        .i64_up_down_counter(d.name)
                        .with_description(d.help)
                        .with_unit(d.unit)
                        .build(),
                ),
                Kind::Histogram(buckets) => Instrument::Histogram(
                    meter
                        .f64_histogram(d.name)
                        .with_description(d.help)
                        .with_unit(d.unit)
                        .with_boundaries(buckets.bounds())
                        .build(),
                ),
            })
            .collect();
        Instruments {
            all,
            attributes: Vec::with_capacity(8),
        }
    }
}

impl Mirror for Instruments {
    fn record(&mut self, metric: Metric, labels: &[(&'static str, &str)], value: f64) {
        self.attributes.clear();
        for &(key, text) in labels {
            let key = Key::from_static_str(key);
            if key.as_str() == "server.port" {
                // A number, as the semantic conventions type it; none for `other`.
                if let Ok(port) = text.parse::<i64>() {
                    self.attributes.push(KeyValue::new(key, port));
                }
                continue;
            }
            self.attributes.push(KeyValue::new(key, text.to_string()));
        }
        match self.all.get(metric as usize) {
            Some(Instrument::Counter(c)) => c.add(value as u64, &self.attributes),
            Some(Instrument::UpDown(c)) => c.add(value as i64, &self.attributes),
            Some(Instrument::Histogram(h)) => h.record(value, &self.attributes),
            None => {}
        }
    }
}

/// `inner` with its records also sent as OTLP log records (none when `exporter` is
/// `None`; `per_connection`: connection records rather than exchange records).
pub fn logged<S>(inner: S, exporter: Option<Exporter>, per_connection: bool) -> Logged<S> {
    Logged::new(inner, exporter, per_connection)
}

/// An output stage whose records also leave as OTLP log records; at the end, everything
/// is flushed.
pub struct Logged<S> {
    inner: S,
    exporter: Option<Exporter>,
    per_connection: bool,
}

impl<S> Logged<S> {
    pub fn new(inner: S, exporter: Option<Exporter>, per_connection: bool) -> Self {
        Logged {
            inner,
            exporter,
            per_connection,
        }
    }

    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn emit(&mut self, kind: RecordType, record: &Exchange<'_>) {
        if let Some(logs) = self.exporter.as_mut().and_then(|e| e.logs.as_mut()) {
            logs.emit(kind, record);
        }
    }
}

impl<S: ExchangeSink> ExchangeSink for Logged<S> {
    fn exchange(&mut self, exchange: &Exchange<'_>) -> std::io::Result<()> {
        if !self.per_connection {
            self.emit(RecordType::Exchange, exchange);
        }
        self.inner.exchange(exchange)
    }

    fn connection(&mut self, record: &Exchange<'_>) -> std::io::Result<()> {
        if self.per_connection {
            self.emit(RecordType::Connection, record);
        }
        self.inner.connection(record)
    }

    fn interim(&mut self, record: &Exchange<'_>) -> std::io::Result<()> {
        self.emit(RecordType::Open, record);
        self.inner.interim(record)
    }

    crate::exchange::forward_exchange_sink!(inner: wants_payload, opening, open, request, response, closed, timed_out, truncated);
}

impl<S: OutputStage> OutputStage for Logged<S> {
    fn finish(&mut self) -> std::io::Result<()> {
        let inner = self.inner.finish();
        if let Some(e) = &mut self.exporter {
            e.finish();
        }
        inner
    }

    fn record_failures(&self) -> u64 {
        self.inner.record_failures()
    }

    fn per_connection(&self) -> bool {
        self.inner.per_connection()
    }

    fn health(&mut self, health: super::metrics::Health) {
        self.inner.health(health)
    }

    fn renders_records(&self) -> bool {
        self.inner.renders_records()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_paths_join_the_base_with_one_slash() {
        assert_eq!(
            signal_url("http://127.0.0.1:4318/", "/v1/logs"),
            "http://127.0.0.1:4318/v1/logs"
        );
        assert_eq!(
            signal_url("http://c:4318", "/v1/metrics"),
            "http://c:4318/v1/metrics"
        );
    }

    #[test]
    fn only_http_endpoints_start() {
        let file = CaptureSource::File("x.pcap".into());
        for bad in ["https://c:4318", "c:4318", "ftp://c", "http://"] {
            assert!(Exporter::start(bad, &file).is_err(), "{bad}");
        }
    }

    #[test]
    fn fields_become_typed_attributes() {
        let mut f = LogFields::default();
        f.text("http.request.method", b"GET");
        f.text("url.path", b"/a");
        f.int("http.response.status_code", b"200");
        f.seconds("rustniffer.response.duration", b"0.000250");
        f.text("rustniffer.request.line", b"\xff\xfe");
        f.bool("rustniffer.exchange.complete", Some(true));
        f.time(
            "rustniffer.request.time",
            "rustniffer.request.time_us",
            1_000_001,
        );
        assert_eq!(f.body(RecordType::Exchange), "GET /a 200");
        let get = |name: &str| {
            f.attributes
                .iter()
                .find(|(k, _)| k.as_str() == name)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(get("http.response.status_code"), Some(AnyValue::Int(200)));
        assert_eq!(
            get("rustniffer.response.duration"),
            Some(AnyValue::Double(0.00025))
        );
        assert_eq!(
            get("rustniffer.request.line"),
            Some(AnyValue::Bytes(Box::new(vec![0xff, 0xfe])))
        );
        assert_eq!(
            get("rustniffer.request.time"),
            Some(AnyValue::String("1970-01-01T00:00:01.000001Z".into()))
        );
        assert_eq!(
            get("rustniffer.request.time_us"),
            Some(AnyValue::Int(1_000_001))
        );
        assert_eq!(f.request_time, Some(1_000_001));
    }
}
