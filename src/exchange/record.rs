//! The [`Exchange`]: plain data describing one request/response exchange, and the
//! timing definitions of SPEC §4 as methods over it.

use crate::decode::Endpoint;
use crate::time::Timestamp;

/// Where an exchange sits in its connection (`%connection`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Position {
    /// First exchange, printed at close.
    Unique,
    /// First exchange, printed otherwise.
    Start,
    /// A later exchange, printed otherwise.
    Continue,
    /// A later exchange, printed at close.
    Last,
    /// An interim record of a connection still open (`--open-report`): the exchange as
    /// it stands.
    Open,
}

impl Position {
    pub fn as_str(self) -> &'static str {
        match self {
            Position::Unique => "unique",
            Position::Start => "start",
            Position::Continue => "continue",
            Position::Last => "last",
            Position::Open => "open",
        }
    }
}

/// Why the record was printed, when it was not printed by a new request
/// (`%close.originator`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseOriginator {
    Client,
    Server,
    /// Evicted from the stream table (`-s`).
    TimedOut,
    /// Still open at the end of the capture (or when a live capture stopped).
    Truncated,
}

impl CloseOriginator {
    pub fn as_str(self) -> &'static str {
        match self {
            CloseOriginator::Client => "client",
            CloseOriginator::Server => "server",
            CloseOriginator::TimedOut => "timedout",
            CloseOriginator::Truncated => "truncated",
        }
    }
}

/// The application protocol an analyzer recognised on a connection (`%protocol`).
/// `turns` mode runs no analyzer: [`Protocol::None`], printed as not-found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Protocol {
    #[default]
    None,
    Http10,
    Http11,
    Tls,
    /// TLS whose ALPN chose `h2`.
    H2,
    /// HTTP/2 in clear text.
    H2c,
    WebSocket,
    /// `messages` mode, but no analyzer recognised the first bytes (`turns` rule).
    Unknown,
}

impl Protocol {
    pub fn as_str(self) -> Option<&'static str> {
        Some(match self {
            Protocol::None => return None,
            Protocol::Http10 => "http/1.0",
            Protocol::Http11 => "http/1.1",
            Protocol::Tls => "tls",
            Protocol::H2 => "h2",
            Protocol::H2c => "h2c",
            Protocol::WebSocket => "websocket",
            Protocol::Unknown => "unknown",
        })
    }
}

/// One exchange, ready to be rendered. Bytes are kept only as far as the template
/// asked (see [`crate::exchange::Retention`]); `request_size`/`response_size` always count
/// every byte.
#[derive(Clone, Debug)]
pub struct Exchange<'a> {
    /// The exchange's serial number, unique in the run: the tracker numbers exchanges
    /// as it creates them, so events about an exchange
    /// ([`crate::exchange::ExchangeSink::request`]…) name the record they belong to.
    pub id: u64,
    /// The side that sent the first SYN (`%source.*`).
    pub client: Endpoint,
    /// The other side (`%dest.*`).
    pub server: Endpoint,
    pub position: Position,
    /// `None` when the record was printed because a new request arrived.
    pub close_originator: Option<CloseOriginator>,
    /// Connections tracked when the record was printed, this one included.
    pub streams: usize,
    /// Request runs so far on this connection.
    pub session_requests: u64,
    /// Whether this is the connection's first exchange.
    pub first: bool,
    /// The connection's first SYN.
    pub opening: Timestamp,
    /// When the handshake completed (`None` if it never did).
    pub open: Option<Timestamp>,
    /// First and last request data events of this exchange.
    pub request_first: Option<Timestamp>,
    pub request_last: Option<Timestamp>,
    /// First and last response data events of this exchange.
    pub response_first: Option<Timestamp>,
    pub response_last: Option<Timestamp>,
    /// The time of the event that printed the record (`None` at end of capture).
    pub print: Option<Timestamp>,
    /// The close time, when the record was printed at close.
    pub close: Option<Timestamp>,
    /// The most recent open/request/response event of this exchange, in packet order
    /// (timestamps may go backwards, so this is not a maximum).
    pub last_activity: Option<Timestamp>,
    /// Request bytes kept (all of them, or a prefix, as the template needs).
    pub request: &'a [u8],
    /// Response bytes kept.
    pub response: &'a [u8],
    pub request_size: u64,
    pub response_size: u64,
    /// Where the header block of `request` ends, as [`crate::exchange::http::header_split`]
    /// would find it, when the exchange layer found it while keeping the bytes
    /// (`None`: not known, whoever needs it looks).
    pub request_header_len: Option<usize>,
    /// The same for `response`.
    pub response_header_len: Option<usize>,
    /// Field lines of `request`'s header block that its framer found (`messages` mode,
    /// HTTP/1 heads read whole; meaningful with `request_header_len`).
    pub request_fields: super::http::FieldLines,
    pub response_fields: super::http::FieldLines,
    /// `%protocol`.
    pub protocol: Protocol,
    /// 1-based position of the exchange in its connection (`%exchange.index`).
    pub index: u32,
    /// Requests still unanswered when this one started (`messages` mode).
    pub pipelined: Option<u32>,
    /// Both messages finished by their framing (`messages` mode, framed protocols).
    pub complete: Option<bool>,
    /// Bytes the capture missed inside this exchange.
    pub gap: u64,
    /// Decoded body bytes (chunk framing excluded; `messages` mode, HTTP).
    pub request_body_size: Option<u64>,
    pub response_body_size: Option<u64>,
    /// Interim (1xx) responses before the final one (`messages` mode, HTTP).
    pub interim: Option<u16>,
    /// The end of the previous exchange's response when this one's request began, or
    /// the open time for the first exchange (`%idle.time.before`).
    pub previous_end: Option<Timestamp>,
    /// TLS handshake facts of the connection (`messages` mode).
    pub tls: Option<&'a super::tls_facts::TlsFacts>,
    /// `--connections`: this record stands for its whole connection.
    pub connection: Option<&'a super::connection::ConnectionRecord<'a>>,
    /// HTTP/2 connection-level facts (`messages` mode, h2c).
    pub h2: Option<&'a super::h2_facts::H2Facts>,
    /// The HTTP/2 stream this exchange is (`messages` mode, h2c): its head and trailers
    /// are kept as HTTP/1-style lines, readable by the header keywords.
    pub h2_stream: Option<&'a super::h2_facts::H2StreamFacts>,
    /// The connection's WebSocket so far (`messages` mode, after a 101).
    pub ws: Option<&'a super::ws_facts::WsFacts>,
    /// The WebSocket message this record is (`--ws-messages`).
    pub ws_message: Option<&'a super::ws_facts::WsMessageFacts>,
    /// The encapsulations the connection's first packet was found in (`%tunnel`).
    pub tunnel: Option<&'a crate::decode::Tunnels>,
}

/// A duration in whole microseconds (negative when timestamps went backwards).
pub type Micros = i64;

// The durations are inlined into both renderers (text and typed values).
impl Exchange<'_> {
    /// `%connection.time`: open − opening; first exchange only.
    #[inline(always)]
    pub fn connection_time(&self) -> Option<Micros> {
        if !self.first {
            return None;
        }
        Some(self.open?.micros_since(self.opening))
    }

    /// `%idle.time.0`: first request data − open; first exchange only.
    #[inline(always)]
    pub fn idle_time_0(&self) -> Option<Micros> {
        if !self.first {
            return None;
        }
        Some(self.request_first?.micros_since(self.open?))
    }

    /// `%request.time`: last − first request data event.
    #[inline(always)]
    pub fn request_time(&self) -> Option<Micros> {
        Some(self.request_last?.micros_since(self.request_first?))
    }

    /// The point response times are measured from: the last request data event, or the
    /// open time when the exchange has no request data.
    fn response_origin(&self) -> Option<Timestamp> {
        self.request_last.or(self.open)
    }

    /// `%response.time`: last response data − (last request data, or open).
    #[inline(always)]
    pub fn response_time(&self) -> Option<Micros> {
        Some(self.response_last?.micros_since(self.response_origin()?))
    }

    /// `%response.time.begin`: first response data − (last request data, or open).
    #[inline(always)]
    pub fn response_time_begin(&self) -> Option<Micros> {
        Some(self.response_first?.micros_since(self.response_origin()?))
    }

    /// `%response.time.end`: last − first response data event.
    #[inline(always)]
    pub fn response_time_end(&self) -> Option<Micros> {
        Some(self.response_last?.micros_since(self.response_first?))
    }

    /// `%idle.time.1`: print − last response data; not found at end of capture.
    #[inline(always)]
    pub fn idle_time_1(&self) -> Option<Micros> {
        Some(self.print?.micros_since(self.response_last?))
    }

    /// `%idle.time.before`: first request data − the end of the previous exchange's
    /// response (the open time for the first exchange): the reuse gap.
    #[inline(always)]
    pub fn idle_time_before(&self) -> Option<Micros> {
        Some(self.request_first?.micros_since(self.previous_end?))
    }

    /// `%session.time`: latest open/request/response/close event − opening
    /// (0 for a connection that only saw its SYN).
    #[inline(always)]
    pub fn session_time(&self) -> Micros {
        match self.close.or(self.last_activity) {
            Some(latest) => latest.micros_since(self.opening),
            None => 0,
        }
    }

    /// `%close.time`: close − latest open/request/response event of this exchange.
    #[inline(always)]
    pub fn close_time(&self) -> Option<Micros> {
        Some(self.close?.micros_since(self.last_activity?))
    }

    /// `%request.timestamp`: the last request data event.
    pub fn request_timestamp(&self) -> Option<Timestamp> {
        self.request_last
    }

    /// `%response.timestamp`: the last response data event.
    pub fn response_timestamp(&self) -> Option<Timestamp> {
        self.response_last
    }

    /// `%connection.timestamp`: the opening SYN; first exchange only.
    pub fn connection_timestamp(&self) -> Option<Timestamp> {
        self.first.then_some(self.opening)
    }

    /// `%close.timestamp`: the close time, when printed at close.
    pub fn close_timestamp(&self) -> Option<Timestamp> {
        self.close
    }
}
