//! The report as JSON lines (`--report --json`): one `finding` record per finding, in
//! the text report's order, then one `service` record per service table, with the
//! figures the text report prints (durations in seconds, shares as fractions of 1).
//! Nothing here depends on a hash map's order: the same capture gives the same bytes.

use super::stats::{Cluster, Histogram};
use super::{Closer, Example, Report, Service};
use crate::flow::Direction;
use crate::output::json::{write_seconds, write_string};

/// The whole report, one JSON object per line.
pub fn render(r: &Report) -> String {
    let mut out = Vec::new();
    for f in r.findings() {
        out.extend_from_slice(b"{\"type\":\"finding\"");
        text(&mut out, "rustniffer.finding.kind", f.kind.as_str());
        key(&mut out, "rustniffer.finding.problem");
        out.extend_from_slice(if f.kind.is_problem() {
            b"true"
        } else {
            b"false"
        });
        if let Some(server) = f.server {
            text(&mut out, "server.address", &server.ip.to_string());
            int(&mut out, "server.port", u64::from(server.port));
        }
        text(&mut out, "rustniffer.service", &f.service);
        text(&mut out, "rustniffer.finding.message", &f.headline);
        text(&mut out, "rustniffer.finding.cause", &f.cause);
        text(&mut out, "rustniffer.finding.action", &f.action);
        key(&mut out, "rustniffer.finding.evidence");
        out.push(b'[');
        for (i, e) in f.evidence.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_string(&mut out, e.as_bytes());
        }
        out.push(b']');
        if let Some(t) = f.timeout {
            key(&mut out, "rustniffer.finding.timeout");
            seconds_f64(&mut out, t);
        }
        if let Some(e) = &f.example {
            key(&mut out, "rustniffer.finding.example");
            example(&mut out, e);
        }
        out.extend_from_slice(b"}\n");
    }
    for s in r.services() {
        service(&mut out, r, s);
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn key(out: &mut Vec<u8>, name: &str) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
}

fn text(out: &mut Vec<u8>, name: &str, value: &str) {
    key(out, name);
    write_string(out, value.as_bytes());
}

fn int(out: &mut Vec<u8>, name: &str, value: u64) {
    key(out, name);
    crate::format::write_u64(out, value);
}

/// Microseconds as seconds.
fn seconds(out: &mut Vec<u8>, name: &str, us: i64) {
    key(out, name);
    write_seconds(out, us);
}

/// Seconds given as a float (a finding's timeout), at microsecond precision.
fn seconds_f64(out: &mut Vec<u8>, s: f64) {
    let us = (s * 1e6).round();
    let us = if us.is_finite() { us as i64 } else { 0 };
    write_seconds(out, us);
}

/// A share (0 to 1), six decimals.
fn share(out: &mut Vec<u8>, name: &str, value: f64) {
    key(out, name);
    let _ = std::io::Write::write_fmt(out, format_args!("{:.6}", value.clamp(0.0, 1.0)));
}

/// One connection: its identity and times, with the record's names.
fn example(out: &mut Vec<u8>, e: &Example) {
    out.extend_from_slice(b"{\"client.address\":");
    write_string(out, e.client.ip.to_string().as_bytes());
    int(out, "client.port", u64::from(e.client.port));
    text(out, "server.address", &e.server.ip.to_string());
    int(out, "server.port", u64::from(e.server.port));
    key(out, "tcp.connection.start");
    let mut start = Vec::new();
    crate::output::json::write_rfc3339(&mut start, e.opening);
    out.push(b'"');
    out.extend_from_slice(&start);
    out.push(b'"');
    key(out, "tcp.connection.start_us");
    if e.opening < 0 {
        out.push(b'-');
    }
    crate::format::write_u64(out, e.opening.unsigned_abs());
    seconds(out, "rustniffer.conn.duration", e.duration);
    int(out, "rustniffer.conn.exchanges", u64::from(e.exchanges));
    if let Some(h) = e.handshake {
        seconds(out, "tcp.handshake.duration", h);
    }
    if let Some(idle) = e.idle_before_close {
        seconds(out, "rustniffer.conn.idle.before_close", idle);
    }
    text(out, "rustniffer.report.closer", e.closer.as_str());
    match e.by {
        Some(Direction::FromClient) => text(out, "tcp.close.by", "client"),
        Some(Direction::FromServer) => text(out, "tcp.close.by", "server"),
        None => {}
    }
    out.push(b'}');
}

/// `{"p50":..,"p99":..,"max":..,"count":N}` of a histogram, the values as `value`
/// writes them; nothing when it is empty (the text report's `-`).
fn distribution(
    out: &mut Vec<u8>,
    name: &str,
    h: &Histogram,
    value: fn(&mut Vec<u8>, u64),
) -> bool {
    let (Some(p50), Some(p99), Some(max)) = (h.quantile(0.5), h.quantile(0.99), h.max()) else {
        return false;
    };
    key(out, name);
    out.extend_from_slice(b"{\"p50\":");
    value(out, p50);
    out.extend_from_slice(b",\"p99\":");
    value(out, p99);
    out.extend_from_slice(b",\"max\":");
    value(out, max);
    out.extend_from_slice(b",\"count\":");
    crate::format::write_u64(out, h.count());
    out.push(b'}');
    true
}

fn count_value(out: &mut Vec<u8>, v: u64) {
    crate::format::write_u64(out, v);
}

fn seconds_value(out: &mut Vec<u8>, us: u64) {
    write_seconds(out, i64::try_from(us).unwrap_or(i64::MAX));
}

/// A timeout or a close at once: `{"seconds":..,"spread":..,"share":..}`.
fn cluster(out: &mut Vec<u8>, name: &str, c: &Cluster) {
    key(out, name);
    out.extend_from_slice(b"{\"seconds\":");
    seconds_value(out, c.centre);
    out.extend_from_slice(b",\"spread\":");
    seconds_value(out, c.spread());
    share(out, "share", c.share());
    out.push(b'}');
}

fn service(out: &mut Vec<u8>, r: &Report, s: &Service) {
    let t = r.thresholds();
    out.extend_from_slice(b"{\"type\":\"service\"");
    if let Some(server) = s.server {
        text(out, "server.address", &server.ip.to_string());
        int(out, "server.port", u64::from(server.port));
    }
    text(out, "rustniffer.service", &s.label());
    if let Some(name) = s.name() {
        text(out, "rustniffer.service.name", &name);
    }
    int(out, "rustniffer.service.connections", s.connections);
    int(out, "rustniffer.service.exchanges", s.exchanges);
    distribution(
        out,
        "rustniffer.service.exchanges_per_connection",
        &s.exchanges_per_connection,
        count_value,
    );
    int(out, "rustniffer.service.single_exchange", s.single);
    int(
        out,
        "rustniffer.service.keep_alive.asked",
        s.asked_keep_alive,
    );
    int(
        out,
        "rustniffer.service.keep_alive.asked_single",
        s.asked_single.iter().sum(),
    );
    key(out, "rustniffer.service.closed_by");
    out.push(b'{');
    for (i, c) in Closer::ALL.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_string(out, c.as_str().as_bytes());
        out.push(b':');
        crate::format::write_u64(out, s.closed_count(*c));
    }
    out.push(b'}');
    distribution(
        out,
        "rustniffer.service.handshake",
        &s.handshake,
        seconds_value,
    );
    distribution(
        out,
        "rustniffer.service.response",
        &s.response,
        seconds_value,
    );
    for (dir, who) in [
        (Direction::FromClient, "client"),
        (Direction::FromServer, "server"),
    ] {
        let h = &s.idle_before_close[usize::from(dir == Direction::FromServer)];
        let name = format!("rustniffer.service.idle_before_close.{who}");
        distribution(out, &name, h, seconds_value);
        if let Some(c) = s.timeout(dir, t) {
            cluster(out, &format!("{name}.timeout"), &c);
        } else if let Some(c) = s.closes_at_once(dir, t) {
            cluster(out, &format!("{name}.at_once"), &c);
        }
    }
    int(
        out,
        "rustniffer.service.server_close_then_reset",
        s.server_close_then_reset,
    );
    int(
        out,
        "rustniffer.service.unanswered_at_server_close",
        s.unanswered_at_server_close,
    );
    // HTTP/2 and WebSocket figures need messages mode: absent otherwise, as in the text.
    key(out, "rustniffer.service.protocol_facts");
    out.extend_from_slice(if r.protocol_facts() {
        b"true"
    } else {
        b"false"
    });
    if r.protocol_facts() {
        if s.h2_connections > 0 {
            int(
                out,
                "rustniffer.service.http2.connections",
                s.h2_connections,
            );
            int(
                out,
                "rustniffer.service.http2.single_stream",
                s.h2_single_stream,
            );
            distribution(
                out,
                "rustniffer.service.http2.streams",
                &s.h2_streams,
                count_value,
            );
            distribution(
                out,
                "rustniffer.service.http2.ping_rtt",
                &s.h2_ping_rtt,
                seconds_value,
            );
        }
        if s.ws_connections > 0 {
            let [open, closed] = s.ws_zombies;
            int(
                out,
                "rustniffer.service.websocket.connections",
                s.ws_connections,
            );
            int(out, "rustniffer.service.websocket.silent_open", open);
            int(out, "rustniffer.service.websocket.silent_closed", closed);
            distribution(
                out,
                "rustniffer.service.websocket.silence_max",
                &s.ws_silence,
                seconds_value,
            );
        }
    }
    out.extend_from_slice(b"}\n");
}
