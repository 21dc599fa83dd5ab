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

/// The tool's own counters, copied from the run loop.
#[derive(Clone, Copy, Debug, Default)]
pub struct Health {
    pub packets: u64,
    pub kernel_drops: u64,
    pub decode_failures: u64,
    pub evictions: u64,
    pub out_of_order_discarded_bytes: u64,
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
}

/// A family of histograms made by `buckets`, registered under `name` (with `unit`'s
/// suffix when there is one).
fn histograms<L>(
    registry: &mut Registry,
    name: &str,
    help: &str,
    unit: Option<Unit>,
    buckets: fn() -> Histogram,
) -> Family<L, Histogram, fn() -> Histogram>
where
    L: Clone + std::hash::Hash + Eq + EncodeLabelSet + std::fmt::Debug + Send + Sync + 'static,
{
    let family = Family::new_with_constructor(buckets);
    match unit {
        Some(unit) => registry.register_with_unit(name, help, unit, family.clone()),
        None => registry.register(name, help, family.clone()),
    }
    family
}

fn request_histogram() -> Histogram {
    Histogram::new(REQUEST_DURATION_BUCKETS)
}

fn exchanges_histogram() -> Histogram {
    Histogram::new([1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 50.0, 100.0, 1000.0, 10000.0])
}

fn seconds_histogram() -> Histogram {
    // 1 ms to ~1 h, doubling.
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.001, 2.0, 23,
    ))
}

impl Metrics {
    pub fn new(max_services: usize) -> Self {
        let mut registry = Registry::default();
        let requests = histograms(&mut registry, "http_server_request_duration", "Duration of HTTP exchanges seen on the wire: first request byte to last response byte (OpenTelemetry http.server.request.duration)", Some(Unit::Seconds), request_histogram);
        let opened = Family::<ServiceLabels, Counter>::default();
        registry.register(
            "rustniffer_tcp_connections_opened",
            "TCP connections opened (first SYN seen)",
            opened.clone(),
        );
        let closed = Family::<CloseLabels, Counter>::default();
        registry.register(
            "rustniffer_tcp_connections_closed",
            "TCP connections ended, by the side that closed and how",
            closed.clone(),
        );
        let open_now = Family::<ServiceLabels, Gauge>::default();
        registry.register(
            "rustniffer_tcp_connections_open",
            "TCP connections open now",
            open_now.clone(),
        );
        let exchanges_per_connection = histograms(
            &mut registry,
            "rustniffer_tcp_connection_exchanges",
            "Exchanges carried by each ended connection (1 = not reused)",
            None,
            exchanges_histogram,
        );
        let handshake = histograms(
            &mut registry,
            "rustniffer_tcp_handshake_duration",
            "SYN to the handshake's ACK",
            Some(Unit::Seconds),
            seconds_histogram,
        );
        let idle_before_close = histograms(
            &mut registry,
            "rustniffer_tcp_idle_before_close",
            "End of a connection's last exchange to its first FIN or RST",
            Some(Unit::Seconds),
            seconds_histogram,
        );
        let h2_streams = histograms(
            &mut registry,
            "rustniffer_http2_streams_per_connection",
            "HTTP/2 streams carried by each ended h2c connection (1 = not multiplexed)",
            None,
            exchanges_histogram,
        );
        let h2_ping_rtt = histograms(
            &mut registry,
            "rustniffer_http2_ping_rtt",
            "Last HTTP/2 PING round trip of each ended connection, seen from the capture point",
            Some(Unit::Seconds),
            seconds_histogram,
        );
        let h2_goaways = Family::<GoawayLabels, Counter>::default();
        registry.register(
            "rustniffer_http2_goaways",
            "HTTP/2 connections that ended with a GOAWAY, by its sender and error code",
            h2_goaways.clone(),
        );
        let ws_ended = Family::<WebSocketEndLabels, Counter>::default();
        registry.register(
            "rustniffer_websocket_connections_ended",
            "WebSocket connections ended, by how: clean, unanswered, abnormal (no Close), open",
            ws_ended.clone(),
        );
        let ws_silence = histograms(
            &mut registry,
            "rustniffer_websocket_silence_max",
            "Longest time without a WebSocket message either way, per ended connection",
            Some(Unit::Seconds),
            seconds_histogram,
        );
        let counter = |registry: &mut Registry, name: &str, help: &str| {
            let c = Counter::default();
            registry.register(name, help, c.clone());
            c
        };
        let packets = counter(&mut registry, "rustniffer_packets", "Packets read");
        let kernel_drops = counter(
            &mut registry,
            "rustniffer_capture_kernel_dropped_packets",
            "Packets the kernel dropped because the capture ring was full (live capture)",
        );
        let decode_failures = counter(
            &mut registry,
            "rustniffer_decode_failures",
            "Packets that could not be decoded (truncated or malformed)",
        );
        let evictions = counter(
            &mut registry,
            "rustniffer_connections_evicted",
            "Connections evicted from a full table",
        );
        let out_of_order_discarded = counter(
            &mut registry,
            "rustniffer_out_of_order_discarded_bytes",
            "Out-of-order bytes discarded at a bound",
        );
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
        let line = http::first_line(e.request);
        let version = http::word(line, 2);
        let Some(version) = version.strip_prefix(b"HTTP/") else {
            return;
        };
        let (Some(first), Some(last)) = (e.request_first, e.response_last) else {
            return;
        };
        let status = http::word(http::first_line(e.response), 1);
        let class = match status.first() {
            Some(d @ b'1'..=b'5') if status.len() == 3 => format!("{}xx", char::from(*d)),
            _ => "other".into(),
        };
        let service = self.service(e.server);
        let method = http::word(line, 0);
        let method = match method {
            b"GET" | b"HEAD" | b"POST" | b"PUT" | b"DELETE" | b"CONNECT" | b"OPTIONS"
            | b"TRACE" | b"PATCH" => String::from_utf8_lossy(method).into_owned(),
            // Bounded cardinality, as the semantic convention says.
            _ => "_OTHER".into(),
        };
        let labels = RequestLabels {
            server_address: service.server_address,
            server_port: service.server_port,
            http_request_method: method,
            http_response_status_class: class,
            network_protocol_version: String::from_utf8_lossy(version).into_owned(),
        };
        let seconds = last.micros_since(first) as f64 / 1e6;
        self.requests.get_or_create(&labels).observe(seconds);
    }

    fn opening(&mut self, conn: ConnId, server: Endpoint) {
        let service = self.service(server);
        self.opened.get_or_create(&service).inc();
        self.open_now.get_or_create(&service).inc();
        let i = conn as usize;
        if self.open_services.len() <= i {
            self.open_services.resize(i + 1, None);
        }
        self.open_services[i] = Some(service);
    }

    fn ended(&mut self, conn: ConnId) {
        if let Some(service) = self
            .open_services
            .get_mut(conn as usize)
            .and_then(Option::take)
        {
            self.open_now.get_or_create(&service).dec();
        }
    }

    fn connection(&mut self, record: &Exchange<'_>) {
        let Some(c) = record.connection else {
            return;
        };
        let service = self.service(record.server);
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
        if c.how != CloseHow::Open {
            self.exchanges_per_connection
                .get_or_create(&service)
                .observe(f64::from(c.exchanges()));
        }
        if let Some(us) = c.handshake() {
            self.handshake
                .get_or_create(&service)
                .observe(us as f64 / 1e6);
        }
        if let Some(us) = c.idle_when_closed() {
            self.idle_before_close
                .get_or_create(&service)
                .observe(us.max(0) as f64 / 1e6);
        }
        if c.how == CloseHow::Open {
            return;
        }
        let Some(facts) = c.protocol_facts else {
            return;
        };
        if let Some(h2) = &facts.h2 {
            self.h2_streams
                .get_or_create(&service)
                .observe(f64::from(h2.streams));
            if let Some(ping) = &h2.last_ping {
                self.h2_ping_rtt
                    .get_or_create(&service)
                    .observe(ping.micros.max(0) as f64 / 1e6);
            }
            if let Some(goaway) = &h2.goaway {
                let error_code = crate::exchange::h2::frame::error_code_name(goaway.code)
                    .map_or_else(|| goaway.code.to_string(), str::to_string);
                let labels = GoawayLabels {
                    server_address: service.server_address.clone(),
                    server_port: service.server_port.clone(),
                    sender: format!("{:?}", goaway.by).to_ascii_lowercase(),
                    error_code,
                };
                self.h2_goaways.get_or_create(&labels).inc();
            }
        }
        if let Some(ws) = &facts.ws {
            let end = match ws.end {
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
            if let Some(us) = ws.silence_max {
                self.ws_silence
                    .get_or_create(&service)
                    .observe(us.max(0) as f64 / 1e6);
            }
        }
    }

    /// The run loop's counters so far.
    pub fn health(&mut self, now: Health) {
        let add = |c: &Counter, before: u64, after: u64| {
            c.inc_by(after.saturating_sub(before));
        };
        add(&self.packets, self.health.packets, now.packets);
        add(
            &self.kernel_drops,
            self.health.kernel_drops,
            now.kernel_drops,
        );
        add(
            &self.decode_failures,
            self.health.decode_failures,
            now.decode_failures,
        );
        add(&self.evictions, self.health.evictions, now.evictions);
        add(
            &self.out_of_order_discarded,
            self.health.out_of_order_discarded_bytes,
            now.out_of_order_discarded_bytes,
        );
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

    fn wants_payload(&self) -> bool {
        self.inner.wants_payload()
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
            m.opening(conn, server);
        }
        self.inner.opening(conn, exchange, client, server, ts)
    }

    fn open(&mut self, conn: ConnId, ts: Timestamp) -> std::io::Result<()> {
        self.inner.open(conn, ts)
    }

    fn request(
        &mut self,
        conn: ConnId,
        exchange: u64,
        bytes: &[u8],
        ts: Timestamp,
    ) -> std::io::Result<()> {
        self.inner.request(conn, exchange, bytes, ts)
    }

    fn response(
        &mut self,
        conn: ConnId,
        exchange: u64,
        bytes: &[u8],
        ts: Timestamp,
    ) -> std::io::Result<()> {
        self.inner.response(conn, exchange, bytes, ts)
    }

    fn closed(&mut self, conn: ConnId, ts: Timestamp, by: Direction) -> std::io::Result<()> {
        if let Some(m) = &mut self.metrics {
            m.ended(conn);
        }
        self.inner.closed(conn, ts, by)
    }

    fn timed_out(&mut self, conn: ConnId, ts: Timestamp) -> std::io::Result<()> {
        if let Some(m) = &mut self.metrics {
            m.ended(conn);
        }
        self.inner.timed_out(conn, ts)
    }

    fn truncated(&mut self, conn: ConnId) -> std::io::Result<()> {
        if let Some(m) = &mut self.metrics {
            m.ended(conn);
        }
        self.inner.truncated(conn)
    }
}

impl<S: OutputStage> OutputStage for Metered<S> {
    fn finish(&mut self) -> std::io::Result<()> {
        let inner = self.inner.finish();
        if let (Some(m), Some(path)) = (&self.metrics, &self.file) {
            if let Err(e) = std::fs::write(path, m.encode_classic()) {
                super::warn(format_args!(
                    "cannot write the metrics to {}: {e}",
                    path.display()
                ));
            }
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
