//! JSON lines (`--json`): one object per record, with OpenTelemetry semantic-convention
//! names where one exists and `tcp.*` / `rustniffer.*` names elsewhere.
//!
//! The values are the format language's: a fixed [`Template`] of every keyword this
//! output carries is rendered once per record ([`Template::render_spans`]) and each
//! keyword's text becomes a typed field — numbers as numbers, durations as seconds,
//! times as RFC 3339 in UTC with microseconds plus the epoch in microseconds, `yes`/`no`
//! as booleans. A value the template cannot find is left out (not `"-"`). Header
//! blocks become `http.request.header.NAME` / `http.response.header.NAME` arrays (lower
//! case names, OpenTelemetry style). Strings that are not UTF-8 are written as
//! `{"base64": "..."}` (standard alphabet, padded): lossless and never confused with
//! text. Payload bytes (`%request`, `%response`, bodies), `%request.grep(...)` and
//! `%python(...)` are format-only. `schema/record.schema.json` describes every field.

use super::{OutputStage, RecordSink};
use crate::exchange::{Exchange, ExchangeSink};
use crate::format::Template;

/// The kind of record (`type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordType {
    Exchange,
    Connection,
    Open,
}

impl RecordType {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordType::Exchange => "exchange",
            RecordType::Connection => "connection",
            RecordType::Open => "open",
        }
    }
}

/// How a keyword's text becomes a JSON value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Str,
    /// A whole number.
    Int,
    /// `seconds.microseconds` → a number of seconds.
    Seconds,
    /// `seconds.microseconds` since the epoch → RFC 3339 text and `NAME_us`.
    Time,
    /// `yes`/`no` → true/false.
    Bool,
    /// `http/1.1`, `h2`... → `network.protocol.name` and `.version`.
    Protocol,
    /// `TLS_1.3` → `tls.protocol.name` and `tls.protocol.version`.
    TlsVersion,
    /// The request line's `HTTP/1.1` → `network.protocol.*`, when `%protocol` gave
    /// nothing (`turns` mode).
    RequestProtocol,
    /// The request target → `url.path` and `url.query`.
    Target,
    /// A header block → one array per header name.
    Headers(&'static str),
}

/// Which records a field belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scope {
    Exchange,
    Connection,
    Both,
}

/// One field: the keyword it comes from, its JSON name, how it is written, and on
/// which records.
struct Field {
    keyword: &'static str,
    name: &'static str,
    kind: Kind,
    scope: Scope,
}

const fn f(keyword: &'static str, name: &'static str, kind: Kind, scope: Scope) -> Field {
    Field {
        keyword,
        name,
        kind,
        scope,
    }
}

/// Every field, in output order. The names are documented in `schema/record.schema.json`
/// and `docs/json.md`.
#[rustfmt::skip]
static FIELDS: &[Field] = &[
    f("source.ip", "client.address", Kind::Str, Scope::Both),
    f("source.port", "client.port", Kind::Int, Scope::Both),
    f("dest.ip", "server.address", Kind::Str, Scope::Both),
    f("dest.port", "server.port", Kind::Int, Scope::Both),
    f("protocol", "network.protocol", Kind::Protocol, Scope::Both),
    f("connection", "rustniffer.connection.position", Kind::Str, Scope::Exchange),
    f("connection.timestamp2", "tcp.connection.start", Kind::Time, Scope::Both),
    f("connection.time", "tcp.handshake.duration", Kind::Seconds, Scope::Both),
    f("close.originator", "tcp.close.originator", Kind::Str, Scope::Both),
    f("close.timestamp2", "tcp.close.time", Kind::Time, Scope::Both),
    f("close.time", "rustniffer.close.delay", Kind::Seconds, Scope::Exchange),
    f("session.time", "rustniffer.session.duration", Kind::Seconds, Scope::Exchange),
    f("session.requests", "rustniffer.session.requests", Kind::Int, Scope::Exchange),
    f("streams", "rustniffer.streams", Kind::Int, Scope::Exchange),
    f("idle.time.0", "rustniffer.idle.first_request", Kind::Seconds, Scope::Exchange),
    f("idle.time.1", "rustniffer.idle.after_response", Kind::Seconds, Scope::Exchange),
    f("idle.time.before", "rustniffer.idle.before_request", Kind::Seconds, Scope::Exchange),
    f("exchange.index", "rustniffer.exchange.index", Kind::Int, Scope::Exchange),
    f("exchange.pipelined", "rustniffer.exchange.pipelined", Kind::Int, Scope::Exchange),
    f("exchange.complete", "rustniffer.exchange.complete", Kind::Bool, Scope::Exchange),
    f("exchange.gap", "rustniffer.exchange.gap_bytes", Kind::Int, Scope::Exchange),
    f("request.timestamp2", "rustniffer.request.time", Kind::Time, Scope::Exchange),
    f("request.time", "rustniffer.request.duration", Kind::Seconds, Scope::Exchange),
    f("request.size", "rustniffer.request.bytes", Kind::Int, Scope::Exchange),
    f("request.line", "rustniffer.request.line", Kind::Str, Scope::Exchange),
    f("request.method", "http.request.method", Kind::Str, Scope::Exchange),
    f("request.url", "url", Kind::Target, Scope::Exchange),
    f("request.body.size", "http.request.body.size", Kind::Int, Scope::Exchange),
    f("request.header", "http.request.header", Kind::Headers("http.request.header."), Scope::Exchange),
    f("response.timestamp2", "rustniffer.response.time", Kind::Time, Scope::Exchange),
    f("response.time", "rustniffer.response.duration", Kind::Seconds, Scope::Exchange),
    f("response.time.begin", "rustniffer.response.first_byte", Kind::Seconds, Scope::Exchange),
    f("response.time.end", "rustniffer.response.transfer", Kind::Seconds, Scope::Exchange),
    f("response.size", "rustniffer.response.bytes", Kind::Int, Scope::Exchange),
    f("response.line", "rustniffer.response.line", Kind::Str, Scope::Exchange),
    f("response.code", "http.response.status_code", Kind::Int, Scope::Exchange),
    f("response.message", "rustniffer.response.reason", Kind::Str, Scope::Exchange),
    f("response.body.size", "http.response.body.size", Kind::Int, Scope::Exchange),
    f("response.interim", "rustniffer.response.interim", Kind::Int, Scope::Exchange),
    f("response.header", "http.response.header", Kind::Headers("http.response.header."), Scope::Exchange),
    f("tls.sni", "tls.server.name", Kind::Str, Scope::Both),
    f("tls.version", "tls.protocol", Kind::TlsVersion, Scope::Both),
    f("tls.alpn", "tls.next_protocol", Kind::Str, Scope::Both),
    f("tls.cipher", "tls.cipher", Kind::Str, Scope::Both),
    f("h2.stream", "rustniffer.http2.stream", Kind::Int, Scope::Exchange),
    f("h2.reset", "rustniffer.http2.reset", Kind::Str, Scope::Exchange),
    f("h2.concurrent", "rustniffer.http2.concurrent", Kind::Int, Scope::Exchange),
    f("h2.ping.rtt", "rustniffer.http2.ping.rtt", Kind::Seconds, Scope::Both),
    f("h2.goaway", "rustniffer.http2.goaway", Kind::Str, Scope::Both),
    f("ws.messages.client", "rustniffer.websocket.client.messages", Kind::Int, Scope::Both),
    f("ws.messages.server", "rustniffer.websocket.server.messages", Kind::Int, Scope::Both),
    f("ws.bytes.client", "rustniffer.websocket.client.bytes", Kind::Int, Scope::Both),
    f("ws.bytes.server", "rustniffer.websocket.server.bytes", Kind::Int, Scope::Both),
    f("ws.bytes.decoded.client", "rustniffer.websocket.client.decoded_bytes", Kind::Int, Scope::Both),
    f("ws.bytes.decoded.server", "rustniffer.websocket.server.decoded_bytes", Kind::Int, Scope::Both),
    f("ws.undecoded", "rustniffer.websocket.undecoded", Kind::Int, Scope::Both),
    f("ws.pings", "rustniffer.websocket.pings", Kind::Int, Scope::Both),
    f("ws.pongs", "rustniffer.websocket.pongs", Kind::Int, Scope::Both),
    f("ws.ping.rtt", "rustniffer.websocket.ping.rtt", Kind::Seconds, Scope::Both),
    f("ws.ping.sender", "rustniffer.websocket.ping.sender", Kind::Str, Scope::Both),
    f("ws.last.client", "rustniffer.websocket.client.last", Kind::Time, Scope::Both),
    f("ws.last.server", "rustniffer.websocket.server.last", Kind::Time, Scope::Both),
    f("ws.silence.max", "rustniffer.websocket.silence.max", Kind::Seconds, Scope::Both),
    f("ws.close", "rustniffer.websocket.close", Kind::Str, Scope::Both),
    f("ws.close.reason", "rustniffer.websocket.close.reason", Kind::Str, Scope::Both),
    f("ws.end", "rustniffer.websocket.end", Kind::Str, Scope::Both),
    f("ws.subprotocol", "rustniffer.websocket.subprotocol", Kind::Str, Scope::Both),
    f("ws.extensions", "rustniffer.websocket.extensions", Kind::Str, Scope::Both),
    f("ws.accept", "rustniffer.websocket.accept", Kind::Str, Scope::Both),
    f("ws.error", "rustniffer.websocket.error", Kind::Str, Scope::Both),
    f("ws.opcode", "rustniffer.websocket.message.opcode", Kind::Str, Scope::Exchange),
    f("ws.size", "rustniffer.websocket.message.size", Kind::Int, Scope::Exchange),
    f("ws.size.wire", "rustniffer.websocket.message.wire_size", Kind::Int, Scope::Exchange),
    f("ws.compressed", "rustniffer.websocket.message.compressed", Kind::Bool, Scope::Exchange),
    f("ws.rtt", "rustniffer.websocket.message.rtt", Kind::Seconds, Scope::Exchange),
    f("tunnel", "rustniffer.tunnel", Kind::Str, Scope::Both),
    f("tunnel.id", "rustniffer.tunnel.id", Kind::Str, Scope::Both),
    f("request.protocol", "network.protocol", Kind::RequestProtocol, Scope::Exchange),
    f("conn.connection.asked", "rustniffer.conn.http.connection.asked", Kind::Str, Scope::Connection),
    f("conn.connection.answered", "rustniffer.conn.http.connection.answered", Kind::Str, Scope::Connection),
    f("conn.keep_alive.asked", "rustniffer.conn.http.keep_alive.asked", Kind::Str, Scope::Connection),
    f("conn.keep_alive.answered", "rustniffer.conn.http.keep_alive.answered", Kind::Str, Scope::Connection),
    f("conn.state", "rustniffer.conn.state", Kind::Str, Scope::Connection),
    f("conn.history", "rustniffer.conn.history", Kind::Str, Scope::Connection),
    f("conn.duration", "rustniffer.conn.duration", Kind::Seconds, Scope::Connection),
    f("conn.exchanges", "rustniffer.conn.exchanges", Kind::Int, Scope::Connection),
    f("conn.idle.max", "rustniffer.conn.idle.max", Kind::Seconds, Scope::Connection),
    f("conn.idle.before_close", "rustniffer.conn.idle.before_close", Kind::Seconds, Scope::Connection),
    f("conn.idle.now", "rustniffer.conn.idle.now", Kind::Seconds, Scope::Connection),
    f("conn.close.how", "tcp.close.how", Kind::Str, Scope::Connection),
    f("conn.close.by", "tcp.close.by", Kind::Str, Scope::Connection),
    f("conn.handshake.syn_ack", "tcp.handshake.syn_ack", Kind::Seconds, Scope::Connection),
    f("conn.handshake.ack", "tcp.handshake.ack", Kind::Seconds, Scope::Connection),
    f("conn.client.packets", "tcp.client.packets", Kind::Int, Scope::Connection),
    f("conn.server.packets", "tcp.server.packets", Kind::Int, Scope::Connection),
    f("conn.client.bytes", "tcp.client.bytes", Kind::Int, Scope::Connection),
    f("conn.server.bytes", "tcp.server.bytes", Kind::Int, Scope::Connection),
    f("conn.client.retransmitted", "tcp.client.retransmitted_bytes", Kind::Int, Scope::Connection),
    f("conn.server.retransmitted", "tcp.server.retransmitted_bytes", Kind::Int, Scope::Connection),
    f("conn.client.missed", "tcp.client.missed_bytes", Kind::Int, Scope::Connection),
    f("conn.server.missed", "tcp.server.missed_bytes", Kind::Int, Scope::Connection),
    f("conn.client.zero_windows", "tcp.client.zero_windows", Kind::Int, Scope::Connection),
    f("conn.server.zero_windows", "tcp.server.zero_windows", Kind::Int, Scope::Connection),
];

/// Not-found marker: bytes no keyword prints (not UTF-8, and a NUL).
const NOT_FOUND: &[u8] = b"\xff\x00nf\xff";

/// The fields written, the template that renders their keywords, one op per field.
pub struct JsonFormat {
    fields: Vec<&'static Field>,
    template: Template,
    /// `NAME_us` of each time field, by position in `fields`.
    epoch_names: Vec<String>,
    /// Header names to write, per direction (`[request, response]`), lower case;
    /// `None`: every header.
    header_names: [Option<Vec<Vec<u8>>>; 2],
}

impl JsonFormat {
    /// Every field.
    pub fn new() -> Self {
        Self::with_fields(FIELDS.iter().collect(), [None, None])
    }

    /// The fields of the keywords of `format` (`--json -l FORMAT`): `%request.timestamp`
    /// selects the request time, `%request.header.host` the one header, `%request.header`
    /// or `%request.header.value(...)` every request header; fixed text is ignored and
    /// keywords without a JSON field (payloads, greps, Python) are left out.
    pub fn selected(format: &Template) -> Self {
        let names = format.keyword_names();
        let has = |name: &str| names.contains(&name);
        let mut header_names: [Option<Vec<Vec<u8>>>; 2] = [Some(Vec::new()), Some(Vec::new())];
        for (i, dir) in ["request.header", "response.header"].iter().enumerate() {
            for name in &names {
                let Some(rest) = name.strip_prefix(dir) else {
                    continue;
                };
                match rest.strip_prefix('.') {
                    Some("value" | "grep") | None => header_names[i] = None,
                    Some(header) => {
                        if let Some(list) = &mut header_names[i] {
                            list.push(header.as_bytes().to_vec());
                        }
                    }
                }
            }
        }
        let fields = FIELDS
            .iter()
            .filter(|f| match f.kind {
                Kind::Headers(prefix) => {
                    let i = usize::from(prefix.starts_with("http.response"));
                    header_names[i].as_ref().is_none_or(|list| !list.is_empty())
                }
                Kind::Time => has(f.keyword) || has(f.keyword.trim_end_matches('2')),
                Kind::RequestProtocol => has("protocol") || has(f.keyword),
                Kind::Protocol => has(f.keyword) || has("request.protocol"),
                _ => has(f.keyword),
            })
            .collect();
        Self::with_fields(fields, header_names)
    }

    fn with_fields(fields: Vec<&'static Field>, header_names: [Option<Vec<Vec<u8>>>; 2]) -> Self {
        let format: String = fields.iter().map(|f| format!("%{}", f.keyword)).collect();
        let template = Template::parse(&format).expect("the JSON fields are keywords");
        let epoch_names = fields.iter().map(|f| format!("{}_us", f.name)).collect();
        JsonFormat {
            fields,
            template,
            epoch_names,
            header_names,
        }
    }

    /// What the exchange layer must keep for these fields.
    pub fn needs(&self) -> crate::exchange::Needs {
        self.template.needs()
    }
}

impl Default for JsonFormat {
    fn default() -> Self {
        Self::new()
    }
}

/// Where a record's typed fields go: a JSON line ([`JsonSink`]) or OpenTelemetry
/// attributes (`output::otlp`). Names are the field table's.
pub trait Fields {
    /// Text (`value` may not be UTF-8).
    fn text(&mut self, name: &str, value: &[u8]);
    /// A whole number: ASCII digits, at most 19.
    fn int(&mut self, name: &str, digits: &[u8]);
    /// Seconds as the renderer writes them: `[-]seconds.micros`, a JSON number.
    fn seconds(&mut self, name: &str, text: &[u8]);
    /// A time in microseconds since the epoch: `name` (RFC 3339) and `epoch_name` (the
    /// number).
    fn time(&mut self, name: &str, epoch_name: &str, us: i64);
    /// `yes`/`no`; `None` for anything else.
    fn bool(&mut self, name: &str, value: Option<bool>);
    /// One header name's values, in order (`name` as it came; written lower case).
    fn header<'v>(&mut self, prefix: &str, name: &[u8], values: impl Iterator<Item = &'v [u8]>);
}

/// Renders records through a [`JsonFormat`] and hands each present field, typed, to a
/// [`Fields`].
pub struct FieldRenderer {
    format: JsonFormat,
    values: Vec<u8>,
    spans: Vec<std::ops::Range<usize>>,
}

impl FieldRenderer {
    pub fn new(format: JsonFormat) -> Self {
        FieldRenderer {
            format,
            values: Vec::with_capacity(4096),
            spans: Vec::with_capacity(FIELDS.len()),
        }
    }

    pub fn needs(&self) -> crate::exchange::Needs {
        self.format.needs()
    }

    /// Every field of `record` that has a value, in table order.
    pub fn fields(&mut self, record: &Exchange<'_>, out: &mut impl Fields) {
        self.values.clear();
        self.spans.clear();
        self.format
            .template
            .render_spans(record, NOT_FOUND, &mut self.values, &mut self.spans);
        let connection = record.connection.is_some();
        let mut protocol_written = false;
        for (i, (field, span)) in self.format.fields.iter().zip(&self.spans).enumerate() {
            let wanted = match field.scope {
                Scope::Both => true,
                Scope::Exchange => !connection,
                Scope::Connection => connection,
            };
            let text = &self.values[span.clone()];
            if !wanted || text == NOT_FOUND || text.is_empty() {
                continue;
            }
            match field.kind {
                Kind::Protocol => protocol_written = true,
                Kind::RequestProtocol if protocol_written => continue,
                _ => {}
            }
            if let Kind::Headers(prefix) = field.kind {
                let only = self.format.header_names
                    [usize::from(prefix.starts_with("http.response"))]
                .as_deref();
                headers(out, prefix, text, only);
                continue;
            }
            let epoch_name = &self.format.epoch_names[i];
            typed_field(out, field, epoch_name, text);
        }
    }
}

/// Writes records as JSON lines to a [`RecordSink`].
pub struct JsonSink<R> {
    renderer: FieldRenderer,
    per_connection: bool,
    line: JsonLine,
    records: R,
}

/// A JSON object's fields, written into `out`.
struct JsonLine {
    out: Vec<u8>,
    /// The last second formatted as RFC 3339 (`YYYY-MM-DDTHH:MM:SS`), and its epoch.
    second: Option<(i64, [u8; 19])>,
}

impl<R: RecordSink> JsonSink<R> {
    pub fn new(format: JsonFormat, records: R, per_connection: bool) -> Self {
        JsonSink {
            renderer: FieldRenderer::new(format),
            per_connection,
            line: JsonLine {
                out: Vec::with_capacity(4096),
                second: None,
            },
            records,
        }
    }

    pub fn needs(&self) -> crate::exchange::Needs {
        self.renderer.needs()
    }

    pub fn records(&self) -> &R {
        &self.records
    }

    fn write(&mut self, kind: RecordType, record: &Exchange<'_>) -> std::io::Result<()> {
        let line = &mut self.line;
        line.out.clear();
        line.out.extend_from_slice(b"{\"type\":\"");
        line.out.extend_from_slice(kind.as_str().as_bytes());
        line.out.push(b'"');
        self.renderer.fields(record, line);
        line.out.extend_from_slice(b"}\n");
        self.records.record(&line.out)
    }
}

impl Fields for JsonLine {
    fn text(&mut self, name: &str, value: &[u8]) {
        key(&mut self.out, name);
        string(&mut self.out, value);
    }

    fn int(&mut self, name: &str, digits: &[u8]) {
        key(&mut self.out, name);
        self.out.extend_from_slice(digits);
    }

    fn seconds(&mut self, name: &str, text: &[u8]) {
        key(&mut self.out, name);
        self.out.extend_from_slice(text);
    }

    fn time(&mut self, name: &str, epoch_name: &str, us: i64) {
        let out = &mut self.out;
        key(out, name);
        out.push(b'"');
        rfc3339(out, &mut self.second, us);
        out.push(b'"');
        key(out, epoch_name);
        if us < 0 {
            out.push(b'-');
        }
        crate::format::write_u64(out, us.unsigned_abs());
    }

    fn bool(&mut self, name: &str, value: Option<bool>) {
        key(&mut self.out, name);
        self.out.extend_from_slice(match value {
            Some(true) => b"true",
            Some(false) => b"false",
            None => b"null",
        });
    }

    fn header<'v>(&mut self, prefix: &str, name: &[u8], values: impl Iterator<Item = &'v [u8]>) {
        let out = &mut self.out;
        out.extend_from_slice(b",\"");
        out.extend_from_slice(prefix.as_bytes());
        out.extend(name.iter().map(u8::to_ascii_lowercase));
        out.extend_from_slice(b"\":[");
        let mut first = true;
        for value in values {
            if !first {
                out.push(b',');
            }
            first = false;
            string(out, value);
        }
        out.push(b']');
    }
}

fn key(out: &mut Vec<u8>, name: &str) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
}

/// `seconds.microseconds` (possibly negative, at most 6 decimals) → microseconds.
fn parse_micros(text: &[u8]) -> Option<i64> {
    let (neg, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    let mut secs: i64 = 0;
    let mut micros: i64 = 0;
    let mut decimals: Option<u32> = None;
    if digits.is_empty() || digits.len() > 26 {
        return None;
    }
    for &b in digits {
        match (b, decimals.as_mut()) {
            (b'.', None) => decimals = Some(0),
            (b'0'..=b'9', None) => secs = secs.checked_mul(10)?.checked_add(i64::from(b - b'0'))?,
            (b'0'..=b'9', Some(n)) if *n < 6 => {
                micros = micros * 10 + i64::from(b - b'0');
                *n += 1;
            }
            _ => return None,
        }
    }
    micros *= 10i64.pow(6 - decimals.unwrap_or(0));
    let us = secs.checked_mul(1_000_000)?.checked_add(micros)?;
    Some(if neg { -us } else { us })
}

fn typed_field(out: &mut impl Fields, field: &Field, epoch_name: &str, text: &[u8]) {
    match field.kind {
        Kind::Str => out.text(field.name, text),
        Kind::Int => {
            // A number, or nothing (a status line whose code is not a number: the raw
            // line is in `rustniffer.response.line`).
            if text.len() <= 19 && text.iter().all(u8::is_ascii_digit) {
                out.int(field.name, text);
            }
        }
        // The renderer writes durations as `[-]seconds.micros`.
        Kind::Seconds => out.seconds(field.name, text),
        Kind::Time => {
            if let Some(us) = parse_micros(text) {
                out.time(field.name, epoch_name, us);
            }
        }
        Kind::Bool => out.bool(
            field.name,
            match text {
                b"yes" => Some(true),
                b"no" => Some(false),
                _ => None,
            },
        ),
        Kind::Protocol => {
            // `http/1.1` → http 1.1; `h2`, `h2c` → http 2; others by name.
            let (name, version): (&[u8], Option<&[u8]>) = match text {
                b"http/1.0" => (b"http", Some(b"1.0")),
                b"http/1.1" => (b"http", Some(b"1.1")),
                b"h2" | b"h2c" => (b"http", Some(b"2")),
                other => (other, None),
            };
            out.text("network.transport", b"tcp");
            out.text("network.protocol.name", name);
            if let Some(v) = version {
                out.text("network.protocol.version", v);
            }
            out.text("rustniffer.protocol", text);
        }
        Kind::TlsVersion => {
            let text = String::from_utf8_lossy(text);
            let (name, version) = text.split_once('_').unwrap_or(("tls", &text));
            out.text("tls.protocol.name", name.to_ascii_lowercase().as_bytes());
            out.text("tls.protocol.version", version.as_bytes());
        }
        Kind::RequestProtocol => {
            let Some(version) = text.strip_prefix(b"HTTP/") else {
                return;
            };
            out.text("network.transport", b"tcp");
            out.text("network.protocol.name", b"http");
            out.text("network.protocol.version", version);
        }
        Kind::Target => {
            let (path, query) = match text.iter().position(|&b| b == b'?') {
                Some(at) => (&text[..at], text.get(at + 1..)),
                None => (text, None),
            };
            out.text("url.path", path);
            if let Some(q) = query {
                out.text("url.query", q);
            }
        }
        Kind::Headers(prefix) => headers(out, prefix, text, None),
    }
}

/// Most header lines of one block written (the rest are left out: a bound on the work
/// per record whatever the input).
const MAX_HEADERS: usize = 64;

/// A header block → one array per lower-case name, in first-seen order; the first line
/// (request or status line) is skipped, and so is a line whose name is not an HTTP
/// token (in `turns` mode a header block may be anything, binary included).
fn headers(out: &mut impl Fields, prefix: &str, block: &[u8], only: Option<&[Vec<u8>]>) {
    if let Some(names) = only {
        // Named headers (`-l` with `%request.header.NAME`): the value the format prints,
        // found as the format finds it.
        let block = crate::exchange::http::header_block(block);
        for name in names {
            if let Some(value) = crate::exchange::http::header_value(block, name) {
                if value.is_empty() {
                    continue;
                }
                out.header(prefix, name, std::iter::once(value));
            }
        }
        return;
    }
    let mut fields: [(&[u8], &[u8]); MAX_HEADERS] = [(&[], &[]); MAX_HEADERS];
    let mut count = 0;
    for line in block.split(|&b| b == b'\n').skip(1) {
        if count == MAX_HEADERS {
            break;
        }
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = &line[..colon];
        if name.is_empty() || name.len() > 256 || !name.iter().all(|&b| is_tchar(b)) {
            continue;
        }
        fields[count] = (name, line[colon + 1..].trim_ascii());
        count += 1;
    }
    let fields = &fields[..count];
    for (i, &(name, _)) in fields.iter().enumerate() {
        let same = |n: &[u8]| n.len() == name.len() && n.eq_ignore_ascii_case(name);
        // A repeated name was written with its first occurrence.
        if fields[..i].iter().any(|&(n, _)| same(n)) {
            continue;
        }
        let values = fields[i..]
            .iter()
            .filter(|&&(n, _)| same(n))
            .map(|&(_, v)| v);
        out.header(prefix, name, values);
    }
}

/// RFC 9110 §5.6.2 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A JSON string, or `{"base64": ...}` when `text` is not UTF-8.
fn string(out: &mut Vec<u8>, text: &[u8]) {
    if std::str::from_utf8(text).is_ok() {
        out.push(b'"');
        escape_into(out, text);
        out.push(b'"');
    } else {
        out.extend_from_slice(b"{\"base64\":\"");
        base64(out, text);
        out.extend_from_slice(b"\"}");
    }
}

/// JSON string escapes of UTF-8 text (RFC 8259 §7).
fn escape_into(out: &mut Vec<u8>, text: &[u8]) {
    if !text
        .iter()
        .any(|&b| b < 0x20 || b == b'"' || b == b'\\' || b == 0x7f)
    {
        out.extend_from_slice(text);
        return;
    }
    for &b in text {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..=0x1f | 0x7f => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 15)]);
            }
            _ => out.push(b),
        }
    }
}

fn base64(out: &mut Vec<u8>, data: &[u8]) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]);
            } else {
                out.push(b'=');
            }
        }
    }
}

/// `us` (since the epoch) as JSON records write times.
#[cfg(feature = "otlp")]
pub(crate) fn rfc3339_utc(out: &mut Vec<u8>, us: i64) {
    rfc3339(out, &mut None, us);
}

/// RFC 3339 in UTC with microseconds: `2026-11-24T01:35:16.376410Z`.
fn rfc3339(out: &mut Vec<u8>, cache: &mut Option<(i64, [u8; 19])>, us: i64) {
    let secs = us.div_euclid(1_000_000);
    let frac = us.rem_euclid(1_000_000);
    let date = match cache {
        Some((s, text)) if *s == secs => *text,
        _ => {
            let mut text = [b'0'; 19];
            if let Some(t) = chrono::DateTime::from_timestamp(secs, 0) {
                let s = t.format("%Y-%m-%dT%H:%M:%S").to_string();
                if s.len() == 19 {
                    text.copy_from_slice(s.as_bytes());
                }
            }
            *cache = Some((secs, text));
            text
        }
    };
    out.extend_from_slice(&date);
    let mut digits = *b".000000Z";
    let mut n = frac;
    for d in digits[1..7].iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
    out.extend_from_slice(&digits);
}

impl<R: RecordSink> ExchangeSink for JsonSink<R> {
    fn exchange(&mut self, exchange: &Exchange<'_>) -> std::io::Result<()> {
        if self.per_connection {
            return Ok(());
        }
        self.write(RecordType::Exchange, exchange)
    }

    fn connection(&mut self, record: &Exchange<'_>) -> std::io::Result<()> {
        if !self.per_connection {
            return Ok(());
        }
        self.write(RecordType::Connection, record)
    }

    fn interim(&mut self, record: &Exchange<'_>) -> std::io::Result<()> {
        self.write(RecordType::Open, record)
    }
}

impl<R: RecordSink> OutputStage for JsonSink<R> {
    fn finish(&mut self) -> std::io::Result<()> {
        self.records.finish()
    }

    fn record_failures(&self) -> u64 {
        self.records.failures()
    }

    fn per_connection(&self) -> bool {
        self.per_connection
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_is_a_keyword_and_every_name_is_unique() {
        let format = JsonFormat::new();
        let _ = format.needs();
        // `request.protocol` stands in for `protocol` (the same fields, one or the other).
        let mut names: Vec<&str> = FIELDS
            .iter()
            .filter(|f| f.kind != Kind::RequestProtocol)
            .map(|f| f.name)
            .collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(names.len(), before);
    }

    #[test]
    fn seconds_parse_exactly() {
        assert_eq!(parse_micros(b"1.000200"), Some(1_000_200));
        assert_eq!(parse_micros(b"-0.5"), Some(-500_000));
        assert_eq!(parse_micros(b"12"), Some(12_000_000));
        assert_eq!(parse_micros(b"x"), None);
        assert_eq!(parse_micros(b"1.1234567"), None);
    }

    #[test]
    fn times_are_rfc3339_utc_with_microseconds() {
        let mut out = Vec::new();
        let mut cache = None;
        rfc3339(&mut out, &mut cache, 1_764_000_000_123_456);
        assert_eq!(out, b"2025-11-24T16:00:00.123456Z");
        out.clear();
        rfc3339(&mut out, &mut cache, -1);
        assert_eq!(out, b"1969-12-31T23:59:59.999999Z");
    }

    #[test]
    fn text_that_is_not_utf8_is_base64() {
        let mut out = Vec::new();
        string(&mut out, b"a\"b\\c\n\x01");
        assert_eq!(out, b"\"a\\\"b\\\\c\\n\\u0001\"");
        out.clear();
        string(&mut out, b"\xff\xfeab");
        assert_eq!(out, b"{\"base64\":\"//5hYg==\"}");
        out.clear();
        base64(&mut out, b"foobar");
        assert_eq!(out, b"Zm9vYmFy");
    }

    #[test]
    fn headers_become_arrays_by_lower_case_name() {
        let mut out = JsonLine {
            out: Vec::new(),
            second: None,
        };
        headers(
            &mut out,
            "http.request.header.",
            b"GET / HTTP/1.1\r\nHost: a\r\nAccept: x\r\naccept: y\r\nbad line\r\n\x01\xff: z\r\n\r\n",
            None,
        );
        assert_eq!(
            String::from_utf8(out.out).unwrap(),
            ",\"http.request.header.host\":[\"a\"],\"http.request.header.accept\":[\"x\",\"y\"]"
        );
    }
}
