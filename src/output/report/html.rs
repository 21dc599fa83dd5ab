//! The HTML report (`--report-html FILE`): one self-contained page, inline CSS and
//! SVG, no script and no external resource, so it opens anywhere offline. Findings
//! first, then the timeline of connections, then per service its table and histograms
//! (exchanges per connection, idle before close with the detected timeouts marked,
//! handshake and response times, all on a log scale), then the slowest connections'
//! exchanges as a Gantt chart.

use std::fmt::Write;

use super::stats::{Bucket, Histogram};
use super::text::{clock, duration, example, service_rows};
use super::{Report, Sampled, Service};
use crate::flow::Direction;

const CSS: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;background:#fff;max-width:1200px}\
h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ccc}h3{font-size:15px}\
.f{border-left:5px solid #c0392b;background:#fdf2f0;padding:8px 12px;margin:10px 0}\
.f.info{border-color:#2874a6;background:#eef5fb}.k{font-weight:600;font-family:monospace}\
.ev{color:#444;font-size:13px}table{border-collapse:collapse;margin:8px 0}\
td{padding:2px 10px;border-bottom:1px solid #eee;vertical-align:top}td:first-child{color:#555}\
.charts{display:flex;flex-wrap:wrap;gap:12px}.chart{border:1px solid #ddd;padding:4px}\
svg text{font:11px sans-serif;fill:#333}";

/// Escapes text for HTML.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

const W: f64 = 360.0;
const H: f64 = 150.0;
const LEFT: f64 = 40.0;
const BOTTOM: f64 = 22.0;

/// A histogram over a log10 axis (10 bins per decade); `marks` draws a labelled
/// vertical line at each value (detected timeouts).
fn log_chart(
    title: &str,
    h: &Histogram,
    label: &dyn Fn(u64) -> String,
    marks: &[(u64, String)],
    colour: &str,
) -> String {
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<div class=chart><svg width={} height={} role=img><title>{}</title><text x=4 y=12>{}</text>",
        W,
        H,
        esc(title),
        esc(title)
    );
    let buckets: Vec<Bucket> = h.buckets().collect();
    if buckets.is_empty() {
        svg.push_str("<text x=150 y=80>no data</text></svg></div>");
        return svg;
    }
    let pos = |v: u64| ((v.max(1)) as f64).log10();
    let lo = pos(buckets.first().map_or(1, |b| b.low)).floor();
    let hi = (pos(buckets.last().map_or(1, |b| b.high)).ceil()).max(lo + 1.0);
    let bins_n = ((hi - lo) * 10.0).round().max(1.0) as usize;
    let mut bins = vec![0u64; bins_n];
    for b in &buckets {
        let i = (((pos(b.mid()) - lo) * 10.0) as usize).min(bins_n - 1);
        bins[i] += b.count;
    }
    let top = bins.iter().copied().max().unwrap_or(1).max(1) as f64;
    let plot_w = W - LEFT - 8.0;
    let plot_h = H - BOTTOM - 20.0;
    let bw = plot_w / bins_n as f64;
    for (i, &c) in bins.iter().enumerate() {
        if c == 0 {
            continue;
        }
        let bh = (c as f64 / top * plot_h).max(1.0);
        let _ = write!(
            svg,
            "<rect x={:.1} y={:.1} width={:.1} height={:.1} fill=\"{colour}\"><title>{c}</title></rect>",
            LEFT + i as f64 * bw,
            20.0 + plot_h - bh,
            (bw - 1.0).max(1.0),
            bh
        );
    }
    let _ = write!(
        svg,
        "<line x1={LEFT} y1={y} x2={x2} y2={y} stroke=#888 /><text x=2 y=28>{}</text>",
        top as u64,
        y = 20.0 + plot_h,
        x2 = W - 8.0
    );
    let mut d = lo;
    while d <= hi {
        let x = LEFT + (d - lo) * 10.0 * bw;
        // The last label ends at its tick, so that it stays inside the chart.
        let anchor = if d + 1.0 > hi { "end" } else { "middle" };
        let _ = write!(
            svg,
            "<text x={:.1} y={:.1} text-anchor={anchor}>{}</text>",
            x,
            H - 6.0,
            esc(&label(10f64.powf(d) as u64))
        );
        d += 1.0;
    }
    for (v, text) in marks {
        let x = LEFT + (pos(*v) - lo) * 10.0 * bw;
        let _ = write!(
            svg,
            "<line x1={x:.1} y1=16 x2={x:.1} y2={:.1} stroke=#c0392b stroke-width=2 stroke-dasharray=4,2 /><text x={:.1} y=14 fill=#c0392b>{}</text>",
            20.0 + plot_h,
            x + 3.0,
            esc(text)
        );
    }
    svg.push_str("</svg></div>");
    svg
}

fn timeline(r: &Report) -> String {
    let (start, width, bins) = r.timeline.bins();
    let mut svg = String::new();
    let (w, h) = (1100.0, 170.0);
    let _ = write!(
        svg,
        "<svg width={w} height={h} role=img><title>connections opened and closed per {width} s</title>"
    );
    if bins.is_empty() {
        svg.push_str("<text x=10 y=80>no connections</text></svg>");
        return svg;
    }
    let top = bins
        .iter()
        .map(|b| b[0].max(b[1]))
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let plot_h = h - 40.0;
    let bw = (w - LEFT - 10.0) / bins.len() as f64;
    for (i, b) in bins.iter().enumerate() {
        for (k, colour) in [(0usize, "#2874a6"), (1, "#e67e22")] {
            if b[k] == 0 {
                continue;
            }
            let bh = (b[k] as f64 / top * plot_h).max(1.0);
            let _ = write!(
                svg,
                "<rect x={:.1} y={:.1} width={:.2} height={:.1} fill=\"{colour}\"><title>{}: {}</title></rect>",
                LEFT + i as f64 * bw + k as f64 * bw / 2.0,
                15.0 + plot_h - bh,
                (bw / 2.0).max(0.5),
                bh,
                clock(start + i as i64 * width * 1_000_000),
                b[k]
            );
        }
    }
    let _ = write!(
        svg,
        "<line x1={LEFT} y1={y} x2={x2} y2={y} stroke=#888 /><text x=2 y=22>{}</text>\
         <text x={LEFT} y={ty}>{} UTC</text><text x={x2} y={ty} text-anchor=end>+{} s</text>\
         <text x=500 y={ty}><tspan fill=#2874a6>■ opened</tspan> <tspan fill=#e67e22>■ closed</tspan> per {width} s</text></svg>",
        top as u64,
        clock(start).get(..8).unwrap_or(""),
        bins.len() as i64 * width,
        y = 15.0 + plot_h,
        x2 = w - 10.0,
        ty = h - 8.0
    );
    svg
}

fn service(out: &mut String, r: &Report, s: &Service) {
    let t = r.thresholds();
    let _ = write!(out, "<h2>Service {}</h2><table>", esc(&s.label()));
    for (name, value) in service_rows(r, s) {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td></tr>",
            esc(&name),
            esc(&value)
        );
    }
    out.push_str("</table><div class=charts>");
    let count = |v: u64| v.to_string();
    let dur = |v: u64| duration(v as i64);
    out.push_str(&log_chart(
        "exchanges per connection",
        &s.exchanges_per_connection,
        &count,
        &[],
        "#5d6d7e",
    ));
    for (dir, who, colour) in [
        (Direction::FromClient, "client", "#2874a6"),
        (Direction::FromServer, "server", "#e67e22"),
    ] {
        let marks: Vec<(u64, String)> = s
            .timeout(dir, t)
            .map(|c| (c.centre, format!("timeout {}", duration(c.centre as i64))))
            .into_iter()
            .collect();
        let h = &s.idle_before_close[usize::from(dir == Direction::FromServer)];
        out.push_str(&log_chart(
            &format!("idle before close, {who} closes"),
            h,
            &dur,
            &marks,
            colour,
        ));
    }
    out.push_str(&log_chart(
        "handshake time",
        &s.handshake,
        &dur,
        &[],
        "#7d3c98",
    ));
    out.push_str(&log_chart(
        "response time",
        &s.response,
        &dur,
        &[],
        "#1e8449",
    ));
    out.push_str("</div>");
}

fn gantt(worst: &[Sampled]) -> String {
    let mut out = String::from("<h2>Slowest connections</h2>");
    if worst.is_empty() {
        out.push_str("<p>none sampled</p>");
        return out;
    }
    for w in worst {
        let e = &w.example;
        let total = w.example.duration.max(1) as f64;
        let (width, row_h) = (1000.0, 16.0);
        let rows = w.exchanges.len() + 1;
        let _ = write!(
            out,
            "<h3>{}</h3><p class=ev>slowest response {}</p><svg width={} height={} role=img><title>exchanges of one connection</title>",
            esc(&example(e)),
            duration(w.slowest),
            width + 60.0,
            (rows as f64 + 1.0) * row_h + 10.0
        );
        let x = |t: i64| 50.0 + (t.max(0) as f64 / total).min(1.0) * width;
        let open = w.open.unwrap_or(0);
        let _ = write!(
            out,
            "<text x=0 y=12>conn</text><rect x=50 y=2 width={:.1} height=12 fill=#d5d8dc /><rect x=50 y=2 width={:.1} height=12 fill=#7d3c98><title>handshake</title></rect>",
            width,
            (x(open) - 50.0).max(1.0)
        );
        for (i, ex) in w.exchanges.iter().enumerate() {
            let y = (i as f64 + 1.0) * row_h + 2.0;
            let _ = write!(out, "<text x=0 y={:.1}>#{}</text>", y + 10.0, i + 1);
            if let [Some(req), first, last] = *ex {
                let first = first.unwrap_or(req);
                let last = last.unwrap_or(first);
                let _ = write!(
                    out,
                    "<rect x={:.1} y={y:.1} width={:.1} height=12 fill=#f5b041><title>waiting {}</title></rect><rect x={:.1} y={y:.1} width={:.1} height=12 fill=#1e8449><title>response {}</title></rect>",
                    x(req),
                    (x(first) - x(req)).max(1.0),
                    duration(first - req),
                    x(first),
                    (x(last) - x(first)).max(1.0),
                    duration(last - first)
                );
            }
        }
        let _ = write!(
            out,
            "<text x={:.1} y={:.1}>0</text><text x={:.1} y={:.1} text-anchor=end>{}</text></svg>",
            50.0,
            (rows as f64 + 1.0) * row_h + 6.0,
            width + 50.0,
            (rows as f64 + 1.0) * row_h + 6.0,
            duration(e.duration)
        );
    }
    out
}

/// The whole page.
pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>rustniffer diagnosis report</title><style>{CSS}</style></head><body><h1>rustniffer diagnosis report</h1><p>{} service(s), {} connection(s), {} exchange(s)",
        r.services().len(),
        r.connections(),
        r.exchanges()
    );
    if let (Some(a), Some(b)) = (r.first, r.last) {
        let _ = write!(out, ", {} to {} UTC", clock(a), clock(b));
    }
    out.push_str("</p><h2>Findings</h2>");
    let findings = r.findings();
    if findings.is_empty() {
        out.push_str("<p>None: no pattern reached its threshold.</p>");
    }
    for f in &findings {
        let _ = write!(
            out,
            "<div class=\"f{}\"><div><span class=k>[{}]</span> {}</div><div><b>{}</b></div>",
            if f.kind.is_problem() { "" } else { " info" },
            f.kind.as_str(),
            esc(&f.service),
            esc(&f.headline)
        );
        for e in &f.evidence {
            let _ = write!(out, "<div class=ev>evidence: {}</div>", esc(e));
        }
        if let Some(e) = &f.example {
            let _ = write!(out, "<div class=ev>example: {}</div>", esc(&example(e)));
        }
        let _ = write!(
            out,
            "<div>likely cause: {}</div><div>action: {}</div></div>",
            esc(&f.cause),
            esc(&f.action)
        );
    }
    out.push_str("<h2>Connections opened and closed</h2>");
    out.push_str(&timeline(r));
    for s in r.services() {
        service(&mut out, r, s);
    }
    out.push_str(&gantt(r.worst()));
    out.push_str("</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Endpoint;
    use std::net::{IpAddr, Ipv4Addr};

    #[test]
    fn names_from_the_capture_are_escaped() {
        let mut r = Report::new(super::super::Thresholds::default(), 4, true);
        let server = Endpoint {
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 80,
        };
        r.service(server).vote(b"<script>alert(1)</script>&\"");
        r.service(server).connections = 1;
        let page = render(&r);
        assert!(!page.contains("<script"), "{page}");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;&amp;&quot;"));
    }

    #[test]
    fn an_empty_report_is_a_whole_page() {
        let r = Report::new(super::super::Thresholds::default(), 4, true);
        let page = render(&r);
        assert!(page.starts_with("<!DOCTYPE html>") && page.ends_with("</body></html>\n"));
        assert!(page.contains("None: no pattern reached its threshold."));
    }
}
