//! Findings: the patterns of the troubleshooting matrix, found in a [`Report`]'s
//! services, each with its likely cause, the action, and the evidence (counts and an
//! example connection).
//!
//! Each rule reads one service's aggregates and the [`Thresholds`]; a service with
//! fewer than `min-connections` connections gives no share-based finding (requests
//! that hit a closed connection and zombie WebSockets are reported whatever their
//! number). HTTP/2 "not multiplexed" and "zombie WebSocket" read the HTTP/2 and
//! WebSocket facts of [`crate::exchange::conn_facts::ProtocolFacts`], filled in
//! `--exchanges messages` mode only.

use super::stats::Cluster;
use super::text::{duration, percent};
use super::{Closer, Example, Report, Service, Thresholds};
use crate::decode::Endpoint;
use crate::flow::Direction;

/// What a finding is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FindingKind {
    /// The client wrote on a connection the server had closed: a reset or a request
    /// without a response.
    RequestOnClosedConnection,
    RstStorm,
    IntermediaryTimeout,
    KeepAliveNotReused,
    ConnectionChurn,
    ServerClosesFirst,
    H2NotMultiplexed,
    ZombieWebSocket,
    /// A detected pool or keep-alive timeout (information).
    PoolTimeout,
}

impl FindingKind {
    /// The name printed in brackets before each finding.
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::RequestOnClosedConnection => "request-on-closed-connection",
            FindingKind::RstStorm => "rst-storm",
            FindingKind::IntermediaryTimeout => "intermediary-timeout",
            FindingKind::KeepAliveNotReused => "keep-alive-not-reused",
            FindingKind::ConnectionChurn => "connection-churn",
            FindingKind::ServerClosesFirst => "server-closes-first",
            FindingKind::H2NotMultiplexed => "h2-not-multiplexed",
            FindingKind::ZombieWebSocket => "zombie-websocket",
            FindingKind::PoolTimeout => "pool-timeout",
        }
    }

    /// Whether it is a problem (else information).
    pub fn is_problem(self) -> bool {
        self != FindingKind::PoolTimeout
    }
}

/// One finding about one service.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    pub kind: FindingKind,
    /// The service's server address (`None`: `other`).
    pub server: Option<Endpoint>,
    /// The service's label (`address:port (name)`).
    pub service: String,
    /// What was found, in one sentence.
    pub headline: String,
    pub cause: String,
    pub action: String,
    /// Counts behind it, one fact per line.
    pub evidence: Vec<String>,
    pub example: Option<Example>,
    /// The timeout found, in seconds ([`FindingKind::PoolTimeout`],
    /// [`FindingKind::IntermediaryTimeout`]).
    pub timeout: Option<f64>,
}

/// Idle timeouts of intermediaries, by their documented defaults (seconds).
pub const INTERMEDIARIES: &[(f64, &str)] = &[
    (
        60.0,
        "the AWS Application and Classic Load Balancer idle timeout (60 s by default)",
    ),
    (
        240.0,
        "the Azure Load Balancer and NAT gateway TCP idle timeout (4 min by default)",
    ),
    (
        350.0,
        "the AWS NAT gateway and Network Load Balancer TCP idle timeout (350 s, fixed)",
    ),
    (
        1200.0,
        "the Google Cloud NAT established-TCP idle timeout (20 min by default)",
    ),
];

/// Keep-alive timeouts of common servers and idle timeouts of common client pools, by
/// their documented defaults (seconds), to name a detected timeout.
const KNOWN_SERVER: &[(f64, &str)] = &[
    (
        5.0,
        "Apache httpd KeepAliveTimeout and Node.js server.keepAliveTimeout (5 s by default)",
    ),
    (75.0, "nginx keepalive_timeout (75 s by default)"),
];
const KNOWN_CLIENT: &[(f64, &str)] = &[(
    90.0,
    "Go net/http DefaultTransport IdleConnTimeout (90 s by default)",
)];

/// Every finding of `report`: problems first (in [`FindingKind`] order), then
/// information; within a kind, services in the report's order.
pub fn find(report: &Report) -> Vec<Finding> {
    let t = report.thresholds();
    let mut all = Vec::new();
    for (order, service) in report.services().into_iter().enumerate() {
        for f in service_findings(service, t) {
            all.push((order, f));
        }
    }
    all.sort_by(|a, b| {
        (!a.1.kind.is_problem(), a.1.kind, a.0).cmp(&(!b.1.kind.is_problem(), b.1.kind, b.0))
    });
    all.into_iter().map(|(_, f)| f).collect()
}

fn base(service: &Service, kind: FindingKind, headline: String) -> Finding {
    Finding {
        kind,
        server: service.server,
        service: service.label(),
        headline,
        cause: String::new(),
        action: String::new(),
        evidence: Vec::new(),
        example: None,
        timeout: None,
    }
}

fn of(count: u64, total: u64) -> String {
    format!(
        "{count} of {total} ({})",
        percent(count as f64 / total.max(1) as f64)
    )
}

/// Who closed, as `client 3 %, server 97 %`, the non-zero ones.
fn closers(counts: &[u64; 6]) -> String {
    let total: u64 = counts.iter().sum();
    let parts: Vec<String> = Closer::ALL
        .iter()
        .filter(|c| counts[**c as usize] > 0)
        .map(|c| {
            format!(
                "{} {}",
                c.as_str(),
                percent(counts[*c as usize] as f64 / total.max(1) as f64)
            )
        })
        .collect();
    parts.join(", ")
}

/// All findings of one service.
pub fn service_findings(s: &Service, t: &Thresholds) -> Vec<Finding> {
    let mut out = Vec::new();
    closed_connection(s, t, &mut out);
    let enough = s.connections >= t.min_connections.max(1);
    if enough {
        rst_storm(s, t, &mut out);
        // One stream per HTTP/2 connection is the churn of HTTP/2, with its own cause.
        let reuse = h2_not_multiplexed(s, t, &mut out)
            || keep_alive_not_reused(s, t, &mut out)
            || churn(s, t, &mut out);
        if !reuse {
            server_closes_first(s, t, &mut out);
        }
    }
    zombie_websocket(s, t, &mut out);
    timeouts(s, t, &mut out);
    out
}

fn closed_connection(s: &Service, t: &Thresholds, out: &mut Vec<Finding>) {
    let resets = s.server_close_then_reset;
    let unanswered = s.unanswered_at_server_close;
    if resets == 0 {
        return;
    }
    let mut f = base(
        s,
        FindingKind::RequestOnClosedConnection,
        format!(
            "Requests hit connections the server had closed: {resets} connection(s) reset after the server's FIN"
        ),
    );
    f.cause = "the server closed an idle keep-alive connection (its keep-alive timeout) while the client's pool still held it as reusable; the client's next request went to a closed socket and was answered by a reset".into();
    f.action = "make the client pool's idle timeout shorter than the server's keep-alive timeout (by a second or more), or have the client retry idempotent requests on a reset; a server Keep-Alive: timeout=N header lets some clients adapt".into();
    f.evidence = vec![
        format!(
            "{} connections closed by the server's FIN, {resets} of them then reset",
            s.closed_count(Closer::Server) + resets
        ),
        format!("{unanswered} request(s) without a response when the server closed"),
    ];
    if let Some(c) = s.timeout(Direction::FromServer, t) {
        f.evidence.push(format!(
            "the server closes {} after the last exchange (its keep-alive timeout)",
            duration(c.centre as i64)
        ));
    }
    f.example = s.server_close_then_reset_example.clone();
    out.push(f);
}

fn rst_storm(s: &Service, t: &Thresholds, out: &mut Vec<Finding>) {
    // Resets that answer a request on a connection the server had closed are the
    // closed-connection finding's.
    let rst =
        s.closed_count(Closer::Rst) - s.server_close_then_reset.min(s.closed_count(Closer::Rst));
    if rst == 0 || s.share(rst) < t.rst {
        return;
    }
    let [client, server] = s.rst_by;
    let server = server.saturating_sub(s.server_close_then_reset);
    let mut f = base(
        s,
        FindingKind::RstStorm,
        format!(
            "RST storm: {} connections ended by a reset",
            of(rst, s.connections)
        ),
    );
    f.evidence = vec![format!(
        "resets by the server: {server}, by the client: {client}"
    )];
    if s.unanswered_at_server_close > 0 {
        f.evidence.push(format!(
            "{} request(s) got no response before the reset",
            s.unanswered_at_server_close
        ));
    }
    if s.refused > 0 {
        f.evidence.push(format!(
            "{} of them refused: their SYN was answered by a reset",
            s.refused
        ));
    }
    if s.refused * 2 > rst {
        f.cause = "connections are refused: nothing listens on the port (the server is down or restarting), or its accept queue is full, or a firewall rejects them".into();
        f.action = "check that the server listens on this port and its backlog (ss -ltn); look for a firewall's reject rule".into();
    } else if server >= client {
        f.cause = "the server (or a proxy in front of it) aborts connections: a crash or restart, an overloaded accept queue, SO_LINGER 0 on close, or a firewall/load balancer refusing them".into();
        f.action = "look at the server's error log and its listen backlog at these times; check whether a proxy or firewall sends the resets (compare TTLs)".into();
    } else {
        f.cause = "the client aborts connections: its request timeout fires, it closes with unread data, or it closes with SO_LINGER 0".into();
        f.action = "compare the client's request timeout with the response times below; read the response fully before closing".into();
    }
    f.example = s.closer_example[Closer::Rst as usize].clone();
    out.push(f);
}

fn keep_alive_not_reused(s: &Service, t: &Thresholds, out: &mut Vec<Finding>) -> bool {
    // A connection the server reset could not be reused: the RST storm's.
    let single: u64 = s.asked_single.iter().sum::<u64>() - s.asked_single[Closer::Rst as usize];
    let asked = s.asked_keep_alive - s.asked_single[Closer::Rst as usize];
    if single == 0 || asked < t.min_connections.max(1) {
        return false;
    }
    if (single as f64 / asked as f64) < t.keepalive_unused {
        return false;
    }
    let mut f = base(
        s,
        FindingKind::KeepAliveNotReused,
        format!(
            "Keep-alive asked but not reused: {} connections that asked to stay open carried a single exchange",
            of(single, asked)
        ),
    );
    let by_client = s.asked_single[Closer::Client as usize];
    let by_server = s.asked_single[Closer::Server as usize];
    f.evidence = vec![
        format!("who closed them: {}", closers(&s.asked_single)),
        handshakes(s),
    ];
    if by_client >= by_server {
        f.cause = "the client asks for keep-alive and then closes after one exchange: a new HTTP client or session per request, a pool that is disabled or too small, or a response it did not read to the end".into();
        f.action = "create the HTTP client/session once and reuse it (one pool per process), size its pool for the concurrency, and read every response body fully".into();
    } else {
        f.cause = "the server ignores the keep-alive request and closes after one response: keep-alive disabled (keepalive_timeout 0, keepalive_requests 1) or a proxy that closes upstream connections".into();
        f.action = "enable keep-alive on the server and on any proxy in between (nginx: keepalive_timeout > 0; upstream keepalive with proxy_http_version 1.1)".into();
    }
    f.example = s.asked_single_example.clone();
    out.push(f);
    true
}

fn handshakes(s: &Service) -> String {
    match (s.handshake.quantile(0.5), s.handshake.quantile(0.99)) {
        (Some(p50), Some(p99)) => format!(
            "{} handshakes for {} exchanges; handshake p50 {}, p99 {}",
            s.handshake.count(),
            s.exchanges,
            duration(p50 as i64),
            duration(p99 as i64)
        ),
        _ => format!("{} exchanges", s.exchanges),
    }
}

fn churn(s: &Service, t: &Thresholds, out: &mut Vec<Finding>) -> bool {
    // Connections ended by a reset are the RST storm's.
    let reset = s.single_by[Closer::Rst as usize];
    let single = s.single - reset;
    let with_exchanges = s.with_exchanges - reset.min(s.with_exchanges);
    if with_exchanges < t.min_connections.max(1) {
        return false;
    }
    if (single as f64 / with_exchanges as f64) < t.churn {
        return false;
    }
    let mut f = base(
        s,
        FindingKind::ConnectionChurn,
        format!(
            "Connection churn: {} connections carried a single exchange (every exchange `unique`): a handshake on every request",
            of(single, with_exchanges)
        ),
    );
    f.evidence = vec![handshakes(s), format!("who closed: {}", closers(&s.closed))];
    f.cause = "the connections are not persistent: the client sends Connection: close or speaks HTTP/1.0, or does not pool connections, so every request pays a TCP (and TLS) handshake".into();
    f.action = "use HTTP/1.1 keep-alive with a connection pool in the client (and keep-alive on the server); each reuse saves a handshake round trip".into();
    f.example = s.single_example.clone();
    out.push(f);
    true
}

fn server_closes_first(s: &Service, t: &Thresholds, out: &mut Vec<Finding>) {
    // A connection reset after the server's FIN was closed by the server first.
    let server = s.closed_count(Closer::Server) + s.server_close_then_reset;
    let closed = s.closed_count(Closer::Client)
        + s.closed_count(Closer::Server)
        + s.closed_count(Closer::Rst);
    if server == 0 || (server as f64 / closed.max(1) as f64) < t.server_closes {
        return;
    }
    let mut f = base(
        s,
        FindingKind::ServerClosesFirst,
        format!(
            "The server closes first: {} closed connections",
            of(server, closed)
        ),
    );
    let timeout = s.timeout(Direction::FromServer, t);
    match timeout {
        Some(c) => f.evidence.push(format!(
            "it closes {} ± {} after the last exchange in {} of its closes: its keep-alive timeout, shorter than the client pool's",
            duration(c.centre as i64),
            duration(c.spread() as i64),
            percent(c.share())
        )),
        None => f.evidence.push(format!("who closed: {}", closers(&s.closed))),
    }
    f.cause = "the server's keep-alive timeout (or its per-connection request limit) is shorter than the client pool's idle timeout, so the server closes connections the client still counts as reusable; a request sent at the same moment fails".into();
    f.action = "make the client pool's idle timeout shorter than the server's keep-alive timeout, or raise the server's (nginx keepalive_timeout, Apache KeepAliveTimeout); retry idempotent requests on a reset".into();
    f.example = timeout
        .and_then(|c| s.idle_example(Direction::FromServer, &c).cloned())
        .or_else(|| s.closer_example[Closer::Server as usize].clone());
    out.push(f);
}

/// Most HTTP/2 connections carried one stream each (`h2-single`): the client opens a
/// connection per request instead of multiplexing.
fn h2_not_multiplexed(s: &Service, t: &Thresholds, out: &mut Vec<Finding>) -> bool {
    let h2 = s.h2_connections;
    if h2 < t.min_connections.max(1) || (s.h2_single_stream as f64 / h2 as f64) < t.h2_single {
        return false;
    }
    let mut f = base(
        s,
        FindingKind::H2NotMultiplexed,
        format!(
            "HTTP/2 not multiplexed: {} HTTP/2 connections carried at most one stream: a connection (and handshake) per request",
            of(s.h2_single_stream, h2)
        ),
    );
    if let (Some(p50), Some(max)) = (s.h2_streams.quantile(0.5), s.h2_streams.max()) {
        f.evidence.push(format!(
            "streams per HTTP/2 connection: p50 {p50}, max {max}"
        ));
    }
    f.evidence.push(handshakes(s));
    f.cause = "the client creates a new HTTP/2 connection (or a new client object) for each request instead of sending concurrent requests as streams of one connection: a client per request, a pool that does not share HTTP/2 connections, or a proxy that opens one upstream connection per request".into();
    f.action = "keep one HTTP/2 connection per origin and send requests as streams on it (reuse the client/session object; check the pool's HTTP/2 support and the server's SETTINGS_MAX_CONCURRENT_STREAMS)".into();
    f.example = s.h2_single_example.clone();
    out.push(f);
    true
}

/// WebSocket connections with no message for more than `ws-silence`: still open at
/// the end of the capture, or closed after the silence. Reported whatever their number.
fn zombie_websocket(s: &Service, t: &Thresholds, out: &mut Vec<Finding>) {
    let [open, closed] = s.ws_zombies;
    let zombies = open + closed;
    if zombies == 0 {
        return;
    }
    let mut f = base(
        s,
        FindingKind::ZombieWebSocket,
        format!(
            "Zombie WebSocket: {} WebSocket connections had no message for more than {}",
            of(zombies, s.ws_connections),
            duration(t.ws_silence as i64)
        ),
    );
    f.evidence.push(format!(
        "{open} still open at the end of the capture, {closed} closed after the silence"
    ));
    if let (Some(p50), Some(max)) = (s.ws_silence.quantile(0.5), s.ws_silence.max()) {
        f.evidence.push(format!(
            "longest silence per WebSocket: p50 {}, max {}",
            duration(p50 as i64),
            duration(max as i64)
        ));
    }
    if let Some((_, silence)) = &s.ws_zombie_example {
        f.evidence.push(format!(
            "the example's longest silence: {}",
            duration(*silence)
        ));
    }
    f.cause = "the TCP connection stays up (keep-alive probes or WebSocket pings only) while the application sends nothing: a peer that stopped reading or writing, a lost subscription, or a client that never closes sockets it no longer uses".into();
    f.action = "have the application send heartbeats it checks (a message, or a ping whose pong is awaited) and close a WebSocket silent past a deadline; check that the client closes the WebSockets it abandons (Close 1000/1001)".into();
    f.example = s.ws_zombie_example.as_ref().map(|(e, _)| e.clone());
    out.push(f);
}

fn named(value: f64, known: &[(f64, &'static str)], margin: f64) -> Option<&'static str> {
    known
        .iter()
        .find(|(v, _)| (value - v).abs() <= v * margin)
        .map(|(_, name)| *name)
}

fn timeouts(s: &Service, t: &Thresholds, out: &mut Vec<Finding>) {
    for dir in [Direction::FromClient, Direction::FromServer] {
        let Some(c) = s.timeout(dir, t) else {
            continue;
        };
        let secs = c.centre as f64 / 1e6;
        let (who, what, known) = match dir {
            Direction::FromClient => ("client", "a client pool idle timeout", KNOWN_CLIENT),
            Direction::FromServer => ("server", "a server keep-alive timeout", KNOWN_SERVER),
        };
        let example = s.idle_example(dir, &c).cloned();
        if let Some(name) = named(secs, super::findings::INTERMEDIARIES, t.intermediary_margin) {
            let mut f = base(
                s,
                FindingKind::IntermediaryTimeout,
                format!(
                    "Idle connections near an intermediary's timeout: the {who} side closes {} after the last exchange in {} of its closes, near {name}",
                    duration(c.centre as i64),
                    percent(c.share())
                ),
            );
            f.cause = format!("an intermediary (load balancer, NAT) in the path drops connections idle for its timeout; the {who} sees the close or reset from it, not from its peer");
            f.action = "keep the client pool's idle timeout below the intermediary's (a few seconds less), or enable TCP keep-alive probes shorter than it".into();
            f.evidence = vec![cluster_sentence(who, &c)];
            f.example = example.clone();
            f.timeout = Some(secs);
            out.push(f);
        }
        let mut f = base(
            s,
            FindingKind::PoolTimeout,
            format!(
                "{} → {what} of about {}",
                cluster_sentence(who, &c),
                rounded(secs)
            ),
        );
        f.cause = match named(secs, known, t.intermediary_margin) {
            Some(name) => format!("a configured idle timeout; it matches {name}"),
            None => "a configured idle timeout".into(),
        };
        f.action = match dir {
            Direction::FromClient => "healthy when shorter than the server's keep-alive timeout; check the server's".into(),
            Direction::FromServer => "clients must close idle connections before this; set their pool idle timeout below it".into(),
        };
        f.example = example;
        f.timeout = Some(secs);
        out.push(f);
    }
}

/// "the client closes 5.00 s ± 50 ms after its last exchange in 94 % of its closes"
pub fn cluster_sentence(who: &str, c: &Cluster) -> String {
    format!(
        "the {who} closes {} ± {} after its last exchange in {} of its closes ({} of {})",
        duration(c.centre as i64),
        duration(c.spread() as i64),
        percent(c.share()),
        c.count,
        c.total
    )
}

/// A timeout in seconds, to one decimal below 100 s.
fn rounded(secs: f64) -> String {
    if secs < 100.0 {
        format!("{secs:.1} s")
    } else {
        format!("{secs:.0} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    fn service(connections: u64) -> Service {
        let mut s = Service::new(Some(Endpoint {
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 80,
        }));
        s.connections = connections;
        s
    }

    fn kinds(s: &Service) -> Vec<FindingKind> {
        service_findings(s, &Thresholds::default())
            .iter()
            .map(|f| f.kind)
            .collect()
    }

    /// `n` connections closed by `closer`, each with `exchanges` exchanges.
    fn closed(s: &mut Service, closer: Closer, n: u64, exchanges: u32) {
        s.closed[closer as usize] += n;
        s.with_exchanges += n;
        if exchanges == 1 {
            s.single += n;
            s.single_by[closer as usize] += n;
        }
        s.exchanges += n * u64::from(exchanges);
    }

    #[test]
    fn resets_of_an_aborting_server_are_a_storm_not_churn_nor_unused_keep_alive() {
        let mut s = service(15);
        closed(&mut s, Closer::Rst, 15, 1);
        s.rst_by = [0, 15];
        s.asked_keep_alive = 15;
        s.asked_single[Closer::Rst as usize] = 15;
        assert_eq!(kinds(&s), [FindingKind::RstStorm]);
    }

    #[test]
    fn resets_after_the_servers_close_are_requests_on_a_closed_connection_not_a_storm() {
        let mut s = service(12);
        closed(&mut s, Closer::Rst, 6, 3);
        closed(&mut s, Closer::Server, 6, 2);
        s.rst_by = [0, 6];
        s.server_close_then_reset = 6;
        assert_eq!(
            kinds(&s),
            [
                FindingKind::RequestOnClosedConnection,
                FindingKind::ServerClosesFirst
            ]
        );
        let f = service_findings(&s, &Thresholds::default());
        assert!(f[1].headline.contains("12 of 12"), "{}", f[1].headline);
    }

    #[test]
    fn churn_is_every_connection_carrying_one_exchange() {
        let mut s = service(20);
        closed(&mut s, Closer::Server, 20, 1);
        assert_eq!(kinds(&s), [FindingKind::ConnectionChurn]);
        let mut s = service(20);
        closed(&mut s, Closer::Server, 8, 1);
        closed(&mut s, Closer::Client, 12, 5);
        assert_eq!(kinds(&s), []);
    }

    #[test]
    fn too_few_connections_make_no_share_finding() {
        let mut s = service(5);
        closed(&mut s, Closer::Rst, 5, 1);
        s.rst_by = [0, 5];
        assert_eq!(kinds(&s), []);
    }

    #[test]
    fn keep_alive_asked_but_not_reused_replaces_churn_and_names_the_closer() {
        let mut s = service(20);
        closed(&mut s, Closer::Client, 20, 1);
        s.asked_keep_alive = 20;
        s.asked_single[Closer::Client as usize] = 20;
        let f = service_findings(&s, &Thresholds::default());
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, FindingKind::KeepAliveNotReused);
        assert!(f[0].cause.starts_with("the client"), "{}", f[0].cause);
        assert!(
            f[0].evidence[0].contains("client 100 %"),
            "{:?}",
            f[0].evidence
        );
        s.asked_single = [0, 20, 0, 0, 0, 0];
        let f = service_findings(&s, &Thresholds::default());
        assert!(f[0].cause.starts_with("the server"), "{}", f[0].cause);
        // Most keep-alive connections reused: no finding.
        let mut s = service(20);
        closed(&mut s, Closer::Client, 20, 4);
        s.asked_keep_alive = 20;
        s.asked_single[Closer::Client as usize] = 3;
        assert_eq!(kinds(&s), []);
    }

    #[test]
    fn the_server_closing_most_reused_connections_is_found() {
        let mut s = service(20);
        closed(&mut s, Closer::Server, 15, 3);
        closed(&mut s, Closer::Client, 5, 3);
        assert_eq!(kinds(&s), [FindingKind::ServerClosesFirst]);
        let mut s = service(20);
        closed(&mut s, Closer::Server, 5, 3);
        closed(&mut s, Closer::Client, 15, 3);
        assert_eq!(kinds(&s), []);
    }

    #[test]
    fn an_rst_storm_names_the_side_that_resets() {
        let mut s = service(20);
        closed(&mut s, Closer::Rst, 10, 2);
        closed(&mut s, Closer::Client, 10, 2);
        s.rst_by = [0, 10];
        let f = service_findings(&s, &Thresholds::default());
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, FindingKind::RstStorm);
        assert!(f[0].cause.starts_with("the server"));
        let mut s = service(20);
        closed(&mut s, Closer::Rst, 2, 2);
        closed(&mut s, Closer::Client, 18, 2);
        assert_eq!(kinds(&s), []);
    }

    #[test]
    fn refused_connections_are_a_storm_with_their_own_cause() {
        let mut s = service(12);
        s.closed[Closer::Rst as usize] = 12;
        s.rst_by = [0, 12];
        s.refused = 12;
        let f = service_findings(&s, &Thresholds::default());
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, FindingKind::RstStorm);
        assert!(
            f[0].cause.starts_with("connections are refused"),
            "{}",
            f[0].cause
        );
    }

    #[test]
    fn one_request_on_a_closed_connection_is_reported() {
        let mut s = service(1);
        s.server_close_then_reset = 1;
        assert_eq!(kinds(&s), [FindingKind::RequestOnClosedConnection]);
        let s = service(1);
        assert_eq!(kinds(&s), []);
    }

    #[test]
    fn a_sharp_idle_cluster_is_a_pool_timeout_and_at_sixty_seconds_an_intermediary() {
        let mut s = service(20);
        closed(&mut s, Closer::Client, 20, 3);
        for i in 0..20 {
            s.idle_before_close[0].add(1_990_000 + i * 1_000);
        }
        let f = service_findings(&s, &Thresholds::default());
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, FindingKind::PoolTimeout);
        assert!(
            (f[0].timeout.unwrap() - 2.0).abs() < 0.03,
            "{:?}",
            f[0].timeout
        );
        assert!(
            f[0].headline
                .contains("client pool idle timeout of about 2.0 s"),
            "{}",
            f[0].headline
        );

        let mut s = service(20);
        closed(&mut s, Closer::Client, 20, 3);
        for i in 0..20 {
            s.idle_before_close[0].add(60_000_000 + i * 10_000);
        }
        assert_eq!(
            kinds(&s),
            [FindingKind::IntermediaryTimeout, FindingKind::PoolTimeout]
        );
    }

    #[test]
    fn closing_at_once_or_at_random_is_no_timeout() {
        let mut s = service(20);
        closed(&mut s, Closer::Server, 8, 3);
        closed(&mut s, Closer::Client, 12, 3);
        for i in 0..20 {
            s.idle_before_close[1].add(100 + i);
            s.idle_before_close[0].add(i * 3_000_000);
        }
        assert_eq!(kinds(&s), []);
        assert!(s
            .closes_at_once(Direction::FromServer, &Thresholds::default())
            .is_some());
    }

    #[test]
    fn thresholds_are_set_by_name_and_refuse_nonsense() {
        let mut t = Thresholds::default();
        t.set("churn=0.5").unwrap();
        t.set(" cluster-width = 20 ").unwrap();
        t.set("timeout-min=1.5").unwrap();
        assert_eq!(t.churn, 0.5);
        assert_eq!(t.cluster.min_half_width, 20_000);
        assert_eq!(t.timeout_min, 1_500_000);
        assert!(t.set("churn=2").is_err());
        assert!(t.set("nope=1").is_err());
        assert!(t.set("churn").is_err());
        assert!(t.set("rst=-1").is_err());
        assert!(t.set("rst=NaN").is_err());
    }
}
