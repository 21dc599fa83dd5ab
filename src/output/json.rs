//! JSON lines (`--json`): one object per record, with OpenTelemetry semantic-convention
//! names where one exists and `tcp.*` / `rustniffer.*` names elsewhere.
//!
//! The values are the format language's: a [`Template`] of the chosen fields' keywords
//! is built once ([`JsonFormat`]: every field, the default set [`DEFAULT_FIELDS`], or the
//! keywords of `-l`), with each field's key (one byte string, `,"NAME":` and what opens
//! the value) and way of writing resolved then, and the fields of each kind of record
//! listed once. Per record each keyword gives its value typed, where it knows the type
//! ([`Value`] from [`crate::format::OpRenderer::value`]: numbers, durations and instants
//! in microseconds, addresses, the tool's own words, bytes from the traffic), and the
//! value is written straight into the output line after its key — numbers as numbers,
//! durations as seconds, times as RFC 3339 in UTC with microseconds plus the epoch in
//! microseconds, `yes`/`no` as booleans. A value the template cannot find is left out
//! (not `"-"`). Header blocks become `http.request.header.NAME` /
//! `http.response.header.NAME` arrays (lower case names, OpenTelemetry style). Strings
//! that are not UTF-8 are written as `{"base64": "..."}` (standard alphabet, padded):
//! lossless and never confused with text. Payload bytes (`%request`, `%response`,
//! bodies), `%request.grep(...)` and `%python(...)` are format-only.
//! `schema/record.schema.json` describes every field.
//!
//! A value that becomes more than one field (protocol, target, TLS version, header
//! block), or that a keyword knows only as text, is typed by [`typed_field`] through
//! the [`Fields`] trait, which has two writers: the JSON line, and the OTLP log record's
//! attributes (`output::otlp`, fed by [`FieldRenderer`]), so both say the same fields
//! with the same types.

use super::{OutputStage, RecordSink};
use crate::exchange::{Exchange, ExchangeSink};
use crate::format::{six_digits, write_ip, write_micros, write_u64, Template, Value};

/// The kind of record (`type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordType {
    Exchange,
    Connection,
    Open,
}

impl RecordType {
    /// `{"type":"NAME"`: how a JSON line starts.
    fn opening(self) -> &'static [u8] {
        match self {
            RecordType::Exchange => b"{\"type\":\"exchange\"",
            RecordType::Connection => b"{\"type\":\"connection\"",
            RecordType::Open => b"{\"type\":\"open\"",
        }
    }

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
    f("h2.headers.unknown", "rustniffer.http2.headers_unknown", Kind::Bool, Scope::Exchange),
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
    f("ws.silence.now", "rustniffer.websocket.silence.now", Kind::Seconds, Scope::Both),
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

/// The keywords of the fields `--json` writes by default: the connection's identity,
/// the request (time, method, target, User-Agent), the response's status and body size,
/// the timings (handshake, request, first byte, response), and the fields of
/// `DEFAULT_CONNECTION_FORMAT` for connection records (its cost against the article
/// format is in bench/README.md); `--json-fields all` writes every field, `-l` the
/// fields of its keywords.
pub const DEFAULT_FIELDS: &str = "%source.ip %source.port %dest.ip %dest.port %protocol \
    %connection.time %close.originator %request.timestamp %request.method %request.url \
    %request.time %request.header.user-agent %response.time %response.time.begin \
    %response.code %response.body.size %conn.state %conn.history %conn.duration \
    %conn.exchanges %conn.idle.max %conn.idle.before_close %conn.close.how %conn.close.by \
    %conn.client.packets %conn.server.packets %conn.client.bytes %conn.server.bytes \
    %conn.client.retransmitted %conn.server.retransmitted";

/// How one value is written; resolved once per format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Emit {
    /// Text, escaped only when it needs to be; addresses and the tool's own words as
    /// they are.
    Str,
    /// A whole number.
    Int,
    /// A duration: seconds as a number.
    Seconds,
    /// An instant: RFC 3339 and `NAME_us`.
    Time,
    /// `yes`/`no` as a boolean.
    Bool,
    /// One named header (`-l` with `%request.header.NAME`): a one-value array.
    Header,
    /// `%protocol`: `network.*` and `rustniffer.protocol` ([`typed_field`]).
    Protocol,
    /// The request line's protocol: the `network.*` fields when `%protocol` gave none.
    RequestProtocol,
    /// The request target: `url.path` and `url.query`.
    Url,
    /// Turned into fields by [`typed_field`] (target, header block, TLS version).
    Aside,
}

/// One value of the record.
#[derive(Clone)]
struct Slot {
    /// The op of the template that renders it.
    op: usize,
    field: &'static Field,
    emit: Emit,
    scope: Scope,
    /// A named header's name, as its keyword says it (empty otherwise).
    header: Box<str>,
    /// `NAME_us` of a time (empty otherwise).
    epoch_name: Box<str>,
    /// `,"NAME":` (with the opening `[` or `"` where the value is written in place).
    key: Key,
    /// `,"NAME_us":` of a time.
    epoch_key: Key,
}

/// The fields written and the template whose ops render them, one op per slot.
pub struct JsonFormat {
    template: Template,
    /// The slots of each kind of record (`[exchange, connection]`), in order: the scope
    /// is resolved once, not per value.
    by_record: [Vec<Slot>; 2],
}

impl JsonFormat {
    /// The slots of a connection record (`connection`) or of an exchange record.
    fn slots(&self, connection: bool) -> &[Slot] {
        &self.by_record[usize::from(connection)]
    }

    /// Every field (`--json-fields all`).
    pub fn new() -> Self {
        Self::with_fields(FIELDS.iter().collect(), [None, None])
    }

    /// The default fields of `--json` ([`DEFAULT_FIELDS`]).
    pub fn default_fields() -> Self {
        match Template::parse(DEFAULT_FIELDS) {
            Ok(template) => Self::selected(&template),
            Err(_) => Self::new(),
        }
    }

    /// The fields of the keywords of `format` (`--json -l FORMAT`): `%request.timestamp`
    /// selects the request time, `%request.header.host` the one header, `%request.header`
    /// or `%request.header.value(...)` every request header; fixed text is ignored and
    /// keywords without a JSON field (payloads, greps, Python) are left out.
    pub fn selected(format: &Template) -> Self {
        let names = format.keyword_names();
        let has = |name: &str| names.contains(&name);
        let mut header_names: [Option<Vec<&'static str>>; 2] = [Some(Vec::new()), Some(Vec::new())];
        for (i, dir) in ["request.header", "response.header"].iter().enumerate() {
            for &name in &names {
                let Some(rest) = name.strip_prefix(dir) else {
                    continue;
                };
                match rest.strip_prefix('.') {
                    Some("value" | "grep") | None => header_names[i] = None,
                    Some(_) => {
                        if let Some(list) = &mut header_names[i] {
                            if !list.contains(&name) {
                                list.push(name);
                            }
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

    /// `header_names`: per direction, the named headers to write (their keywords), or
    /// `None` for every header of the block.
    fn with_fields(
        fields: Vec<&'static Field>,
        header_names: [Option<Vec<&'static str>>; 2],
    ) -> Self {
        let mut slots = Vec::with_capacity(fields.len());
        let mut format = String::new();
        let key = |name: &str, open: &str| Key::new(format!(",\"{name}\":{open}"));
        for field in fields {
            let emit = match field.kind {
                Kind::Str => Emit::Str,
                Kind::Int => Emit::Int,
                Kind::Seconds => Emit::Seconds,
                Kind::Time => Emit::Time,
                Kind::Bool => Emit::Bool,
                Kind::Protocol => Emit::Protocol,
                Kind::RequestProtocol => Emit::RequestProtocol,
                Kind::Target => Emit::Url,
                Kind::Headers(prefix) => {
                    let i = usize::from(prefix.starts_with("http.response"));
                    if let Some(names) = &header_names[i] {
                        // Each named header is its own keyword: the format's look-up.
                        for keyword in names {
                            let header =
                                keyword.rsplit_once("header.").map_or(*keyword, |(_, n)| n);
                            format.push('%');
                            format.push_str(keyword);
                            slots.push(Slot {
                                op: slots.len(),
                                field,
                                emit: Emit::Header,
                                scope: field.scope,
                                header: header.into(),
                                epoch_name: "".into(),
                                key: key(&format!("{prefix}{header}"), "[\""),
                                epoch_key: Key::new(String::new()),
                            });
                        }
                        continue;
                    }
                    Emit::Aside
                }
                _ => Emit::Aside,
            };
            format.push('%');
            format.push_str(field.keyword);
            let open = match emit {
                Emit::Str => "\"",
                _ => "",
            };
            let epoch_name = match emit {
                Emit::Time => format!("{}_us", field.name),
                _ => String::new(),
            };
            slots.push(Slot {
                op: slots.len(),
                field,
                emit,
                scope: field.scope,
                header: "".into(),
                epoch_name: epoch_name.into(),
                key: key(field.name, open),
                epoch_key: key(&format!("{}_us", field.name), ""),
            });
        }
        let template = Template::parse(&format).expect("the JSON fields are keywords");
        debug_assert_eq!(template.keyword_names().len(), slots.len());
        let of = |connection: bool| -> Vec<Slot> {
            slots
                .iter()
                .filter(|slot| match slot.scope {
                    Scope::Both => true,
                    Scope::Exchange => !connection,
                    Scope::Connection => connection,
                })
                .cloned()
                .collect()
        };
        let by_record = [of(false), of(true)];
        JsonFormat {
            template,
            by_record,
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

/// Writes records as JSON lines to a [`RecordSink`].
pub struct JsonSink<R> {
    format: JsonFormat,
    per_connection: bool,
    /// A value rendered aside (those written in place need no copy).
    value: Vec<u8>,
    line: Vec<u8>,
    records: R,
    second: Second,
}

impl<R: RecordSink> JsonSink<R> {
    pub fn new(format: JsonFormat, records: R, per_connection: bool) -> Self {
        JsonSink {
            format,
            per_connection,
            value: Vec::with_capacity(4096),
            line: Vec::with_capacity(4096),
            records,
            second: Second::default(),
        }
    }

    pub fn needs(&self) -> crate::exchange::Needs {
        self.format.needs()
    }

    pub fn records(&self) -> &R {
        &self.records
    }

    /// One record, written straight into the line: each present value's key, then the
    /// value, typed as the keyword gives it ([`Value`]); a value known only as text is
    /// rendered aside and typed from its text ([`typed_field`]).
    fn write(&mut self, kind: RecordType, record: &Exchange<'_>) -> std::io::Result<()> {
        let JsonSink {
            format,
            value,
            line,
            records,
            second,
            ..
        } = self;
        // Straight into the sink's buffer where it has one: no copy of the line.
        match records.buffer() {
            Some(pending) => {
                write_line(format, value, second, pending, kind, record);
                records.commit()
            }
            None => {
                line.clear();
                write_line(format, value, second, line, kind, record);
                records.record(line)
            }
        }
    }
}

/// Appends one JSON line to `line` (see [`JsonSink::write`]); `value` is scratch space.
fn write_line(
    format: &JsonFormat,
    value: &mut Vec<u8>,
    second: &mut Second,
    line: &mut Vec<u8>,
    kind: RecordType,
    record: &Exchange<'_>,
) {
    line.extend_from_slice(kind.opening());
    let connection = record.connection.is_some();
    let mut protocol_written = false;
    let mut values = format.template.op_renderer(record);
    let slots = format.slots(connection);
    for slot in slots {
        let i = slot.op;
        match (slot.emit, values.value(i)) {
            (_, Value::Missing) => {}
            (Emit::Int, Value::Uint(n)) => {
                // At most 19 digits, as for a number read from text.
                if n < 10_000_000_000_000_000_000 {
                    put_key(line, &slot.key);
                    write_u64(line, n);
                }
            }
            (Emit::Int, Value::Bytes(digits)) => {
                if is_json_uint(digits) {
                    put_key(line, &slot.key);
                    line.extend_from_slice(digits);
                }
            }
            (Emit::Seconds, Value::Micros(us)) => {
                put_key(line, &slot.key);
                write_micros(line, us);
            }
            (Emit::Time, Value::Instant(us)) => write_time(line, second, slot, us),
            (Emit::Str, Value::Ip(ip)) => {
                put_key(line, &slot.key);
                write_ip(line, ip);
                line.push(b'"');
            }
            (Emit::Str, Value::Word(word)) => {
                debug_assert!(is_plain(word.as_bytes()));
                put_key(line, &slot.key);
                line.extend_from_slice(word.as_bytes());
                line.push(b'"');
            }
            (Emit::Str | Emit::Header, Value::Bytes(text)) => {
                if !text.is_empty() {
                    write_text(line, slot, text);
                }
            }
            (Emit::Bool, Value::Bool(yes)) => {
                put_key(line, &slot.key);
                line.extend_from_slice(if yes { b"true" } else { b"false" });
            }
            (Emit::Protocol, Value::Word(name)) => {
                protocol_written = true;
                let mut out = JsonLine { out: line, second };
                typed_field(&mut out, slot.field, "", name.as_bytes());
            }
            (Emit::RequestProtocol, Value::Bytes(text)) => {
                if !protocol_written {
                    request_protocol(&mut JsonLine { out: line, second }, text);
                }
            }
            (Emit::Url, Value::Bytes(text)) => {
                if !text.is_empty() {
                    target(&mut JsonLine { out: line, second }, text);
                }
            }
            (Emit::Aside, Value::Bytes(text)) => {
                if !text.is_empty() {
                    let mut out = JsonLine { out: line, second };
                    typed_field(&mut out, slot.field, &slot.epoch_name, text);
                }
            }
            // Known as text only (or, never in practice, a type the field does not
            // expect): rendered aside and typed from the text.
            _ => {
                value.clear();
                values.render(i, b"", value);
                if value.is_empty() {
                    continue;
                }
                match slot.emit {
                    Emit::Header => write_text(line, slot, value),
                    Emit::RequestProtocol if protocol_written => {}
                    emit => {
                        protocol_written |= emit == Emit::Protocol;
                        let mut out = JsonLine { out: line, second };
                        typed_field(&mut out, slot.field, &slot.epoch_name, value);
                    }
                }
            }
        }
    }
    line.extend_from_slice(b"}\n");
}

/// Non-empty text after its key (`,"NAME":"` or, for a named header, `,"NAME":["`):
/// copied when plain, escaped (or base64) otherwise.
#[inline]
fn write_text(line: &mut Vec<u8>, slot: &Slot, text: &[u8]) {
    put_key(line, &slot.key);
    if is_plain(text) {
        line.extend_from_slice(text);
        line.push(b'"');
    } else {
        // Rare: escapes or bytes beyond ASCII; `string` writes its own opening.
        line.pop();
        string(line, text);
    }
    if slot.emit == Emit::Header {
        line.push(b']');
    }
}

/// Renders records through a [`JsonFormat`] and hands each present field, typed by
/// [`typed_field`], to a [`Fields`] (OTLP log records; JSON lines are written in place
/// by [`JsonSink`], the same fields in the same order).
pub struct FieldRenderer {
    format: JsonFormat,
    value: Vec<u8>,
}

impl FieldRenderer {
    pub fn new(format: JsonFormat) -> Self {
        FieldRenderer {
            format,
            value: Vec::with_capacity(4096),
        }
    }

    pub fn needs(&self) -> crate::exchange::Needs {
        self.format.needs()
    }

    /// Every field of `record` that has a value, in the order of the JSON line.
    pub fn fields(&mut self, record: &Exchange<'_>, out: &mut impl Fields) {
        let FieldRenderer { format, value } = self;
        let connection = record.connection.is_some();
        let mut protocol_written = false;
        let mut values = format.template.op_renderer(record);
        let slots = format.slots(connection);
        for slot in slots {
            let i = slot.op;
            if slot.emit == Emit::Time {
                let us = match values.instant(i) {
                    Some(us) => us,
                    None => {
                        value.clear();
                        values.render(i, b"", value);
                        parse_micros(value)
                    }
                };
                if let Some(us) = us {
                    out.time(slot.field.name, &slot.epoch_name, us);
                }
                continue;
            }
            value.clear();
            values.render(i, b"", value);
            if value.is_empty() {
                continue;
            }
            match (slot.emit, slot.field.kind) {
                (Emit::Header, Kind::Headers(prefix)) => {
                    out.header(prefix, slot.header.as_bytes(), std::iter::once(&value[..]));
                }
                (_, Kind::Protocol) => {
                    protocol_written = true;
                    typed_field(out, slot.field, &slot.epoch_name, value);
                }
                (_, Kind::RequestProtocol) if protocol_written => {}
                _ => typed_field(out, slot.field, &slot.epoch_name, value),
            }
        }
    }
}

/// A JSON integer as the renderer wrote it: digits, no leading zero, at most 19 digits
/// (within `i64`, what most JSON readers keep exactly). A status line's code that is
/// not one is left out (the raw line is in `rustniffer.response.line`).
fn is_json_uint(text: &[u8]) -> bool {
    match text {
        [] => false,
        [b'0'] => true,
        [b'0', ..] => false,
        _ => text.len() <= 19 && text.iter().all(u8::is_ascii_digit),
    }
}

/// Printable ASCII with nothing to escape: written as it is. Eight bytes at a time; a
/// tail shorter than eight bytes is read as the last eight (overlapping), and only a
/// text shorter than eight bytes is looked at byte by byte.
#[inline]
fn is_plain(text: &[u8]) -> bool {
    let Some(last) = text.len().checked_sub(8) else {
        return text
            .iter()
            .all(|&b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\');
    };
    let word_at = |at: usize| {
        let mut w = [0u8; 8];
        if let Some(chunk) = text.get(at..at + 8) {
            w.copy_from_slice(chunk);
        }
        u64::from_le_bytes(w)
    };
    let mut at = 0;
    while at < last {
        if !plain_word(word_at(at)) {
            return false;
        }
        at += 8;
    }
    plain_word(word_at(last))
}

/// Whether none of the eight bytes of `w` is below 0x20, 0x7f or above, `"` or `\`
/// (the usual bit tricks: a byte of `x` is zero iff `(x - 0x01..) & !x & 0x80..`).
#[inline(always)]
fn plain_word(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let below_space = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
    let bad = (w & HIGH)
        | below_space
        | zero(w ^ (ONES * 0x7f))
        | zero(w ^ (ONES * u64::from(b'"')))
        | zero(w ^ (ONES * u64::from(b'\\')));
    bad == 0
}

/// A time as `"KEY":"RFC 3339","KEY_us":MICROS`, the second's texts from the cache.
fn write_time(out: &mut Vec<u8>, cache: &mut Second, slot: &Slot, us: i64) {
    put_key(out, &slot.key);
    let (second, into) = cache.split(us);
    let frac = six_digits(u64::from(into));
    let mut text = [0u8; 29];
    text[0] = b'"';
    text[1..20].copy_from_slice(&second.date);
    text[20] = b'.';
    text[21..27].copy_from_slice(&frac);
    text[27..29].copy_from_slice(b"Z\"");
    out.extend_from_slice(&text);
    put_key(out, &slot.epoch_key);
    if us >= 1_000_000 {
        // The seconds' digits, then the six decimals: the same number, undivided.
        let mut digits = [0u8; 26];
        digits[..20].copy_from_slice(&second.digits);
        let len = second.len.min(20);
        digits[len..len + 6].copy_from_slice(&frac);
        put_fixed(out, &digits, len + 6);
    } else {
        if us < 0 {
            out.push(b'-');
        }
        crate::format::write_u64(out, us.unsigned_abs());
    }
}

/// Appends the first `len` bytes of `chunk`: the whole array is copied (inlined moves)
/// and the excess cut off, cheaper than a call into `memcpy` for short texts.
#[inline(always)]
fn put_fixed<const N: usize>(out: &mut Vec<u8>, chunk: &[u8; N], len: usize) {
    let end = out.len() + len.min(N);
    out.extend_from_slice(chunk);
    out.truncate(end);
}

/// Longest key kept in a fixed array ([`Key`]).
const SHORT_KEY: usize = 48;

/// `,"NAME":` and what opens its value, resolved once per format.
#[derive(Clone)]
struct Key {
    short: [u8; SHORT_KEY],
    /// The whole key; `short` holds it when it fits.
    text: Box<[u8]>,
}

impl Key {
    fn new(text: String) -> Key {
        let text = text.into_bytes().into_boxed_slice();
        let mut short = [0u8; SHORT_KEY];
        if let Some(prefix) = short.get_mut(..text.len()) {
            prefix.copy_from_slice(&text);
        }
        Key { short, text }
    }
}

#[inline(always)]
fn put_key(out: &mut Vec<u8>, key: &Key) {
    if key.text.len() <= SHORT_KEY {
        put_fixed(out, &key.short, key.text.len());
    } else {
        out.extend_from_slice(&key.text);
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

/// Where a record's typed fields go: a JSON line ([`JsonSink`]'s values rendered aside)
/// or OpenTelemetry log-record attributes (`output::otlp`). Names are the field table's;
/// [`typed_field`] is the one place that says how a keyword's text becomes fields.
pub trait Fields {
    /// Text (`value` may not be UTF-8).
    fn text(&mut self, name: &str, value: &[u8]);
    /// A whole number: ASCII digits, at most 19, no leading zero.
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
    /// HTTP of `version` over TCP: `network.transport`, `network.protocol.name` and
    /// `network.protocol.version`.
    fn http_protocol(&mut self, version: &[u8]) {
        self.text("network.transport", b"tcp");
        self.text("network.protocol.name", b"http");
        self.text("network.protocol.version", version);
    }
    /// A request target: `url.path` and, after a `?`, `url.query`.
    fn url(&mut self, path: &[u8], query: Option<&[u8]>) {
        self.text("url.path", path);
        if let Some(q) = query {
            self.text("url.query", q);
        }
    }
}

/// A JSON line being written: fields are appended to `out`.
struct JsonLine<'a> {
    out: &'a mut Vec<u8>,
    second: &'a mut Second,
}

impl Fields for JsonLine<'_> {
    fn text(&mut self, name: &str, value: &[u8]) {
        key(self.out, name);
        string(self.out, value);
    }

    fn int(&mut self, name: &str, digits: &[u8]) {
        key(self.out, name);
        self.out.extend_from_slice(digits);
    }

    fn seconds(&mut self, name: &str, text: &[u8]) {
        // The renderer writes durations as `[-]seconds.micros`: already a JSON number.
        key(self.out, name);
        self.out.extend_from_slice(text);
    }

    fn time(&mut self, name: &str, epoch_name: &str, us: i64) {
        let out = &mut *self.out;
        key(out, name);
        out.push(b'"');
        rfc3339(out, self.second, us);
        out.push(b'"');
        key(out, epoch_name);
        if us < 0 {
            out.push(b'-');
        }
        crate::format::write_u64(out, us.unsigned_abs());
    }

    fn bool(&mut self, name: &str, value: Option<bool>) {
        key(self.out, name);
        self.out.extend_from_slice(match value {
            Some(true) => b"true",
            Some(false) => b"false",
            None => b"null",
        });
    }

    fn header<'v>(&mut self, prefix: &str, name: &[u8], values: impl Iterator<Item = &'v [u8]>) {
        let out = &mut *self.out;
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

    fn http_protocol(&mut self, version: &[u8]) {
        // The usual versions in one copy each.
        const HTTP: &[u8] =
            b",\"network.transport\":\"tcp\",\"network.protocol.name\":\"http\",\"network.protocol.version\":\"";
        if let b"1.1" | b"1.0" | b"2" = version {
            self.out.extend_from_slice(HTTP);
            self.out.extend_from_slice(version);
            self.out.push(b'"');
            return;
        }
        self.text("network.transport", b"tcp");
        self.text("network.protocol.name", b"http");
        self.text("network.protocol.version", version);
    }

    fn url(&mut self, path: &[u8], query: Option<&[u8]>) {
        self.out.extend_from_slice(b",\"url.path\":");
        string(self.out, path);
        if let Some(q) = query {
            self.text("url.query", q);
        }
    }
}

/// A keyword's text as typed fields: the one table of how each kind of value is
/// written, for JSON lines and OTLP log records alike.
fn typed_field(out: &mut impl Fields, field: &Field, epoch_name: &str, text: &[u8]) {
    match field.kind {
        Kind::Str => out.text(field.name, text),
        Kind::Int => {
            // A number, or nothing (a status line whose code is not a number: the raw
            // line is in `rustniffer.response.line`).
            if is_json_uint(text) {
                out.int(field.name, text);
            }
        }
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
            match text {
                b"http/1.0" => out.http_protocol(b"1.0"),
                b"http/1.1" => out.http_protocol(b"1.1"),
                b"h2" | b"h2c" => out.http_protocol(b"2"),
                other => {
                    out.text("network.transport", b"tcp");
                    out.text("network.protocol.name", other);
                }
            }
            out.text("rustniffer.protocol", text);
        }
        Kind::TlsVersion => {
            let text = String::from_utf8_lossy(text);
            let (name, version) = text.split_once('_').unwrap_or(("tls", &text));
            out.text("tls.protocol.name", name.to_ascii_lowercase().as_bytes());
            out.text("tls.protocol.version", version.as_bytes());
        }
        Kind::RequestProtocol => request_protocol(out, text),
        Kind::Target => target(out, text),
        Kind::Headers(prefix) => headers(out, prefix, text),
    }
}

/// The request line's `HTTP/x.y` → the `network.*` fields.
#[inline]
fn request_protocol(out: &mut impl Fields, text: &[u8]) {
    if let Some(version) = text.strip_prefix(b"HTTP/") {
        out.http_protocol(version);
    }
}

/// A request target → `url.path` and `url.query`.
#[inline]
fn target(out: &mut impl Fields, text: &[u8]) {
    let (path, query) = match memchr::memchr(b'?', text) {
        Some(at) => (text.get(..at).unwrap_or(text), text.get(at + 1..)),
        None => (text, None),
    };
    out.url(path, query);
}

/// Most header lines of one block written (the rest are left out: a bound on the work
/// per record whatever the input).
const MAX_HEADERS: usize = 64;

/// A header block → one array per lower-case name, in first-seen order; the first line
/// (request or status line) is skipped, and so is a line whose name is not an HTTP
/// token (in `turns` mode a header block may be anything, binary included).
fn headers(out: &mut impl Fields, prefix: &str, block: &[u8]) {
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

/// A JSON string, or `{"base64": ...}` when `text` is not UTF-8 (for the report's
/// records).
pub(crate) fn write_string(out: &mut Vec<u8>, text: &[u8]) {
    string(out, text);
}

/// Microseconds as a JSON number of seconds (`[-]S.uuuuuu`).
pub(crate) fn write_seconds(out: &mut Vec<u8>, us: i64) {
    crate::format::write_micros(out, us);
}

/// Microseconds since the epoch as RFC 3339 in UTC (`2026-11-24T01:35:16.376410Z`).
pub(crate) fn write_rfc3339(out: &mut Vec<u8>, us: i64) {
    rfc3339(out, &mut Second::default(), us);
}

/// A JSON string, or `{"base64": ...}` when `text` is not UTF-8.
fn string(out: &mut Vec<u8>, text: &[u8]) {
    if is_plain(text) {
        out.push(b'"');
        out.extend_from_slice(text);
        out.push(b'"');
    } else if std::str::from_utf8(text).is_ok() {
        out.push(b'"');
        escape_into(out, text);
        out.push(b'"');
    } else {
        out.extend_from_slice(b"{\"base64\":\"");
        base64(out, text);
        out.extend_from_slice(b"\"}");
    }
}

/// JSON string escapes of UTF-8 text (RFC 8259 §7): the runs between the bytes that
/// need one are copied whole.
fn escape_into(out: &mut Vec<u8>, text: &[u8]) {
    let needs_escape = |b: u8| b < 0x20 || b == b'"' || b == b'\\' || b == 0x7f;
    let mut rest = text;
    while let Some(at) = rest.iter().position(|&b| needs_escape(b)) {
        let (run, tail) = rest.split_at(at);
        out.extend_from_slice(run);
        let [b, tail @ ..] = tail else {
            rest = &[];
            break;
        };
        match *b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(b >> 4)],
                    HEX[usize::from(b & 15)],
                ]);
            }
        }
        rest = tail;
    }
    out.extend_from_slice(rest);
}

/// Standard base64 with padding (RFC 4648 §4), four characters per three bytes.
fn base64(out: &mut Vec<u8>, data: &[u8]) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let char_of = |n: u32, shift: u32| ALPHABET[(n >> shift & 63) as usize];
    let mut chunks = data.chunks_exact(3);
    for chunk in &mut chunks {
        let n = u32::from(chunk[0]) << 16 | u32::from(chunk[1]) << 8 | u32::from(chunk[2]);
        out.extend_from_slice(&[char_of(n, 18), char_of(n, 12), char_of(n, 6), char_of(n, 0)]);
    }
    match *chunks.remainder() {
        [a] => {
            let n = u32::from(a) << 16;
            out.extend_from_slice(&[char_of(n, 18), char_of(n, 12), b'=', b'=']);
        }
        [a, b] => {
            let n = u32::from(a) << 16 | u32::from(b) << 8;
            out.extend_from_slice(&[char_of(n, 18), char_of(n, 12), char_of(n, 6), b'=']);
        }
        _ => {}
    }
}

/// The last second written, as RFC 3339 text and as epoch digits: records come about
/// in time order, so most times fall in the second of the one before.
#[derive(Clone, Copy, Debug, Default)]
struct Second {
    secs: Option<i64>,
    /// `YYYY-MM-DDTHH:MM:SS`.
    date: [u8; 19],
    /// The seconds since the epoch in decimal, `digits[..len]` (0 when negative: not
    /// used then).
    digits: [u8; 20],
    len: usize,
}

impl Second {
    /// The second holding `us` (from the cache when it is the last one), and the
    /// microseconds into it.
    fn split(&mut self, us: i64) -> (&Second, u32) {
        if let Some(secs) = self.secs {
            // No division when the time falls in the cached second.
            let into = us.wrapping_sub(secs.wrapping_mul(1_000_000));
            if let Ok(into @ 0..=999_999) = u32::try_from(into) {
                return (self, into);
            }
        }
        self.fill(us.div_euclid(1_000_000));
        let into = u32::try_from(us.rem_euclid(1_000_000)).unwrap_or(0);
        (self, into)
    }

    fn fill(&mut self, secs: i64) {
        let mut date = [b'0'; 19];
        if let Some(t) = chrono::DateTime::from_timestamp(secs, 0) {
            let text = t.format("%Y-%m-%dT%H:%M:%S").to_string();
            if text.len() == 19 {
                date.copy_from_slice(text.as_bytes());
            }
        }
        let mut text = Vec::with_capacity(20);
        crate::format::write_u64(&mut text, secs.max(0).unsigned_abs());
        let len = text.len().min(20);
        let mut digits = [b'0'; 20];
        digits[..len].copy_from_slice(&text[..len]);
        *self = Second {
            secs: Some(secs),
            date,
            digits,
            len,
        };
    }
}

/// RFC 3339 in UTC with microseconds: `2026-11-24T01:35:16.376410Z`.
fn rfc3339(out: &mut Vec<u8>, cache: &mut Second, us: i64) {
    let (second, into) = cache.split(us);
    let mut text = [0u8; 27];
    text[..19].copy_from_slice(&second.date);
    text[19] = b'.';
    text[20..26].copy_from_slice(&six_digits(u64::from(into)));
    text[26] = b'Z';
    out.extend_from_slice(&text);
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
        let mut cache = Second::default();
        rfc3339(&mut out, &mut cache, 1_764_000_000_123_456);
        assert_eq!(out, b"2025-11-24T16:00:00.123456Z");
        out.clear();
        rfc3339(&mut out, &mut cache, -1);
        assert_eq!(out, b"1969-12-31T23:59:59.999999Z");
    }

    #[test]
    fn a_time_is_written_with_its_epoch_from_the_cached_second() {
        let format = JsonFormat::new();
        let slot = format.by_record[0]
            .iter()
            .find(|s| s.field.keyword == "request.timestamp2")
            .unwrap();
        let mut cache = Second::default();
        for us in [
            1_764_000_000_123_456,
            1_764_000_000_000_001,
            1_000_000,
            999_999,
            0,
            -1,
            -1_500_000,
        ] {
            let mut out = Vec::new();
            write_time(&mut out, &mut cache, slot, us);
            let mut date = Vec::new();
            rfc3339(&mut date, &mut Second::default(), us);
            let expected = format!(
                ",\"rustniffer.request.time\":\"{}\",\"rustniffer.request.time_us\":{us}",
                String::from_utf8(date).unwrap()
            );
            assert_eq!(String::from_utf8(out).unwrap(), expected);
        }
    }

    #[test]
    fn plain_text_is_found_eight_bytes_at_a_time() {
        for len in 0..40 {
            let text = vec![b'a'; len];
            assert!(is_plain(&text));
            for at in 0..len {
                for bad in [0u8, 0x1f, b'"', b'\\', 0x7f, 0x80, 0xff] {
                    let mut t = text.clone();
                    t[at] = bad;
                    assert!(!is_plain(&t), "{t:?}");
                }
                for good in [b' ', b'~', b'!', b'#', b'[', b']'] {
                    let mut t = text.clone();
                    t[at] = good;
                    assert!(is_plain(&t), "{t:?}");
                }
            }
        }
    }

    #[test]
    fn integers_are_json_numbers_or_left_out() {
        assert!(is_json_uint(b"0"));
        assert!(is_json_uint(b"200"));
        assert!(is_json_uint(b"9223372036854775807"));
        assert!(!is_json_uint(b""));
        assert!(!is_json_uint(b"007"));
        assert!(!is_json_uint(b"2x0"));
        assert!(!is_json_uint(b"18446744073709551615"));
    }

    #[test]
    fn the_default_fields_are_a_subset_with_named_headers() {
        let all = JsonFormat::new();
        let default = JsonFormat::default_fields();
        let count = |f: &JsonFormat| f.by_record[0].len() + f.by_record[1].len();
        assert!(count(&default) < count(&all));
        let keys: Vec<String> = default
            .by_record
            .iter()
            .flatten()
            .map(|s| String::from_utf8_lossy(&s.key.text).into_owned())
            .collect();
        for name in [
            "client.address",
            "http.request.method",
            "url",
            "http.response.status_code",
            "tcp.handshake.duration",
            "rustniffer.response.duration",
            "http.request.header.user-agent",
            "rustniffer.conn.duration",
        ] {
            assert!(
                keys.iter().any(|k| k.starts_with(&format!(",\"{name}"))),
                "{name}: {keys:?}"
            );
        }
        assert!(!keys.iter().any(|k| k.contains("request.line")), "{keys:?}");
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
        string(&mut out, "\u{e9}\t".as_bytes());
        assert_eq!(out, "\"\u{e9}\\t\"".as_bytes());
        out.clear();
        base64(&mut out, b"foobar");
        assert_eq!(out, b"Zm9vYmFy");
    }

    #[test]
    fn base64_agrees_with_the_six_bits_at_a_time_rule_at_every_length() {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let data: Vec<u8> = (0..50u32).map(|i| (i * 97 + 13) as u8).collect();
        for len in 0..=data.len() {
            let input = &data[..len];
            let mut expected = Vec::new();
            for bit in (0..len * 8).step_by(6) {
                let mut n = 0;
                for b in bit..bit + 6 {
                    let set = b < len * 8 && input[b / 8] >> (7 - b % 8) & 1 == 1;
                    n = n << 1 | usize::from(set);
                }
                expected.push(ALPHABET[n]);
            }
            while expected.len() % 4 != 0 {
                expected.push(b'=');
            }
            let mut out = b"x".to_vec();
            base64(&mut out, input);
            assert_eq!(&out[1..], &expected[..], "length {len}");
        }
    }

    #[test]
    fn headers_become_arrays_by_lower_case_name() {
        let mut out = Vec::new();
        let mut line = JsonLine {
            out: &mut out,
            second: &mut Second::default(),
        };
        headers(
            &mut line,
            "http.request.header.",
            b"GET / HTTP/1.1\r\nHost: a\r\nAccept: x\r\naccept: y\r\nbad line\r\n\x01\xff: z\r\n\r\n",
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            ",\"http.request.header.host\":[\"a\"],\"http.request.header.accept\":[\"x\",\"y\"]"
        );
    }
}
