//! The diagnosis report (`--report`, `--report-html`): the troubleshooting matrix of
//! keep-alive, churn and close problems, computed per service from the exchange records
//! and the connection records, with findings in plain words.
//!
//! [`Report`] aggregates; it sees each exchange record ([`Report::exchange`]) and each
//! connection record ([`Report::connection`]) and keeps, per service (server
//! address:port), counters and bounded histograms ([`stats`]). [`findings`] turns the
//! aggregates into findings, [`text`] and [`html`] print them. [`ReportSink`] puts a
//! report behind the normal output stage of a run. Memory is bounded: at most
//! `services` services (the rest count as `other`), fixed-size histograms, a few
//! example connections per service, and for the HTML Gantt chart a sample of at most
//! [`SAMPLED_EXCHANGES`] exchanges for each open connection (at most
//! [`MAX_SAMPLED_CONNECTIONS`] of them) and for the [`WORST`] slowest ones.
//!
//! It never changes the records: it only reads them.

pub mod findings;
pub mod html;
pub mod json;
pub mod stats;
pub mod text;

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;

use crate::decode::Endpoint;
use crate::exchange::connection::CloseHow;
use crate::exchange::{Exchange, ExchangeSink};
use crate::flow::Direction;
use crate::output::OutputStage;
use crate::time::Timestamp;

pub use findings::{Finding, FindingKind};
use stats::{ClusterRule, Histogram, Timeline};

/// Default of `--report-services`.
pub const DEFAULT_SERVICES: usize = 32;
/// Connections kept per service as examples of idle-before-close values, per side.
const IDLE_EXAMPLES: usize = 32;
/// Exchanges kept per connection for the Gantt chart.
pub const SAMPLED_EXCHANGES: usize = 16;
/// Open connections whose exchanges are sampled at once; later ones are not sampled.
pub const MAX_SAMPLED_CONNECTIONS: usize = 65_536;
/// The slowest connections kept with their exchanges.
pub const WORST: usize = 5;
/// Distinct names (SNI or Host) counted per service; further names are not counted.
const MAX_NAMES: usize = 4;
/// Longest name kept.
const MAX_NAME_LEN: usize = 64;

/// Thresholds of the findings (`--report-threshold NAME=VALUE`).
#[derive(Clone, Debug, PartialEq)]
pub struct Thresholds {
    /// A service needs this many connections for any finding (`min-connections`).
    pub min_connections: u64,
    /// Share of single-exchange connections that makes churn (`churn`).
    pub churn: f64,
    /// Share of keep-alive-asking connections carrying one exchange (`keepalive-unused`).
    pub keepalive_unused: f64,
    /// Share of connections the server closed first (`server-closes`).
    pub server_closes: f64,
    /// Share of connections ended by an RST (`rst`).
    pub rst: f64,
    /// The pool-timeout clustering (`cluster-share`, `cluster-min`, `cluster-width`
    /// in ms, `cluster-relative`).
    pub cluster: ClusterRule,
    /// A cluster below this (µs; `timeout-min` in seconds) is a close right after the
    /// last exchange, not a timeout.
    pub timeout_min: u64,
    /// How near a known intermediary's timeout a cluster must be, as a share of it
    /// (`intermediary-margin`).
    pub intermediary_margin: f64,
    /// A WebSocket silent this long (µs; `ws-silence` in seconds) is a zombie.
    pub ws_silence: u64,
    /// Share of HTTP/2 connections with at most one stream that is "not multiplexed"
    /// (`h2-single`).
    pub h2_single: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            min_connections: 10,
            churn: 0.9,
            keepalive_unused: 0.5,
            server_closes: 0.5,
            rst: 0.2,
            cluster: ClusterRule::default(),
            timeout_min: 500_000,
            intermediary_margin: 0.05,
            ws_silence: 60_000_000,
            h2_single: 0.5,
        }
    }
}

/// The names `--report-threshold` takes, with what they mean and their defaults.
pub const THRESHOLD_NAMES: &[(&str, &str)] = &[
    (
        "min-connections",
        "connections a service needs before any finding (default 10)",
    ),
    (
        "churn",
        "share of single-exchange connections that is churn (default 0.9)",
    ),
    (
        "keepalive-unused",
        "share of keep-alive-asking connections that carried one exchange (default 0.5)",
    ),
    (
        "server-closes",
        "share of connections the server closed first (default 0.5)",
    ),
    (
        "rst",
        "share of connections ended by an RST that is a storm (default 0.2)",
    ),
    (
        "cluster-share",
        "share of idle-before-close values a timeout cluster holds (default 0.5)",
    ),
    (
        "cluster-min",
        "connections a timeout cluster holds at least (default 5)",
    ),
    (
        "cluster-width",
        "half-width of a cluster window in ms, at least (default 50)",
    ),
    (
        "cluster-relative",
        "half-width of a cluster window as a share of its centre (default 0.02)",
    ),
    (
        "timeout-min",
        "seconds below which a cluster is a close at once, not a timeout (default 0.5)",
    ),
    (
        "intermediary-margin",
        "how near a known intermediary timeout, as a share of it (default 0.05)",
    ),
    (
        "ws-silence",
        "seconds without a WebSocket message that make a zombie (default 60)",
    ),
    (
        "h2-single",
        "share of one-stream HTTP/2 connections that is not multiplexed (default 0.5)",
    ),
];

impl Thresholds {
    /// Sets one threshold from `NAME=VALUE`.
    pub fn set(&mut self, assignment: &str) -> Result<(), String> {
        let (name, value) = assignment
            .split_once('=')
            .ok_or_else(|| format!("--report-threshold takes NAME=VALUE, not '{assignment}'"))?;
        let name = name.trim();
        let number: f64 = value
            .trim()
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite() && *v >= 0.0)
            .ok_or_else(|| {
                format!("--report-threshold {name} takes a non-negative number, not '{value}'")
            })?;
        let share = || {
            if number <= 1.0 {
                Ok(number)
            } else {
                Err(format!(
                    "--report-threshold {name} is a share between 0 and 1, not '{value}'"
                ))
            }
        };
        let micros = (number * 1e6).min(1e15) as u64;
        match name {
            "min-connections" => self.min_connections = number as u64,
            "churn" => self.churn = share()?,
            "keepalive-unused" => self.keepalive_unused = share()?,
            "server-closes" => self.server_closes = share()?,
            "rst" => self.rst = share()?,
            "cluster-share" => self.cluster.min_share = share()?,
            "cluster-min" => self.cluster.min_count = (number as u64).max(1),
            "cluster-width" => self.cluster.min_half_width = micros / 1000,
            "cluster-relative" => self.cluster.relative_half_width = share()?,
            "timeout-min" => self.timeout_min = micros,
            "intermediary-margin" => self.intermediary_margin = share()?,
            "ws-silence" => self.ws_silence = micros,
            "h2-single" => self.h2_single = share()?,
            _ => {
                let names: Vec<&str> = THRESHOLD_NAMES.iter().map(|(n, _)| *n).collect();
                return Err(format!(
                    "--report-threshold: unknown name '{name}' (one of {})",
                    names.join(", ")
                ));
            }
        }
        Ok(())
    }
}

/// What the report is asked for.
#[derive(Clone, Debug, PartialEq)]
pub struct ReportConfig {
    /// `--report`: the text report on standard output at the end.
    pub text: bool,
    /// `--report --json`: that report as JSON lines.
    pub json: bool,
    /// `--report-html FILE`.
    pub html: Option<PathBuf>,
    /// `--report-services N`: services with their own table.
    pub services: usize,
    /// `--report-every SECONDS` (µs): an interim text report every so much capture time.
    pub every: Option<i64>,
    pub thresholds: Thresholds,
    /// Whether the run reads HTTP/2 and WebSocket facts (`--exchanges messages`): in
    /// turns mode the report says their rows and findings need that mode.
    pub protocol_facts: bool,
}

impl Default for ReportConfig {
    fn default() -> Self {
        ReportConfig {
            text: false,
            json: false,
            html: None,
            services: DEFAULT_SERVICES,
            every: None,
            thresholds: Thresholds::default(),
            protocol_facts: true,
        }
    }
}

impl ReportConfig {
    pub fn enabled(&self) -> bool {
        self.text || self.html.is_some()
    }
}

/// Who ended a connection, as the report counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Closer {
    /// The client's FIN came first.
    Client,
    /// The server's FIN came first.
    Server,
    /// An RST ended it.
    Rst,
    /// `--idle-timeout`.
    IdleTimeout,
    /// Pushed out of a full connection table.
    Evicted,
    /// Still open at the end of the capture.
    Open,
}

impl Closer {
    pub const ALL: [Closer; 6] = [
        Closer::Client,
        Closer::Server,
        Closer::Rst,
        Closer::IdleTimeout,
        Closer::Evicted,
        Closer::Open,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Closer::Client => "client",
            Closer::Server => "server",
            Closer::Rst => "rst",
            Closer::IdleTimeout => "idle-timeout",
            Closer::Evicted => "evicted",
            Closer::Open => "still open",
        }
    }

    fn of(how: CloseHow, by: Option<Direction>) -> Closer {
        match (how, by) {
            (CloseHow::Rst, _) => Closer::Rst,
            (CloseHow::Fin, Some(Direction::FromServer)) => Closer::Server,
            (CloseHow::Fin, _) => Closer::Client,
            (CloseHow::IdleTimeout, _) => Closer::IdleTimeout,
            (CloseHow::Evicted, _) => Closer::Evicted,
            (CloseHow::Truncated | CloseHow::Open, _) => Closer::Open,
        }
    }
}

/// One connection, as evidence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Example {
    pub client: Endpoint,
    pub server: Endpoint,
    /// The first SYN (µs since the epoch).
    pub opening: i64,
    pub duration: i64,
    pub exchanges: u32,
    pub handshake: Option<i64>,
    pub idle_before_close: Option<i64>,
    pub closer: Closer,
    /// The side that closed or reset (`None`: neither did).
    pub by: Option<Direction>,
}

/// A connection kept with its exchanges (the slowest ones, for the Gantt chart).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sampled {
    pub example: Example,
    /// The slowest response time of its exchanges (µs).
    pub slowest: i64,
    /// `(request first, response first, response last)`, µs after the opening, of its
    /// first [`SAMPLED_EXCHANGES`] exchanges.
    pub exchanges: Vec<[Option<i64>; 3]>,
    /// Its handshake's end and its close, µs after the opening.
    pub open: Option<i64>,
}

/// Everything the report knows about one service.
#[derive(Clone, Debug, Default)]
pub struct Service {
    /// `None`: the services beyond `--report-services`, together.
    pub server: Option<Endpoint>,
    names: Vec<(Box<[u8]>, u64)>,
    /// Connections' first exchanges seen (to sample the names).
    first_exchanges: u64,
    /// Connection records seen.
    pub connections: u64,
    /// Exchange records seen.
    pub exchanges: u64,
    /// Connections that carried exactly one exchange.
    pub single: u64,
    /// Of those, by who closed them ([`Closer::ALL`] order).
    pub single_by: [u64; 6],
    /// Connections that carried at least one.
    pub with_exchanges: u64,
    /// Connections whose first request asked to be kept open.
    pub asked_keep_alive: u64,
    /// Of those, the ones that carried one exchange, by who closed.
    pub asked_single: [u64; 6],
    /// Connections by who closed them ([`Closer::ALL`] order).
    pub closed: [u64; 6],
    /// RSTs by the side that sent the first FIN or the RST, `[client, server]`.
    pub rst_by: [u64; 2],
    /// Connections whose SYN was answered by a reset (refused).
    pub refused: u64,
    /// Connections the server closed (FIN) and that then saw a reset: the client wrote
    /// on a connection the server had closed.
    pub server_close_then_reset: u64,
    /// Exchanges with a request but no response, printed because the server closed.
    pub unanswered_at_server_close: u64,
    pub exchanges_per_connection: Histogram,
    pub handshake: Histogram,
    pub response: Histogram,
    /// Idle before close, by the side that closed, `[client, server]`.
    pub idle_before_close: [Histogram; 2],
    idle_examples: [Vec<Example>; 2],
    /// First connection of each kind, as evidence ([`Closer::ALL`] order).
    pub closer_example: [Option<Example>; 6],
    pub single_example: Option<Example>,
    pub asked_single_example: Option<Example>,
    pub server_close_then_reset_example: Option<Example>,
    /// Connections that spoke HTTP/2 (h2 after ALPN, or h2c).
    pub h2_connections: u64,
    /// Of those, the ones that opened at most one stream.
    pub h2_single_stream: u64,
    /// Streams opened per HTTP/2 connection.
    pub h2_streams: Histogram,
    /// The last PING round trip of each HTTP/2 connection that measured one.
    pub h2_ping_rtt: Histogram,
    pub h2_single_example: Option<Example>,
    /// Connections that became WebSockets (a 101 answered the upgrade).
    pub ws_connections: u64,
    /// Of those, the ones with no message for more than `ws-silence`: `[still open at
    /// the end of the capture, closed after the silence]`.
    pub ws_zombies: [u64; 2],
    /// The longest silence of each WebSocket connection (µs), up to its end.
    pub ws_silence: Histogram,
    /// The first zombie WebSocket, with its longest silence.
    pub ws_zombie_example: Option<(Example, i64)>,
}

impl Service {
    fn new(server: Option<Endpoint>) -> Self {
        Service {
            server,
            ..Service::default()
        }
    }

    /// The dominant TLS SNI or HTTP Host (the most counted; the smallest on ties).
    pub fn name(&self) -> Option<String> {
        let (name, _) = self
            .names
            .iter()
            .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))?;
        Some(String::from_utf8_lossy(name).into_owned())
    }

    /// `address:port (name)`, or `other`.
    pub fn label(&self) -> String {
        match (self.server, self.name()) {
            (None, _) => "other".into(),
            (Some(s), Some(n)) => format!("{} ({n})", endpoint(s)),
            (Some(s), None) => endpoint(s),
        }
    }

    fn vote(&mut self, name: &[u8]) {
        let name = &name[..name.len().min(MAX_NAME_LEN)];
        if name.is_empty() {
            return;
        }
        let shown = |b: &u8| if b.is_ascii_graphic() { *b } else { b'.' };
        if let Some(entry) = self
            .names
            .iter_mut()
            .find(|(n, _)| n.iter().copied().eq(name.iter().map(shown)))
        {
            entry.1 += 1;
            return;
        }
        // An address says nothing the service's own address does not.
        let is_address = std::str::from_utf8(name)
            .ok()
            .and_then(|n| n.trim_matches(['[', ']']).parse::<std::net::IpAddr>().ok())
            .is_some();
        if !is_address && self.names.len() < MAX_NAMES {
            self.names.push((name.iter().map(shown).collect(), 1));
        }
    }

    pub fn closed_count(&self, closer: Closer) -> u64 {
        self.closed[closer as usize]
    }

    /// Share of connections, 0 when there are none.
    pub fn share(&self, count: u64) -> f64 {
        count as f64 / self.connections.max(1) as f64
    }

    /// The pool or keep-alive timeout of the side that closes (`dir`), when its idle
    /// before close values cluster sharply above `timeout_min`.
    pub fn timeout(&self, dir: Direction, t: &Thresholds) -> Option<stats::Cluster> {
        stats::densest(&self.idle_before_close[side(dir)], &t.cluster)
            .filter(|c| c.centre >= t.timeout_min)
    }

    /// Whether the side closes at once after the last exchange (a cluster below
    /// `timeout_min`).
    pub fn closes_at_once(&self, dir: Direction, t: &Thresholds) -> Option<stats::Cluster> {
        stats::densest(&self.idle_before_close[side(dir)], &t.cluster)
            .filter(|c| c.centre < t.timeout_min)
    }

    /// An example connection of `dir` closing within `cluster`.
    pub fn idle_example(&self, dir: Direction, cluster: &stats::Cluster) -> Option<&Example> {
        self.idle_examples[side(dir)].iter().find(|e| {
            e.idle_before_close
                .is_some_and(|v| (cluster.low as i64..cluster.high as i64).contains(&v))
        })
    }
}

fn side(dir: Direction) -> usize {
    match dir {
        Direction::FromClient => 0,
        Direction::FromServer => 1,
    }
}

/// `ip:port`, IPv6 in brackets.
pub fn endpoint(e: Endpoint) -> String {
    match e.ip {
        std::net::IpAddr::V4(ip) => format!("{ip}:{}", e.port),
        std::net::IpAddr::V6(ip) => format!("[{ip}]:{}", e.port),
    }
}

/// A connection's exchanges while it is open (HTML only).
#[derive(Debug)]
struct OpenSample {
    opening: Timestamp,
    slowest: i64,
    exchanges: Vec<[Option<i64>; 3]>,
}

/// What the report reads of an exchange record: taken where the record is made and
/// added where the report is ([`Report::add_exchange`]; a parallel run's worker and
/// merger).
#[derive(Clone, Copy, Debug)]
pub struct ExchangeFacts {
    /// The time of the event that printed the record.
    pub print: Option<Timestamp>,
    /// The record's time for the report's span: printed, or last active.
    seen: Option<Timestamp>,
    response: Option<i64>,
    pub client: Endpoint,
    pub server: Endpoint,
    /// A request with no response, printed because the server closed.
    unanswered_at_server_close: bool,
    /// The connection's first exchange (whose name is sampled).
    pub first: bool,
    opening: Timestamp,
    /// `(request first, response first, response last)`, for the HTML chart (made
    /// relative to the opening only when sampled: the division costs).
    times: [Option<Timestamp>; 3],
}

impl ExchangeFacts {
    pub fn of(e: &Exchange<'_>) -> Self {
        ExchangeFacts {
            print: e.print,
            seen: e.print.or(e.last_activity),
            response: e.response_time(),
            client: e.client,
            server: e.server,
            unanswered_at_server_close: e.request_size > 0
                && e.response_size == 0
                && e.close_originator == Some(crate::exchange::CloseOriginator::Server),
            first: e.first,
            opening: e.opening,
            times: [e.request_first, e.response_first, e.response_last],
        }
    }
}

/// The name an exchange gives its service: the TLS SNI, else the HTTP `Host`.
pub fn exchange_name<'e>(e: &'e Exchange<'_>) -> Option<&'e [u8]> {
    match e.tls.and_then(|t| t.sni.as_deref()) {
        Some(sni) => Some(sni),
        None => host(e.request),
    }
}

/// What the report reads of a connection record ([`Report::add_connection`]).
#[derive(Clone, Copy, Debug)]
pub struct ConnectionFacts {
    pub client: Endpoint,
    pub server: Endpoint,
    opening: Timestamp,
    /// The record's end (µs since the epoch, as the report keeps it).
    end: Timestamp,
    closer: Closer,
    by: Option<Direction>,
    exchanges: u32,
    duration: i64,
    handshake: Option<i64>,
    idle_before_close: Option<i64>,
    asked_keep_alive: bool,
    /// The SYN was answered by a SYN-ACK.
    syn_acked: bool,
    /// Reset by the server after its FIN.
    server_fin_then_rst: bool,
    /// HTTP/2: streams opened and the last PING round trip.
    h2: Option<(u32, Option<i64>)>,
    /// A WebSocket (101 answered): its longest silence up to its end.
    ws_silence: Option<i64>,
    /// The handshake's end, µs after the opening.
    open: Option<i64>,
}

impl ConnectionFacts {
    /// The facts of a connection record (`None` for any other record).
    pub fn of(e: &Exchange<'_>) -> Option<Self> {
        let rec = e.connection?;
        let closer = Closer::of(rec.how, rec.by);
        let server_fin_then_rst =
            closer == Closer::Rst && rec.by == Some(Direction::FromServer) && {
                let mut history = Vec::new();
                rec.lifecycle.history_letters(&mut history);
                history.contains(&b'f')
            };
        let facts = rec.protocol_facts;
        Some(ConnectionFacts {
            client: e.client,
            server: e.server,
            opening: rec.opening,
            end: rec.end,
            closer,
            by: rec.by,
            exchanges: rec.exchanges(),
            duration: rec.duration(),
            handshake: rec.handshake(),
            // When the last exchange began after the close had started (a request sent
            // on a connection its peer had already closed), the idle time is the one
            // before it.
            idle_before_close: rec.idle_when_closed(),
            asked_keep_alive: rec.keep_alive_asked() == Some(true),
            syn_acked: rec.lifecycle.syn_ack().is_some(),
            server_fin_then_rst,
            h2: facts
                .and_then(|f| f.h2.as_ref())
                .map(|h2| (h2.streams, h2.last_ping.map(|p| p.micros))),
            ws_silence: facts
                .and_then(|f| f.ws.as_ref())
                .filter(|ws| ws.upgraded.is_some())
                .map(|ws| ws_silence(ws, rec.end)),
            open: rec.open.map(|t| t.micros_since(rec.opening)),
        })
    }
}

/// The aggregation of a run.
#[derive(Debug)]
pub struct Report {
    thresholds: Thresholds,
    max_services: usize,
    services: Vec<Service>,
    /// Lookup only (never iterated: the output's order never depends on it).
    index: HashMap<Endpoint, usize, foldhash::fast::RandomState>,
    other: Service,
    /// The service found last, and its index.
    last_service: Option<(Endpoint, usize)>,
    pub timeline: Timeline,
    /// First and last timestamps seen (µs).
    pub first: Option<i64>,
    pub last: Option<i64>,
    sample: bool,
    open: HashMap<(Endpoint, Endpoint), OpenSample, foldhash::fast::RandomState>,
    /// The slowest connections, slowest first.
    worst: Vec<Sampled>,
    protocol_facts: bool,
}

impl Report {
    /// An empty report; `sample` keeps exchanges of the slowest connections (HTML).
    pub fn new(thresholds: Thresholds, max_services: usize, sample: bool) -> Self {
        Report {
            thresholds,
            max_services,
            services: Vec::new(),
            index: HashMap::default(),
            other: Service::new(None),
            last_service: None,
            timeline: Timeline::default(),
            first: None,
            last: None,
            sample,
            open: HashMap::default(),
            worst: Vec::new(),
            protocol_facts: true,
        }
    }

    pub fn thresholds(&self) -> &Thresholds {
        &self.thresholds
    }

    /// Whether the run read HTTP/2 and WebSocket facts (`--exchanges messages`).
    pub fn protocol_facts(&self) -> bool {
        self.protocol_facts
    }

    fn service(&mut self, server: Endpoint) -> &mut Service {
        // Records of one service usually follow each other: the last one found is
        // checked before the map.
        if let Some((last, i)) = self.last_service {
            if last == server {
                return &mut self.services[i];
            }
        }
        if let Some(&i) = self.index.get(&server) {
            self.last_service = Some((server, i));
            return &mut self.services[i];
        }
        if self.services.len() < self.max_services {
            self.index.insert(server, self.services.len());
            self.services.push(Service::new(Some(server)));
            let last = self.services.len() - 1;
            return &mut self.services[last];
        }
        &mut self.other
    }

    fn seen(&mut self, ts: Timestamp) {
        let t = ts.micros();
        self.first = Some(self.first.map_or(t, |f| f.min(t)));
        self.last = Some(self.last.map_or(t, |l| l.max(t)));
    }

    /// An exchange record.
    pub fn exchange(&mut self, e: &Exchange<'_>) {
        self.add_exchange(&ExchangeFacts::of(e), || exchange_name(e));
    }

    /// An exchange record, as its facts; `name` gives its SNI or Host when the service's
    /// name is sampled (the record's, read only then).
    pub fn add_exchange<'n>(&mut self, e: &ExchangeFacts, name: impl FnOnce() -> Option<&'n [u8]>) {
        if let Some(ts) = e.seen {
            self.seen(ts);
        }
        let response = e.response;
        let service = self.service(e.server);
        service.exchanges += 1;
        if let Some(r) = response {
            service.response.add(r);
        }
        if e.unanswered_at_server_close {
            service.unanswered_at_server_close += 1;
        }
        if e.first {
            service.first_exchanges += 1;
        }
        // The name is read from every connection's first exchange at first, then from
        // one in 64: enough to find the dominant one, without scanning every header
        // block of a busy service.
        if e.first && (service.first_exchanges <= 1024 || service.first_exchanges % 64 == 0) {
            if let Some(name) = name() {
                service.vote(name);
            }
        }
        if self.sample {
            self.sample_exchange(e);
        }
    }

    fn sample_exchange(&mut self, e: &ExchangeFacts) {
        let key = (e.client, e.server);
        if !self.open.contains_key(&key) && self.open.len() >= MAX_SAMPLED_CONNECTIONS {
            return;
        }
        let entry = self.open.entry(key).or_insert_with(|| OpenSample {
            opening: e.opening,
            slowest: 0,
            exchanges: Vec::new(),
        });
        if entry.opening != e.opening {
            // The same addresses, a new connection: the old one's record never came.
            *entry = OpenSample {
                opening: e.opening,
                slowest: 0,
                exchanges: Vec::new(),
            };
        }
        entry.slowest = entry.slowest.max(e.response.unwrap_or(0));
        if entry.exchanges.len() < SAMPLED_EXCHANGES {
            entry
                .exchanges
                .push(e.times.map(|t| t.map(|t| t.micros_since(e.opening))));
        }
    }

    /// A connection record (its [`Exchange::connection`] is set; others are ignored).
    pub fn connection(&mut self, e: &Exchange<'_>) {
        if let Some(facts) = ConnectionFacts::of(e) {
            self.add_connection(&facts);
        }
    }

    /// A connection record, as its facts.
    pub fn add_connection(&mut self, c: &ConnectionFacts) {
        self.seen(c.end);
        self.seen(c.opening);
        let closer = c.closer;
        self.timeline.opened(c.opening.micros());
        if closer != Closer::Open {
            self.timeline.closed(c.end.micros());
        }
        let exchanges = c.exchanges;
        let idle = c.idle_before_close;
        let example = Example {
            client: c.client,
            server: c.server,
            opening: c.opening.micros(),
            duration: c.duration,
            exchanges,
            handshake: c.handshake,
            idle_before_close: idle,
            closer,
            by: c.by,
        };
        let asked = c.asked_keep_alive;
        let ws_limit = i64::try_from(self.thresholds.ws_silence).unwrap_or(i64::MAX);
        let service = self.service(c.server);
        service.connections += 1;
        service.exchanges_per_connection.add(i64::from(exchanges));
        if exchanges >= 1 {
            service.with_exchanges += 1;
        }
        if exchanges == 1 {
            service.single += 1;
            service.single_by[closer as usize] += 1;
            service
                .single_example
                .get_or_insert_with(|| example.clone());
        }
        if asked {
            service.asked_keep_alive += 1;
            if exchanges == 1 {
                service.asked_single[closer as usize] += 1;
                service
                    .asked_single_example
                    .get_or_insert_with(|| example.clone());
            }
        }
        service.closed[closer as usize] += 1;
        service.closer_example[closer as usize].get_or_insert_with(|| example.clone());
        if closer == Closer::Rst {
            // No SYN-ACK and nothing carried: the SYN was answered by a reset.
            if !c.syn_acked && exchanges == 0 {
                service.refused += 1;
            }
            if let Some(by) = c.by {
                service.rst_by[side(by)] += 1;
            }
            if c.server_fin_then_rst {
                service.server_close_then_reset += 1;
                service
                    .server_close_then_reset_example
                    .get_or_insert_with(|| example.clone());
            }
        }
        if let Some(h) = c.handshake {
            service.handshake.add(h);
        }
        if let (Some(v), Some(by)) = (idle, c.by) {
            // Only a connection that carried an exchange has a pool timeout to show.
            if exchanges > 0 {
                service.idle_before_close[side(by)].add(v);
                let examples = &mut service.idle_examples[side(by)];
                if examples.len() < IDLE_EXAMPLES {
                    examples.push(example.clone());
                }
            }
        }
        if let Some((streams, ping)) = c.h2 {
            service.h2_connections += 1;
            service.h2_streams.add(i64::from(streams));
            if streams <= 1 {
                service.h2_single_stream += 1;
                service
                    .h2_single_example
                    .get_or_insert_with(|| example.clone());
            }
            if let Some(ping) = ping {
                service.h2_ping_rtt.add(ping);
            }
        }
        if let Some(silence) = c.ws_silence {
            service.ws_connections += 1;
            service.ws_silence.add(silence);
            if silence > ws_limit {
                let open = usize::from(closer != Closer::Open);
                service.ws_zombies[open] += 1;
                service
                    .ws_zombie_example
                    .get_or_insert_with(|| (example.clone(), silence));
            }
        }
        if self.sample {
            let open = self
                .open
                .remove(&(c.client, c.server))
                .filter(|s| s.opening == c.opening);
            if let Some(s) = open {
                self.keep_worst(Sampled {
                    example,
                    slowest: s.slowest,
                    exchanges: s.exchanges,
                    open: c.open,
                });
            }
        }
    }

    fn keep_worst(&mut self, s: Sampled) {
        let key = |s: &Sampled| {
            (
                std::cmp::Reverse(s.slowest),
                s.example.opening,
                s.example.client,
            )
        };
        let at = self
            .worst
            .binary_search_by(|w| key(w).cmp(&key(&s)))
            .unwrap_or_else(|i| i);
        if at < WORST {
            self.worst.insert(at, s);
            self.worst.truncate(WORST);
        }
    }

    /// The services with their own table, most connections first (then by address),
    /// and `other` last when it saw anything.
    pub fn services(&self) -> Vec<&Service> {
        let mut list: Vec<&Service> = self.services.iter().collect();
        list.sort_by(|a, b| {
            b.connections
                .cmp(&a.connections)
                .then(a.server.cmp(&b.server))
        });
        if self.other.connections > 0 || self.other.exchanges > 0 {
            list.push(&self.other);
        }
        list
    }

    /// The slowest connections, with their exchanges (only with `sample`).
    pub fn worst(&self) -> &[Sampled] {
        &self.worst
    }

    pub fn connections(&self) -> u64 {
        self.services.iter().map(|s| s.connections).sum::<u64>() + self.other.connections
    }

    pub fn exchanges(&self) -> u64 {
        self.services.iter().map(|s| s.exchanges).sum::<u64>() + self.other.exchanges
    }

    /// The findings, in the order [`findings::find`] gives.
    pub fn findings(&self) -> Vec<Finding> {
        findings::find(self)
    }

    /// The text report.
    pub fn text(&self) -> String {
        text::render(self)
    }

    /// The report as JSON lines (`--report --json`).
    pub fn json(&self) -> String {
        json::render(self)
    }

    /// The HTML page.
    pub fn html(&self) -> String {
        html::render(self)
    }
}

/// A WebSocket's longest time without a data message either way: the longest gap
/// between its messages, or the time from its last message (the upgrade when none) to
/// the connection's end (its close, or the end of the capture), whichever is longer.
fn ws_silence(ws: &crate::exchange::ws_facts::WsFacts, end: Timestamp) -> i64 {
    let tail = ws
        .last_activity
        .or(ws.upgraded)
        .map_or(0, |last| end.micros_since(last).max(0));
    ws.silence_max.unwrap_or(0).max(tail)
}

/// The `Host` header of a request's header block.
fn host(request: &[u8]) -> Option<&[u8]> {
    let block = crate::exchange::http::header_block(request);
    let value = crate::exchange::http::header_value(block, b"Host")?;
    // Without its port: the service already says it. `[v6]:port` keeps its brackets.
    let end = if value.first() == Some(&b'[') {
        value
            .iter()
            .position(|&b| b == b']')
            .map_or(value.len(), |i| i + 1)
    } else {
        value.iter().position(|&b| b == b':').unwrap_or(value.len())
    };
    let value = &value[..end];
    Some(value)
}

/// A run's report as it is being built, with what it was asked for: what
/// [`ReportSink`] keeps, and what a parallel run's merger keeps for its workers.
pub struct ReportState {
    report: Report,
    config: ReportConfig,
    /// The next interim report (`--report-every`), µs.
    next_interim: Option<i64>,
}

impl ReportState {
    pub fn new(config: ReportConfig) -> Self {
        let mut report = Report::new(
            config.thresholds.clone(),
            config.services,
            config.html.is_some(),
        );
        report.protocol_facts = config.protocol_facts;
        ReportState {
            report,
            config,
            next_interim: None,
        }
    }

    pub fn report(&self) -> &Report {
        &self.report
    }

    /// Whether the text report replaces the records (`--report`).
    pub fn replaces_records(&self) -> bool {
        self.config.text
    }

    /// The report as `--report` prints it: text, or JSON lines with `--json`.
    fn printed(&self) -> String {
        match self.config.json {
            true => self.report.json(),
            false => self.report.text(),
        }
    }

    /// An exchange record's facts, then the interim report when one is due.
    pub fn exchange<'n>(
        &mut self,
        facts: &ExchangeFacts,
        name: impl FnOnce() -> Option<&'n [u8]>,
    ) -> std::io::Result<()> {
        self.report.add_exchange(facts, name);
        self.interim(facts.print)
    }

    /// A connection record's facts, then the interim report when one is due.
    pub fn connection(&mut self, facts: &ConnectionFacts) -> std::io::Result<()> {
        self.report.add_connection(facts);
        self.interim(Some(facts.end))
    }

    /// `--report-every`: prints the text report when capture time passed the next
    /// period's end.
    pub fn interim(&mut self, ts: Option<Timestamp>) -> std::io::Result<()> {
        let (Some(every), Some(ts)) = (self.config.every, ts) else {
            return Ok(());
        };
        let now = ts.micros();
        let due = *self.next_interim.get_or_insert(now.saturating_add(every));
        if now < due || !self.config.text {
            return Ok(());
        }
        self.next_interim = Some(now.saturating_add(every));
        let mut out = std::io::stdout().lock();
        out.write_all(self.printed().as_bytes())?;
        out.flush()
    }

    /// At the end, after the records: the text report on standard output and the HTML
    /// file.
    pub fn finish(&mut self) -> std::io::Result<()> {
        if self.config.text {
            let mut out = std::io::stdout().lock();
            out.write_all(self.printed().as_bytes())?;
            out.flush()?;
        }
        if let Some(path) = &self.config.html {
            std::fs::write(path, self.report.html()).map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!("writing the HTML report {}: {e}", path.display()),
                )
            })?;
        }
        Ok(())
    }
}

/// Puts a [`Report`] behind an output stage: every record goes on to `inner` (unless
/// `--report` asked for the report alone) and into the report, which is written when the
/// run ends.
pub struct ReportSink<S> {
    inner: S,
    state: ReportState,
    /// Whether `inner` prints its records (not with `--report`).
    forward: bool,
}

impl<S: OutputStage> ReportSink<S> {
    pub fn new(inner: S, config: ReportConfig) -> Self {
        ReportSink {
            forward: !config.text,
            inner,
            state: ReportState::new(config),
        }
    }

    pub fn report(&self) -> &Report {
        self.state.report()
    }
}

impl<S: OutputStage> ExchangeSink for ReportSink<S> {
    fn exchange(&mut self, exchange: &Exchange<'_>) -> std::io::Result<()> {
        self.state
            .report
            .add_exchange(&ExchangeFacts::of(exchange), || exchange_name(exchange));
        if self.forward {
            self.inner.exchange(exchange)?;
        }
        self.state.interim(exchange.print)
    }

    fn connection(&mut self, record: &Exchange<'_>) -> std::io::Result<()> {
        self.state.report.connection(record);
        if self.forward {
            self.inner.connection(record)?;
        }
        self.state.interim(record.connection.map(|c| c.end))
    }

    /// `--open-report`'s interim records go on with the records (the report counts
    /// connections once, when they end).
    fn interim(&mut self, record: &Exchange<'_>) -> std::io::Result<()> {
        if self.forward {
            self.inner.interim(record)?;
        }
        Ok(())
    }

    crate::exchange::forward_exchange_sink!(inner: wants_payload, opening, open, request, response, closed, timed_out, truncated);
}

impl<S: OutputStage> OutputStage for ReportSink<S> {
    /// The records first, then the text report on standard output and the HTML file.
    fn finish(&mut self) -> std::io::Result<()> {
        self.inner.finish()?;
        self.state.finish()
    }

    fn record_failures(&self) -> u64 {
        self.inner.record_failures()
    }

    fn per_connection(&self) -> bool {
        self.inner.per_connection()
    }

    fn renders_records(&self) -> bool {
        self.forward && self.inner.renders_records()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_is_named_by_its_most_frequent_name_and_keeps_few() {
        let mut s = Service::new(None);
        s.vote(b"127.0.0.1");
        s.vote(b"[::1]");
        assert_eq!(s.name(), None, "addresses are no names");
        s.vote(b"b.example");
        s.vote(b"a.example");
        assert_eq!(s.name().as_deref(), Some("a.example"), "ties: the smallest");
        s.vote(b"b.example");
        assert_eq!(s.name().as_deref(), Some("b.example"));
        for name in [&b"c"[..], b"d", b"e", b"f"] {
            s.vote(name);
        }
        assert_eq!(s.names.len(), MAX_NAMES);
        s.vote(b"evil\x1b[31m<b>");
        let mut long = Service::new(None);
        long.vote(&[b'x'; 1000]);
        long.vote(b"bad\nname");
        assert_eq!(long.names[0].0.len(), MAX_NAME_LEN);
        assert_eq!(&*long.names[1].0, b"bad.name");
    }

    #[test]
    fn host_drops_the_port_but_keeps_ipv6_brackets() {
        assert_eq!(
            host(b"GET / HTTP/1.1\r\nHost: a.test:8080\r\n\r\n"),
            Some(&b"a.test"[..])
        );
        assert_eq!(
            host(b"GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n"),
            Some(&b"[::1]"[..])
        );
        assert_eq!(host(b"GET / HTTP/1.1\r\n\r\n"), None);
    }
}
