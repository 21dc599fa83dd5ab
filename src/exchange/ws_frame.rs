//! WebSocket framing (RFC 6455 §5) and permessage-deflate (RFC 7692) for one direction
//! of a connection, over bytes that arrive in arbitrary pieces.
//!
//! A [`WsReader`] follows frame boundaries, removes the client's masking, joins
//! fragmented messages by counting, and inflates compressed messages with one streaming
//! context per direction, and reports [`WsEvent`]s: a data message began or ended, a
//! control frame ended, a rule of the protocol was broken, or reading stopped. Payload
//! is never buffered whole: it is counted as it streams by, and only what the caller
//! needs is kept — control frame payloads (at most [`MAX_CONTROL_PAYLOAD`] bytes) and
//! the first [`ReaderConfig::keep`] bytes of each data message (at most [`MAX_KEPT`]).
//! The inflater's output is counted, never stored beyond that prefix, and a message
//! that inflates past the maximum message size is given up.
//!
//! The events never depend on how the bytes are cut into pieces; nothing panics. It
//! does not know about time, exchanges or the handshake: the analyzer does.

use flate2::{Decompress, FlushDecompress, Status};

/// Frame opcodes (RFC 6455 §5.2, §11.8).
pub mod opcode {
    pub const CONTINUATION: u8 = 0x0;
    pub const TEXT: u8 = 0x1;
    pub const BINARY: u8 = 0x2;
    pub const CLOSE: u8 = 0x8;
    pub const PING: u8 = 0x9;
    pub const PONG: u8 = 0xa;

    /// The opcode's name, as `%ws.opcode` prints it.
    pub fn name(op: u8) -> &'static str {
        match op {
            CONTINUATION => "continuation",
            TEXT => "text",
            BINARY => "binary",
            CLOSE => "close",
            PING => "ping",
            PONG => "pong",
            _ => "reserved",
        }
    }

    /// Control frames have the high bit of the opcode set (RFC 6455 §5.5).
    pub fn is_control(op: u8) -> bool {
        op & 0x8 != 0
    }
}

/// Longest control frame payload (RFC 6455 §5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;
/// Default largest message (`--ws-max-message`): a frame header claiming more, or a
/// message whose frames add up to more, stops the reader; a compressed message that
/// inflates to more is not decoded.
pub const DEFAULT_MAX_MESSAGE: u64 = 64 << 20;
/// Most bytes of a data message kept for the caller (`--ws-messages` with a template
/// that prints payload).
pub const MAX_KEPT: usize = 64 << 10;
/// The bytes RFC 7692 §7.2.2 removes from the end of each compressed message, that the
/// receiver appends before inflating it.
const DEFLATE_TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];
/// Longest frame header: 2 bytes, a 64-bit extended length, a 4-byte mask (§5.2).
const MAX_HEADER: usize = 14;

/// How a direction is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReaderConfig {
    /// Frames from the client (they must be masked, RFC 6455 §5.3), else from the
    /// server (they must not be).
    pub from_client: bool,
    /// The largest message accepted (see [`DEFAULT_MAX_MESSAGE`]).
    pub max_message: u64,
    /// `permessage-deflate` was agreed: RSV1 marks a compressed message.
    pub deflate: bool,
    /// The sender keeps its compression context between messages (RFC 7692 §7.1.1:
    /// no `*_no_context_takeover` for this direction).
    pub context_takeover: bool,
    /// Bytes of each data message's payload (decompressed when compressed) to keep,
    /// at most [`MAX_KEPT`].
    pub keep: usize,
}

impl Default for ReaderConfig {
    fn default() -> Self {
        ReaderConfig {
            from_client: false,
            max_message: DEFAULT_MAX_MESSAGE,
            deflate: false,
            context_takeover: true,
            keep: 0,
        }
    }
}

/// A data message that ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message<'a> {
    /// The opcode of its first frame (text or binary).
    pub opcode: u8,
    pub frames: u32,
    /// Payload bytes on the wire, all frames (compressed size when compressed).
    pub wire: u64,
    /// RSV1 was set on its first frame and `permessage-deflate` was agreed.
    pub compressed: bool,
    /// Payload bytes after decompression (`wire` when not compressed); `None` when a
    /// compressed message could not be inflated (lost bytes, a broken context, a bomb).
    pub size: Option<u64>,
    /// Every payload byte was captured.
    pub complete: bool,
    /// Its first payload bytes, as [`ReaderConfig::keep`] asked.
    pub kept: &'a [u8],
}

/// A control frame that ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Control<'a> {
    pub opcode: u8,
    /// Payload bytes on the wire.
    pub len: u64,
    /// The payload (its first [`MAX_CONTROL_PAYLOAD`] bytes).
    pub payload: &'a [u8],
    /// Every payload byte was captured.
    pub complete: bool,
}

/// A rule of RFC 6455 / RFC 7692 broken; reading goes on (frame boundaries are known).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Violation {
    /// A client frame without a mask (§5.3).
    UnmaskedClientFrame,
    /// A server frame with a mask (§5.1).
    MaskedServerFrame,
    /// RSV bits set that no agreed extension defines (§5.2), RSV1 on a control or
    /// continuation frame (RFC 7692 §6).
    ReservedBits,
    /// An opcode RFC 6455 reserves: the frame is skipped.
    ReservedOpcode,
    /// A control frame with FIN clear or a payload over 125 bytes (§5.5).
    BadControlFrame,
    /// A continuation frame with no message in progress: skipped.
    UnexpectedContinuation,
    /// A new text or binary frame while a fragmented message was in progress: the
    /// earlier message ends, incomplete (§5.4).
    InterruptedMessage,
    /// A compressed message's payload is not valid deflate data.
    InflateError,
    /// A compressed message inflated past the maximum message size: not decoded.
    DecompressionBomb,
}

impl Violation {
    pub fn as_str(self) -> &'static str {
        match self {
            Violation::UnmaskedClientFrame => "unmasked-client-frame",
            Violation::MaskedServerFrame => "masked-server-frame",
            Violation::ReservedBits => "reserved-bits",
            Violation::ReservedOpcode => "reserved-opcode",
            Violation::BadControlFrame => "bad-control-frame",
            Violation::UnexpectedContinuation => "unexpected-continuation",
            Violation::InterruptedMessage => "interrupted-message",
            Violation::InflateError => "inflate-error",
            Violation::DecompressionBomb => "decompression-bomb",
        }
    }
}

/// Why the reader stopped: every later byte is ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// A frame header claimed more than the maximum message size, or a fragmented
    /// message's frames added up to more.
    TooLarge,
    /// Bytes were lost where a frame header was: the next header cannot be found.
    LostSync,
}

impl Stop {
    pub fn as_str(self) -> &'static str {
        match self {
            Stop::TooLarge => "message-too-large",
            Stop::LostSync => "lost-sync",
        }
    }
}

/// What a [`WsReader`] reports, in stream order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WsEvent<'a> {
    /// A data message's first frame header was read.
    MessageStart {
        opcode: u8,
    },
    Message(Message<'a>),
    Control(Control<'a>),
    Violation(Violation),
    /// The last event of the reader.
    Stop(Stop),
}

/// The header of the frame being read.
#[derive(Clone, Copy, Debug, Default)]
struct Head {
    fin: bool,
    rsv: u8,
    opcode: u8,
    mask: Option<[u8; 4]>,
    len: u64,
}

/// What the current frame's payload is for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Role {
    /// Part of the data message in progress.
    #[default]
    Data,
    Control,
    /// Counted and ignored (a reserved opcode, a stray continuation).
    Skip,
}

/// The data message in progress.
#[derive(Debug, Default)]
struct InProgress {
    opcode: u8,
    frames: u32,
    wire: u64,
    compressed: bool,
    /// Decoded bytes so far.
    decoded: u64,
    /// Bytes were lost, or inflating failed: the decoded size is unknown.
    undecodable: bool,
    /// Bytes were lost.
    gap: bool,
    /// The deflate stream ended (a block with BFINAL): later bytes are not inflated.
    stream_end: bool,
    kept: Vec<u8>,
}

/// Reads one direction of a WebSocket. See the module documentation.
pub struct WsReader {
    config: ReaderConfig,
    header: [u8; MAX_HEADER],
    header_len: u8,
    /// Reading a frame's payload (its header was complete).
    in_payload: bool,
    head: Head,
    role: Role,
    /// Payload bytes of the current frame still to come.
    remaining: u64,
    /// Payload bytes of the current frame read (or lost) so far: the mask position.
    offset: u64,
    /// Bytes of the current frame were lost.
    frame_gap: bool,
    message: Option<InProgress>,
    control: [u8; MAX_CONTROL_PAYLOAD],
    control_len: u8,
    /// The inflater (allocated by the first compressed message).
    inflater: Option<Box<Decompress>>,
    /// With context takeover, bytes of a compressed message were lost or could not be
    /// inflated: the window later messages refer to is unknown.
    context_lost: bool,
    stopped: Option<Stop>,
}

impl std::fmt::Debug for WsReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsReader")
            .field("config", &self.config)
            .field("in_payload", &self.in_payload)
            .field("remaining", &self.remaining)
            .field("stopped", &self.stopped)
            .finish_non_exhaustive()
    }
}

/// Unmasking works on stack chunks of this size.
const CHUNK: usize = 4096;

impl WsReader {
    pub fn new(mut config: ReaderConfig) -> Self {
        config.keep = config.keep.min(MAX_KEPT);
        WsReader {
            config,
            header: [0; MAX_HEADER],
            header_len: 0,
            in_payload: false,
            head: Head::default(),
            role: Role::Data,
            remaining: 0,
            offset: 0,
            frame_gap: false,
            message: None,
            control: [0; MAX_CONTROL_PAYLOAD],
            control_len: 0,
            inflater: None,
            context_lost: false,
            stopped: None,
        }
    }

    /// Why reading stopped, if it did.
    pub fn stopped(&self) -> Option<Stop> {
        self.stopped
    }

    /// A data message has begun and not ended.
    pub fn in_message(&self) -> bool {
        self.message.is_some()
    }

    /// The data message in progress ends here, incomplete (the connection ended): its
    /// `Message` is reported.
    pub fn abandon(&mut self, on: &mut impl FnMut(WsEvent<'_>)) {
        if self.stopped.is_none() && self.message.is_some() {
            self.end_message(false, on);
        }
    }

    /// Bytes held for the caller: the kept prefix of the message in progress.
    pub fn kept_len(&self) -> usize {
        self.message.as_ref().map_or(0, |m| m.kept.len())
    }

    /// Reads the next bytes of the direction, reporting events to `on`.
    pub fn feed(&mut self, mut bytes: &[u8], on: &mut impl FnMut(WsEvent<'_>)) {
        while self.stopped.is_none() && !bytes.is_empty() {
            if !self.in_payload {
                bytes = self.header_bytes(bytes, on);
                continue;
            }
            let n = usize::try_from(self.remaining)
                .unwrap_or(usize::MAX)
                .min(bytes.len());
            let (chunk, rest) = bytes.split_at(n);
            bytes = rest;
            self.payload(chunk, on);
            self.remaining -= n as u64;
            self.offset += n as u64;
            if self.remaining == 0 {
                self.end_frame(on);
            }
        }
    }

    /// `len` bytes of the direction that the capture missed.
    pub fn gap(&mut self, len: u64, on: &mut impl FnMut(WsEvent<'_>)) {
        if self.stopped.is_some() || len == 0 {
            return;
        }
        if !self.in_payload || len > self.remaining {
            self.stop(Stop::LostSync, on);
            return;
        }
        self.remaining -= len;
        self.offset += len;
        self.frame_gap = true;
        if self.role == Role::Data {
            if let Some(m) = self.message.as_mut() {
                m.wire += len;
                m.gap = true;
                if m.compressed {
                    m.undecodable = true;
                    if self.config.context_takeover {
                        self.context_lost = true;
                    }
                } else {
                    m.decoded += len;
                }
            }
        }
        if self.remaining == 0 {
            self.end_frame(on);
        }
    }

    fn stop(&mut self, why: Stop, on: &mut impl FnMut(WsEvent<'_>)) {
        self.stopped = Some(why);
        self.message = None;
        self.inflater = None;
        on(WsEvent::Stop(why));
    }

    /// Takes header bytes; returns the rest of `bytes`.
    fn header_bytes<'b>(&mut self, bytes: &'b [u8], on: &mut impl FnMut(WsEvent<'_>)) -> &'b [u8] {
        let have = usize::from(self.header_len);
        let need = header_size(&self.header[..have]);
        let take = need.saturating_sub(have).min(bytes.len());
        let (taken, rest) = bytes.split_at(take);
        self.header[have..have + take].copy_from_slice(taken);
        self.header_len += take as u8;
        let have = usize::from(self.header_len);
        // The size is known once the first two bytes are: read again with them.
        if have == header_size(&self.header[..have]) && have >= 2 {
            self.start_frame(on);
        }
        rest
    }

    fn start_frame(&mut self, on: &mut impl FnMut(WsEvent<'_>)) {
        let h = &self.header[..usize::from(self.header_len)];
        self.header_len = 0;
        let (b0, b1) = (h[0], h[1]);
        let masked = b1 & 0x80 != 0;
        let (len, at) = match b1 & 0x7f {
            126 => (u64::from(u16::from_be_bytes([h[2], h[3]])), 4),
            127 => {
                let mut be = [0u8; 8];
                be.copy_from_slice(&h[2..10]);
                (u64::from_be_bytes(be), 10)
            }
            n => (u64::from(n), 2),
        };
        let mask = masked.then(|| [h[at], h[at + 1], h[at + 2], h[at + 3]]);
        let head = Head {
            fin: b0 & 0x80 != 0,
            rsv: (b0 >> 4) & 0x7,
            opcode: b0 & 0x0f,
            mask,
            len,
        };
        self.head = head;
        self.in_payload = true;
        self.remaining = len;
        self.offset = 0;
        self.frame_gap = false;
        self.control_len = 0;
        if len > self.config.max_message {
            self.stop(Stop::TooLarge, on);
            return;
        }
        match (self.config.from_client, masked) {
            (true, false) => on(WsEvent::Violation(Violation::UnmaskedClientFrame)),
            (false, true) => on(WsEvent::Violation(Violation::MaskedServerFrame)),
            _ => {}
        }
        let rsv1 = head.rsv & 0x4 != 0;
        let deflate = self.config.deflate;
        if head.rsv & 0x3 != 0 {
            on(WsEvent::Violation(Violation::ReservedBits));
        }
        if opcode::is_control(head.opcode) {
            self.role = Role::Control;
            if !matches!(head.opcode, opcode::CLOSE | opcode::PING | opcode::PONG) {
                on(WsEvent::Violation(Violation::ReservedOpcode));
                self.role = Role::Skip;
            } else if !head.fin || len > MAX_CONTROL_PAYLOAD as u64 {
                on(WsEvent::Violation(Violation::BadControlFrame));
            }
            if rsv1 {
                on(WsEvent::Violation(Violation::ReservedBits));
            }
        } else if head.opcode == opcode::CONTINUATION {
            match self.message.as_mut() {
                Some(m) => {
                    self.role = Role::Data;
                    if m.wire.saturating_add(len) > self.config.max_message {
                        self.stop(Stop::TooLarge, on);
                        return;
                    }
                    if rsv1 {
                        on(WsEvent::Violation(Violation::ReservedBits));
                    }
                }
                None => {
                    self.role = Role::Skip;
                    on(WsEvent::Violation(Violation::UnexpectedContinuation));
                }
            }
        } else if matches!(head.opcode, opcode::TEXT | opcode::BINARY) {
            if self.message.is_some() {
                on(WsEvent::Violation(Violation::InterruptedMessage));
                self.end_message(false, on);
            }
            if rsv1 && !deflate {
                on(WsEvent::Violation(Violation::ReservedBits));
            }
            self.role = Role::Data;
            let compressed = rsv1 && deflate;
            self.message = Some(InProgress {
                opcode: head.opcode,
                compressed,
                undecodable: compressed && self.context_lost,
                ..InProgress::default()
            });
            if compressed && self.inflater.is_none() && !self.context_lost {
                self.inflater = Some(Box::new(Decompress::new(false)));
            }
            on(WsEvent::MessageStart {
                opcode: head.opcode,
            });
        } else {
            self.role = Role::Skip;
            on(WsEvent::Violation(Violation::ReservedOpcode));
        }
        if len == 0 {
            self.end_frame(on);
        }
    }

    fn payload(&mut self, bytes: &[u8], on: &mut impl FnMut(WsEvent<'_>)) {
        if self.role == Role::Skip {
            return;
        }
        let mut buf = [0u8; CHUNK];
        let mut offset = self.offset;
        for piece in bytes.chunks(CHUNK) {
            let plain: &[u8] = match self.head.mask {
                Some(mask) => {
                    let out = &mut buf[..piece.len()];
                    for (i, (o, &b)) in out.iter_mut().zip(piece).enumerate() {
                        *o = b ^ mask[((offset + i as u64) % 4) as usize];
                    }
                    out
                }
                None => piece,
            };
            offset += piece.len() as u64;
            match self.role {
                Role::Control => {
                    let have = usize::from(self.control_len);
                    let take = plain.len().min(MAX_CONTROL_PAYLOAD - have);
                    self.control[have..have + take].copy_from_slice(&plain[..take]);
                    self.control_len += take as u8;
                }
                Role::Data => self.message_bytes(plain, false, on),
                Role::Skip => {}
            }
        }
    }

    /// Payload of the data message in progress (`tail`: the deflate tail appended at
    /// its end, not wire bytes).
    fn message_bytes(&mut self, plain: &[u8], tail: bool, on: &mut impl FnMut(WsEvent<'_>)) {
        let (max, keep, takeover) = (
            self.config.max_message,
            self.config.keep,
            self.config.context_takeover,
        );
        let Some(m) = self.message.as_mut() else {
            return;
        };
        if !tail {
            m.wire += plain.len() as u64;
        }
        if !m.compressed {
            m.decoded += plain.len() as u64;
            // After lost bytes the kept prefix stops: it stays a prefix of the payload.
            let room = if m.gap {
                0
            } else {
                keep.saturating_sub(m.kept.len())
            };
            m.kept.extend_from_slice(&plain[..room.min(plain.len())]);
            return;
        }
        if m.undecodable || m.stream_end {
            return;
        }
        let Some(inflater) = self.inflater.as_mut() else {
            m.undecodable = true;
            return;
        };
        let mut out = [0u8; CHUNK];
        let mut input = plain;
        let mut problem = None;
        loop {
            let (before_in, before_out) = (inflater.total_in(), inflater.total_out());
            let status = inflater.decompress(input, &mut out, FlushDecompress::Sync);
            let used = (inflater.total_in() - before_in) as usize;
            let made = (inflater.total_out() - before_out) as usize;
            input = input.get(used..).unwrap_or_default();
            // Only from the first `max` decoded bytes, wherever the output stops.
            let limit = usize::try_from(max).unwrap_or(usize::MAX).min(keep);
            let room = limit.saturating_sub(m.kept.len());
            m.decoded += made as u64;
            m.kept.extend_from_slice(&out[..room.min(made)]);
            if m.decoded > max {
                problem = Some(Violation::DecompressionBomb);
                break;
            }
            match status {
                Ok(Status::StreamEnd) => {
                    m.stream_end = true;
                    break;
                }
                Ok(_) => {}
                Err(_) => {
                    // How much the inflater gives out before it finds the error depends
                    // on where the input was cut: a corrupt message keeps no decoded
                    // prefix, so that its record does not depend on the segments.
                    m.kept.clear();
                    problem = Some(Violation::InflateError);
                    break;
                }
            }
            // Done when the input is used and the output was not full (nothing
            // more is pending), or when nothing moved.
            if (input.is_empty() && made < out.len()) || (used == 0 && made == 0) {
                break;
            }
        }
        if let Some(v) = problem {
            m.undecodable = true;
            if takeover {
                self.context_lost = true;
                self.inflater = None;
            }
            on(WsEvent::Violation(v));
        }
    }

    fn end_frame(&mut self, on: &mut impl FnMut(WsEvent<'_>)) {
        self.in_payload = false;
        match self.role {
            Role::Skip => {}
            Role::Control => {
                let payload = &self.control[..usize::from(self.control_len)];
                on(WsEvent::Control(Control {
                    opcode: self.head.opcode,
                    len: self.head.len,
                    payload,
                    complete: !self.frame_gap,
                }));
            }
            Role::Data => {
                if let Some(m) = self.message.as_mut() {
                    m.frames = m.frames.saturating_add(1);
                }
                if self.head.fin {
                    self.end_message(true, on);
                }
            }
        }
    }

    /// The data message in progress ends (`whole`: by its FIN frame).
    fn end_message(&mut self, whole: bool, on: &mut impl FnMut(WsEvent<'_>)) {
        if self.message.as_ref().is_some_and(|m| m.compressed) {
            if whole {
                self.message_bytes(&DEFLATE_TAIL, true, on);
            }
            let (undecodable, stream_end) = self
                .message
                .as_ref()
                .map_or((true, false), |m| (m.undecodable, m.stream_end));
            if !self.config.context_takeover {
                // Each message is a stream of its own (RFC 7692 §7.1.1.1).
                if let Some(i) = self.inflater.as_mut() {
                    i.reset(false);
                }
            } else if undecodable || !whole {
                // The window later messages refer to is unknown.
                self.context_lost = true;
                self.inflater = None;
            } else if stream_end {
                // After a final block the next message starts a new stream.
                if let Some(i) = self.inflater.as_mut() {
                    i.reset(false);
                }
            }
        }
        let Some(m) = self.message.take() else {
            return;
        };
        let complete = whole && !m.gap;
        on(WsEvent::Message(Message {
            opcode: m.opcode,
            frames: m.frames,
            wire: m.wire,
            compressed: m.compressed,
            size: (!m.compressed || (!m.undecodable && complete)).then_some(m.decoded),
            complete,
            kept: &m.kept,
        }));
    }
}

/// The size of a frame header whose first bytes are `h` (2 until they are known).
fn header_size(h: &[u8]) -> usize {
    let Some(&b1) = h.get(1) else {
        return 2;
    };
    let ext = match b1 & 0x7f {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    2 + ext + if b1 & 0x80 != 0 { 4 } else { 0 }
}

/// A Close frame's status code and reason (RFC 6455 §5.5.1): `None` for an empty
/// payload (no code: 1005 is reported), a 1-byte payload is malformed (`Some((0, ..))`
/// is never returned: the code is `None` too).
pub fn close_payload(payload: &[u8]) -> (Option<u16>, &[u8]) {
    match payload {
        [a, b, reason @ ..] => (Some(u16::from_be_bytes([*a, *b])), reason),
        _ => (None, &[]),
    }
}

/// The name of a close status code (RFC 6455 §7.4.1 and the IANA registry, §11.7).
pub fn close_code_name(code: u16) -> Option<&'static str> {
    Some(match code {
        1000 => "normal",
        1001 => "going-away",
        1002 => "protocol-error",
        1003 => "unsupported-data",
        1005 => "no-status",
        1006 => "abnormal",
        1007 => "invalid-payload",
        1008 => "policy-violation",
        1009 => "message-too-big",
        1010 => "mandatory-extension",
        1011 => "internal-error",
        1012 => "service-restart",
        1013 => "try-again-later",
        1014 => "bad-gateway",
        1015 => "tls-handshake",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An owned copy of an event, for comparisons.
    #[derive(Clone, Debug, PartialEq, Eq)]
    enum Ev {
        Start(u8),
        Message {
            opcode: u8,
            frames: u32,
            wire: u64,
            compressed: bool,
            size: Option<u64>,
            complete: bool,
            kept: Vec<u8>,
        },
        Control(u8, u64, Vec<u8>, bool),
        Violation(Violation),
        Stop(Stop),
    }

    fn own(e: WsEvent<'_>) -> Ev {
        match e {
            WsEvent::MessageStart { opcode } => Ev::Start(opcode),
            WsEvent::Message(m) => Ev::Message {
                opcode: m.opcode,
                frames: m.frames,
                wire: m.wire,
                compressed: m.compressed,
                size: m.size,
                complete: m.complete,
                kept: m.kept.to_vec(),
            },
            WsEvent::Control(c) => Ev::Control(c.opcode, c.len, c.payload.to_vec(), c.complete),
            WsEvent::Violation(v) => Ev::Violation(v),
            WsEvent::Stop(s) => Ev::Stop(s),
        }
    }

    fn server(deflate: bool) -> ReaderConfig {
        ReaderConfig {
            deflate,
            keep: MAX_KEPT,
            ..ReaderConfig::default()
        }
    }

    fn client(deflate: bool) -> ReaderConfig {
        ReaderConfig {
            from_client: true,
            ..server(deflate)
        }
    }

    /// The events of `bytes` read whole, after checking that every cut into two
    /// pieces and byte-by-byte reading give the same.
    fn read(config: ReaderConfig, bytes: &[u8]) -> Vec<Ev> {
        let run = |pieces: &[&[u8]]| {
            let mut r = WsReader::new(config);
            let mut out = Vec::new();
            for p in pieces {
                r.feed(p, &mut |e| out.push(own(e)));
            }
            out
        };
        let whole = run(&[bytes]);
        for cut in 0..=bytes.len() {
            let (a, b) = bytes.split_at(cut);
            assert_eq!(run(&[a, b]), whole, "cut at {cut}");
        }
        let singles: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(run(&singles), whole, "byte by byte");
        whole
    }

    fn text(bytes: &[u8], frames: u32, wire: u64, compressed: bool) -> Ev {
        Ev::Message {
            opcode: opcode::TEXT,
            frames,
            wire,
            compressed,
            size: Some(bytes.len() as u64),
            complete: true,
            kept: bytes.to_vec(),
        }
    }

    // RFC 6455 §5.7 examples.
    const HELLO_UNMASKED: &[u8] = &[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    const HELLO_MASKED: &[u8] = &[
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];

    #[test]
    fn rfc6455_single_frame_unmasked_and_masked_text() {
        assert_eq!(
            read(server(false), HELLO_UNMASKED),
            [Ev::Start(1), text(b"Hello", 1, 5, false)]
        );
        assert_eq!(
            read(client(false), HELLO_MASKED),
            [Ev::Start(1), text(b"Hello", 1, 5, false)]
        );
    }

    #[test]
    fn masking_on_the_wrong_side_is_a_violation_and_reading_goes_on() {
        assert_eq!(
            read(client(false), HELLO_UNMASKED),
            [
                Ev::Violation(Violation::UnmaskedClientFrame),
                Ev::Start(1),
                text(b"Hello", 1, 5, false)
            ]
        );
        assert_eq!(
            read(server(false), HELLO_MASKED)[0],
            Ev::Violation(Violation::MaskedServerFrame)
        );
    }

    #[test]
    fn rfc6455_fragmented_message_with_a_ping_between_its_frames() {
        let mut bytes = vec![0x01, 0x03, 0x48, 0x65, 0x6c];
        bytes.extend([0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        bytes.extend([0x80, 0x02, 0x6c, 0x6f]);
        assert_eq!(
            read(server(false), &bytes),
            [
                Ev::Start(1),
                Ev::Control(opcode::PING, 5, b"Hello".to_vec(), true),
                text(b"Hello", 2, 5, false)
            ]
        );
    }

    #[test]
    fn rfc6455_masked_pong_and_extended_lengths() {
        let pong = [
            0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        assert_eq!(
            read(client(false), &pong),
            [Ev::Control(opcode::PONG, 5, b"Hello".to_vec(), true)]
        );
        let mut b256 = vec![0x82, 0x7e, 0x01, 0x00];
        b256.extend((0..=255u8).collect::<Vec<_>>());
        let got = read(server(false), &b256);
        assert!(matches!(
            got[1],
            Ev::Message {
                opcode: 2,
                wire: 256,
                size: Some(256),
                ..
            }
        ));
        let mut b64k = vec![0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0];
        b64k.extend(std::iter::repeat_n(7u8, 65536));
        let mut r = WsReader::new(server(false));
        let mut got = Vec::new();
        r.feed(&b64k, &mut |e| got.push(own(e)));
        assert!(matches!(
            got[1],
            Ev::Message {
                wire: 65536,
                size: Some(65536),
                ..
            }
        ));
    }

    // RFC 7692 §7.2.3 examples (server to client, unmasked).
    const DEFLATED_HELLO: &[u8] = &[0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];

    #[test]
    fn rfc7692_compressed_message_single_and_fragmented() {
        assert_eq!(
            read(server(true), DEFLATED_HELLO),
            [Ev::Start(1), text(b"Hello", 1, 7, true)]
        );
        let fragmented = [
            0x41, 0x03, 0xf2, 0x48, 0xcd, 0x80, 0x04, 0xc9, 0xc9, 0x07, 0x00,
        ];
        assert_eq!(
            read(server(true), &fragmented),
            [Ev::Start(1), text(b"Hello", 2, 7, true)]
        );
    }

    #[test]
    fn rfc7692_context_takeover_refers_to_the_previous_message() {
        let mut two = DEFLATED_HELLO.to_vec();
        two.extend([0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00]);
        assert_eq!(
            read(server(true), &two),
            [
                Ev::Start(1),
                text(b"Hello", 1, 7, true),
                Ev::Start(1),
                text(b"Hello", 1, 5, true)
            ]
        );
    }

    #[test]
    fn rfc7692_stored_block_bfinal_and_two_blocks() {
        let stored = [
            0xc1, 0x0b, 0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
        ];
        assert_eq!(read(server(true), &stored)[1], text(b"Hello", 1, 11, true));
        let bfinal = [0xc1, 0x08, 0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00];
        let mut twice = bfinal.to_vec();
        twice.extend(bfinal);
        // After a final block the next message starts a new stream.
        assert_eq!(
            read(server(true), &twice),
            [
                Ev::Start(1),
                text(b"Hello", 1, 8, true),
                Ev::Start(1),
                text(b"Hello", 1, 8, true)
            ]
        );
        let blocks = [
            0xc1, 0x0d, 0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07,
            0x00,
        ];
        assert_eq!(read(server(true), &blocks)[1], text(b"Hello", 1, 13, true));
    }

    #[test]
    fn without_context_takeover_each_message_inflates_alone() {
        let config = ReaderConfig {
            context_takeover: false,
            ..server(true)
        };
        let mut two = DEFLATED_HELLO.to_vec();
        two.extend(DEFLATED_HELLO);
        let got = read(config, &two);
        assert_eq!(got[3], text(b"Hello", 1, 7, true));
    }

    #[test]
    fn a_gap_in_a_compressed_message_loses_the_context_for_later_messages() {
        let mut r = WsReader::new(server(true));
        let mut got = Vec::new();
        r.feed(&DEFLATED_HELLO[..4], &mut |e| got.push(own(e)));
        r.gap(5, &mut |e| got.push(own(e)));
        r.feed(&[0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00], &mut |e| {
            got.push(own(e))
        });
        assert!(matches!(
            got[1],
            Ev::Message {
                wire: 7,
                size: None,
                complete: false,
                ..
            }
        ));
        assert!(matches!(
            got[3],
            Ev::Message {
                wire: 5,
                size: None,
                complete: true,
                ..
            }
        ));
        // Without takeover, the next message decodes again.
        let config = ReaderConfig {
            context_takeover: false,
            ..server(true)
        };
        let mut r = WsReader::new(config);
        let mut got = Vec::new();
        r.feed(&DEFLATED_HELLO[..4], &mut |e| got.push(own(e)));
        r.gap(5, &mut |e| got.push(own(e)));
        r.feed(DEFLATED_HELLO, &mut |e| got.push(own(e)));
        assert_eq!(got[3], text(b"Hello", 1, 7, true));
    }

    #[test]
    fn a_gap_in_a_payload_keeps_sync_and_one_in_a_header_loses_it() {
        let mut r = WsReader::new(server(false));
        let mut got = Vec::new();
        r.feed(&HELLO_UNMASKED[..3], &mut |e| got.push(own(e)));
        r.gap(2, &mut |e| got.push(own(e)));
        r.feed(&HELLO_UNMASKED[5..], &mut |e| got.push(own(e)));
        r.feed(HELLO_UNMASKED, &mut |e| got.push(own(e)));
        assert!(matches!(
            got[1],
            Ev::Message {
                wire: 5,
                size: Some(5),
                complete: false,
                ..
            }
        ));
        assert_eq!(got[3], text(b"Hello", 1, 5, false));
        r.feed(&HELLO_UNMASKED[..1], &mut |e| got.push(own(e)));
        r.gap(1, &mut |e| got.push(own(e)));
        assert_eq!(got.last(), Some(&Ev::Stop(Stop::LostSync)));
        let n = got.len();
        r.feed(HELLO_UNMASKED, &mut |e| got.push(own(e)));
        assert_eq!(got.len(), n, "nothing after a stop");
    }

    #[test]
    fn a_frame_claiming_more_than_the_maximum_stops_the_reader() {
        let config = ReaderConfig {
            max_message: 1000,
            ..server(false)
        };
        assert_eq!(
            read(config, &[0x82, 0x7f, 0, 0, 0, 0, 0, 0, 0x03, 0xe9, 1, 2]),
            [Ev::Stop(Stop::TooLarge)]
        );
        // Fragments that add up to more stop it too.
        let mut frag = vec![0x02, 0x7e, 0x01, 0xf4];
        frag.extend([0u8; 500]);
        frag.extend([0x80, 0x7e, 0x01, 0xf5]);
        assert_eq!(
            read(config, &frag),
            [Ev::Start(2), Ev::Stop(Stop::TooLarge)]
        );
    }

    #[test]
    fn a_decompression_bomb_is_not_decoded_and_reported() {
        // 1 MiB of zeros compressed by a raw deflate stream, sync-flushed.
        let mut c = flate2::Compress::new(flate2::Compression::best(), false);
        let zeros = vec![0u8; 1 << 20];
        let mut out = vec![0u8; 1 << 16];
        c.compress(&zeros, &mut out, flate2::FlushCompress::Sync)
            .unwrap();
        let n = c.total_out() as usize;
        let body = &out[..n - 4];
        let mut frame = vec![0xc2, 0x7e];
        frame.extend((body.len() as u16).to_be_bytes());
        frame.extend(body);
        let config = ReaderConfig {
            max_message: 64 << 10,
            ..server(true)
        };
        let mut r = WsReader::new(config);
        let mut got = Vec::new();
        r.feed(&frame, &mut |e| got.push(own(e)));
        assert_eq!(got[1], Ev::Violation(Violation::DecompressionBomb));
        assert!(matches!(
            got[2],
            Ev::Message {
                size: None,
                compressed: true,
                ..
            }
        ));
    }

    #[test]
    fn control_frame_rules_and_reserved_opcodes() {
        // A ping without FIN, a 126-byte ping, a reserved opcode (3), a stray
        // continuation: each reported, the frames after them still read.
        let mut bytes = vec![0x09, 0x00];
        bytes.extend([0x89, 0x7e, 0x00, 0x7e]);
        bytes.extend([b'p'; 126]);
        bytes.extend([0x83, 0x01, 0x00, 0x80, 0x01, 0x00]);
        bytes.extend(HELLO_UNMASKED);
        let got = read(server(false), &bytes);
        assert_eq!(
            &got[..6],
            [
                Ev::Violation(Violation::BadControlFrame),
                Ev::Control(opcode::PING, 0, vec![], true),
                Ev::Violation(Violation::BadControlFrame),
                Ev::Control(opcode::PING, 126, vec![b'p'; 125], true),
                Ev::Violation(Violation::ReservedOpcode),
                Ev::Violation(Violation::UnexpectedContinuation),
            ]
        );
        assert_eq!(got[7], text(b"Hello", 1, 5, false));
    }

    #[test]
    fn close_payload_and_names() {
        assert_eq!(
            close_payload(&[0x03, 0xe8, b'b', b'y', b'e']),
            (Some(1000), &b"bye"[..])
        );
        assert_eq!(close_payload(&[]), (None, &b""[..]));
        assert_eq!(close_code_name(1000), Some("normal"));
        assert_eq!(close_code_name(4000), None);
    }

    #[test]
    fn only_the_asked_prefix_is_kept() {
        let config = ReaderConfig {
            keep: 2,
            ..server(false)
        };
        assert_eq!(
            read(config, HELLO_UNMASKED)[1],
            Ev::Message {
                opcode: 1,
                frames: 1,
                wire: 5,
                compressed: false,
                size: Some(5),
                complete: true,
                kept: b"He".to_vec()
            }
        );
    }

    #[test]
    fn a_bomb_keeps_the_same_prefix_whatever_the_cuts() {
        // Found by fuzzing: the kept prefix of a message that inflates past the
        // maximum depended on where the inflater's output stopped.
        let hex = [
            "c1f8c4c1f324ffffffffffffffffffffff00000067ffffffffffffffffc9c9882608c13b07f248c9c9882608",
            "c13b07f248c9c107f24807cdc902e3ace3e3e3e3e3e31fe3e3e300e3e3e3e32ee3e3e3e3e3e3e3e3e3e3e3e3",
            "e3e3e3e3e3e3e3e3c107f24807cdc902e3ace3e3e3e3e3e31fe3e3e300e3e3e3e32ee3e3e3e3e3e3e3e3e3e3",
            "e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e300",
        ]
        .concat();
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let config = ReaderConfig {
            deflate: true,
            context_takeover: false,
            max_message: 200,
            ..server(true)
        };
        let got = read(config, &bytes);
        assert!(got.contains(&Ev::Violation(Violation::DecompressionBomb)));
    }
}
