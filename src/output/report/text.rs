//! The text report (`--report`): the findings, then one table per service. Plain
//! lines, sorted, no colours: the same capture gives the same bytes.

use std::fmt::Write;

use super::stats::Histogram;
use super::{Closer, Example, Report, Service};
use crate::flow::Direction;

/// A duration in µs for people: `850 µs`, `12.3 ms`, `2.00 s`, `350 s`.
pub fn duration(us: i64) -> String {
    let a = us.unsigned_abs();
    if a < 1_000 {
        format!("{us} µs")
    } else if a < 1_000_000 {
        format!("{:.1} ms", us as f64 / 1e3)
    } else if a < 100_000_000 {
        format!("{:.2} s", us as f64 / 1e6)
    } else {
        format!("{:.0} s", us as f64 / 1e6)
    }
}

/// A share as a whole percentage (one decimal below 10 %, but never 0 for a non-zero
/// share).
pub fn percent(share: f64) -> String {
    let p = share * 100.0;
    if p > 0.0 && p < 10.0 {
        format!("{p:.1} %")
    } else {
        format!("{p:.0} %")
    }
}

/// A UTC time of day with microseconds, from µs since the epoch.
pub fn clock(us: i64) -> String {
    let secs = us.div_euclid(1_000_000);
    let micros = us.rem_euclid(1_000_000);
    let day = secs.rem_euclid(86_400);
    format!(
        "{:02}:{:02}:{:02}.{micros:06}",
        day / 3600,
        day / 60 % 60,
        day % 60
    )
}

/// One example connection in a line.
pub fn example(e: &Example) -> String {
    let mut s = format!(
        "{} → {} opened {} UTC, {} exchange(s), ",
        super::endpoint(e.client),
        super::endpoint(e.server),
        clock(e.opening),
        e.exchanges
    );
    if let Some(h) = e.handshake {
        let _ = write!(s, "handshake {}, ", duration(h));
    }
    match (e.closer, e.by) {
        (Closer::Rst, Some(Direction::FromClient)) => s.push_str("reset (client closed first)"),
        (Closer::Rst, Some(Direction::FromServer)) => s.push_str("reset (server closed first)"),
        (c, _) => {
            let _ = write!(s, "closed: {}", c.as_str());
        }
    }
    if let Some(idle) = e.idle_before_close {
        let _ = write!(s, " {} after its last exchange", duration(idle));
    }
    let _ = write!(s, ", lasted {}", duration(e.duration));
    s
}

fn quantiles(h: &Histogram, f: impl Fn(i64) -> String) -> String {
    match (h.quantile(0.5), h.quantile(0.99), h.max()) {
        (Some(p50), Some(p99), Some(max)) => format!(
            "p50 {}  p99 {}  max {}  (n={})",
            f(p50 as i64),
            f(p99 as i64),
            f(max as i64),
            h.count()
        ),
        _ => "-".into(),
    }
}

/// A service's table as (name, value) rows: the text and HTML reports print the same
/// rows, each its way.
pub fn service_rows(r: &Report, s: &Service) -> Vec<(String, String)> {
    let t = r.thresholds();
    let mut rows = Vec::new();
    let row = |rows: &mut Vec<(String, String)>, name: &str, value: String| {
        rows.push((name.to_string(), value));
    };
    row(&mut rows, "connections", s.connections.to_string());
    row(&mut rows, "exchanges", s.exchanges.to_string());
    row(
        &mut rows,
        "exchanges per connection",
        quantiles(&s.exchanges_per_connection, |v| v.to_string()),
    );
    row(
        &mut rows,
        "single-exchange connections",
        format!("{} ({})", s.single, percent(s.share(s.single))),
    );
    let asked_single: u64 = s.asked_single.iter().sum();
    row(
        &mut rows,
        "asked keep-alive, carried one",
        format!(
            "{asked_single} of {} asking ({})",
            s.asked_keep_alive,
            percent(asked_single as f64 / s.asked_keep_alive.max(1) as f64)
        ),
    );
    let closed: Vec<String> = Closer::ALL
        .iter()
        .map(|c| format!("{} {}", c.as_str(), percent(s.share(s.closed_count(*c)))))
        .collect();
    row(&mut rows, "closed by", closed.join("  "));
    row(
        &mut rows,
        "handshake time",
        quantiles(&s.handshake, duration),
    );
    row(&mut rows, "response time", quantiles(&s.response, duration));
    for (dir, who) in [
        (Direction::FromClient, "client"),
        (Direction::FromServer, "server"),
    ] {
        let h = &s.idle_before_close[usize::from(dir == Direction::FromServer)];
        let mut value = quantiles(h, duration);
        if let Some(c) = s.timeout(dir, t) {
            let _ = write!(
                value,
                "; timeout {} ± {} in {}",
                duration(c.centre as i64),
                duration(c.spread() as i64),
                percent(c.share())
            );
        } else if let Some(c) = s.closes_at_once(dir, t) {
            let _ = write!(
                value,
                "; closes at once ({} in {})",
                duration(c.centre as i64),
                percent(c.share())
            );
        }
        row(
            &mut rows,
            &format!("idle before close ({who} closes)"),
            value,
        );
    }
    if s.server_close_then_reset > 0 || s.unanswered_at_server_close > 0 {
        row(
            &mut rows,
            "requests cut by the server's close",
            format!(
                "{} reset after its FIN, {} without a response",
                s.server_close_then_reset, s.unanswered_at_server_close
            ),
        );
    }
    if !r.protocol_facts() {
        row(
            &mut rows,
            "HTTP/2 streams, WebSocket silence",
            "not measured: they need --exchanges messages".into(),
        );
        return rows;
    }
    if s.h2_connections > 0 {
        row(
            &mut rows,
            "HTTP/2 connections",
            format!(
                "{} ({} with at most one stream)",
                s.h2_connections, s.h2_single_stream
            ),
        );
        row(
            &mut rows,
            "HTTP/2 streams per connection",
            quantiles(&s.h2_streams, |v| v.to_string()),
        );
        row(
            &mut rows,
            "HTTP/2 PING RTT",
            quantiles(&s.h2_ping_rtt, duration),
        );
    }
    if s.ws_connections > 0 {
        let [open, closed] = s.ws_zombies;
        row(
            &mut rows,
            "WebSocket connections",
            format!(
                "{}; silent over {}: {open} still open, {closed} closed after it",
                s.ws_connections,
                duration(t.ws_silence as i64)
            ),
        );
        row(
            &mut rows,
            "WebSocket longest silence",
            quantiles(&s.ws_silence, duration),
        );
    }
    rows
}

fn service(out: &mut String, r: &Report, s: &Service) {
    let _ = writeln!(out, "\nService {}", s.label());
    for (name, value) in service_rows(r, s) {
        let _ = writeln!(out, "  {name:<34} {value}");
    }
}

/// The whole text report.
pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let services = r.services();
    let _ = write!(
        out,
        "rustniffer diagnosis report: {} service(s), {} connection(s), {} exchange(s)",
        services.len(),
        r.connections(),
        r.exchanges()
    );
    if let (Some(first), Some(last)) = (r.first, r.last) {
        let _ = write!(out, ", {} to {} UTC", clock(first), clock(last));
    }
    out.push('\n');
    let findings = r.findings();
    let _ = writeln!(out, "\nFindings ({})", findings.len());
    if findings.is_empty() {
        out.push_str("  none: no pattern of the matrix reached its threshold\n");
    }
    for (i, f) in findings.iter().enumerate() {
        let _ = writeln!(out, "{:>2}. [{}] {}", i + 1, f.kind.as_str(), f.service);
        let _ = writeln!(out, "    {}", f.headline);
        for e in &f.evidence {
            let _ = writeln!(out, "    evidence: {e}");
        }
        if let Some(e) = &f.example {
            let _ = writeln!(out, "    example: {}", example(e));
        }
        let _ = writeln!(out, "    likely cause: {}", f.cause);
        let _ = writeln!(out, "    action: {}", f.action);
    }
    for s in services {
        service(&mut out, r, s);
    }
    out
}
