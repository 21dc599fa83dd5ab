//! Prometheus metrics (`--metrics-listen`, `--metrics-file`): HTTP request durations and
//! the TCP lifecycle per service, and the tool's own health, in the OpenMetrics text
//! format, with the OpenTelemetry→Prometheus names (`http_server_request_duration_seconds`
//! for the semantic convention `http.server.request.duration`).
//!
//! [`Metered`] wraps the output stage: every record and event goes on to it unchanged,
//! and the metrics are counted on the way. The metric handles are shared with the
//! registry (atomics inside), so a scrape encodes the registry under its lock while
//! capture only ever touches the handles: a slow or stuck scraper never blocks capture.
//! Label cardinality is bounded: the first `max_services` services (server address and
//! port) get their own labels, later ones are counted under `server_address="other"`.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use super::OutputStage;
use crate::decode::Endpoint;
use crate::exchange::connection::CloseHow;
use crate::exchange::{http, Exchange, ExchangeSink};
use crate::flow::{ConnId, Direction};
use crate::time::Timestamp;

/// Default bound on the services with labels of their own.
pub const DEFAULT_MAX_SERVICES: usize = 100;

/// Bucket bounds of `http.server.request.duration` in the OpenTelemetry semantic
/// conventions (seconds).
const REQUEST_DURATION_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// How a metric accumulates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up.
    Counter,
    /// Goes up and down (connections open now).
    UpDown,
    Histogram(Buckets),
}

/// Histogram bucket bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Buckets {
    /// `http.server.request.duration`'s, in seconds.
    RequestDuration,
    /// Counts per connection: 1, 2, 3, 5, 10 … 10000.
    Counts,
    /// 1 ms to ~1 h, doubling.
    Seconds,
}

impl Buckets {
    pub fn bounds(self) -> Vec<f64> {
        match self {
            Buckets::RequestDuration => REQUEST_DURATION_BUCKETS.to_vec(),
            Buckets::Counts => vec![1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 50.0, 100.0, 1000.0, 10000.0],
            Buckets::Seconds => {
                prometheus_client::metrics::histogram::exponential_buckets(0.001, 2.0, 23).collect()
            }
        }
    }
}

/// One metric of the set, as both exporters name it: `name` is the OpenTelemetry name;
/// the Prometheus one is the same with `_` for `.` (plus `_seconds` for unit `s`, and
/// `_total` for counters).
#[derive(Debug)]
pub struct MetricDef {
    pub name: &'static str,
    pub help: &'static str,
    /// UCUM unit, as OpenTelemetry writes it.
    pub unit: &'static str,
    pub kind: Kind,
}

impl MetricDef {
    fn prometheus_name(&self) -> String {
        self.name.replace('.', "_")
    }

    fn prometheus_unit(&self) -> Option<Unit> {
        (self.unit == "s").then_some(Unit::Seconds)
    }
}

/// The metrics of the set, by position in [`SET`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    RequestDuration,
    Opened,
    Closed,
    Open,
    Exchanges,
    Handshake,
    IdleBeforeClose,
    H2Streams,
    H2PingRtt,
    H2Goaways,
    WsEnded,
    WsSilence,
    Packets,
    KernelDrops,
    DecodeFailures,
    Evictions,
    OutOfOrderDiscarded,
}

impl Metric {
    pub fn def(self) -> &'static MetricDef {
        &SET[self as usize]
    }
}

const fn def(name: &'static str, unit: &'static str, kind: Kind, help: &'static str) -> MetricDef {
    MetricDef {
        name,
        help,
        unit,
        kind,
    }
}

/// Every metric: the Prometheus registry and the OpenTelemetry meter are both built from
/// this table (docs/metrics.md lists it).
#[rustfmt::skip]
pub static SET: [MetricDef; 17] = [
    def("http.server.request.duration", "s", Kind::Histogram(Buckets::RequestDuration), "Duration of HTTP exchanges seen on the wire: first request byte to last response byte (OpenTelemetry http.server.request.duration)"),
    def("rustniffer.tcp.connections.opened", "{connection}", Kind::Counter, "TCP connections opened (first SYN seen)"),
    def("rustniffer.tcp.connections.closed", "{connection}", Kind::Counter, "TCP connections ended, by the side that closed and how"),
    def("rustniffer.tcp.connections.open", "{connection}", Kind::UpDown, "TCP connections open now"),
    def("rustniffer.tcp.connection.exchanges", "{exchange}", Kind::Histogram(Buckets::Counts), "Exchanges carried by each ended connection (1 = not reused)"),
    def("rustniffer.tcp.handshake.duration", "s", Kind::Histogram(Buckets::Seconds), "SYN to the handshake's ACK"),
    def("rustniffer.tcp.idle_before_close", "s", Kind::Histogram(Buckets::Seconds), "End of a connection's last exchange to its first FIN or RST"),
    def("rustniffer.http2.streams_per_connection", "{stream}", Kind::Histogram(Buckets::Counts), "HTTP/2 streams carried by each ended h2c connection (1 = not multiplexed)"),
    def("rustniffer.http2.ping.rtt", "s", Kind::Histogram(Buckets::Seconds), "Last HTTP/2 PING round trip of each ended connection, seen from the capture point"),
    def("rustniffer.http2.goaways", "{connection}", Kind::Counter, "HTTP/2 connections that ended with a GOAWAY, by its sender and error code"),
    def("rustniffer.websocket.connections.ended", "{connection}", Kind::Counter, "WebSocket connections ended, by how: clean, unanswered, abnormal (no Close), open"),
    def("rustniffer.websocket.silence.max", "s", Kind::Histogram(Buckets::Seconds), "Longest time without a WebSocket message either way, per ended connection"),
    def("rustniffer.packets", "{packet}", Kind::Counter, "Packets read"),
    def("rustniffer.capture.kernel.dropped_packets", "{packet}", Kind::Counter, "Packets the kernel dropped because the capture ring was full (live capture)"),
    def("rustniffer.decode.failures", "{packet}", Kind::Counter, "Packets that could not be decoded (truncated or malformed)"),
    def("rustniffer.connections.evicted", "{connection}", Kind::Counter, "Connections evicted from a full table"),
    def("rustniffer.out_of_order.discarded_bytes", "By", Kind::Counter, "Out-of-order bytes discarded at a bound"),
];

/// A second destination for every measurement (OpenTelemetry, feature `otlp`): told
/// each value as it is counted, with the labels under their OpenTelemetry names. A
/// counter's value is its increment, an up-down counter's its change.
pub trait Mirror: Send {
    fn record(&mut self, metric: Metric, labels: &[(&'static str, &str)], value: f64);
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServiceLabels {
    server_address: String,
    server_port: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    server_address: String,
    server_port: String,
    http_request_method: String,
    http_response_status_class: String,
    network_protocol_version: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CloseLabels {
    server_address: String,
    server_port: String,
    /// `client`, `server` or `none` (evicted, truncated, idle).
    closed_by: String,
    /// `fin`, `rst`, `idle-timeout`, `evicted`, `truncated`.
    close_how: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GoawayLabels {
    server_address: String,
    server_port: String,
    /// `client` or `server`.
    sender: String,
    /// The RFC 9113 error code name (`NO_ERROR`…), else the number.
    error_code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WebSocketEndLabels {
    server_address: String,
    server_port: String,
    /// `clean`, `unanswered`, `abnormal` (1006: no Close frame) or `open` (cut by the
    /// end of the capture or an eviction).
    end: String,
}

impl ServiceLabels {
    /// Under their OpenTelemetry names.
    fn attributes(&self) -> [(&'static str, &str); 2] {
        [
            ("server.address", &self.server_address),
            ("server.port", &self.server_port),
        ]
    }
}

impl RequestLabels {
    fn attributes(&self) -> [(&'static str, &str); 5] {
        [
            ("server.address", &self.server_address),
            ("server.port", &self.server_port),
            ("http.request.method", &self.http_request_method),
            (
                "http.response.status_class",
                &self.http_response_status_class,
            ),
            ("network.protocol.version", &self.network_protocol_version),
        ]
    }
}

impl CloseLabels {
    fn attributes(&self) -> [(&'static str, &str); 4] {
        [
            ("server.address", &self.server_address),
            ("server.port", &self.server_port),
            ("tcp.close.by", &self.closed_by),
            ("tcp.close.how", &self.close_how),
        ]
    }
}

impl GoawayLabels {
    fn attributes(&self) -> [(&'static str, &str); 4] {
        [
            ("server.address", &self.server_address),
            ("server.port", &self.server_port),
            ("rustniffer.http2.goaway.sender", &self.sender),
            ("rustniffer.http2.goaway.error_code", &self.error_code),
        ]
    }
}

impl WebSocketEndLabels {
    fn attributes(&self) -> [(&'static str, &str); 3] {
        [
            ("server.address", &self.server_address),
            ("server.port", &self.server_port),
            ("rustniffer.websocket.end", &self.end),
        ]
    }
}

/// The tool's own counters, copied from the run loop.
#[derive(Clone, Copy, Debug, Default)]
pub struct Health {
    pub packets: u64,
    pub kernel_drops: u64,
    pub decode_failures: u64,
    pub evictions: u64,
    pub out_of_order_discarded_bytes: u64,
}

/// What the metrics read of an HTTP exchange record ([`Metrics::add_request`]): the
/// words of its first lines and its duration, taken where the record is made (a
/// parallel run's worker) and counted where the metrics are (its merger).
#[derive(Clone, Copy, Debug)]
pub struct RequestFacts<'a> {
    pub server: Endpoint,
    pub method: &'a [u8],
    /// The version after `HTTP/`.
    pub version: &'a [u8],
    pub status: &'a [u8],
    /// First request byte to last response byte.
    pub micros: i64,
}

impl<'a> RequestFacts<'a> {
    /// The facts of an HTTP exchange with a request and a response (`None` else).
    pub fn of(e: &Exchange<'a>) -> Option<Self> {
        let line = http::first_line(e.request);
        let version = http::word(line, 2).strip_prefix(b"HTTP/")?;
        let (Some(first), Some(last)) = (e.request_first, e.response_last) else {
            return None;
        };
        Some(RequestFacts {
            server: e.server,
            method: http::word(line, 0),
            version,
            status: http::word(http::first_line(e.response), 1),
            micros: last.micros_since(first),
        })
    }
}

/// What the metrics read of a connection record ([`Metrics::add_connection`]).
#[derive(Clone, Copy, Debug)]
pub struct ConnectionFacts {
    pub server: Endpoint,
    by: Option<Direction>,
    how: CloseHow,
    exchanges: u32,
    handshake: Option<i64>,
    idle_before_close: Option<i64>,
    h2: Option<H2Ended>,
    /// A WebSocket's end and longest silence.
    ws: Option<(Option<crate::exchange::ws_facts::WsEnd>, Option<i64>)>,
}

/// An HTTP/2 connection's facts at its end.
#[derive(Clone, Copy, Debug)]
struct H2Ended {
    streams: u32,
    ping_micros: Option<i64>,
    /// The last GOAWAY's sender and error code.
    goaway: Option<(crate::exchange::h2_facts::Side, u32)>,
}

impl ConnectionFacts {
    /// The facts of a connection record (`None` for any other record).
    pub fn of(record: &Exchange<'_>) -> Option<Self> {
        let c = record.connection?;
        let facts = c.protocol_facts;
        Some(ConnectionFacts {
            server: record.server,
            by: c.by,
            how: c.how,
            exchanges: c.exchanges(),
            handshake: c.handshake(),
            idle_before_close: c.idle_when_closed(),
            h2: facts.and_then(|f| f.h2.as_ref()).map(|h2| H2Ended {
                streams: h2.streams,
                ping_micros: h2.last_ping.map(|p| p.micros),
                goaway: h2.goaway.as_ref().map(|g| (g.by, g.code)),
            }),
            ws: facts
                .and_then(|f| f.ws.as_ref())
                .map(|ws| (ws.end, ws.silence_max)),
        })
    }
}

/// Every metric handle, and the registry that encodes them.
pub struct Metrics {
    registry: Arc<Mutex<Registry>>,
    requests: Family<RequestLabels, Histogram, fn() -> Histogram>,
    opened: Family<ServiceLabels, Counter>,
    closed: Family<CloseLabels, Counter>,
    open_now: Family<ServiceLabels, Gauge>,
    exchanges_per_connection: Family<ServiceLabels, Histogram, fn() -> Histogram>,
    handshake: Family<ServiceLabels, Histogram, fn() -> Histogram>,
    idle_before_close: Family<ServiceLabels, Histogram, fn() -> Histogram>,
    h2_streams: Family<ServiceLabels, Histogram, fn() -> Histogram>,
    h2_ping_rtt: Family<ServiceLabels, Histogram, fn() -> Histogram>,
    h2_goaways: Family<GoawayLabels, Counter>,
    ws_ended: Family<WebSocketEndLabels, Counter>,
    ws_silence: Family<ServiceLabels, Histogram, fn() -> Histogram>,
    packets: Counter,
    kernel_drops: Counter,
    decode_failures: Counter,
    evictions: Counter,
    out_of_order_discarded: Counter,
    /// What the health counters held at the last update (counters only go up).
    health: Health,
    /// Services with labels of their own, in order of appearance.
    services: Vec<(IpAddr, u16)>,
    max_services: usize,
    /// Services of the connections open now, by connection id (for `open_now`).
    open_services: Vec<Option<ServiceLabels>>,
    /// OpenTelemetry's instruments (`--otlp-endpoint`).
    mirror: Option<Box<dyn Mirror>>,
}

/// A family of `metric`'s histograms, registered.
fn histograms<L>(registry: &mut Registry, metric: Metric) -> Family<L, Histogram, fn() -> Histogram>
where
    L: Clone + std::hash::Hash + Eq + EncodeLabelSet + std::fmt::Debug + Send + Sync + 'static,
{
    let d = metric.def();
    let buckets: fn() -> Histogram = match d.kind {
        Kind::Histogram(Buckets::RequestDuration) => {
            || Histogram::new(Buckets::RequestDuration.bounds())
        }
        Kind::Histogram(Buckets::Counts) => || Histogram::new(Buckets::Counts.bounds()),
        _ => || Histogram::new(Buckets::Seconds.bounds()),
    };
    let family = Family::new_with_constructor(buckets);
    register(registry, metric, family.clone());
    family
}

/// `metric` registered under its Prometheus name.
fn register(
    registry: &mut Registry,
    metric: Metric,
    handle: impl prometheus_client::registry::Metric,
) {
    let d = metric.def();
    match d.prometheus_unit() {
        Some(unit) => registry.register_with_unit(d.prometheus_name(), d.help, unit, handle),
        None => registry.register(d.prometheus_name(), d.help, handle),
    }
}

/// A family of `metric`'s counters or gauges, registered.
fn family<L, M>(registry: &mut Registry, metric: Metric) -> Family<L, M>
where
    L: Clone + std::hash::Hash + Eq + EncodeLabelSet + std::fmt::Debug + Send + Sync + 'static,
    M: prometheus_client::metrics::TypedMetric
        + prometheus_client::encoding::EncodeMetric
        + Default
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let family = Family::<L, M>::default();
    register(registry, metric, family.clone());
    family
}

impl Metrics {
    pub fn new(max_services: usize) -> Self {
        let mut registry = Registry::default();
        let r = &mut registry;
        let requests = histograms(r, Metric::RequestDuration);
        let opened = family(r, Metric::Opened);
        let closed = family(r, Metric::Closed);
        let open_now = family(r, Metric::Open);
        let exchanges_per_connection = histograms(r, Metric::Exchanges);
        let handshake = histograms(r, Metric::Handshake);
        let idle_before_close = histograms(r, Metric::IdleBeforeClose);
        let h2_streams = histograms(r, Metric::H2Streams);
        let h2_ping_rtt = histograms(r, Metric::H2PingRtt);
        let h2_goaways = family(r, Metric::H2Goaways);
        let ws_ended = family(r, Metric::WsEnded);
        let ws_silence = histograms(r, Metric::WsSilence);
        let counter = |registry: &mut Registry, metric: Metric| {
            let c = Counter::default();
            register(registry, metric, c.clone());
            c
        };
        let packets = counter(r, Metric::Packets);
        let kernel_drops = counter(r, Metric::KernelDrops);
        let decode_failures = counter(r, Metric::DecodeFailures);
        let evictions = counter(r, Metric::Evictions);
        let out_of_order_discarded = counter(r, Metric::OutOfOrderDiscarded);
        Metrics {
            registry: Arc::new(Mutex::new(registry)),
            requests,
            opened,
            closed,
            open_now,
            exchanges_per_connection,
            handshake,
            idle_before_close,
            h2_streams,
            h2_ping_rtt,
            h2_goaways,
            ws_ended,
            ws_silence,
            packets,
            kernel_drops,
            decode_failures,
            evictions,
            out_of_order_discarded,
            health: Health::default(),
            services: Vec::new(),
            max_services,
            open_services: Vec::new(),
            mirror: None,
        }
    }

    /// The same metrics, each measurement also told to `mirror`.
    pub fn with_mirror(mut self, mirror: Box<dyn Mirror>) -> Self {
        self.mirror = Some(mirror);
        self
    }

    /// Counters kept outside (the OTLP exporter's own), exposed with the rest.
    pub fn register_counter(&self, name: &str, help: &str, counter: Counter) {
        let mut registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        registry.register(name, help, counter);
    }

    fn mirror(&mut self, metric: Metric, labels: &[(&'static str, &str)], value: f64) {
        if let Some(m) = &mut self.mirror {
            m.record(metric, labels, value);
        }
    }

    /// The registry, for the HTTP endpoint.
    pub fn registry(&self) -> Arc<Mutex<Registry>> {
        Arc::clone(&self.registry)
    }

    /// The exposition in the OpenMetrics text format.
    pub fn encode(&self) -> String {
        encode(&self.registry)
    }

    /// The exposition in the classic Prometheus text format (0.0.4), as `promtool
    /// check metrics` and the node-exporter textfile collector read it.
    pub fn encode_classic(&self) -> String {
        classic(&encode(&self.registry))
    }

    /// The service labels of `server`: its own while fewer than `max_services` have
    /// been seen, else `other`.
    fn service(&mut self, server: Endpoint) -> ServiceLabels {
        let key = (server.ip, server.port);
        let known = self.services.contains(&key);
        if !known && self.services.len() < self.max_services {
            self.services.push(key);
        }
        if known || self.services.last() == Some(&key) {
            ServiceLabels {
                server_address: server.ip.to_string(),
                server_port: server.port.to_string(),
            }
        } else {
            ServiceLabels {
                server_address: "other".into(),
                server_port: String::new(),
            }
        }
    }

    fn exchange(&mut self, e: &Exchange<'_>) {
        if let Some(request) = RequestFacts::of(e) {
            self.add_request(&request);
        }
    }

    /// An HTTP exchange's duration, under its labels.
    pub fn add_request(&mut self, r: &RequestFacts<'_>) {
        let status = r.status;
        let class = match status.first() {
            Some(d @ b'1'..=b'5') if status.len() == 3 => format!("{}xx", char::from(*d)),
            _ => "other".into(),
        };
        let service = self.service(r.server);
        let method = match r.method {
            b"GET" | b"HEAD" | b"POST" | b"PUT" | b"DELETE" | b"CONNECT" | b"OPTIONS"
            | b"TRACE" | b"PATCH" => String::from_utf8_lossy(r.method).into_owned(),
            // Bounded cardinality, as the semantic convention says.
            _ => "_OTHER".into(),
        };
        let labels = RequestLabels {
            server_address: service.server_address,
            server_port: service.server_port,
            http_request_method: method,
            http_response_status_class: class,
            network_protocol_version: String::from_utf8_lossy(r.version).into_owned(),
        };
        let seconds = r.micros as f64 / 1e6;
        self.requests.get_or_create(&labels).observe(seconds);
        self.mirror(Metric::RequestDuration, &labels.attributes(), seconds);
    }

    /// Connection `slot` (an id no other open connection has) opened to `server`.
    pub fn opening(&mut self, slot: usize, server: Endpoint) {
        let service = self.service(server);
        self.opened.get_or_create(&service).inc();
        self.open_now.get_or_create(&service).inc();
        self.mirror(Metric::Opened, &service.attributes(), 1.0);
        self.mirror(Metric::Open, &service.attributes(), 1.0);
        if self.open_services.len() <= slot {
            self.open_services.resize(slot + 1, None);
        }
        if let Some(s) = self.open_services.get_mut(slot) {
            *s = Some(service);
        }
    }

    /// Connection `slot` ended.
    pub fn ended(&mut self, slot: usize) {
        if let Some(service) = self.open_services.get_mut(slot).and_then(Option::take) {
            self.open_now.get_or_create(&service).dec();
            self.mirror(Metric::Open, &service.attributes(), -1.0);
        }
    }

    fn connection(&mut self, record: &Exchange<'_>) {
        if let Some(c) = ConnectionFacts::of(record) {
            self.add_connection(&c);
        }
    }

    /// A connection record, as its facts.
    pub fn add_connection(&mut self, c: &ConnectionFacts) {
        let service = self.service(c.server);
        let labels = CloseLabels {
            server_address: service.server_address.clone(),
            server_port: service.server_port.clone(),
            closed_by: match c.by {
                Some(Direction::FromClient) => "client",
                Some(Direction::FromServer) => "server",
                None => "none",
            }
            .into(),
            close_how: c.how.as_str().into(),
        };
        self.closed.get_or_create(&labels).inc();
        self.mirror(Metric::Closed, &labels.attributes(), 1.0);
        let attributes = service.attributes();
        if c.how != CloseHow::Open {
            let exchanges = f64::from(c.exchanges);
            self.exchanges_per_connection
                .get_or_create(&service)
                .observe(exchanges);
            self.mirror(Metric::Exchanges, &attributes, exchanges);
        }
        if let Some(us) = c.handshake {
            let seconds = us as f64 / 1e6;
            self.handshake.get_or_create(&service).observe(seconds);
            self.mirror(Metric::Handshake, &attributes, seconds);
        }
        if let Some(us) = c.idle_before_close {
            let seconds = us.max(0) as f64 / 1e6;
            self.idle_before_close
                .get_or_create(&service)
                .observe(seconds);
            self.mirror(Metric::IdleBeforeClose, &attributes, seconds);
        }
        if c.how == CloseHow::Open {
            return;
        }
        if let Some(h2) = &c.h2 {
            self.h2_streams
                .get_or_create(&service)
                .observe(f64::from(h2.streams));
            self.mirror(Metric::H2Streams, &attributes, f64::from(h2.streams));
            if let Some(ping) = h2.ping_micros {
                let seconds = ping.max(0) as f64 / 1e6;
                self.h2_ping_rtt.get_or_create(&service).observe(seconds);
                self.mirror(Metric::H2PingRtt, &attributes, seconds);
            }
            if let Some((by, code)) = h2.goaway {
                let error_code = crate::exchange::h2::frame::error_code_name(code)
                    .map_or_else(|| code.to_string(), str::to_string);
                let labels = GoawayLabels {
                    server_address: service.server_address.clone(),
                    server_port: service.server_port.clone(),
                    sender: format!("{by:?}").to_ascii_lowercase(),
                    error_code,
                };
                self.h2_goaways.get_or_create(&labels).inc();
                self.mirror(Metric::H2Goaways, &labels.attributes(), 1.0);
            }
        }
        if let Some((end, silence_max)) = c.ws {
            let end = match end {
                Some(crate::exchange::ws_facts::WsEnd::Clean) => "clean",
                Some(crate::exchange::ws_facts::WsEnd::Unanswered) => "unanswered",
                Some(crate::exchange::ws_facts::WsEnd::Abnormal) => "abnormal",
                None => "open",
            };
            let labels = WebSocketEndLabels {
                server_address: service.server_address.clone(),
                server_port: service.server_port.clone(),
                end: end.into(),
            };
            self.ws_ended.get_or_create(&labels).inc();
            self.mirror(Metric::WsEnded, &labels.attributes(), 1.0);
            if let Some(us) = silence_max {
                let seconds = us.max(0) as f64 / 1e6;
                self.ws_silence.get_or_create(&service).observe(seconds);
                self.mirror(Metric::WsSilence, &attributes, seconds);
            }
        }
    }

    /// The run loop's counters so far.
    pub fn health(&mut self, now: Health) {
        let before = self.health;
        let counters = [
            (Metric::Packets, before.packets, now.packets),
            (Metric::KernelDrops, before.kernel_drops, now.kernel_drops),
            (
                Metric::DecodeFailures,
                before.decode_failures,
                now.decode_failures,
            ),
            (Metric::Evictions, before.evictions, now.evictions),
            (
                Metric::OutOfOrderDiscarded,
                before.out_of_order_discarded_bytes,
                now.out_of_order_discarded_bytes,
            ),
        ];
        for (metric, before, after) in counters {
            // Told even when 0, so that OpenTelemetry exports the counter from the
            // start, as Prometheus does.
            let added = after.saturating_sub(before);
            let counter = match metric {
                Metric::Packets => &self.packets,
                Metric::KernelDrops => &self.kernel_drops,
                Metric::DecodeFailures => &self.decode_failures,
                Metric::Evictions => &self.evictions,
                _ => &self.out_of_order_discarded,
            };
            counter.inc_by(added);
            self.mirror(metric, &[], added as f64);
        }
        self.health = now;
    }
}

fn encode(registry: &Mutex<Registry>) -> String {
    let mut text = String::new();
    // A poisoned lock still holds a registry whose handles are valid.
    let registry = registry.lock().unwrap_or_else(|p| p.into_inner());
    if prometheus_client::encoding::text::encode(&mut text, &registry).is_err() {
        text.clear();
    }
    in_label_order(&text)
}

/// The exposition with each family's series in the order of their labels: the client
/// keeps label sets in a hash map, whose order changes from run to run, and the metrics
/// of a capture file must not. A series' own lines (a histogram's buckets, `_sum`,
/// `_count`) keep their order: they are sorted by their labels without `le`.
fn in_label_order(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut samples: Vec<(String, &str)> = Vec::new();
    let flush = |samples: &mut Vec<(String, &str)>, out: &mut String| {
        // Stable: lines of one series stay in the encoder's order.
        samples.sort_by(|a, b| a.0.cmp(&b.0));
        for (_, line) in samples.drain(..) {
            out.push_str(line);
            out.push('\n');
        }
    };
    for line in text.lines() {
        if line.starts_with('#') {
            flush(&mut samples, &mut out);
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let labels = line
            .split_once('{')
            .and_then(|(_, rest)| rest.split_once('}'))
            .map_or("", |(labels, _)| labels);
        let series: Vec<&str> = labels
            .split(',')
            .filter(|l| !l.starts_with("le="))
            .collect();
        samples.push((series.join(","), line));
    }
    flush(&mut samples, &mut out);
    out
}

/// The classic Prometheus text format from OpenMetrics text: a counter's `# HELP` and
/// `# TYPE` name it with its `_total` suffix, as its samples are; no `# UNIT`, no
/// `# EOF`.
fn classic(openmetrics: &str) -> String {
    let counters: Vec<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(&name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        match renamed {
            Some(line) => out.push_str(&line),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// Serves `GET /metrics` on `listener` from a thread of its own, one client at a time,
/// each with a 2 s read and write timeout: a client that connects and never reads costs
/// the endpoint 2 s and capture nothing.
pub fn serve(listener: TcpListener, registry: Arc<Mutex<Registry>>) {
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else {
                    continue;
                };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
                let mut request = [0u8; 2048];
                let mut len = 0;
                while len < request.len() {
                    match stream.read(&mut request[len..]) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => len += n,
                    }
                    if request[..len].windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
                let head = &request[..len];
                let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
                let response = if line.starts_with(b"GET /metrics ") || line == b"GET /metrics" {
                    // OpenMetrics for a scraper that asks for it (Prometheus does), else
                    // the classic text format.
                    let openmetrics = head
                        .windows(b"application/openmetrics-text".len())
                        .any(|w| w.eq_ignore_ascii_case(b"application/openmetrics-text"));
                    let (body, kind) = match openmetrics {
                        true => (
                            encode(&registry),
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        ),
                        false => (classic(&encode(&registry)), "text/plain; version=0.0.4; charset=utf-8"),
                    };
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                } else {
                    "HTTP/1.1 404 Not Found\r\nContent-Length: 26\r\nConnection: close\r\n\r\nrustniffer serves /metrics".into()
                };
                let _ = stream.write_all(response.as_bytes());
            }
        })
        .ok();
}

/// Binds the metrics endpoint: an address in use is an error at start-up.
pub fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr)
}

/// `--metrics-file`: the final state of `metrics` to `path`; a failure is a warning.
pub fn write_file(metrics: &Metrics, path: &std::path::Path) {
    if let Err(e) = std::fs::write(path, metrics.encode_classic()) {
        super::warn(format_args!(
            "cannot write the metrics to {}: {e}",
            path.display()
        ));
    }
}

/// An output stage with metrics counted on the way (none when `metrics` is `None`).
pub struct Metered<S> {
    inner: S,
    metrics: Option<Box<Metrics>>,
    /// `--metrics-file`: where the final state is written.
    file: Option<std::path::PathBuf>,
}

impl<S> Metered<S> {
    pub fn new(inner: S, metrics: Option<Metrics>, file: Option<std::path::PathBuf>) -> Self {
        Metered {
            inner,
            metrics: metrics.map(Box::new),
            file,
        }
    }

    pub fn inner(&self) -> &S {
        &self.inner
    }

    pub fn metrics_mut(&mut self) -> Option<&mut Metrics> {
        self.metrics.as_deref_mut()
    }
}

impl<S: ExchangeSink> ExchangeSink for Metered<S> {
    fn exchange(&mut self, exchange: &Exchange<'_>) -> std::io::Result<()> {
        if let Some(m) = &mut self.metrics {
            m.exchange(exchange);
        }
        self.inner.exchange(exchange)
    }

    fn connection(&mut self, record: &Exchange<'_>) -> std::io::Result<()> {
        if let Some(m) = &mut self.metrics {
            m.connection(record);
        }
        self.inner.connection(record)
    }

    fn interim(&mut self, record: &Exchange<'_>) -> std::io::Result<()> {
        self.inner.interim(record)
    }

    fn opening(
        &mut self,
        conn: ConnId,
        exchange: u64,
        client: Endpoint,
        server: Endpoint,
        ts: Timestamp,
    ) -> std::io::Result<()> {
        if let Some(m) = &mut self.metrics {
            m.opening(conn as usize, server);
        }
        self.inner.opening(conn, exchange, client, server, ts)
    }

    fn closed(&mut self, conn: ConnId, ts: Timestamp, by: Direction) -> std::io::Result<()> {
        if let Some(m) = &mut self.metrics {
            m.ended(conn as usize);
        }
        self.inner.closed(conn, ts, by)
    }

    fn timed_out(&mut self, conn: ConnId, ts: Timestamp) -> std::io::Result<()> {
        if let Some(m) = &mut self.metrics {
            m.ended(conn as usize);
        }
        self.inner.timed_out(conn, ts)
    }

    fn truncated(&mut self, conn: ConnId) -> std::io::Result<()> {
        if let Some(m) = &mut self.metrics {
            m.ended(conn as usize);
        }
        self.inner.truncated(conn)
    }

    crate::exchange::forward_exchange_sink!(inner: wants_payload, open, request, response);
}

impl<S: OutputStage> OutputStage for Metered<S> {
    fn finish(&mut self) -> std::io::Result<()> {
        let inner = self.inner.finish();
        if let (Some(m), Some(path)) = (&self.metrics, &self.file) {
            write_file(m, path);
        }
        inner
    }

    fn record_failures(&self) -> u64 {
        self.inner.record_failures()
    }

    fn per_connection(&self) -> bool {
        self.inner.per_connection()
    }

    fn health(&mut self, health: Health) {
        if let Some(m) = &mut self.metrics {
            m.health(health);
        }
    }

    fn renders_records(&self) -> bool {
        self.inner.renders_records()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_classic_format_names_counters_with_their_suffix() {
        let om = "# HELP a_thing Things.\n# TYPE a_thing counter\na_thing_total 3\n# HELP d Durations.\n# TYPE d histogram\n# UNIT d seconds\nd_count 1\n# EOF\n";
        assert_eq!(
            classic(om),
            "# HELP a_thing_total Things.\n# TYPE a_thing_total counter\na_thing_total 3\n# HELP d Durations.\n# TYPE d histogram\nd_count 1\n"
        );
    }

    #[test]
    fn series_come_in_the_order_of_their_labels_and_buckets_keep_theirs() {
        let text = "# TYPE h histogram\nh_sum{a=\"2\"} 1\nh_bucket{le=\"10.0\",a=\"2\"} 1\nh_sum{a=\"1\"} 3\nh_bucket{le=\"2.0\",a=\"1\"} 0\nh_bucket{le=\"10.0\",a=\"1\"} 1\n# EOF\n";
        assert_eq!(
            in_label_order(text),
            "# TYPE h histogram\nh_sum{a=\"1\"} 3\nh_bucket{le=\"2.0\",a=\"1\"} 0\nh_bucket{le=\"10.0\",a=\"1\"} 1\nh_sum{a=\"2\"} 1\nh_bucket{le=\"10.0\",a=\"2\"} 1\n# EOF\n"
        );
    }

    #[test]
    fn the_set_is_in_metric_order_and_prometheus_names_are_unchanged() {
        assert_eq!(Metric::OutOfOrderDiscarded as usize + 1, SET.len());
        assert_eq!(
            Metric::WsSilence.def().name,
            "rustniffer.websocket.silence.max"
        );
        assert_eq!(
            Metric::RequestDuration.def().prometheus_name(),
            "http_server_request_duration"
        );
        // The names Prometheus users know: unchanged by the shared table.
        let names: Vec<String> = SET.iter().map(MetricDef::prometheus_name).collect();
        assert_eq!(
            names,
            [
                "http_server_request_duration",
                "rustniffer_tcp_connections_opened",
                "rustniffer_tcp_connections_closed",
                "rustniffer_tcp_connections_open",
                "rustniffer_tcp_connection_exchanges",
                "rustniffer_tcp_handshake_duration",
                "rustniffer_tcp_idle_before_close",
                "rustniffer_http2_streams_per_connection",
                "rustniffer_http2_ping_rtt",
                "rustniffer_http2_goaways",
                "rustniffer_websocket_connections_ended",
                "rustniffer_websocket_silence_max",
                "rustniffer_packets",
                "rustniffer_capture_kernel_dropped_packets",
                "rustniffer_decode_failures",
                "rustniffer_connections_evicted",
                "rustniffer_out_of_order_discarded_bytes",
            ]
        );
        let text = Metrics::new(1).encode();
        assert!(text.contains("# TYPE rustniffer_out_of_order_discarded_bytes counter\n"));
    }

    #[test]
    fn services_beyond_the_bound_are_other() {
        let mut m = Metrics::new(1);
        let ep = |port| Endpoint {
            ip: IpAddr::from([10, 0, 0, 1]),
            port,
        };
        assert_eq!(m.service(ep(80)).server_port, "80");
        assert_eq!(m.service(ep(81)).server_address, "other");
        assert_eq!(m.service(ep(80)).server_port, "80");
    }
}
