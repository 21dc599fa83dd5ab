//! Rendering one [`Exchange`] through a [`Template`] into the caller's buffer.
//!
//! Values are written raw and the encoding (`-u`/`-x`) is applied to the whole
//! record afterwards, in place. Nothing here allocates on the common path except
//! the growth of the caller's buffer (a `%T`-like strftime conversion with flags or
//! a width is the one exception).

use std::io::Write as _;
use std::net::IpAddr;

use super::encode::{encode_tail, Encoding};
use super::keywords::{Dir, Duration, Key, When, Word, WsKey};
use super::template::{Op, Template, TLS_PREFIX};
use crate::exchange::http;
use crate::exchange::tls::{self, ClientHello};
use crate::exchange::tls_stream;
use crate::exchange::{Exchange, Micros, Protocol};
use crate::time::Timestamp;

/// Options of one run that affect how records are printed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderOptions {
    /// `-n`: the text printed for a value that cannot be found (default `-`).
    pub not_found: Vec<u8>,
    /// `-u` / `-x`.
    pub encoding: Encoding,
    /// Append `\n` after each record (`false` with `-N`).
    pub newline: bool,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            not_found: b"-".to_vec(),
            encoding: Encoding::Plain,
            newline: true,
        }
    }
}

/// Per-record analysis, computed the first time an op needs it.
struct Parsed<'a> {
    ex: &'a Exchange<'a>,
    /// `(header_len, body_start)` per direction.
    request_split: Option<(usize, usize)>,
    response_split: Option<(usize, usize)>,
    tls: Option<Option<ClientHello<'a>>>,
    /// The first line's first words per direction (request, response), split once per
    /// record when a structured output asks for one ([`OpRenderer::value`]), as many as
    /// the template's word keywords read ([`Template::words`]).
    words: [Option<[&'a [u8]; 3]>; 2],
    /// The `%python(...)` texts of this record, by slot (`None`: not found).
    python: &'a [Option<Vec<u8>>],
}

impl<'a> Parsed<'a> {
    fn data(&self, dir: Dir) -> &'a [u8] {
        match dir {
            Dir::Request => self.ex.request,
            Dir::Response => self.ex.response,
        }
    }

    fn split(&mut self, dir: Dir) -> (usize, usize) {
        let data = self.data(dir);
        let (slot, known) = match dir {
            Dir::Request => (&mut self.request_split, self.ex.request_header_len),
            Dir::Response => (&mut self.response_split, self.ex.response_header_len),
        };
        *slot.get_or_insert_with(|| match known {
            // The exchange layer found the terminator: the body starts two bytes on.
            Some(header_len) if header_len < data.len() => {
                let split = (header_len, (header_len + 2).min(data.len()));
                debug_assert_eq!(split, http::header_split(data));
                split
            }
            _ => http::header_split(data),
        })
    }

    /// Whether the bytes can be read as HTTP/1 messages: not when `messages` mode knows
    /// them to be something else (TLS or h2: ciphertext; h2c, WebSocket: binary
    /// frames), where line, words, headers and body print not-found.
    /// An HTTP/2 stream's kept bytes are its decoded head, HTTP/1-style: readable.
    fn readable(&self) -> bool {
        self.ex.h2_stream.is_some()
            || !matches!(
                self.ex.protocol,
                Protocol::Tls | Protocol::H2 | Protocol::H2c | Protocol::WebSocket
            )
    }

    /// The value of the header `name` (SPEC §5), from the framer's field lines when it
    /// told them for this header block, else by looking.
    fn header(&mut self, dir: Dir, name: &[u8]) -> Option<&'a [u8]> {
        let block = self.header_block(dir);
        let (known, fields) = match dir {
            Dir::Request => (self.ex.request_header_len, self.ex.request_fields),
            Dir::Response => (self.ex.response_header_len, self.ex.response_fields),
        };
        // The lines count from the kept bytes' start, as `header_len` does: both come
        // from the framer's reading of the message the kept bytes start with.
        match known {
            Some(len) if len == block.len() => http::header_value_indexed(block, name, fields),
            _ => http::header_value(block, name),
        }
    }

    fn header_block(&mut self, dir: Dir) -> &'a [u8] {
        if !self.readable() {
            return &[];
        }
        let (header_len, _) = self.split(dir);
        &self.data(dir)[..header_len]
    }

    fn body(&mut self, dir: Dir) -> &'a [u8] {
        if !self.readable() {
            return &[];
        }
        let (_, body_start) = self.split(dir);
        &self.data(dir)[body_start..]
    }

    fn line(&self, dir: Dir) -> &'a [u8] {
        if !self.readable() {
            return &[];
        }
        http::first_line(self.data(dir))
    }

    /// Word `n` (0, 1 or 2) of the first line ([`http::word`]): the line is split once
    /// per record into its first `count` words.
    fn word(&mut self, dir: Dir, n: usize, count: usize) -> &'a [u8] {
        let i = usize::from(dir == Dir::Response);
        let words = match self.words.get(i).copied().flatten() {
            Some(words) => words,
            None => {
                let data = if self.readable() { self.data(dir) } else { &[] };
                let words = http::first_words(data, count.max(n + 1));
                if let Some(slot) = self.words.get_mut(i) {
                    *slot = Some(words);
                }
                words
            }
        };
        words.get(n).copied().unwrap_or_default()
    }

    fn client_hello(&mut self) -> Option<ClientHello<'a>> {
        let request = self.ex.request;
        *self.tls.get_or_insert_with(|| {
            // Only a hello that starts in the first TLS_PREFIX bytes counts, whatever
            // else the template keeps, so the value does not depend on it.
            let prefix = request.get(..TLS_PREFIX + 1).unwrap_or(request);
            let start = memchr::memmem::find(prefix, &[0x16, 0x03])?;
            tls::parse_client_hello(&request[start..])
        })
    }
}

impl Template {
    /// Appends one record for `ex` to `out`: the rendered format, encoded as
    /// `opts.encoding` says, then `\n` unless `-N`.
    pub fn render(&self, ex: &Exchange<'_>, opts: &RenderOptions, out: &mut Vec<u8>) {
        self.render_with(ex, opts, &[], out);
    }

    /// [`Template::render`] with the texts that Python handlers returned for this record:
    /// `python[i]` is printed for the `i`-th `%python(...)` of the format, the not-found
    /// text where it is `None` or missing.
    pub fn render_with(
        &self,
        ex: &Exchange<'_>,
        opts: &RenderOptions,
        python: &[Option<Vec<u8>>],
        out: &mut Vec<u8>,
    ) {
        let start = out.len();
        let mut parsed = Parsed {
            ex,
            request_split: None,
            response_split: None,
            tls: None,
            words: [None; 2],
            python,
        };
        for op in &self.ops {
            render_op(op, &mut parsed, &opts.not_found, out);
        }
        encode_tail(out, start, opts.encoding);
        if opts.newline {
            out.push(b'\n');
        }
    }
}

/// One record rendered op by op, for structured outputs that put each value where they
/// want it ([`Template::op_renderer`]): the per-record analysis (header split, TLS
/// hello) is shared by the ops, as in [`Template::render`].
pub struct OpRenderer<'t, 'a> {
    ops: &'t [Op],
    /// [`Template::words`].
    words: [usize; 2],
    parsed: Parsed<'a>,
}

impl Template {
    /// A renderer of `ex`'s values, one op at a time.
    pub fn op_renderer<'t, 'a>(&'t self, ex: &'a Exchange<'a>) -> OpRenderer<'t, 'a> {
        OpRenderer {
            ops: &self.ops,
            words: self.words,
            parsed: Parsed {
                ex,
                request_split: None,
                response_split: None,
                tls: None,
                words: [None; 2],
                python: &[],
            },
        }
    }
}

impl OpRenderer<'_, '_> {
    /// Appends the text of op `i` (`not_found` for a value that is missing; nothing for
    /// an op that does not exist); no encoding.
    #[inline]
    pub fn render(&mut self, i: usize, not_found: &[u8], out: &mut Vec<u8>) {
        if let Some(op) = self.ops.get(i) {
            render_op(op, &mut self.parsed, not_found, out);
        }
    }

    /// The instant a `%...timestamp2` op prints, in microseconds since the epoch, without
    /// going through its text: `None` when op `i` is not one, `Some(None)` when its value
    /// is not found.
    pub fn instant(&self, i: usize) -> Option<Option<i64>> {
        match self.ops.get(i)? {
            Op::Value {
                key: Key::Timestamp2(when),
                ..
            } => Some(timestamp(self.parsed.ex, *when).map(Timestamp::micros)),
            _ => None,
        }
    }
}

/// A keyword's value as its type, for the structured outputs (JSON lines, OTLP): what
/// [`render_value`] would print, before it is made text. Printed, each variant is the
/// keyword's text exactly (`Missing`: the not-found text); a test holds the two to that.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value<'a> {
    /// Not found.
    Missing,
    /// A whole number.
    Uint(u64),
    /// A duration in microseconds (printed `[-]S.uuuuuu`).
    Micros(i64),
    /// An instant in microseconds since the epoch (`%...timestamp2`, printed as
    /// `Micros`).
    Instant(i64),
    Ip(IpAddr),
    /// A word of the tool's own vocabulary: printable ASCII, nothing to escape.
    Word(&'static str),
    /// Bytes from the traffic, as they are (possibly empty).
    Bytes(&'a [u8]),
    /// `yes` / `no`.
    Bool(bool),
    /// Known as text only (TLS version, ciphers, tunnels, WebSocket closes, strftime
    /// times, greps...): the caller renders the op with [`OpRenderer::render`].
    Text,
}

impl<'a> OpRenderer<'_, 'a> {
    /// The value of op `i` as its type ([`Value`]); `Text` for an op that does not exist.
    /// Inlined into the caller's loop, where the match on the result folds into this one.
    #[inline(always)]
    pub fn value(&mut self, i: usize) -> Value<'a> {
        let Some(op) = self.ops.get(i) else {
            return Value::Text;
        };
        let p = &mut self.parsed;
        match op {
            Op::Value { key, .. } => typed_value(*key, p),
            Op::Word {
                dir,
                word,
                regex: None,
            } => {
                let count = self.words[usize::from(*dir == Dir::Response)];
                let found = match word {
                    Word::First => p.word(*dir, 0, count),
                    Word::Second => p.word(*dir, 1, count),
                    Word::Third => p.word(*dir, 2, count),
                    Word::Rest => http::after_second_word(p.line(*dir)),
                };
                if found.is_empty() {
                    Value::Missing
                } else {
                    Value::Bytes(found)
                }
            }
            _ => Value::Text,
        }
    }
}

/// [`render_value`]'s value of `key`, typed; `Text` where only the text is known.
#[inline(always)]
fn typed_value<'a>(key: Key, p: &mut Parsed<'a>) -> Value<'a> {
    let ex = p.ex;
    let uint = |n: Option<u64>| n.map_or(Value::Missing, Value::Uint);
    let micros = |us: Option<Micros>| us.map_or(Value::Missing, Value::Micros);
    match key {
        Key::SourceIp => Value::Ip(ex.client.ip),
        Key::SourcePort => Value::Uint(u64::from(ex.client.port)),
        Key::DestIp => Value::Ip(ex.server.ip),
        Key::DestPort => Value::Uint(u64::from(ex.server.port)),
        Key::Connection => Value::Word(ex.position.as_str()),
        Key::CloseOriginator => ex
            .close_originator
            .map_or(Value::Missing, |c| Value::Word(c.as_str())),
        Key::Streams => Value::Uint(ex.streams as u64),
        Key::SessionRequests => Value::Uint(ex.session_requests),
        Key::Duration(d) => micros(duration(ex, d)),
        Key::Timestamp2(when) => {
            timestamp(ex, when).map_or(Value::Missing, |ts| Value::Instant(ts.micros()))
        }
        Key::Payload(dir) => Value::Bytes(p.data(dir)),
        Key::Size(Dir::Request) => Value::Uint(ex.request_size),
        Key::Size(Dir::Response) => Value::Uint(ex.response_size),
        Key::Line(dir) => Value::Bytes(p.line(dir)),
        Key::HeaderBlock(dir) => Value::Bytes(p.header_block(dir)),
        Key::Body(dir) => Value::Bytes(p.body(dir)),
        Key::Header(dir, name) => p
            .header(dir, name.as_bytes())
            .filter(|v| !v.is_empty())
            .map_or(Value::Missing, Value::Bytes),
        Key::TlsSni => match ex.tls {
            Some(facts) => facts.sni.as_deref().map_or(Value::Missing, Value::Bytes),
            None => p
                .client_hello()
                .and_then(|h| h.sni)
                .map_or(Value::Missing, Value::Bytes),
        },
        Key::Protocol => ex.protocol.as_str().map_or(Value::Missing, Value::Word),
        Key::TunnelId => uint(ex.tunnel.and_then(|t| t.id()).map(u64::from)),
        Key::ExchangeIndex => Value::Uint(u64::from(ex.index)),
        Key::Pipelined => uint(ex.pipelined.map(u64::from)),
        Key::Complete => ex.complete.map_or(Value::Missing, Value::Bool),
        Key::Gap => Value::Uint(ex.gap),
        Key::BodySize(Dir::Request) => uint(ex.request_body_size),
        Key::BodySize(Dir::Response) => uint(ex.response_body_size),
        Key::Interim => uint(ex.interim.map(u64::from)),
        Key::Conn(field) => super::conn_fields::value(field, ex.connection),
        Key::H2Stream => uint(ex.h2_stream.map(|h2| u64::from(h2.stream))),
        Key::H2Concurrent => uint(ex.h2_stream.map(|h2| u64::from(h2.concurrent))),
        Key::H2HeadersUnknown => ex
            .h2_stream
            .map_or(Value::Missing, |h2| Value::Bool(h2.unknown_headers)),
        Key::H2PingRtt => micros(ex.h2.and_then(|h2| h2.last_ping).map(|p| p.micros)),
        Key::TlsVersion
        | Key::TlsAlpn
        | Key::TlsCipher
        | Key::Tunnel
        | Key::H2Reset
        | Key::H2Goaway
        | Key::Ws(_)
        | Key::Constant(_)
        | Key::Timestamp(_)
        | Key::Word(..)
        | Key::HeaderValue(_)
        | Key::HeaderGrep(_)
        | Key::Grep(_)
        | Key::Python => Value::Text,
    }
}

// One call site, in the loop over the ops: inlined, the per-op call costs nothing.
#[inline(always)]
fn render_op(op: &Op, p: &mut Parsed<'_>, default_nf: &[u8], out: &mut Vec<u8>) {
    let ex = p.ex;
    match op {
        Op::Literal(text) => out.extend_from_slice(text),
        Op::ShortLiteral(padded, len) => put_fixed(out, padded, usize::from(*len)),
        Op::Value { key, not_found } => {
            let nf = not_found.as_deref().unwrap_or(default_nf);
            render_value(*key, p, nf, out);
        }
        Op::Timestamp { when, format } => match timestamp(ex, *when) {
            Some(ts) if format.write(ts, out) => {}
            _ => out.extend_from_slice(default_nf),
        },
        Op::Word { dir, word, regex } => {
            let line = p.line(*dir);
            let found = match regex {
                Some(m) => m.find(line),
                None => Some(match word {
                    Word::First => http::word(line, 0),
                    Word::Second => http::word(line, 1),
                    Word::Third => http::word(line, 2),
                    Word::Rest => http::after_second_word(line),
                })
                .filter(|w| !w.is_empty()),
            };
            out.extend_from_slice(found.unwrap_or(default_nf));
        }
        Op::HeaderValue { dir, name } => {
            // SPEC §5: not found prints nothing, not the not-found text.
            if let Some(v) = p.header(*dir, name) {
                out.extend_from_slice(v);
            }
        }
        Op::Grep {
            dir,
            header,
            matcher,
        } => {
            let haystack = if *header {
                p.header_block(*dir)
            } else {
                p.data(*dir)
            };
            out.extend_from_slice(matcher.find(haystack).unwrap_or(default_nf));
        }
        Op::Python { slot, .. } => {
            let text = p.python.get(*slot).and_then(Option::as_deref);
            out.extend_from_slice(text.unwrap_or(default_nf));
        }
    }
}

fn render_value(key: Key, p: &mut Parsed<'_>, nf: &[u8], out: &mut Vec<u8>) {
    let ex = p.ex;
    match key {
        Key::SourceIp => write_ip(out, ex.client.ip),
        Key::SourcePort => write_u64(out, u64::from(ex.client.port)),
        Key::DestIp => write_ip(out, ex.server.ip),
        Key::DestPort => write_u64(out, u64::from(ex.server.port)),
        Key::Connection => put_word(out, ex.position.as_str()),
        Key::CloseOriginator => match ex.close_originator {
            Some(c) => put_word(out, c.as_str()),
            None => out.extend_from_slice(nf),
        },
        Key::Streams => write_u64(out, ex.streams as u64),
        Key::SessionRequests => write_u64(out, ex.session_requests),
        Key::Duration(d) => match duration(ex, d) {
            Some(us) => write_micros(out, us),
            None => out.extend_from_slice(nf),
        },
        Key::Timestamp2(when) => match timestamp(ex, when) {
            Some(ts) => write_micros(out, ts.micros()),
            None => out.extend_from_slice(nf),
        },
        Key::Payload(dir) => out.extend_from_slice(p.data(dir)),
        Key::Size(Dir::Request) => write_u64(out, ex.request_size),
        Key::Size(Dir::Response) => write_u64(out, ex.response_size),
        Key::Line(dir) => out.extend_from_slice(p.line(dir)),
        Key::HeaderBlock(dir) => out.extend_from_slice(p.header_block(dir)),
        Key::Body(dir) => out.extend_from_slice(p.body(dir)),
        Key::Header(dir, name) => {
            let value = p.header(dir, name.as_bytes());
            out.extend_from_slice(value.filter(|v| !v.is_empty()).unwrap_or(nf));
        }
        // `messages` mode: the connection's handshake; `turns` mode: a ClientHello at
        // the start of this exchange's request (SPEC §5).
        Key::TlsSni => match ex.tls {
            Some(facts) => out.extend_from_slice(facts.sni.as_deref().unwrap_or(nf)),
            None => match p.client_hello().and_then(|h| h.sni) {
                Some(name) => out.extend_from_slice(name),
                None => out.extend_from_slice(nf),
            },
        },
        Key::TlsVersion => match ex.tls {
            Some(facts) => match facts.version() {
                Some(v) => tls::write_version(v, out),
                None => out.extend_from_slice(nf),
            },
            None => match p.client_hello() {
                Some(h) => tls::write_version(h.version, out),
                None => out.extend_from_slice(nf),
            },
        },
        Key::TlsAlpn => {
            if !ex.tls.is_some_and(|facts| facts.alpn(out)) {
                out.extend_from_slice(nf);
            }
        }
        Key::TlsCipher => match ex.tls.and_then(|facts| facts.cipher) {
            Some(code) => match tls_stream::cipher_suite_name(code) {
                Some(name) => out.extend_from_slice(name.as_bytes()),
                None => {
                    let _ = write!(out, "0x{code:04x}");
                }
            },
            None => out.extend_from_slice(nf),
        },
        Key::Protocol => out.extend_from_slice(ex.protocol.as_str().map_or(nf, str::as_bytes)),
        Key::Tunnel => match ex.tunnel {
            Some(t) => {
                use std::io::Write as _;
                // Writing to a Vec cannot fail.
                let _ = write!(out, "{t}");
            }
            None => out.extend_from_slice(nf),
        },
        Key::TunnelId => match ex.tunnel.and_then(|t| t.id()) {
            Some(id) => write_u64(out, u64::from(id)),
            None => out.extend_from_slice(nf),
        },
        Key::ExchangeIndex => write_u64(out, u64::from(ex.index)),
        Key::Pipelined => match ex.pipelined {
            Some(n) => write_u64(out, u64::from(n)),
            None => out.extend_from_slice(nf),
        },
        Key::Complete => match ex.complete {
            Some(true) => put_word(out, "yes"),
            Some(false) => put_word(out, "no"),
            None => out.extend_from_slice(nf),
        },
        Key::Gap => write_u64(out, ex.gap),
        Key::BodySize(dir) => {
            let size = match dir {
                Dir::Request => ex.request_body_size,
                Dir::Response => ex.response_body_size,
            };
            match size {
                Some(n) => write_u64(out, n),
                None => out.extend_from_slice(nf),
            }
        }
        Key::Interim => match ex.interim {
            Some(n) => write_u64(out, u64::from(n)),
            None => out.extend_from_slice(nf),
        },
        Key::Conn(field) => super::conn_fields::render(field, ex.connection, nf, out),
        Key::H2Stream => match ex.h2_stream {
            Some(h2) => write_u64(out, u64::from(h2.stream)),
            None => out.extend_from_slice(nf),
        },
        Key::H2Concurrent => match ex.h2_stream {
            Some(h2) => write_u64(out, u64::from(h2.concurrent)),
            None => out.extend_from_slice(nf),
        },
        Key::H2HeadersUnknown => match ex.h2_stream {
            Some(h2) => put_word(out, if h2.unknown_headers { "yes" } else { "no" }),
            None => out.extend_from_slice(nf),
        },
        Key::H2Reset => {
            if !ex.h2_stream.is_some_and(|h2| h2.write_reset(out)) {
                out.extend_from_slice(nf);
            }
        }
        Key::H2PingRtt => match ex.h2.and_then(|h2| h2.last_ping) {
            Some(ping) => write_micros(out, ping.micros),
            None => out.extend_from_slice(nf),
        },
        Key::H2Goaway => {
            if !ex.h2.is_some_and(|h2| h2.write_goaway(out)) {
                out.extend_from_slice(nf);
            }
        }
        Key::Ws(k) => {
            if !write_ws(ex, k, out) {
                out.extend_from_slice(nf);
            }
        }
        Key::Constant(text) => out.extend_from_slice(text.as_bytes()),
        // Built as their own ops by the parser.
        Key::Timestamp(_)
        | Key::Word(..)
        | Key::HeaderValue(_)
        | Key::HeaderGrep(_)
        | Key::Grep(_)
        | Key::Python => out.extend_from_slice(nf),
    }
}

/// Writes a `%ws.*` value; `false` when there is none.
fn write_ws(ex: &Exchange<'_>, k: WsKey, out: &mut Vec<u8>) -> bool {
    use crate::exchange::ws_facts::WsEnd;
    use crate::flow::Direction;
    let side = |d: Dir| match d {
        Dir::Request => Direction::FromClient,
        Dir::Response => Direction::FromServer,
    };
    if let Some(m) = ex.ws_message {
        match k {
            WsKey::Opcode => {
                put_word(out, m.opcode_name());
                return true;
            }
            WsKey::Size => {
                let Some(n) = m.size else {
                    return false;
                };
                write_u64(out, n);
                return true;
            }
            WsKey::SizeWire => {
                write_u64(out, m.wire);
                return true;
            }
            WsKey::Compressed => {
                put_word(out, if m.compressed { "yes" } else { "no" });
                return true;
            }
            WsKey::Rtt => {
                let Some(us) = m.rtt else {
                    return false;
                };
                write_micros(out, us);
                return true;
            }
            // A message record's own Close only: the connection's close, known later,
            // would read as this message's.
            WsKey::Close => {
                let Some((code, by)) = m.close else {
                    return false;
                };
                crate::exchange::ws_facts::write_close(code, by, out);
                return true;
            }
            _ => {}
        }
    }
    let Some(ws) = ex.ws else {
        return false;
    };
    let both = |f: fn(&crate::exchange::ws_facts::WsDirection) -> u64| {
        f(&ws.client).saturating_add(f(&ws.server))
    };
    match k {
        WsKey::Messages(None) => write_u64(out, both(|s| s.messages)),
        WsKey::Messages(Some(d)) => write_u64(out, ws.side(side(d)).messages),
        WsKey::Bytes(None) => write_u64(out, both(|s| s.bytes)),
        WsKey::Bytes(Some(d)) => write_u64(out, ws.side(side(d)).bytes),
        WsKey::Decoded(d) => write_u64(out, ws.side(side(d)).decoded),
        WsKey::Undecoded => write_u64(out, both(|s| s.undecoded)),
        WsKey::Pings => write_u64(out, both(|s| s.pings)),
        WsKey::Pongs => write_u64(out, both(|s| s.pongs)),
        WsKey::PingRtt => match ws.ping_rtt {
            Some((us, _)) => write_micros(out, us),
            None => return false,
        },
        WsKey::PingSender => match ws.ping_rtt {
            Some((_, Direction::FromClient)) => put_word(out, "client"),
            Some((_, Direction::FromServer)) => put_word(out, "server"),
            None => return false,
        },
        WsKey::Last(d) => match ws.side(side(d)).last {
            Some(ts) => write_micros(out, ts.micros()),
            None => return false,
        },
        WsKey::SilenceMax => match ws.silence_max {
            Some(us) => write_micros(out, us),
            None => return false,
        },
        WsKey::SilenceNow => {
            let at = ex.connection.map(|c| c.end).or(ex.print);
            match (ws.last_activity.or(ws.upgraded), at) {
                (Some(last), Some(at)) => write_micros(out, at.micros_since(last)),
                _ => return false,
            }
        }
        WsKey::Close => return ws.write_close(out),
        WsKey::CloseReason => match ws.close.as_ref().filter(|c| !c.reason.is_empty()) {
            Some(c) => out.extend_from_slice(&c.reason),
            None => return false,
        },
        WsKey::End => match ws.end {
            Some(WsEnd::Clean) => put_word(out, "clean"),
            Some(WsEnd::Unanswered) => put_word(out, "unanswered"),
            Some(WsEnd::Abnormal) => put_word(out, "abnormal"),
            None => return false,
        },
        WsKey::Subprotocol => match &ws.subprotocol {
            Some(p) => out.extend_from_slice(p),
            None => return false,
        },
        WsKey::Extensions => match &ws.extensions {
            Some(e) => out.extend_from_slice(e),
            None => return false,
        },
        WsKey::Accept => put_word(out, ws.accept.as_str()),
        WsKey::Error => match ws.error {
            Some(e) => out.extend_from_slice(e.as_bytes()),
            None => return false,
        },
        WsKey::Opcode | WsKey::Size | WsKey::SizeWire | WsKey::Compressed | WsKey::Rtt => {
            return false
        }
    }
    true
}

// Inlined into both renderers' matches, where `d` is known.
#[inline(always)]
fn duration(ex: &Exchange<'_>, d: Duration) -> Option<Micros> {
    match d {
        Duration::Connection => ex.connection_time(),
        Duration::Idle0 => ex.idle_time_0(),
        Duration::Idle1 => ex.idle_time_1(),
        Duration::Request => ex.request_time(),
        Duration::Response => ex.response_time(),
        Duration::ResponseBegin => ex.response_time_begin(),
        Duration::ResponseEnd => ex.response_time_end(),
        Duration::Session => Some(ex.session_time()),
        Duration::Close => ex.close_time(),
        Duration::IdleBefore => ex.idle_time_before(),
    }
}

fn timestamp(ex: &Exchange<'_>, when: When) -> Option<Timestamp> {
    match when {
        When::Connection => ex.connection_timestamp(),
        When::Request => ex.request_timestamp(),
        When::Response => ex.response_timestamp(),
        When::Close => ex.close_timestamp(),
    }
}

/// `00` to `99`: numbers are written two digits per division.
const DIGIT_PAIRS: &[u8; 200] = b"\
    0001020304050607080910111213141516171819\
    2021222324252627282930313233343536373839\
    4041424344454647484950515253545556575859\
    6061626364656667686970717273747576777879\
    8081828384858687888990919293949596979899";

/// The two digits of `n` (< 100).
fn pair(n: u64) -> [u8; 2] {
    let i = (n % 100) as usize * 2;
    [DIGIT_PAIRS[i], DIGIT_PAIRS[i + 1]]
}

/// Appends the first `len` bytes of `chunk`. The whole array is copied (a few vector
/// moves, inlined) and the excess cut off again: for the short values and separators
/// that make up most records this is much cheaper than a call into `memcpy`.
#[inline(always)]
fn put_fixed<const N: usize>(out: &mut Vec<u8>, chunk: &[u8; N], len: usize) {
    let end = out.len() + len.min(N);
    out.extend_from_slice(chunk);
    out.truncate(end);
}

/// Appends one of the fixed words (`start`, `truncated`…), all shorter than 16 bytes.
#[inline(always)]
fn put_word(out: &mut Vec<u8>, word: &'static str) {
    let word = word.as_bytes();
    let mut padded = [0u8; 16];
    let len = word.len().min(16);
    padded[..len].copy_from_slice(&word[..len]);
    put_fixed(out, &padded, len);
}

/// Number of decimal digits of `n`.
fn digit_count(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |l| l as usize + 1)
}

/// Writes `n` in decimal into `buf[..count]`, `count` being [`digit_count`]`(n)`.
fn digits_into(buf: &mut [u8], count: usize, n: u64) {
    let mut i = count;
    let mut v = n;
    while v >= 100 {
        i -= 2;
        buf[i..i + 2].copy_from_slice(&pair(v));
        v /= 100;
    }
    if v >= 10 {
        i -= 2;
        buf[i..i + 2].copy_from_slice(&pair(v));
    } else {
        i -= 1;
        buf[i] = b'0' + v as u8;
    }
}

/// Appends `n` in decimal.
pub(crate) fn write_u64(out: &mut Vec<u8>, n: u64) {
    let mut buf = [0u8; 20];
    let count = digit_count(n);
    digits_into(&mut buf, count, n);
    put_fixed(out, &buf, count);
}

/// Appends a duration (or a timestamp since the epoch) given in microseconds as
/// `[-]S.uuuuuu` (SPEC §4).
pub(crate) fn write_micros(out: &mut Vec<u8>, us: i64) {
    let abs = us.unsigned_abs();
    let frac = abs % 1_000_000;
    let secs = abs / 1_000_000;
    let sign = usize::from(us < 0);
    let count = digit_count(secs);
    // Sign, seconds and fraction are assembled in one buffer and copied once.
    let mut buf = [0u8; 32];
    buf[0] = b'-';
    digits_into(&mut buf[sign..], count, secs);
    let dot = sign + count;
    let [a, b, c, d, e, f] = six_digits(frac);
    buf[dot..dot + 7].copy_from_slice(&[b'.', a, b, c, d, e, f]);
    put_fixed(out, &buf, dot + 7);
}

/// The six decimals of a fraction of a second in microseconds (`n` < 1,000,000; only
/// the last six digits of a larger `n`).
#[inline(always)]
pub(crate) fn six_digits(n: u64) -> [u8; 6] {
    let [a, b] = pair(n / 10_000);
    let [c, d] = pair(n / 100);
    let [e, f] = pair(n);
    [a, b, c, d, e, f]
}

/// Appends an address: dotted quad for IPv4 (by hand, from a table of the 256 octets:
/// `fmt` costs more than the rest of a default record), RFC 5952 for IPv6 (std's
/// `Display`, into the Vec without allocating).
pub(crate) fn write_ip(out: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            // Each octet's digits are copied four bytes at a time (its length in the
            // fourth), then overwritten by the dot and the next octet.
            let mut text = [0u8; 20];
            let mut len = 0;
            for octet in v4.octets() {
                let digits = OCTETS[usize::from(octet)];
                if let Some(at) = text.get_mut(len..len + 4) {
                    at.copy_from_slice(&digits);
                }
                len += usize::from(digits[3]);
                if let Some(at) = text.get_mut(len) {
                    *at = b'.';
                }
                len += 1;
            }
            put_fixed(out, &text, len - 1);
        }
        // Writing into a Vec cannot fail.
        IpAddr::V6(v6) => {
            let _ = write!(out, "{v6}");
        }
    }
}

/// The decimal text of every octet: up to three digits, then their count.
static OCTETS: [[u8; 4]; 256] = {
    let mut table = [[0u8; 4]; 256];
    let mut n = 0;
    while n < 256 {
        let (h, t, o) = ((n / 100) as u8, (n / 10 % 10) as u8, (n % 10) as u8);
        table[n] = if n >= 100 {
            [b'0' + h, b'0' + t, b'0' + o, 3]
        } else if n >= 10 {
            [b'0' + t, b'0' + o, 0, 2]
        } else {
            [b'0' + o, 0, 0, 1]
        };
        n += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_as_std_prints_them() {
        let mut samples = vec![
            0u64,
            1,
            9,
            10,
            99,
            100,
            101,
            999,
            1000,
            u64::MAX,
            u64::MAX - 1,
        ];
        samples.extend((0..20).map(|p| 10u64.pow(p)));
        samples.extend((1..20).map(|p| 10u64.pow(p) - 1));
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..10_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            samples.push(state >> (state % 64));
        }
        for n in samples {
            let mut out = b"x".to_vec();
            write_u64(&mut out, n);
            assert_eq!(out, format!("x{n}").into_bytes());

            let us = n as i64;
            let mut out = b"y".to_vec();
            write_micros(&mut out, us);
            let sign = if us < 0 { "-" } else { "" };
            let abs = us.unsigned_abs();
            let expected = format!("y{sign}{}.{:06}", abs / 1_000_000, abs % 1_000_000);
            assert_eq!(String::from_utf8(out).unwrap(), expected);
        }
    }

    #[test]
    fn short_words_and_addresses_are_appended_whole() {
        let mut out = Vec::new();
        for word in ["", "start", "truncated"] {
            out.clear();
            put_word(&mut out, word);
            assert_eq!(out, word.as_bytes());
        }
        for ip in [
            "0.0.0.0",
            "255.255.255.255",
            "10.0.12.1",
            "::1",
            "2001:db8::8:800:200c:417a",
        ] {
            out.clear();
            write_ip(&mut out, ip.parse().unwrap());
            assert_eq!(out, ip.as_bytes());
        }
        for n in 0..=255u8 {
            let ip = std::net::Ipv4Addr::new(n, 255 - n, n / 2, n.wrapping_mul(7));
            out.clear();
            write_ip(&mut out, IpAddr::V4(ip));
            assert_eq!(out, ip.to_string().as_bytes());
        }
    }
}
