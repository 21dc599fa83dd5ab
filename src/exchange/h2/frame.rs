//! HTTP/2 frame reader for one direction of a connection (RFC 9113 §4, §6): finds the
//! frame boundaries of bytes that arrive in arbitrary pieces, checks each frame's
//! header, length, padding and stream id, and reports each frame as an event.
//!
//! It owns the 9-byte header being read and, for frames other than DATA and unknown
//! types, their payload until it is complete (bounded by the receiver's
//! `SETTINGS_MAX_FRAME_SIZE`, at most [`MAX_MAX_FRAME_SIZE`]; a payload that is whole in
//! one piece is not copied). DATA payload is never buffered: it is reported in pieces as
//! it arrives. The events do not depend on how the bytes are cut, except that a DATA
//! payload comes in pieces. It neither joins header blocks (see [`HeaderBlock`]) nor
//! decodes them (see [`super::hpack`]), and keeps no stream state.

use std::fmt;

/// The client connection preface (RFC 9113 §3.4).
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// Frame header: length (24 bits), type, flags, R + stream id (31 bits) (RFC 9113 §4.1).
pub const FRAME_HEADER_LEN: usize = 9;
/// `SETTINGS_MAX_FRAME_SIZE`'s initial value and lower bound (RFC 9113 §6.5.2).
pub const DEFAULT_MAX_FRAME_SIZE: u32 = 1 << 14;
/// `SETTINGS_MAX_FRAME_SIZE`'s upper bound, 2^24 − 1 (RFC 9113 §6.5.2).
pub const MAX_MAX_FRAME_SIZE: u32 = (1 << 24) - 1;
/// Largest header block a [`HeaderBlock`] joins (HEADERS or PUSH_PROMISE and its
/// CONTINUATIONs); real blocks are a few KiB, and HTTP/2 servers commonly refuse
/// header lists above 64 KiB or so.
pub const MAX_HEADER_BLOCK: usize = 256 * 1024;
/// Buffered payload capacity kept between frames; a larger buffer (a frame longer than
/// this) is freed once its frame is read.
const KEPT_CAPACITY: usize = 64 * 1024;

/// Frame types (RFC 9113 §6).
pub mod kind {
    pub const DATA: u8 = 0x0;
    pub const HEADERS: u8 = 0x1;
    pub const PRIORITY: u8 = 0x2;
    pub const RST_STREAM: u8 = 0x3;
    pub const SETTINGS: u8 = 0x4;
    pub const PUSH_PROMISE: u8 = 0x5;
    pub const PING: u8 = 0x6;
    pub const GOAWAY: u8 = 0x7;
    pub const WINDOW_UPDATE: u8 = 0x8;
    pub const CONTINUATION: u8 = 0x9;
}
use kind::*;

/// Frame flags (RFC 9113 §6); which ones a type defines is in its section.
pub mod flags {
    /// DATA, HEADERS (§6.1, §6.2).
    pub const END_STREAM: u8 = 0x01;
    /// SETTINGS, PING (§6.5, §6.7).
    pub const ACK: u8 = 0x01;
    /// HEADERS, PUSH_PROMISE, CONTINUATION (§6.2, §6.6, §6.10).
    pub const END_HEADERS: u8 = 0x04;
    /// DATA, HEADERS, PUSH_PROMISE (§6.1, §6.2, §6.6).
    pub const PADDED: u8 = 0x08;
    /// HEADERS (§6.2).
    pub const PRIORITY: u8 = 0x20;
}
use flags::{ACK, END_HEADERS, END_STREAM, PADDED};

/// Setting identifiers (RFC 9113 §6.5.2; 8: RFC 8441 §3; 9: RFC 9218 §2.1).
pub mod setting {
    pub const HEADER_TABLE_SIZE: u16 = 0x1;
    pub const ENABLE_PUSH: u16 = 0x2;
    pub const MAX_CONCURRENT_STREAMS: u16 = 0x3;
    pub const INITIAL_WINDOW_SIZE: u16 = 0x4;
    pub const MAX_FRAME_SIZE: u16 = 0x5;
    pub const MAX_HEADER_LIST_SIZE: u16 = 0x6;
    pub const ENABLE_CONNECT_PROTOCOL: u16 = 0x8;
    pub const NO_RFC7540_PRIORITIES: u16 = 0x9;
}

/// Error codes (RFC 9113 §7).
pub mod error_code {
    pub const NO_ERROR: u32 = 0x0;
    pub const PROTOCOL_ERROR: u32 = 0x1;
    pub const INTERNAL_ERROR: u32 = 0x2;
    pub const FLOW_CONTROL_ERROR: u32 = 0x3;
    pub const SETTINGS_TIMEOUT: u32 = 0x4;
    pub const STREAM_CLOSED: u32 = 0x5;
    pub const FRAME_SIZE_ERROR: u32 = 0x6;
    pub const REFUSED_STREAM: u32 = 0x7;
    pub const CANCEL: u32 = 0x8;
    pub const COMPRESSION_ERROR: u32 = 0x9;
    pub const CONNECT_ERROR: u32 = 0xa;
    pub const ENHANCE_YOUR_CALM: u32 = 0xb;
    pub const INADEQUATE_SECURITY: u32 = 0xc;
    pub const HTTP_1_1_REQUIRED: u32 = 0xd;
}
use error_code::{FRAME_SIZE_ERROR, PROTOCOL_ERROR};

/// The name of an error code (RFC 9113 §7), `None` for an unassigned one.
pub fn error_code_name(code: u32) -> Option<&'static str> {
    const NAMES: [&str; 14] = [
        "NO_ERROR",
        "PROTOCOL_ERROR",
        "INTERNAL_ERROR",
        "FLOW_CONTROL_ERROR",
        "SETTINGS_TIMEOUT",
        "STREAM_CLOSED",
        "FRAME_SIZE_ERROR",
        "REFUSED_STREAM",
        "CANCEL",
        "COMPRESSION_ERROR",
        "CONNECT_ERROR",
        "ENHANCE_YOUR_CALM",
        "INADEQUATE_SECURITY",
        "HTTP_1_1_REQUIRED",
    ];
    NAMES.get(usize::try_from(code).ok()?).copied()
}

/// The name of a frame type (RFC 9113 §6), `None` for an unknown one.
pub fn frame_type_name(kind: u8) -> Option<&'static str> {
    const NAMES: [&str; 10] = [
        "DATA",
        "HEADERS",
        "PRIORITY",
        "RST_STREAM",
        "SETTINGS",
        "PUSH_PROMISE",
        "PING",
        "GOAWAY",
        "WINDOW_UPDATE",
        "CONTINUATION",
    ];
    NAMES.get(usize::from(kind)).copied()
}

/// A stream's priority as HEADERS and PRIORITY frames carry it (RFC 9113 §5.3.2, §6.3;
/// deprecated by RFC 9113 but still sent).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Priority {
    /// The E flag.
    pub exclusive: bool,
    /// The stream it depends on (31 bits).
    pub depends_on: u32,
    /// The weight as on the wire: the weight minus one (0–255 for 1–256).
    pub weight: u8,
}

/// A SETTINGS frame's parameters: the payload, a whole number of 6-byte
/// (identifier, value) pairs (RFC 9113 §6.5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings<'a> {
    bytes: &'a [u8],
}

impl<'a> Settings<'a> {
    /// A SETTINGS payload that did not come in a frame (the `HTTP2-Settings` header of
    /// an upgrade, [`super::upgrade`]): `None` unless a whole number of settings.
    pub fn from_payload(bytes: &'a [u8]) -> Option<Self> {
        (bytes.len() % 6 == 0).then_some(Settings { bytes })
    }

    /// The pairs in order (a trailing partial pair, which the reader never lets
    /// through, would be ignored).
    pub fn iter(&self) -> impl Iterator<Item = (u16, u32)> + 'a {
        self.bytes.chunks_exact(6).map(|p| {
            (
                u16::from_be_bytes([p[0], p[1]]),
                u32::from_be_bytes([p[2], p[3], p[4], p[5]]),
            )
        })
    }

    /// The value of the last occurrence of `id` (a later one overrides, RFC 9113 §6.5.3).
    pub fn get(&self, id: u16) -> Option<u32> {
        self.iter().filter(|&(i, _)| i == id).map(|(_, v)| v).last()
    }

    pub fn header_table_size(&self) -> Option<u32> {
        self.get(setting::HEADER_TABLE_SIZE)
    }

    pub fn max_concurrent_streams(&self) -> Option<u32> {
        self.get(setting::MAX_CONCURRENT_STREAMS)
    }

    pub fn initial_window_size(&self) -> Option<u32> {
        self.get(setting::INITIAL_WINDOW_SIZE)
    }

    pub fn max_frame_size(&self) -> Option<u32> {
        self.get(setting::MAX_FRAME_SIZE)
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.bytes.len() / 6
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The raw payload.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

/// What a [`FrameReader`] reports, in stream order. Stream ids have the reserved bit
/// cleared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A piece of a DATA frame's payload, padding removed (RFC 9113 §6.1). `last` is
    /// set on the frame's final piece (an empty frame, or one of padding only, gives one
    /// empty piece with `last`); `end_stream` is the frame's flag, meaningful with `last`.
    Data {
        stream: u32,
        data: &'a [u8],
        end_stream: bool,
        last: bool,
    },
    /// `len` bytes of the current DATA frame's data were missed by the capture; the
    /// reader is still in sync (missed padding is not counted).
    DataGap { stream: u32, len: u64 },
    /// A HEADERS frame (RFC 9113 §6.2): `block` is its header block fragment, padding
    /// and priority fields removed; CONTINUATION frames follow unless `end_headers`.
    Headers {
        stream: u32,
        end_stream: bool,
        end_headers: bool,
        priority: Option<Priority>,
        block: &'a [u8],
    },
    /// RFC 9113 §6.3.
    Priority { stream: u32, priority: Priority },
    /// RFC 9113 §6.4; `code` is an error code (see [`error_code_name`]).
    RstStream { stream: u32, code: u32 },
    /// RFC 9113 §6.5; an ack has no parameters.
    Settings { ack: bool, params: Settings<'a> },
    /// RFC 9113 §6.6: `promised` is the reserved stream; `block` as in `Headers`.
    PushPromise {
        stream: u32,
        promised: u32,
        end_headers: bool,
        block: &'a [u8],
    },
    /// RFC 9113 §6.7.
    Ping { ack: bool, payload: [u8; 8] },
    /// RFC 9113 §6.8: the last stream the sender may have processed, an error code and
    /// opaque debug data (often text).
    Goaway {
        last_stream: u32,
        code: u32,
        debug: &'a [u8],
    },
    /// RFC 9113 §6.9 (stream 0: the connection's window).
    WindowUpdate { stream: u32, increment: u32 },
    /// RFC 9113 §6.10.
    Continuation {
        stream: u32,
        end_headers: bool,
        block: &'a [u8],
    },
    /// A frame of a type this reader does not know, reported at its header and skipped
    /// without buffering (RFC 9113 §5.5).
    Unknown { kind: u8, stream: u32, length: u32 },
}

/// Why a [`FrameReader`] stopped: a connection error of RFC 9113 (see [`Self::code`]),
/// or bytes missed outside a DATA payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The client's first bytes are not the connection preface (RFC 9113 §3.4).
    BadPreface,
    /// A frame longer than `SETTINGS_MAX_FRAME_SIZE` (RFC 9113 §4.2).
    TooLarge { kind: u8, length: u32, max: u32 },
    /// A frame whose length does not fit its type: PING not 8, PRIORITY not 5,
    /// RST_STREAM or WINDOW_UPDATE not 4, SETTINGS not a multiple of 6, GOAWAY under
    /// 8, or too short for its pad length, priority or promised stream fields
    /// (RFC 9113 §4.2, §6).
    BadLength { kind: u8, length: u32 },
    /// A SETTINGS ack with a payload (RFC 9113 §6.5).
    SettingsAckWithPayload { length: u32 },
    /// A pad length that leaves no room for the payload's other fields (RFC 9113 §6.1,
    /// §6.2, §6.6).
    PaddingTooLong { kind: u8, pad: u8, length: u32 },
    /// A stream frame on stream 0 (DATA, HEADERS, PRIORITY, RST_STREAM, PUSH_PROMISE,
    /// CONTINUATION; RFC 9113 §6).
    StreamRequired { kind: u8 },
    /// A connection frame on a stream (SETTINGS, PING, GOAWAY; RFC 9113 §6).
    StreamForbidden { kind: u8, stream: u32 },
    /// A header block was open on `stream` (a HEADERS, PUSH_PROMISE or CONTINUATION
    /// without END_HEADERS) and the next frame is not its CONTINUATION (RFC 9113 §6.10).
    ContinuationExpected { stream: u32, kind: u8, got: u32 },
    /// A CONTINUATION with no header block open (RFC 9113 §6.10).
    UnexpectedContinuation { stream: u32 },
    /// The capture missed bytes outside a DATA (or unknown frame's) payload: the next
    /// frame header cannot be found.
    Gap,
}

impl FrameError {
    /// The RFC 9113 §7 error code a receiver answers with; `None` for [`Self::Gap`].
    pub fn code(&self) -> Option<u32> {
        match self {
            FrameError::TooLarge { .. }
            | FrameError::BadLength { .. }
            | FrameError::SettingsAckWithPayload { .. } => Some(FRAME_SIZE_ERROR),
            FrameError::Gap => None,
            _ => Some(PROTOCOL_ERROR),
        }
    }
}

/// A frame type's name for messages: the RFC name, or `type 0xNN`.
struct KindName(u8);

impl fmt::Display for KindName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match frame_type_name(self.0) {
            Some(name) => f.write_str(name),
            None => write!(f, "type 0x{:02x}", self.0),
        }
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            FrameError::BadPreface => f.write_str("bad client preface"),
            FrameError::TooLarge { kind, length, max } => write!(
                f,
                "{} frame of {length} bytes over the maximum {max}",
                KindName(kind)
            ),
            FrameError::BadLength { kind, length } => {
                write!(f, "{} frame of bad length {length}", KindName(kind))
            }
            FrameError::SettingsAckWithPayload { length } => {
                write!(f, "SETTINGS ack with {length} bytes of payload")
            }
            FrameError::PaddingTooLong { kind, pad, length } => write!(
                f,
                "{} frame padding {pad} too long for its {length} bytes",
                KindName(kind)
            ),
            FrameError::StreamRequired { kind } => {
                write!(f, "{} frame on stream 0", KindName(kind))
            }
            FrameError::StreamForbidden { kind, stream } => {
                write!(f, "{} frame on stream {stream}", KindName(kind))
            }
            FrameError::ContinuationExpected { stream, kind, got } => write!(
                f,
                "{} frame on stream {got} where a CONTINUATION of stream {stream} was expected",
                KindName(kind)
            ),
            FrameError::UnexpectedContinuation { stream } => {
                write!(
                    f,
                    "CONTINUATION frame on stream {stream} outside a header block"
                )
            }
            FrameError::Gap => f.write_str("bytes missed outside a DATA payload (lost sync)"),
        }?;
        match self.code().and_then(error_code_name) {
            Some(name) => write!(f, " ({name})"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for FrameError {}

/// A frame header (RFC 9113 §4.1).
#[derive(Clone, Copy, Debug, Default)]
struct Head {
    length: u32,
    kind: u8,
    flags: u8,
    stream: u32,
}

impl Head {
    fn parse(b: &[u8; FRAME_HEADER_LEN]) -> Head {
        Head {
            length: u32::from_be_bytes([0, b[0], b[1], b[2]]),
            kind: b[3],
            flags: b[4],
            stream: u32::from_be_bytes([b[5], b[6], b[7], b[8]]) & 0x7fff_ffff,
        }
    }

    fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

/// Where the reader stands.
#[derive(Clone, Copy, Debug)]
enum Phase {
    /// Checking the client preface: this many bytes matched.
    Preface(usize),
    /// Reading a frame header: `FrameReader::head_len` bytes in `FrameReader::head`.
    Header,
    /// Buffering the payload of the current (non-DATA, known) frame.
    Payload,
    /// A padded DATA frame's first payload byte, the pad length, is next.
    DataPadLength,
    /// Inside a DATA frame: data bytes, then padding bytes, to come.
    Data { data_left: u32, pad_left: u32 },
    /// Skipping an unknown frame's payload.
    Skip { left: u32 },
}

/// Follows one direction's HTTP/2 frames. See the module documentation.
#[derive(Debug)]
pub struct FrameReader {
    phase: Phase,
    head: [u8; FRAME_HEADER_LEN],
    head_len: usize,
    /// The current frame's header (valid after `Phase::Header`).
    current: Head,
    /// The current frame's payload so far while it spans pieces (`Phase::Payload`).
    buf: Vec<u8>,
    /// The stream whose header block awaits a CONTINUATION.
    continuation: Option<u32>,
    max_frame_size: u32,
    broken: Option<FrameError>,
    /// Whole frames read.
    frames: u64,
}

impl Default for FrameReader {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameReader {
    /// A reader at a frame boundary, with the initial `SETTINGS_MAX_FRAME_SIZE`.
    pub fn new() -> Self {
        FrameReader {
            phase: Phase::Header,
            head: [0; FRAME_HEADER_LEN],
            head_len: 0,
            current: Head::default(),
            buf: Vec::new(),
            continuation: None,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            broken: None,
            frames: 0,
        }
    }

    /// The client direction: the next bytes must be the 24-byte [`PREFACE`] (call before
    /// the first feed; it may be split across feeds).
    pub fn expect_preface(&mut self) {
        if self.broken.is_none() && matches!(self.phase, Phase::Header) && self.head_len == 0 {
            self.phase = Phase::Preface(0);
        }
    }

    /// The receiver's `SETTINGS_MAX_FRAME_SIZE` (it applies to the frames this reader
    /// reads), clamped to 16384..=16777215 (RFC 9113 §6.5.2).
    pub fn set_max_frame_size(&mut self, n: u32) {
        self.max_frame_size = n.clamp(DEFAULT_MAX_FRAME_SIZE, MAX_MAX_FRAME_SIZE);
    }

    /// The current frame size bound.
    pub fn max_frame_size(&self) -> u32 {
        self.max_frame_size
    }

    /// Whether the reader stopped on an error; every later call returns it again.
    pub fn is_broken(&self) -> bool {
        self.broken.is_some()
    }

    /// The error that stopped the reader.
    pub fn error(&self) -> Option<FrameError> {
        self.broken
    }

    /// Whole frames read (an unknown frame counts at its header).
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Whether the reader is inside the preface or a frame (not at a frame boundary).
    pub fn in_frame(&self) -> bool {
        !matches!(self.phase, Phase::Header) || self.head_len > 0
    }

    /// Bytes of payload buffer held (at most the frame size bound while a frame spans
    /// pieces, at most 64 KiB between frames).
    pub fn buffered(&self) -> usize {
        self.buf.capacity()
    }

    /// Reads the next bytes of the direction, reporting frames to `on`. On an error the
    /// reader is broken: the rest of `bytes` and of the direction is ignored.
    pub fn feed(
        &mut self,
        mut bytes: &[u8],
        on: &mut impl FnMut(Frame<'_>),
    ) -> Result<(), FrameError> {
        if let Some(e) = self.broken {
            return Err(e);
        }
        while !bytes.is_empty() {
            let step = self.step(bytes, on);
            match step {
                Ok(n) => bytes = bytes.get(n..).unwrap_or_default(),
                Err(e) => return Err(self.fail(e)),
            }
        }
        Ok(())
    }

    /// Skips `len` bytes the capture missed. Inside a DATA payload (reported as
    /// [`Frame::DataGap`]) or an unknown frame's payload that holds them, the reader
    /// stays in sync; anywhere else it breaks with [`FrameError::Gap`]. A missed pad
    /// length byte makes the rest of its frame count as data.
    pub fn gap(&mut self, len: u64, on: &mut impl FnMut(Frame<'_>)) -> Result<(), FrameError> {
        if let Some(e) = self.broken {
            return Err(e);
        }
        if len == 0 {
            return Ok(());
        }
        let h = self.current;
        let (mut data_left, mut pad_left, mut len) = match self.phase {
            Phase::Skip { left } if len <= u64::from(left) => {
                // len ≤ left, a u32.
                let left = left - u32::try_from(len).unwrap_or(left);
                self.phase = if left == 0 {
                    Phase::Header
                } else {
                    Phase::Skip { left }
                };
                return Ok(());
            }
            Phase::Data {
                data_left,
                pad_left,
            } => (data_left, pad_left, len),
            Phase::DataPadLength if len <= u64::from(h.length) => {
                (h.length.saturating_sub(1), 0, len - 1)
            }
            _ => return Err(self.fail(FrameError::Gap)),
        };
        if len > u64::from(data_left) + u64::from(pad_left) {
            return Err(self.fail(FrameError::Gap));
        }
        let from_data = len.min(u64::from(data_left));
        // from_data ≤ data_left and len − from_data ≤ pad_left, both u32.
        data_left -= u32::try_from(from_data).unwrap_or(data_left);
        len -= from_data;
        pad_left -= u32::try_from(len).unwrap_or(pad_left);
        if from_data > 0 {
            on(Frame::DataGap {
                stream: h.stream,
                len: from_data,
            });
            if data_left == 0 {
                self.data_piece(&[], true, on);
            }
        }
        self.phase = if data_left == 0 && pad_left == 0 {
            Phase::Header
        } else {
            Phase::Data {
                data_left,
                pad_left,
            }
        };
        Ok(())
    }

    fn fail(&mut self, e: FrameError) -> FrameError {
        self.broken = Some(e);
        self.buf = Vec::new();
        e
    }

    /// Reads from the start of `bytes` (not empty) as far as the current phase goes;
    /// returns how many bytes it consumed (at least one).
    fn step(&mut self, bytes: &[u8], on: &mut impl FnMut(Frame<'_>)) -> Result<usize, FrameError> {
        match self.phase {
            Phase::Preface(matched) => {
                let want = PREFACE.get(matched..).unwrap_or_default();
                let n = want.len().min(bytes.len());
                if bytes.get(..n) != want.get(..n) {
                    return Err(FrameError::BadPreface);
                }
                let matched = matched + n;
                self.phase = if matched == PREFACE.len() {
                    Phase::Header
                } else {
                    Phase::Preface(matched)
                };
                Ok(n)
            }
            Phase::Header => {
                let n = (FRAME_HEADER_LEN - self.head_len).min(bytes.len());
                self.head[self.head_len..self.head_len + n].copy_from_slice(&bytes[..n]);
                self.head_len += n;
                if self.head_len == FRAME_HEADER_LEN {
                    self.head_len = 0;
                    self.current = Head::parse(&self.head);
                    self.start_frame(&bytes[n..], on).map(|m| n + m)
                } else {
                    Ok(n)
                }
            }
            Phase::Payload => {
                let want = usize::try_from(self.current.length).unwrap_or(usize::MAX);
                let n = want.saturating_sub(self.buf.len()).min(bytes.len());
                self.buf.extend_from_slice(&bytes[..n]);
                if self.buf.len() >= want {
                    let result = payload_frame(self.current, &self.buf).map(&mut *on);
                    self.end_payload();
                    result?;
                }
                Ok(n)
            }
            Phase::DataPadLength => {
                let pad = bytes[0];
                let h = self.current;
                // length ≥ 1 here: the pad length byte is part of the payload.
                let rest = h.length.saturating_sub(1);
                if u32::from(pad) > rest {
                    return Err(FrameError::PaddingTooLong {
                        kind: DATA,
                        pad,
                        length: h.length,
                    });
                }
                self.start_data(rest - u32::from(pad), u32::from(pad), on);
                Ok(1)
            }
            Phase::Data {
                data_left,
                pad_left,
            } => {
                let available = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
                if data_left > 0 {
                    let n = data_left.min(available);
                    let data_left = data_left - n;
                    self.phase = Phase::Data {
                        data_left,
                        pad_left,
                    };
                    let data = bytes.get(..n as usize).unwrap_or_default();
                    self.data_piece(data, data_left == 0, on);
                    if data_left == 0 && pad_left == 0 {
                        self.phase = Phase::Header;
                    }
                    Ok(n as usize)
                } else {
                    let n = pad_left.min(available);
                    let pad_left = pad_left - n;
                    self.phase = if pad_left == 0 {
                        Phase::Header
                    } else {
                        Phase::Data {
                            data_left,
                            pad_left,
                        }
                    };
                    Ok(n as usize)
                }
            }
            Phase::Skip { left } => {
                let n = left.min(u32::try_from(bytes.len()).unwrap_or(u32::MAX));
                let left = left - n;
                self.phase = if left == 0 {
                    Phase::Header
                } else {
                    Phase::Skip { left }
                };
                Ok(n as usize)
            }
        }
    }

    /// Checks a complete frame header and enters the frame; a payload whole in `rest`
    /// is read at once, without copying. Returns how much of `rest` it consumed.
    fn start_frame(
        &mut self,
        rest: &[u8],
        on: &mut impl FnMut(Frame<'_>),
    ) -> Result<usize, FrameError> {
        let h = self.current;
        check_head(h, self.max_frame_size, self.continuation)?;
        self.frames += 1;
        if matches!(h.kind, HEADERS | PUSH_PROMISE | CONTINUATION) {
            self.continuation = (!h.has(END_HEADERS)).then_some(h.stream);
        }
        match h.kind {
            DATA if h.has(PADDED) => {
                self.phase = Phase::DataPadLength;
                Ok(0)
            }
            DATA => {
                self.start_data(h.length, 0, on);
                Ok(0)
            }
            HEADERS..=CONTINUATION => {
                let length = usize::try_from(h.length).unwrap_or(usize::MAX);
                if let Some(payload) = rest.get(..length) {
                    on(payload_frame(h, payload)?);
                    self.phase = Phase::Header;
                    Ok(length)
                } else {
                    self.phase = Phase::Payload;
                    Ok(0)
                }
            }
            _ => {
                on(Frame::Unknown {
                    kind: h.kind,
                    stream: h.stream,
                    length: h.length,
                });
                self.phase = if h.length == 0 {
                    Phase::Header
                } else {
                    Phase::Skip { left: h.length }
                };
                Ok(0)
            }
        }
    }

    /// Enters a DATA frame's data and padding; an empty data part ends it at once.
    fn start_data(&mut self, data_left: u32, pad_left: u32, on: &mut impl FnMut(Frame<'_>)) {
        self.phase = Phase::Data {
            data_left,
            pad_left,
        };
        if data_left == 0 {
            self.data_piece(&[], true, on);
            if pad_left == 0 {
                self.phase = Phase::Header;
            }
        }
    }

    fn data_piece(&self, data: &[u8], last: bool, on: &mut impl FnMut(Frame<'_>)) {
        on(Frame::Data {
            stream: self.current.stream,
            data,
            end_stream: self.current.has(END_STREAM),
            last,
        });
    }

    fn end_payload(&mut self) {
        self.phase = Phase::Header;
        if self.buf.capacity() > KEPT_CAPACITY {
            self.buf = Vec::new();
        } else {
            self.buf.clear();
        }
    }
}

/// The checks a frame header allows (RFC 9113 §4.2, §6, §6.10).
fn check_head(h: Head, max_frame_size: u32, continuation: Option<u32>) -> Result<(), FrameError> {
    if h.length > max_frame_size {
        return Err(FrameError::TooLarge {
            kind: h.kind,
            length: h.length,
            max: max_frame_size,
        });
    }
    match continuation {
        Some(stream) if h.kind != CONTINUATION || h.stream != stream => {
            return Err(FrameError::ContinuationExpected {
                stream,
                kind: h.kind,
                got: h.stream,
            })
        }
        None if h.kind == CONTINUATION => {
            return Err(FrameError::UnexpectedContinuation { stream: h.stream })
        }
        _ => {}
    }
    let needs_stream = matches!(
        h.kind,
        DATA | HEADERS | PRIORITY | RST_STREAM | PUSH_PROMISE | CONTINUATION
    );
    if needs_stream && h.stream == 0 {
        return Err(FrameError::StreamRequired { kind: h.kind });
    }
    if matches!(h.kind, SETTINGS | PING | GOAWAY) && h.stream != 0 {
        return Err(FrameError::StreamForbidden {
            kind: h.kind,
            stream: h.stream,
        });
    }
    let bad_length = FrameError::BadLength {
        kind: h.kind,
        length: h.length,
    };
    let length_ok = match h.kind {
        PRIORITY => h.length == 5,
        RST_STREAM | WINDOW_UPDATE => h.length == 4,
        PING => h.length == 8,
        GOAWAY => h.length >= 8,
        SETTINGS if h.has(ACK) && h.length != 0 => {
            return Err(FrameError::SettingsAckWithPayload { length: h.length })
        }
        SETTINGS => h.length % 6 == 0,
        DATA | HEADERS | PUSH_PROMISE => h.length >= fixed_fields(h),
        _ => true,
    };
    if length_ok {
        Ok(())
    } else {
        Err(bad_length)
    }
}

/// Bytes of pad length, priority and promised stream fields a frame's flags announce.
fn fixed_fields(h: Head) -> u32 {
    let pad = u32::from(h.has(PADDED));
    match h.kind {
        HEADERS if h.has(flags::PRIORITY) => pad + 5,
        PUSH_PROMISE => pad + 4,
        _ => pad,
    }
}

fn be32(b: &[u8]) -> u32 {
    match *b {
        [a, b, c, d, ..] => u32::from_be_bytes([a, b, c, d]),
        _ => 0,
    }
}

fn priority(b: &[u8]) -> Priority {
    let word = be32(b);
    Priority {
        exclusive: word & 0x8000_0000 != 0,
        depends_on: word & 0x7fff_ffff,
        weight: b.get(4).copied().unwrap_or(0),
    }
}

/// A padded payload without its pad length byte and padding (RFC 9113 §6.2, §6.6: the
/// pad length, the fields, the fragment, then that many bytes of padding).
fn unpad(h: Head, payload: &[u8]) -> Result<&[u8], FrameError> {
    if !h.has(PADDED) {
        return Ok(payload);
    }
    let pad = payload.first().copied().unwrap_or(0);
    let body = payload.get(1..).unwrap_or_default();
    let fields = usize::try_from(fixed_fields(h).saturating_sub(1)).unwrap_or(usize::MAX);
    match body.len().checked_sub(usize::from(pad)) {
        Some(keep) if keep >= fields => Ok(body.get(..keep).unwrap_or_default()),
        _ => Err(FrameError::PaddingTooLong {
            kind: h.kind,
            pad,
            length: h.length,
        }),
    }
}

/// The frame of a complete non-DATA payload whose header passed [`check_head`].
fn payload_frame(h: Head, payload: &[u8]) -> Result<Frame<'_>, FrameError> {
    Ok(match h.kind {
        HEADERS => {
            let body = unpad(h, payload)?;
            let (priority, block) = if h.has(flags::PRIORITY) {
                (Some(priority(body)), body.get(5..).unwrap_or_default())
            } else {
                (None, body)
            };
            Frame::Headers {
                stream: h.stream,
                end_stream: h.has(END_STREAM),
                end_headers: h.has(END_HEADERS),
                priority,
                block,
            }
        }
        PRIORITY => Frame::Priority {
            stream: h.stream,
            priority: priority(payload),
        },
        RST_STREAM => Frame::RstStream {
            stream: h.stream,
            code: be32(payload),
        },
        SETTINGS => Frame::Settings {
            ack: h.has(ACK),
            params: Settings { bytes: payload },
        },
        PUSH_PROMISE => {
            let body = unpad(h, payload)?;
            Frame::PushPromise {
                stream: h.stream,
                promised: be32(body) & 0x7fff_ffff,
                end_headers: h.has(END_HEADERS),
                block: body.get(4..).unwrap_or_default(),
            }
        }
        PING => {
            let mut bytes = [0; 8];
            if let Some(p) = payload.get(..8) {
                bytes.copy_from_slice(p);
            }
            Frame::Ping {
                ack: h.has(ACK),
                payload: bytes,
            }
        }
        GOAWAY => Frame::Goaway {
            last_stream: be32(payload) & 0x7fff_ffff,
            code: be32(payload.get(4..).unwrap_or_default()),
            debug: payload.get(8..).unwrap_or_default(),
        },
        WINDOW_UPDATE => Frame::WindowUpdate {
            stream: h.stream,
            increment: be32(payload) & 0x7fff_ffff,
        },
        _ => Frame::Continuation {
            stream: h.stream,
            end_headers: h.has(END_HEADERS),
            block: payload,
        },
    })
}

/// Joins a header block's fragments (HEADERS or PUSH_PROMISE, then CONTINUATIONs,
/// RFC 9113 §4.3) up to [`MAX_HEADER_BLOCK`] bytes; beyond, the block is dropped and
/// marked overflowed until [`Self::clear`].
#[derive(Debug, Default)]
pub struct HeaderBlock {
    bytes: Vec<u8>,
    overflow: bool,
}

impl HeaderBlock {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a fragment; `false` if the block is (now) over the bound.
    pub fn push(&mut self, fragment: &[u8]) -> bool {
        if self.overflow {
            return false;
        }
        if self.bytes.len().saturating_add(fragment.len()) > MAX_HEADER_BLOCK {
            self.overflow = true;
            self.bytes = Vec::new();
            return false;
        }
        self.bytes.extend_from_slice(fragment);
        true
    }

    /// The fragments joined so far (empty after an overflow).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Whether a fragment went over [`MAX_HEADER_BLOCK`].
    pub fn is_overflow(&self) -> bool {
        self.overflow
    }

    /// Ready for the next block; a buffer grown past 64 KiB is freed.
    pub fn clear(&mut self) {
        self.overflow = false;
        if self.bytes.capacity() > KEPT_CAPACITY {
            self.bytes = Vec::new();
        } else {
            self.bytes.clear();
        }
    }
}

#[cfg(test)]
mod tests;
