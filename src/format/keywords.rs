//! The keyword table: every name the format language knows, what it stands for,
//! which parameter it takes, and a one-line meaning for `--help`.

/// A direction of an exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    Request,
    Response,
}

/// The durations of SPEC §4.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Duration {
    Connection,
    Idle0,
    Idle1,
    Request,
    Response,
    ResponseBegin,
    ResponseEnd,
    Session,
    Close,
    /// `%idle.time.before`: the reuse gap before this exchange's request.
    IdleBefore,
}

/// Which point in time a timestamp keyword prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    Connection,
    Request,
    Response,
    Close,
}

/// Which part of a first line a word keyword prints (justniffer's default regexes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Word {
    /// `^\S*`: method, response protocol.
    First,
    /// `^\S*\s*(\S*)`: url, response code.
    Second,
    /// `^\S*\s*\S*\s*(\S*)`: request protocol.
    Third,
    /// `^\S*\s*\S*\s*([^\r]*)`: response message.
    Rest,
}

/// What a keyword stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    SourceIp,
    SourcePort,
    DestIp,
    DestPort,
    Connection,
    CloseOriginator,
    Streams,
    SessionRequests,
    Duration(Duration),
    Timestamp(When),
    Timestamp2(When),
    Payload(Dir),
    Size(Dir),
    Line(Dir),
    HeaderBlock(Dir),
    Body(Dir),
    Word(Dir, Word),
    /// A named header (`%request.header.host`): the header name to look up.
    Header(Dir, &'static str),
    HeaderValue(Dir),
    HeaderGrep(Dir),
    Grep(Dir),
    TlsSni,
    TlsVersion,
    TlsAlpn,
    TlsCipher,
    /// `%protocol`.
    Protocol,
    /// `%exchange.index`.
    ExchangeIndex,
    /// `%exchange.pipelined`.
    Pipelined,
    /// `%exchange.complete`.
    Complete,
    /// `%exchange.gap`.
    Gap,
    /// `%request.body.size`, `%response.body.size`.
    BodySize(Dir),
    /// `%response.interim`.
    Interim,
    /// A field of the connection record (`%conn.*`, `--connections`).
    Conn(ConnField),
    /// `%h2.stream`.
    H2Stream,
    /// `%h2.reset`.
    H2Reset,
    /// `%h2.concurrent`.
    H2Concurrent,
    /// `%h2.headers.unknown`.
    H2HeadersUnknown,
    /// `%h2.ping.rtt`.
    H2PingRtt,
    /// `%h2.goaway`.
    H2Goaway,
    /// `%ws.*`: the connection's WebSocket, or the message of a `--ws-messages` record.
    Ws(WsKey),
    /// `%tunnel`: the encapsulations the connection was found in.
    Tunnel,
    /// `%tunnel.id`: the innermost encapsulation id (VNI, TEID, key, label, session).
    TunnelId,
    Python,
    /// `%tab`, `%newline`, `%%`: fixed text.
    Constant(&'static str),
}

/// What a `%ws.*` keyword prints. `Dir::Request` stands for the client's side,
/// `Dir::Response` for the server's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WsKey {
    /// Data messages, both ways or one side's.
    Messages(Option<Dir>),
    /// Their payload bytes on the wire.
    Bytes(Option<Dir>),
    /// Their payload bytes after decompression.
    Decoded(Dir),
    Undecoded,
    Pings,
    Pongs,
    PingRtt,
    PingSender,
    /// The time of a side's last data message.
    Last(Dir),
    SilenceMax,
    /// From the last data message (the upgrade when none) to the record's time.
    SilenceNow,
    Close,
    CloseReason,
    End,
    Subprotocol,
    Extensions,
    Accept,
    Error,
    /// The record's message (`--ws-messages`).
    Opcode,
    Size,
    SizeWire,
    Compressed,
    Rtt,
}

/// What may follow a keyword in parentheses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Param {
    /// Nothing: `(...)` after it is literal text.
    None,
    /// An optional text printed instead of the not-found text.
    NotFound,
    /// An optional strftime format.
    TimeFormat,
    /// An optional regex replacing the default word rule.
    Regex,
    /// A required parameter (a regex, a header name, a Python handler).
    Required,
}

impl Key {
    pub fn param(self) -> Param {
        match self {
            Key::CloseOriginator
            | Key::SessionRequests
            | Key::Duration(_)
            | Key::Timestamp2(_)
            | Key::Header(..)
            | Key::TlsSni
            | Key::TlsVersion
            | Key::TlsAlpn
            | Key::TlsCipher
            | Key::Protocol
            | Key::Pipelined
            | Key::Complete
            | Key::BodySize(_)
            | Key::Interim
            | Key::Conn(_)
            | Key::H2Stream
            | Key::H2Reset
            | Key::H2Concurrent
            | Key::H2HeadersUnknown
            | Key::H2PingRtt
            | Key::H2Goaway
            | Key::Ws(_)
            | Key::Tunnel
            | Key::TunnelId => Param::NotFound,
            Key::Timestamp(_) => Param::TimeFormat,
            Key::Word(..) => Param::Regex,
            Key::HeaderValue(_) | Key::HeaderGrep(_) | Key::Grep(_) | Key::Python => {
                Param::Required
            }
            _ => Param::None,
        }
    }
}

/// One entry of the table: the name after `%`, its meaning, the help text.
pub struct Keyword {
    pub name: &'static str,
    pub key: Key,
    pub usage: &'static str,
    pub help: &'static str,
}

const fn kw(name: &'static str, key: Key, usage: &'static str, help: &'static str) -> Keyword {
    Keyword {
        name,
        key,
        usage,
        help,
    }
}

use super::conn_fields::ConnField;
use crate::exchange::connection::KeepAliveHeader;
use crate::flow::Direction::{FromClient as Cl, FromServer as Sv};
use Dir::{Request as Rq, Response as Rs};

/// Every keyword. Matching takes the longest name not followed by a name character
/// (SPEC §5), so the order here is only the order of `--help`.
#[rustfmt::skip]
pub static KEYWORDS: &[Keyword] = &[
    kw("source.ip", Key::SourceIp, "%source.ip", "client IP address"),
    kw("source.port", Key::SourcePort, "%source.port", "client port"),
    kw("dest.ip", Key::DestIp, "%dest.ip", "server IP address"),
    kw("dest.port", Key::DestPort, "%dest.port", "server port"),
    kw("connection", Key::Connection, "%connection", "unique, start, continue or last: the exchange's place in its connection"),
    kw("connection.time", Key::Duration(Duration::Connection), "%connection.time[(NF)]", "handshake duration (first exchange only)"),
    kw("connection.timestamp", Key::Timestamp(When::Connection), "%connection.timestamp[(strftime)]", "time of the first SYN (first exchange only)"),
    kw("connection.timestamp2", Key::Timestamp2(When::Connection), "%connection.timestamp2[(NF)]", "time of the first SYN as seconds.microseconds"),
    kw("close.time", Key::Duration(Duration::Close), "%close.time[(NF)]", "close time minus the exchange's last activity"),
    kw("close.originator", Key::CloseOriginator, "%close.originator[(NF)]", "client, server, timedout or truncated"),
    kw("close.timestamp", Key::Timestamp(When::Close), "%close.timestamp[(strftime)]", "close time (records printed at close)"),
    kw("close.timestamp2", Key::Timestamp2(When::Close), "%close.timestamp2[(NF)]", "close time as seconds.microseconds"),
    kw("session.time", Key::Duration(Duration::Session), "%session.time[(NF)]", "latest event of the exchange minus the connection's first SYN"),
    kw("session.requests", Key::SessionRequests, "%session.requests[(NF)]", "request runs so far on this connection"),
    kw("streams", Key::Streams, "%streams", "connections tracked now"),
    kw("idle.time.0", Key::Duration(Duration::Idle0), "%idle.time.0[(NF)]", "first request data minus open (first exchange only)"),
    kw("idle.time.1", Key::Duration(Duration::Idle1), "%idle.time.1[(NF)]", "print time minus the last response data"),
    kw("idle.time.before", Key::Duration(Duration::IdleBefore), "%idle.time.before[(NF)]", "first request data minus the end of the previous response (the open time for the first exchange): the reuse gap"),
    kw("protocol", Key::Protocol, "%protocol[(NF)]", "http/1.0, http/1.1, tls, h2, h2c, websocket or unknown (--exchanges messages)"),
    kw("exchange.index", Key::ExchangeIndex, "%exchange.index", "1-based position of the exchange in its connection"),
    kw("exchange.pipelined", Key::Pipelined, "%exchange.pipelined[(NF)]", "requests still unanswered when this one started (messages mode)"),
    kw("exchange.complete", Key::Complete, "%exchange.complete[(NF)]", "yes or no: both messages finished by their framing (messages mode)"),
    kw("exchange.gap", Key::Gap, "%exchange.gap", "bytes the capture missed inside this exchange (messages mode, --skip-gaps)"),
    kw("request", Key::Payload(Rq), "%request", "all request bytes"),
    kw("request.timestamp", Key::Timestamp(When::Request), "%request.timestamp[(strftime)]", "time of the last request data (default %Y-%m-%d %T.microseconds)"),
    kw("request.timestamp2", Key::Timestamp2(When::Request), "%request.timestamp2[(NF)]", "time of the last request data as seconds.microseconds"),
    kw("request.time", Key::Duration(Duration::Request), "%request.time[(NF)]", "last minus first request data"),
    kw("request.size", Key::Size(Rq), "%request.size", "request bytes"),
    kw("request.line", Key::Line(Rq), "%request.line", "request bytes up to the first CR"),
    kw("request.method", Key::Word(Rq, Word::First), "%request.method[(RE)]", "first word of the request line"),
    kw("request.url", Key::Word(Rq, Word::Second), "%request.url[(RE)]", "second word of the request line"),
    kw("request.protocol", Key::Word(Rq, Word::Third), "%request.protocol[(RE)]", "third word of the request line"),
    kw("request.grep", Key::Grep(Rq), "%request.grep(RE)", "first match of RE in the request (last capture group)"),
    kw("request.header", Key::HeaderBlock(Rq), "%request.header", "request header block"),
    kw("request.body", Key::Body(Rq), "%request.body", "request bytes after the header block"),
    kw("request.body.size", Key::BodySize(Rq), "%request.body.size[(NF)]", "decoded request body bytes, chunk framing excluded (messages mode)"),
    kw("request.header.host", Key::Header(Rq, "Host"), "%request.header.host[(NF)]", "Host request header"),
    kw("request.header.user-agent", Key::Header(Rq, "User-Agent"), "%request.header.user-agent[(NF)]", "User-Agent request header"),
    kw("request.header.accept", Key::Header(Rq, "Accept"), "%request.header.accept[(NF)]", "Accept request header"),
    kw("request.header.accept-charset", Key::Header(Rq, "Accept-Charset"), "%request.header.accept-charset[(NF)]", "Accept-Charset request header"),
    kw("request.header.accept-encoding", Key::Header(Rq, "Accept-Encoding"), "%request.header.accept-encoding[(NF)]", "Accept-Encoding request header"),
    kw("request.header.accept-language", Key::Header(Rq, "Accept-Language"), "%request.header.accept-language[(NF)]", "Accept-Language request header"),
    kw("request.header.authorization", Key::Header(Rq, "Authorization"), "%request.header.authorization[(NF)]", "Authorization request header"),
    kw("request.header.keep-alive", Key::Header(Rq, "Keep-Alive"), "%request.header.keep-alive[(NF)]", "Keep-Alive request header"),
    kw("request.header.origin", Key::Header(Rq, "Origin"), "%request.header.origin[(NF)]", "Origin request header"),
    kw("request.header.referer", Key::Header(Rq, "Referer"), "%request.header.referer[(NF)]", "Referer request header"),
    kw("request.header.range", Key::Header(Rq, "Range"), "%request.header.range[(NF)]", "Range request header"),
    kw("request.header.cookie", Key::Header(Rq, "Cookie"), "%request.header.cookie[(NF)]", "Cookie request header"),
    kw("request.header.connection", Key::Header(Rq, "Connection"), "%request.header.connection[(NF)]", "Connection request header"),
    kw("request.header.content-encoding", Key::Header(Rq, "Content-Encoding"), "%request.header.content-encoding[(NF)]", "Content-Encoding request header"),
    kw("request.header.content-language", Key::Header(Rq, "Content-Language"), "%request.header.content-language[(NF)]", "Content-Language request header"),
    kw("request.header.transfer-encoding", Key::Header(Rq, "Transfer-Encoding"), "%request.header.transfer-encoding[(NF)]", "Transfer-Encoding request header"),
    kw("request.header.content-length", Key::Header(Rq, "Content-Length"), "%request.header.content-length[(NF)]", "Content-Length request header"),
    kw("request.header.content-md5", Key::Header(Rq, "Content-MD5"), "%request.header.content-md5[(NF)]", "Content-MD5 request header"),
    kw("request.header.content-type", Key::Header(Rq, "Content-Type"), "%request.header.content-type[(NF)]", "Content-Type request header"),
    kw("request.header.via", Key::Header(Rq, "Via"), "%request.header.via[(NF)]", "Via request header"),
    kw("request.header.value", Key::HeaderValue(Rq), "%request.header.value(NAME)", "any request header (empty when absent)"),
    kw("request.header.grep", Key::HeaderGrep(Rq), "%request.header.grep(RE)", "first match of RE in the request header block"),
    kw("response", Key::Payload(Rs), "%response", "all response bytes"),
    kw("response.timestamp", Key::Timestamp(When::Response), "%response.timestamp[(strftime)]", "time of the last response data"),
    kw("response.timestamp2", Key::Timestamp2(When::Response), "%response.timestamp2[(NF)]", "time of the last response data as seconds.microseconds"),
    kw("response.size", Key::Size(Rs), "%response.size", "response bytes"),
    kw("response.time", Key::Duration(Duration::Response), "%response.time[(NF)]", "last response data minus last request data"),
    kw("response.time.begin", Key::Duration(Duration::ResponseBegin), "%response.time.begin[(NF)]", "first response data minus last request data"),
    kw("response.time.end", Key::Duration(Duration::ResponseEnd), "%response.time.end[(NF)]", "last minus first response data"),
    kw("response.line", Key::Line(Rs), "%response.line", "response bytes up to the first CR"),
    kw("response.protocol", Key::Word(Rs, Word::First), "%response.protocol[(RE)]", "first word of the status line"),
    kw("response.code", Key::Word(Rs, Word::Second), "%response.code[(RE)]", "second word of the status line"),
    kw("response.message", Key::Word(Rs, Word::Rest), "%response.message[(RE)]", "rest of the status line"),
    kw("response.grep", Key::Grep(Rs), "%response.grep(RE)", "first match of RE in the response (last capture group)"),
    kw("response.header", Key::HeaderBlock(Rs), "%response.header", "response header block"),
    kw("response.body", Key::Body(Rs), "%response.body", "response bytes after the header block"),
    kw("response.body.size", Key::BodySize(Rs), "%response.body.size[(NF)]", "decoded response body bytes, chunk framing excluded (messages mode)"),
    kw("response.interim", Key::Interim, "%response.interim[(NF)]", "interim (1xx) responses before the final one (messages mode)"),
    kw("response.header.allow", Key::Header(Rs, "Allow"), "%response.header.allow[(NF)]", "Allow response header"),
    kw("response.header.server", Key::Header(Rs, "Server"), "%response.header.server[(NF)]", "Server response header"),
    kw("response.header.date", Key::Header(Rs, "Date"), "%response.header.date[(NF)]", "Date response header"),
    kw("response.header.cache-control", Key::Header(Rs, "Cache-Control"), "%response.header.cache-control[(NF)]", "Cache-Control response header"),
    kw("response.header.keep-alive", Key::Header(Rs, "Keep-Alive"), "%response.header.keep-alive[(NF)]", "Keep-Alive response header"),
    kw("response.header.connection", Key::Header(Rs, "Connection"), "%response.header.connection[(NF)]", "Connection response header"),
    kw("response.header.expires", Key::Header(Rs, "Expires"), "%response.header.expires[(NF)]", "Expires response header"),
    kw("response.header.content-encoding", Key::Header(Rs, "Content-Encoding"), "%response.header.content-encoding[(NF)]", "Content-Encoding response header"),
    kw("response.header.content-language", Key::Header(Rs, "Content-Language"), "%response.header.content-language[(NF)]", "Content-Language response header"),
    kw("response.header.content-length", Key::Header(Rs, "Content-Length"), "%response.header.content-length[(NF)]", "Content-Length response header"),
    kw("response.header.content-md5", Key::Header(Rs, "Content-MD5"), "%response.header.content-md5[(NF)]", "Content-MD5 response header"),
    kw("response.header.content-range", Key::Header(Rs, "Content-Range"), "%response.header.content-range[(NF)]", "Content-Range response header"),
    kw("response.header.content-type", Key::Header(Rs, "Content-Type"), "%response.header.content-type[(NF)]", "Content-Type response header"),
    kw("response.header.last-modified", Key::Header(Rs, "Last-Modified"), "%response.header.last-modified[(NF)]", "Last-Modified response header"),
    kw("response.header.transfer-encoding", Key::Header(Rs, "Transfer-Encoding"), "%response.header.transfer-encoding[(NF)]", "Transfer-Encoding response header"),
    kw("response.header.etag", Key::Header(Rs, "ETag"), "%response.header.etag[(NF)]", "ETag response header"),
    kw("response.header.via", Key::Header(Rs, "Via"), "%response.header.via[(NF)]", "Via response header"),
    kw("response.header.vary", Key::Header(Rs, "Vary"), "%response.header.vary[(NF)]", "Vary response header"),
    kw("response.header.pragma", Key::Header(Rs, "Pragma"), "%response.header.pragma[(NF)]", "Pragma response header"),
    kw("response.header.age", Key::Header(Rs, "Age"), "%response.header.age[(NF)]", "Age response header"),
    kw("response.header.accept-ranges", Key::Header(Rs, "Accept-Ranges"), "%response.header.accept-ranges[(NF)]", "Accept-Ranges response header"),
    kw("response.header.set-cookie", Key::Header(Rs, "Set-Cookie"), "%response.header.set-cookie[(NF)]", "Set-Cookie response header"),
    kw("response.header.www-authenticate", Key::Header(Rs, "WWW-Authenticate"), "%response.header.www-authenticate[(NF)]", "WWW-Authenticate response header"),
    kw("response.header.value", Key::HeaderValue(Rs), "%response.header.value(NAME)", "any response header (empty when absent)"),
    kw("response.header.grep", Key::HeaderGrep(Rs), "%response.header.grep(RE)", "first match of RE in the response header block"),
    kw("tls.sni", Key::TlsSni, "%tls.sni[(NF)]", "server name of the TLS ClientHello"),
    kw("tls.version", Key::TlsVersion, "%tls.version[(NF)]", "TLS version offered by the ClientHello (TLS_1.0...TLS_1.3); chosen by the server in messages mode"),
    kw("tls.alpn", Key::TlsAlpn, "%tls.alpn[(NF)]", "ALPN protocol chosen by the server, else the offered list (messages mode)"),
    kw("tls.cipher", Key::TlsCipher, "%tls.cipher[(NF)]", "cipher suite chosen by the server, IANA name (messages mode)"),
    kw("conn.state", Key::Conn(ConnField::State), "%conn.state[(NF)]", "Zeek's conn_state: S0 S1 SF REJ S2 S3 RSTO RSTR RSTOS0 RSTRH SH SHR OTH; open on an interim record (--connections)"),
    kw("conn.history", Key::Conn(ConnField::History), "%conn.history[(NF)]", "Zeek's history letters, upper case for the client: ShADadFf... (--connections)"),
    kw("conn.duration", Key::Conn(ConnField::Duration), "%conn.duration[(NF)]", "first SYN to the end of the connection (--connections)"),
    kw("conn.exchanges", Key::Conn(ConnField::Exchanges), "%conn.exchanges[(NF)]", "exchanges the connection carried (--connections)"),
    kw("conn.idle.max", Key::Conn(ConnField::IdleMax), "%conn.idle.max[(NF)]", "longest time between the end of one exchange and the next request (--connections)"),
    kw("conn.idle.before_close", Key::Conn(ConnField::IdleBeforeClose), "%conn.idle.before_close[(NF)]", "end of the last exchange to the first FIN or RST (--connections)"),
    kw("conn.idle.now", Key::Conn(ConnField::IdleNow), "%conn.idle.now[(NF)]", "time since the connection's last packet: how long an open connection has been idle (--open-report)"),
    kw("conn.close.how", Key::Conn(ConnField::CloseHow), "%conn.close.how[(NF)]", "fin, rst, idle-timeout, evicted, truncated, or open on an interim record (--connections)"),
    kw("conn.close.by", Key::Conn(ConnField::CloseBy), "%conn.close.by[(NF)]", "client or server: the first FIN's sender, else the RST's (--connections)"),
    kw("conn.handshake.time", Key::Conn(ConnField::Handshake), "%conn.handshake.time[(NF)]", "SYN to the handshake's ACK (--connections)"),
    kw("conn.handshake.syn_ack", Key::Conn(ConnField::SynToSynAck), "%conn.handshake.syn_ack[(NF)]", "SYN to SYN-ACK, seen from the capture point (--connections)"),
    kw("conn.handshake.ack", Key::Conn(ConnField::SynAckToAck), "%conn.handshake.ack[(NF)]", "SYN-ACK to the handshake's ACK (--connections)"),
    kw("conn.client.packets", Key::Conn(ConnField::Packets(Cl)), "%conn.client.packets[(NF)]", "packets the client sent (--connections)"),
    kw("conn.server.packets", Key::Conn(ConnField::Packets(Sv)), "%conn.server.packets[(NF)]", "packets the server sent (--connections)"),
    kw("conn.client.bytes", Key::Conn(ConnField::Bytes(Cl)), "%conn.client.bytes[(NF)]", "payload bytes the client sent, delivered (--connections)"),
    kw("conn.server.bytes", Key::Conn(ConnField::Bytes(Sv)), "%conn.server.bytes[(NF)]", "payload bytes the server sent, delivered (--connections)"),
    kw("conn.client.retransmitted", Key::Conn(ConnField::Retransmitted(Cl)), "%conn.client.retransmitted[(NF)]", "payload bytes the client sent again (--connections)"),
    kw("conn.server.retransmitted", Key::Conn(ConnField::Retransmitted(Sv)), "%conn.server.retransmitted[(NF)]", "payload bytes the server sent again (--connections)"),
    kw("conn.client.missed", Key::Conn(ConnField::Missed(Cl)), "%conn.client.missed[(NF)]", "client bytes the capture missed (--connections)"),
    kw("conn.server.missed", Key::Conn(ConnField::Missed(Sv)), "%conn.server.missed[(NF)]", "server bytes the capture missed (--connections)"),
    kw("conn.client.zero_windows", Key::Conn(ConnField::ZeroWindows(Cl)), "%conn.client.zero_windows[(NF)]", "zero-window advertisements by the client (--connections)"),
    kw("conn.server.zero_windows", Key::Conn(ConnField::ZeroWindows(Sv)), "%conn.server.zero_windows[(NF)]", "zero-window advertisements by the server (--connections)"),
    kw("conn.connection.asked", Key::Conn(ConnField::KeepAlive(KeepAliveHeader::ConnectionAsked)), "%conn.connection.asked[(NF)]", "Connection header of the first request (--connections)"),
    kw("conn.connection.answered", Key::Conn(ConnField::KeepAlive(KeepAliveHeader::ConnectionAnswered)), "%conn.connection.answered[(NF)]", "Connection header of the first response (--connections)"),
    kw("conn.keep_alive.asked", Key::Conn(ConnField::KeepAlive(KeepAliveHeader::KeepAliveAsked)), "%conn.keep_alive.asked[(NF)]", "Keep-Alive header of the first request (--connections)"),
    kw("conn.keep_alive.answered", Key::Conn(ConnField::KeepAlive(KeepAliveHeader::KeepAliveAnswered)), "%conn.keep_alive.answered[(NF)]", "Keep-Alive header of the first response, e.g. timeout=5 (--connections)"),
    kw("h2.stream", Key::H2Stream, "%h2.stream[(NF)]", "HTTP/2 stream id of the exchange (messages mode, h2c)"),
    kw("h2.reset", Key::H2Reset, "%h2.reset[(NF)]", "RST_STREAM that ended the stream: error name and sender, e.g. CANCEL by client"),
    kw("h2.concurrent", Key::H2Concurrent, "%h2.concurrent[(NF)]", "other HTTP/2 streams open on the connection when this one started"),
    kw("h2.headers.unknown", Key::H2HeadersUnknown, "%h2.headers.unknown[(NF)]", "yes or no: some header of the stream refers to HPACK table entries made before a mid-stream pickup (-m), so it is not known"),
    kw("h2.ping.rtt", Key::H2PingRtt, "%h2.ping.rtt[(NF)]", "last HTTP/2 PING round trip on the connection so far, seen from the capture point"),
    kw("h2.goaway", Key::H2Goaway, "%h2.goaway[(NF)]", "last HTTP/2 GOAWAY so far: error name, sender, last stream, e.g. NO_ERROR by server last=7"),
    kw("ws.messages", Key::Ws(WsKey::Messages(None)), "%ws.messages[(NF)]", "WebSocket data messages (text, binary) so far, both ways (messages mode; the upgrade's record is printed at the 101: see --ws-messages)"),
    kw("ws.messages.client", Key::Ws(WsKey::Messages(Some(Rq))), "%ws.messages.client[(NF)]", "WebSocket data messages sent by the client so far"),
    kw("ws.messages.server", Key::Ws(WsKey::Messages(Some(Rs))), "%ws.messages.server[(NF)]", "WebSocket data messages sent by the server so far"),
    kw("ws.bytes", Key::Ws(WsKey::Bytes(None)), "%ws.bytes[(NF)]", "WebSocket data message payload bytes on the wire so far, both ways (compressed size when compressed)"),
    kw("ws.bytes.client", Key::Ws(WsKey::Bytes(Some(Rq))), "%ws.bytes.client[(NF)]", "the same, client to server"),
    kw("ws.bytes.server", Key::Ws(WsKey::Bytes(Some(Rs))), "%ws.bytes.server[(NF)]", "the same, server to client"),
    kw("ws.bytes.decoded.client", Key::Ws(WsKey::Decoded(Rq)), "%ws.bytes.decoded.client[(NF)]", "client message payload bytes after permessage-deflate decompression (decoded messages only)"),
    kw("ws.bytes.decoded.server", Key::Ws(WsKey::Decoded(Rs)), "%ws.bytes.decoded.server[(NF)]", "the same, server to client"),
    kw("ws.undecoded", Key::Ws(WsKey::Undecoded), "%ws.undecoded[(NF)]", "compressed WebSocket messages that could not be decompressed (bytes lost in the capture)"),
    kw("ws.pings", Key::Ws(WsKey::Pings), "%ws.pings[(NF)]", "WebSocket pings so far, both ways"),
    kw("ws.pongs", Key::Ws(WsKey::Pongs), "%ws.pongs[(NF)]", "WebSocket pongs so far, both ways"),
    kw("ws.ping.rtt", Key::Ws(WsKey::PingRtt), "%ws.ping.rtt[(NF)]", "last ping to pong round trip (paired by payload), seen from the capture point"),
    kw("ws.ping.sender", Key::Ws(WsKey::PingSender), "%ws.ping.sender[(NF)]", "client or server: who sent the ping of %ws.ping.rtt"),
    kw("ws.last.client", Key::Ws(WsKey::Last(Rq)), "%ws.last.client[(NF)]", "time of the client's last WebSocket data message, as seconds.microseconds"),
    kw("ws.last.server", Key::Ws(WsKey::Last(Rs)), "%ws.last.server[(NF)]", "time of the server's last WebSocket data message, as seconds.microseconds"),
    kw("ws.silence.max", Key::Ws(WsKey::SilenceMax), "%ws.silence.max[(NF)]", "longest time without a WebSocket data message or Close either way, from the upgrade to the last message so far"),
    kw("ws.silence.now", Key::Ws(WsKey::SilenceNow), "%ws.silence.now[(NF)]", "time from the last WebSocket data message or Close (the upgrade when none) to the record's time (an interim record's report time, a connection record's end): a WebSocket kept open by pings alone shows its silence growing"),
    kw("ws.close", Key::Ws(WsKey::Close), "%ws.close[(NF)]", "on a --ws-messages record, its own Close frame (1000 normal by client; not found on other messages); on other records the connection's first Close so far, or 1006 abnormal once TCP closed without one"),
    kw("ws.close.reason", Key::Ws(WsKey::CloseReason), "%ws.close.reason[(NF)]", "reason text of the connection's first WebSocket Close"),
    kw("ws.end", Key::Ws(WsKey::End), "%ws.end[(NF)]", "how the WebSocket ended, known once TCP closed: clean (Close frames both ways, then the TCP close), unanswered (one Close only) or abnormal (no Close frame: the 1006 closure)"),
    kw("ws.subprotocol", Key::Ws(WsKey::Subprotocol), "%ws.subprotocol[(NF)]", "WebSocket subprotocol chosen by the server"),
    kw("ws.extensions", Key::Ws(WsKey::Extensions), "%ws.extensions[(NF)]", "WebSocket extensions agreed by the server (e.g. permessage-deflate and its parameters)"),
    kw("ws.accept", Key::Ws(WsKey::Accept), "%ws.accept[(NF)]", "valid, invalid or missing: Sec-WebSocket-Accept checked against the request's key"),
    kw("ws.error", Key::Ws(WsKey::Error), "%ws.error[(NF)]", "first WebSocket protocol violation, or why analysis stopped (message-too-large, lost-sync)"),
    kw("ws.opcode", Key::Ws(WsKey::Opcode), "%ws.opcode[(NF)]", "text, binary, close, ping or pong: the record's message (--ws-messages)"),
    kw("ws.size", Key::Ws(WsKey::Size), "%ws.size[(NF)]", "the record's message payload bytes, decompressed when compressed (not found if it could not be)"),
    kw("ws.size.wire", Key::Ws(WsKey::SizeWire), "%ws.size.wire[(NF)]", "the record's message payload bytes on the wire (also %request.size or %response.size)"),
    kw("ws.compressed", Key::Ws(WsKey::Compressed), "%ws.compressed[(NF)]", "yes or no: the record's message was compressed (permessage-deflate, RSV1)"),
    kw("ws.rtt", Key::Ws(WsKey::Rtt), "%ws.rtt[(NF)]", "on a pong record: time since the other side's ping with the same payload"),
    kw("tunnel", Key::Tunnel, "%tunnel[(NF)]", "where the connection was seen: its encapsulations, outermost first, e.g. 'vxlan vni=42 192.0.2.1>192.0.2.2' (docs/tunnels.md)"),
    kw("tunnel.id", Key::TunnelId, "%tunnel.id[(NF)]", "the innermost encapsulation's id: VXLAN/Geneve VNI, GTP-U TEID, GRE key, ERSPAN or PPPoE session, MPLS label"),
    kw("python", Key::Python, "%python(MODULE[:CLASS])", "text returned by a Python handler"),
    kw("tab", Key::Constant("\t"), "%tab", "a tab"),
    kw("newline", Key::Constant("\n"), "%newline", "a newline"),
    kw("%", Key::Constant("%"), "%%", "a percent sign"),
];

/// `%-`: prints nothing; it matches whatever follows (SPEC §5).
pub const BREAK: u8 = b'-';

/// Characters that may continue a keyword name: a keyword followed by one of them
/// does not match (SPEC §5).
pub fn is_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'.' || b == b'_'
}
