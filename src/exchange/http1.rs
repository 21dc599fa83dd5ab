//! HTTP/1.0 and HTTP/1.1 message framing (RFC 9112 §6): where each request and each
//! response starts and ends in one direction's bytes, fed in arbitrary pieces.
//!
//! [`RequestFramer`] and [`ResponseFramer`] are small state machines (32 bytes each)
//! that never allocate and never keep bytes: the start line and the few header fields
//! that framing depends on (`Content-Length`, `Transfer-Encoding`, `Connection`,
//! `Upgrade`) are matched while they stream by, byte after byte, and bodies are
//! skipped by counting. This module does not pair requests with responses, does not
//! keep header values and does not decode bodies beyond counting their bytes: the
//! exchange analyzer does the rest. Every function is panic-free, linear in its input
//! and without recursion.
//!
//! The byte-at-a-time machine is the reference. Faster paths give its outcome for the
//! common shapes and hand anything else back to it: a head whole in one piece is read
//! at once, 64 bytes at a time from LF/CR bit masks when its lines all end in CRLF
//! ([`masks`]; only lines whose first letter may start a framing field name, with a
//! colon right after that name, are looked at), else line by line; a framing field's
//! plain value takes effect at once; body bytes that do not end their message are
//! counted without the machine ([`RequestFramer::body_within`]). The tests compare
//! each with the path beneath it. The states those paths do not cover are stepped
//! through out of line (`Core::feed` hands them to `Core::feed_other`), so that the
//! code the common messages run stays small: it runs once per message, and competes
//! for the instruction cache with the rest of the run.

use super::http::{find_byte, find_cr_or_lf, same_ignoring_case, FieldLines};

mod masks;

/// Longest line (start line, field line, chunk-size line, trailer line), its line end
/// included. RFC 9112 §3 recommends supporting request lines of at least 8000 octets.
pub const MAX_LINE: u16 = 8 * 1024;
/// Longest header section (start line and field lines), and longest trailer section.
/// RFC 9112 §5 leaves the limit to the recipient.
pub const MAX_HEAD: u32 = 64 * 1024;

/// What the response framer must know of the request a response answers (RFC 9112
/// §6.3 rules 1 and 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestKind {
    Head,
    Connect,
    Other,
}

/// `HTTP/1.0`, or `HTTP/1.1` (also any later `HTTP/1.x`, RFC 9110 §2.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

/// What the `Upgrade` field asks for (RFC 9110 §7.8); the first known protocol wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Upgrade {
    None,
    WebSocket,
    H2c,
    Other,
}

/// How a message's body is delimited (RFC 9112 §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body: the message ended with its head.
    None,
    /// `Content-Length` bytes (0 ends the message with its head).
    Length(u64),
    /// `Transfer-Encoding` whose last coding is `chunked`.
    Chunked,
    /// Responses only: the body runs until the connection closes.
    UntilClose,
}

/// Why a response hands the connection over to another protocol: after it, the
/// response framer is [`FramerState::Stopped`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handoff {
    /// `101 Switching Protocols` (RFC 9110 §15.2.2).
    SwitchingProtocols,
    /// A 2xx answer to `CONNECT`: the connection is a tunnel (RFC 9110 §9.3.6).
    Tunnel,
}

/// A request's head, as far as framing and the exchange analyzer need it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestHead {
    pub kind: RequestKind,
    /// The method token was made of `tchar`s only (RFC 9110 §5.6.2).
    pub method_valid: bool,
    pub version: Version,
    /// What `Connection` says: `Some(false)` for `close` (which wins), `Some(true)`
    /// for `keep-alive`, `None` for neither. See [`RequestHead::persistent`].
    pub keep_alive: Option<bool>,
    /// `Connection` lists `upgrade`.
    pub connection_upgrade: bool,
    pub upgrade: Upgrade,
    pub body: BodyFraming,
}

/// A response's head, as far as framing and the exchange analyzer need it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    pub version: Version,
    /// As in [`RequestHead::keep_alive`].
    pub keep_alive: Option<bool>,
    pub connection_upgrade: bool,
    pub upgrade: Upgrade,
    pub body: BodyFraming,
    /// Set when the connection stops being HTTP/1 after this response.
    pub handoff: Option<Handoff>,
}

impl RequestHead {
    /// Whether the connection stays open after this message (RFC 9112 §9.3).
    pub fn persistent(&self) -> bool {
        persistent(self.version, self.keep_alive)
    }
}

impl ResponseHead {
    /// An interim response (1xx other than 101, RFC 9110 §15.2): the final response
    /// to the same request follows.
    pub fn interim(&self) -> bool {
        (100..200).contains(&self.status) && self.status != 101
    }

    /// Whether the connection stays open after this message (RFC 9112 §9.3).
    pub fn persistent(&self) -> bool {
        persistent(self.version, self.keep_alive) && self.body != BodyFraming::UntilClose
    }
}

fn persistent(version: Version, keep_alive: Option<bool>) -> bool {
    keep_alive.unwrap_or(version == Version::Http11)
}

/// What one `feed` call found. The input's first `consumed` bytes are: `skipped` bytes
/// that belong to no message (stray empty lines between messages, bytes discarded
/// while resynchronising, everything after the framer broke), then bytes of the
/// current message. The byte that breaks a framer is the last of its message: the
/// call ends there and the next calls skip all their bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress<H> {
    /// Bytes of the input used: > 0 whenever the input is non-empty and the framer is
    /// not [`FramerState::Stopped`] (a stopped framer answers 0: the caller must not
    /// loop on it). Never past the end of the current message.
    pub consumed: usize,
    /// Leading bytes of `consumed` that belong to no message.
    pub skipped: usize,
    /// The current message's first byte is among these bytes (at `skipped`), or,
    /// after a resynchronisation, `early` bytes before them.
    pub started: bool,
    /// Bytes of the message's start line that earlier calls reported as skipped: a
    /// resynchronisation only accepts a message once its whole start line is seen.
    pub early: usize,
    /// The message's head, when it became complete in these bytes (once per message).
    pub head: Option<H>,
    /// Decoded body bytes among these bytes (chunk framing and trailers excluded).
    pub body: u64,
    /// The message ended exactly at `consumed` (complete by its framing); the next
    /// call starts with a new message.
    pub ended: bool,
    /// With `head`, when the whole head was in these bytes and every line of it ends in
    /// CRLF with no other CR: what the exchange layer and the template then need not
    /// look for again.
    pub known: Option<KnownHead>,
}

/// What a framer that read a message's head whole, every line ending in CRLF with no
/// other CR, knows of the message's first bytes, as offsets from its first byte.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KnownHead {
    /// Where [`super::http::header_split`] ends the header block: the CR of the final
    /// CRLF.
    pub header_end: usize,
    /// The first `Connection` and `Content-Length` lines.
    pub fields: FieldLines,
}

/// What a gap (bytes the receiver acknowledged but the capture missed) did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GapEffect {
    /// The gap lies inside a body whose end the framer still knows (a
    /// `Content-Length` body, a chunk's data, a close-delimited body): framing stays
    /// in sync, only body bytes are missing. `ended`: the message ended exactly at the
    /// gap's end, the next `feed` starts a new message.
    InBody { ended: bool },
    /// The framer lost its place: the current message (if any) is over, incomplete,
    /// and `feed` skips bytes until a line that starts a new message.
    LostSync,
    /// Nothing changed: an empty gap, or a broken or stopped framer.
    Ignored,
}

/// Where a framer is, for the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FramerState {
    /// Between messages.
    Idle,
    /// Inside a message's head.
    Head,
    /// Inside a message's body (chunk framing and trailers included).
    Body,
    /// After a gap: looking for the start of a message.
    Resync,
    /// The bytes are not HTTP/1 (or beyond this module's bounds): everything is
    /// consumed and skipped from now on.
    Broken,
    /// The connection switched protocols or became a tunnel: nothing is consumed.
    Stopped,
}

/// Parses requests, one direction of a connection.
#[derive(Clone, Debug, Default)]
pub struct RequestFramer(Core);

/// Parses responses, the other direction.
#[derive(Clone, Debug, Default)]
pub struct ResponseFramer(Core);

const _: () = assert!(std::mem::size_of::<RequestFramer>() <= 32);
const _: () = assert!(std::mem::size_of::<ResponseFramer>() <= 32);

impl RequestFramer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Frames the next bytes of the request direction; see [`Progress`].
    pub fn feed(&mut self, bytes: &[u8]) -> Progress<RequestHead> {
        let out = self.0.feed(Side::Request, bytes, None);
        let core = &self.0;
        out.map(|body, _| RequestHead {
            kind: core.kind(),
            method_valid: core.flags & F_BAD_METHOD == 0,
            version: core.version(),
            keep_alive: core.keep_alive(),
            connection_upgrade: core.flags & F_CONN_UPGRADE != 0,
            upgrade: core.upgrade(),
            body,
        })
    }

    /// `len` bytes of this direction were missed; see [`GapEffect`].
    pub fn gap(&mut self, len: u64) -> GapEffect {
        self.0.gap(len)
    }

    /// Whether the next `len` bytes (`len > 0`) are body bytes that do not end the
    /// message (inside a `Content-Length` body or a chunk's data with more than `len`
    /// bytes left, or a close-delimited body); if so they are counted, as
    /// [`Self::feed`] over them would (all consumed, none skipped, `len` body bytes,
    /// nothing else). Otherwise nothing changes.
    pub fn body_within(&mut self, len: usize) -> bool {
        self.0.body_within(len)
    }

    pub fn state(&self) -> FramerState {
        self.0.state()
    }

    /// Stops framing (the response made the connection a tunnel or switched its
    /// protocol): from now on `feed` consumes nothing.
    pub fn stop(&mut self) {
        self.0.st = St::Stopped;
    }
}

impl ResponseFramer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Frames the next bytes of the response direction; see [`Progress`]. `request`
    /// is the kind of the request the current response answers (`None` when it was
    /// not seen: taken as [`RequestKind::Other`]); it is read when the head completes.
    pub fn feed(&mut self, bytes: &[u8], request: Option<RequestKind>) -> Progress<ResponseHead> {
        let out = self.0.feed(Side::Response, bytes, request);
        let core = &self.0;
        out.map(|body, handoff| ResponseHead {
            status: core.status,
            version: core.version(),
            keep_alive: core.keep_alive(),
            connection_upgrade: core.flags & F_CONN_UPGRADE != 0,
            upgrade: core.upgrade(),
            body,
            handoff,
        })
    }

    /// `len` bytes of this direction were missed; see [`GapEffect`].
    pub fn gap(&mut self, len: u64) -> GapEffect {
        self.0.gap(len)
    }

    /// Whether the next `len` bytes (`len > 0`) are body bytes that do not end the
    /// message (inside a `Content-Length` body or a chunk's data with more than `len`
    /// bytes left, or a close-delimited body); if so they are counted, as
    /// [`Self::feed`] over them would (all consumed, none skipped, `len` body bytes,
    /// nothing else). Otherwise nothing changes.
    pub fn body_within(&mut self, len: usize) -> bool {
        self.0.body_within(len)
    }

    pub fn state(&self) -> FramerState {
        self.0.state()
    }

    /// A close-delimited body is in progress: the message is complete when the
    /// connection closes (RFC 9112 §6.3 rule 8).
    pub fn ends_at_close(&self) -> bool {
        self.0.st == St::UntilClose
    }

    /// Stops framing; from now on `feed` consumes nothing.
    pub fn stop(&mut self) {
        self.0.st = St::Stopped;
    }
}

// ---------------------------------------------------------------------------------
// The shared machine.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Request,
    Response,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(u8)]
enum St {
    #[default]
    Idle,
    // Request line (RFC 9112 §3): method SP target SP version.
    Method,
    TargetStart,
    Target,
    Version,
    VersionMinor,
    VersionEnd,
    // Status line (RFC 9112 §4): version SP 3DIGIT [SP reason].
    StatusVersion,
    StatusMinor,
    StatusSpace,
    StatusCode,
    StatusAfterCode,
    Reason,
    // Field lines (RFC 9112 §5).
    LineStart,
    Name,
    Value,
    // Bodies (RFC 9112 §6, §7.1).
    Length,
    ChunkSize,
    ChunkExt,
    ChunkData,
    ChunkDataEnd,
    ChunkDataCr,
    TrailerStart,
    TrailerLine,
    UntilClose,
    // After a gap: at a line start, or skipping to the next line.
    ResyncLine,
    Resync,
    Broken,
    Stopped,
}

/// The field whose value is being read (or, at a line start, was just read).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(u8)]
enum Field {
    /// No field line is pending (after the start line, or a line without colon).
    #[default]
    NoneYet,
    Other,
    ContentLength,
    TransferEncoding,
    Connection,
    Upgrade,
}

// Message flags.
const F_CL: u16 = 1 << 0;
const F_CL_BAD: u16 = 1 << 1;
const F_TE: u16 = 1 << 2;
const F_CHUNKED: u16 = 1 << 3;
const F_CLOSE: u16 = 1 << 4;
const F_KEEP: u16 = 1 << 5;
const F_CONN_UPGRADE: u16 = 1 << 6;
const F_WS: u16 = 1 << 7;
const F_H2C: u16 = 1 << 8;
const F_UPG_OTHER: u16 = 1 << 9;
const F_V11: u16 = 1 << 10;
const F_BAD_METHOD: u16 = 1 << 11;
/// The start line being read is a resynchronisation candidate: a mismatch goes back to
/// skipping instead of breaking, and the message starts only when the line is whole.
const F_RESYNC: u16 = 1 << 12;
const F_HEAD: u16 = 1 << 13;
const F_CONNECT: u16 = 1 << 14;

/// Methods a resynchronisation accepts at a line start (RFC 9110 §9.1, RFC 5789);
/// indices 1 and 5 are `HEAD` and `CONNECT`, which matter to framing. Case-sensitive.
const METHODS: &[&[u8]] = &[
    b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"CONNECT", b"OPTIONS", b"TRACE", b"PATCH",
];
const METHOD_HEAD: usize = 1;
const METHOD_CONNECT: usize = 5;
/// Field names, lowercase (matched case-insensitively, RFC 9110 §5.1), in [`Field`]
/// order from `ContentLength`.
const NAMES: &[&[u8]] = &[
    b"content-length",
    b"transfer-encoding",
    b"connection",
    b"upgrade",
];
/// RFC 9112 §7.
const TE_TOKENS: &[&[u8]] = &[b"chunked"];
/// RFC 9112 §9.3, RFC 9110 §7.6.1 and §7.8.
const CONNECTION_TOKENS: &[&[u8]] = &[b"close", b"keep-alive", b"upgrade"];
/// RFC 6455 §4.2.1, RFC 7540 §3.2 (the protocol name before any `/version`).
const UPGRADE_TOKENS: &[&[u8]] = &[b"websocket", b"h2c"];
/// `HTTP-name "/" DIGIT "."` (RFC 9112 §2.3), the major version fixed at 1.
const VERSION_PREFIX: &[u8] = b"HTTP/1.";

// Phases of a value (`Core::phase`).
const LEAD: u8 = 0;
const TOKEN: u8 = 1; // also: Content-Length digits
const SKIP: u8 = 2; // also: Content-Length trailing whitespace
const BAD: u8 = 3; // Content-Length only

/// The field of the [`NAMES`] entry at `index` (`None`: a field framing ignores).
fn field_of(index: Option<usize>) -> Field {
    match index {
        Some(0) => Field::ContentLength,
        Some(1) => Field::TransferEncoding,
        Some(2) => Field::Connection,
        Some(3) => Field::Upgrade,
        _ => Field::Other,
    }
}

/// The field a whole name stands for, as the byte path's matching of [`NAMES`] finds
/// it. The names differ in length, so the length picks the one candidate; a name equal
/// to it ignoring case is made of letters and `-` only, all tchars, so the byte path's
/// rule that a non-tchar byte matches nothing needs no check of its own.
fn field_named(name: &[u8]) -> Field {
    let index = match name.len() {
        14 => 0,
        17 => 1,
        10 => 2,
        7 => 3,
        _ => return Field::Other,
    };
    if same_ignoring_case(name, NAMES[index]) {
        field_of(Some(index))
    } else {
        Field::Other
    }
}

/// `tchar` (RFC 9110 §5.6.2), by byte value.
const TCHAR: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        b += 1;
    }
    table
};

/// `tchar` (RFC 9110 §5.6.2).
#[inline]
fn is_tchar(b: u8) -> bool {
    TCHAR[usize::from(b)]
}

/// The index of the token of `tokens` equal to `token` ignoring case. The tokens of a
/// field differ in length (a test checks it), so the length picks the one candidate.
#[inline(always)]
fn known_token_index(tokens: &[&[u8]], token: &[u8]) -> Option<usize> {
    for (index, cand) in tokens.iter().enumerate() {
        if cand.len() == token.len() {
            return same_ignoring_case(token, cand).then_some(index);
        }
    }
    None
}

/// The index of the candidate in `mask` that is exactly `pos` bytes long.
fn matched(cands: &[&[u8]], mask: u16, pos: u8) -> Option<usize> {
    (0..cands.len()).find(|&j| mask & (1 << j) != 0 && cands[j].len() == usize::from(pos))
}

fn all(cands: &[&[u8]]) -> u16 {
    (1u16 << cands.len()) - 1
}

/// Where one `feed` call got (the wrappers turn it into a [`Progress`]).
#[derive(Default)]
struct Out {
    consumed: usize,
    skipped: usize,
    started: bool,
    early: usize,
    head: Option<(BodyFraming, Option<Handoff>)>,
    body: u64,
    ended: bool,
    known: Option<KnownHead>,
}

impl Out {
    fn map<H>(self, head: impl FnOnce(BodyFraming, Option<Handoff>) -> H) -> Progress<H> {
        Progress {
            consumed: self.consumed,
            skipped: self.skipped,
            started: self.started,
            early: self.early,
            head: self.head.map(|(body, handoff)| head(body, handoff)),
            body: self.body,
            ended: self.ended,
            known: self.known,
        }
    }
}

/// A byte step's verdict on the start line or header section.
enum Step {
    Continue,
    /// Not HTTP/1 (or over a bound).
    Fail,
    /// The start line ended with the byte just consumed.
    StartLine,
    /// The header section ended with the byte just consumed.
    HeadEnd,
}

/// Classes of value bytes for [`Core::plain_value`]: blanks (`SP`, `HTAB`, and the
/// CR of a line end, which the byte path skips alike), list and parameter separators,
/// and the rest (token bytes).
const V_TOKEN: u8 = 0;
const V_BLANK: u8 = 1;
const V_SEPARATOR: u8 = 2;
const VALUE_CLASS: [u8; 256] = {
    let mut table = [V_TOKEN; 256];
    table[b' ' as usize] = V_BLANK;
    table[b'\t' as usize] = V_BLANK;
    table[b'\r' as usize] = V_BLANK;
    table[b',' as usize] = V_SEPARATOR;
    table[b';' as usize] = V_SEPARATOR;
    table[b'/' as usize] = V_SEPARATOR;
    table
};

/// A head read at once by [`Core::head_at_once`].
#[derive(Debug, PartialEq, Eq)]
struct WholeHead {
    /// Bytes of the head, its final line end included.
    taken: usize,
    /// What the head's end decided (`None`: framing that cannot be trusted).
    head: Option<(BodyFraming, Option<Handoff>)>,
    /// Every line ended in CRLF with no other CR.
    crlf_only: bool,
    /// Its first `Connection` and `Content-Length` lines.
    fields: FieldLines,
}

/// What the first byte of a field line says to [`Core::head_by_masks`].
const LEAD_OTHER: u8 = 0;
/// The first letter of one of [`NAMES`], in either case.
const LEAD_NAME: u8 = 1;
const LEAD_BLANK: u8 = 2;
const LINE_LEAD: [u8; 256] = {
    let mut table = [LEAD_OTHER; 256];
    let mut i = 0;
    while i < NAMES.len() {
        let first = NAMES[i][0];
        table[first as usize] = LEAD_NAME;
        table[first.to_ascii_uppercase() as usize] = LEAD_NAME;
        i += 1;
    }
    table[b' ' as usize] = LEAD_BLANK;
    table[b'\t' as usize] = LEAD_BLANK;
    table
};

/// The framing field a field line names, and its name's length (the colon follows it).
/// A name equal to one of [`NAMES`] holds no colon, so a colon right after it is the
/// line's first: the field the byte path finds at that colon.
#[inline(always)]
fn field_of_line(line: &[u8]) -> (Field, usize) {
    let named = |index: usize| {
        let name = NAMES[index];
        let len = name.len();
        let hit = line.get(len) == Some(&b':')
            && line.get(..len).is_some_and(|n| same_ignoring_case(n, name));
        hit.then(|| (field_of(Some(index)), len))
    };
    // Only the names that start with the line's first letter (in either case) can
    // match, in NAMES order: each tried with its length and letters known at compile
    // time, instead of a loop over all of them.
    let found = match line.first().map(|&c| c | 0x20) {
        Some(b'c') => named(0).or_else(|| named(2)),
        Some(b't') => named(1),
        Some(b'u') => named(3),
        _ => None,
    };
    found.unwrap_or((Field::Other, 0))
}

/// Whether the byte after one of the [`NAMES`] that the line at `line_start` may start
/// with (by its first letter) is a colon. Without one, [`field_of_line`] finds no
/// framing field in the line, whatever the bytes after it: a cheap test that rules out
/// most field lines (`User-Agent`, `Content-Type`...) before their end is looked for.
#[inline(always)]
fn colon_after_name(bytes: &[u8], line_start: usize) -> bool {
    let colon_after = |index: usize| {
        NAMES
            .get(index)
            .is_some_and(|name| bytes.get(line_start + name.len()) == Some(&b':'))
    };
    match bytes.get(line_start).map(|&c| c | 0x20) {
        Some(b'c') => colon_after(0) || colon_after(2),
        Some(b't') => colon_after(1),
        Some(b'u') => colon_after(3),
        _ => false,
    }
}

/// The line at `at` in `bytes`: its bytes without the line end, and the offset after
/// its LF; `None` without an LF or past [`MAX_LINE`]. Clears `crlf_only` unless the line
/// ends in CRLF with no other CR.
#[inline(always)]
fn line_at<'a>(bytes: &'a [u8], at: usize, crlf_only: &mut bool) -> Option<(&'a [u8], usize)> {
    let rest = bytes.get(at..)?;
    let (content, next, crlf) = line_end(rest)?;
    if next > usize::from(MAX_LINE) {
        return None;
    }
    *crlf_only &= crlf;
    Some((rest.get(..content)?, at + next))
}

/// The end of the line `rest` starts with: the length of its content (a CR before the
/// LF excluded), the offset after its LF, and whether the line ends in CRLF with no
/// other CR in it. `None` without an LF.
#[inline(always)]
fn line_end(rest: &[u8]) -> Option<(usize, usize, bool)> {
    let first = find_cr_or_lf(rest)?;
    if rest.get(first) == Some(&b'\n') {
        return Some((first, first + 1, false));
    }
    if rest.get(first + 1) == Some(&b'\n') {
        return Some((first, first + 2, true));
    }
    let nl = first + 1 + find_byte(rest.get(first + 1..)?, b'\n')?;
    let content = if rest.get(nl - 1) == Some(&b'\r') {
        nl - 1
    } else {
        nl
    };
    Some((content, nl + 1, false))
}

/// The state of one direction. Fields are reused from phase to phase to stay within
/// 32 bytes: `n` is the Content-Length being read in a head, then the bytes left in a
/// body or chunk, or the chunk size being read.
#[derive(Clone, Debug, Default)]
struct Core {
    n: u64,
    /// The Content-Length value seen (valid with `F_CL`).
    cl: u64,
    /// Bytes of the header (or trailer) section so far.
    block: u32,
    flags: u16,
    /// Bytes of the current line so far.
    line: u16,
    status: u16,
    /// Candidates still matching the current token (bit j: candidate j).
    mask: u16,
    st: St,
    field: Field,
    /// Bytes of the current token so far (saturating).
    pos: u8,
    /// Phase of the value being read (`LEAD`, `TOKEN`, `SKIP`, `BAD`); in a chunk-size
    /// line, whether a digit was seen.
    phase: u8,
}

impl Core {
    fn state(&self) -> FramerState {
        match self.st {
            St::Broken => FramerState::Broken,
            St::Stopped => FramerState::Stopped,
            St::Idle => FramerState::Idle,
            St::ResyncLine | St::Resync => FramerState::Resync,
            _ if self.flags & F_RESYNC != 0 => FramerState::Resync,
            St::Method
            | St::TargetStart
            | St::Target
            | St::Version
            | St::VersionMinor
            | St::VersionEnd
            | St::StatusVersion
            | St::StatusMinor
            | St::StatusSpace
            | St::StatusCode
            | St::StatusAfterCode
            | St::Reason
            | St::LineStart
            | St::Name
            | St::Value => FramerState::Head,
            St::Length
            | St::ChunkSize
            | St::ChunkExt
            | St::ChunkData
            | St::ChunkDataEnd
            | St::ChunkDataCr
            | St::TrailerStart
            | St::TrailerLine
            | St::UntilClose => FramerState::Body,
        }
    }

    fn kind(&self) -> RequestKind {
        if self.flags & F_HEAD != 0 {
            RequestKind::Head
        } else if self.flags & F_CONNECT != 0 {
            RequestKind::Connect
        } else {
            RequestKind::Other
        }
    }

    fn version(&self) -> Version {
        if self.flags & F_V11 != 0 {
            Version::Http11
        } else {
            Version::Http10
        }
    }

    fn keep_alive(&self) -> Option<bool> {
        if self.flags & F_CLOSE != 0 {
            Some(false)
        } else if self.flags & F_KEEP != 0 {
            Some(true)
        } else {
            None
        }
    }

    fn upgrade(&self) -> Upgrade {
        if self.flags & F_WS != 0 {
            Upgrade::WebSocket
        } else if self.flags & F_H2C != 0 {
            Upgrade::H2c
        } else if self.flags & F_UPG_OTHER != 0 {
            Upgrade::Other
        } else {
            Upgrade::None
        }
    }

    /// Forgets the previous message and starts reading a start line.
    fn begin(&mut self, side: Side, resync: bool) {
        *self = Core {
            st: match side {
                Side::Request => St::Method,
                Side::Response => St::StatusVersion,
            },
            mask: match side {
                Side::Request => all(METHODS),
                Side::Response => 0,
            },
            flags: if resync { F_RESYNC } else { 0 },
            ..Core::default()
        };
    }

    fn gap(&mut self, len: u64) -> GapEffect {
        if len == 0 {
            return GapEffect::Ignored;
        }
        match self.st {
            St::Broken | St::Stopped => GapEffect::Ignored,
            St::Length if len <= self.n => {
                self.n -= len;
                if self.n == 0 {
                    self.st = St::Idle;
                }
                GapEffect::InBody { ended: self.n == 0 }
            }
            St::ChunkData if len <= self.n => {
                self.n -= len;
                if self.n == 0 {
                    self.st = St::ChunkDataEnd;
                }
                GapEffect::InBody { ended: false }
            }
            // Nothing follows a close-delimited body: missing bytes cannot move its end,
            // and resynchronising inside it could take body text for a response.
            St::UntilClose => GapEffect::InBody { ended: false },
            _ => {
                // The gap's end may be a line start (a whole segment was lost).
                self.st = St::ResyncLine;
                self.flags = 0;
                GapEffect::LostSync
            }
        }
    }

    /// The next `len` bytes (`len > 0`) are body bytes that do not end their message:
    /// inside a `Content-Length` body or a chunk's data with more than `len` bytes
    /// left, or in a close-delimited body. Counts them and returns true: what `feed`
    /// over them would do and report (all consumed, none skipped, `len` body bytes,
    /// nothing else), without its set-up. Otherwise changes nothing and returns false.
    #[inline]
    fn body_within(&mut self, len: usize) -> bool {
        let Ok(len) = u64::try_from(len) else {
            return false;
        };
        match self.st {
            _ if len == 0 => false,
            St::Length | St::ChunkData if len < self.n => {
                self.n -= len;
                true
            }
            St::UntilClose => true,
            _ => false,
        }
    }

    fn feed(&mut self, side: Side, bytes: &[u8], request: Option<RequestKind>) -> Out {
        let mut out = Out::default();
        match self.st {
            St::Stopped => return out,
            St::Broken => {
                out.consumed = bytes.len();
                out.skipped = bytes.len();
                return out;
            }
            _ => {}
        }
        // Whether the bytes before `i` belong to no message.
        let mut skipping =
            matches!(self.st, St::Idle | St::ResyncLine | St::Resync) || self.flags & F_RESYNC != 0;
        let mut i = 0;
        while let Some(&b) = bytes.get(i) {
            match self.st {
                St::Stopped => break,
                // Broken by the byte before: the next calls skip everything.
                St::Broken => break,
                St::Idle => {
                    if b == b'\r' || b == b'\n' {
                        // RFC 9112 §2.2: empty lines before a request line are ignored.
                        i += 1;
                        continue;
                    }
                    self.begin(side, false);
                    out.started = true;
                    out.skipped = i;
                    skipping = false;
                    let first_ok = match side {
                        Side::Request => is_tchar(b),
                        Side::Response => b == b'H',
                    };
                    if !first_ok {
                        i += 1;
                        self.st = St::Broken;
                    }
                }
                St::Length | St::ChunkData => {
                    let left = (bytes.len() - i) as u64;
                    let take = left.min(self.n);
                    i += take as usize;
                    self.n -= take;
                    out.body += take;
                    if self.n == 0 {
                        if self.st == St::Length {
                            self.st = St::Idle;
                            out.ended = true;
                            break;
                        }
                        self.st = St::ChunkDataEnd;
                    }
                }
                St::UntilClose => {
                    out.body += (bytes.len() - i) as u64;
                    i = bytes.len();
                }
                // A message's head whole in these bytes (the common case): read line
                // by line at once, with the byte-at-a-time path's outcome, or not at all.
                St::Method | St::StatusVersion
                    if self.block == 0 && self.pos == 0 && self.flags & F_RESYNC == 0 =>
                {
                    match self.head_at_once(side, request, &bytes[i..]) {
                        Some(whole) => {
                            i += whole.taken;
                            out.head = whole.head;
                            out.known = whole
                                .crlf_only
                                .then(|| KnownHead {
                                    header_end: whole.taken - 2,
                                    fields: whole.fields,
                                })
                                .filter(|_| whole.head.is_some());
                            if out.head.is_some()
                                && !matches!(self.st, St::Length | St::ChunkSize | St::UntilClose)
                            {
                                out.ended = true;
                                break;
                            }
                        }
                        None => {
                            self.head_step(side, request, b, &mut i, &mut out, &mut skipping);
                            if out.ended {
                                break;
                            }
                        }
                    }
                }
                // The other states: what the common messages pass through rarely, or
                // only when their head is not whole in one piece.
                _ => {
                    if self.feed_other(side, request, bytes, &mut i, &mut out, &mut skipping) {
                        break;
                    }
                }
            }
        }
        out.consumed = i;
        if skipping {
            out.skipped = i;
        }
        out
    }

    /// One step of [`Core::feed`] from `bytes[*i]` in a state other than those of a
    /// head whole in one piece and of a body: a resynchronisation, chunk framing and
    /// trailers, a head arriving in several pieces. Returns whether `feed` stops there.
    /// Kept out of `feed` so that the common path stays compact.
    #[inline(never)]
    fn feed_other(
        &mut self,
        side: Side,
        request: Option<RequestKind>,
        bytes: &[u8],
        i: &mut usize,
        out: &mut Out,
        skipping: &mut bool,
    ) -> bool {
        let Some(&b) = bytes.get(*i) else {
            return true;
        };
        match self.st {
            St::ResyncLine => {
                if b == b'\r' || b == b'\n' {
                    *i += 1;
                    return false;
                }
                self.begin(side, true);
            }
            St::Resync => match find_byte(&bytes[*i..], b'\n') {
                Some(k) => {
                    *i += k + 1;
                    self.st = St::ResyncLine;
                }
                None => *i = bytes.len(),
            },
            St::ChunkDataEnd | St::ChunkDataCr => {
                *i += 1;
                match b {
                    b'\r' if self.st == St::ChunkDataEnd => self.st = St::ChunkDataCr,
                    b'\n' => self.start_chunk_line(),
                    _ => self.st = St::Broken,
                }
            }
            St::ChunkSize => {
                *i += 1;
                if !self.count_line() {
                    self.st = St::Broken;
                    return false;
                }
                match b {
                    b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                        let digit = u64::from((b as char).to_digit(16).unwrap_or(0));
                        match self.n.checked_mul(16) {
                            Some(n) => self.n = n | digit,
                            None => self.st = St::Broken,
                        }
                        self.phase = 1;
                    }
                    // BWS, chunk extensions (RFC 9112 §7.1.1), a CR: skipped to LF.
                    b' ' | b'\t' | b';' | b'\r' if self.phase == 1 => {
                        self.st = St::ChunkExt;
                    }
                    b'\n' if self.phase == 1 => self.end_chunk_size(),
                    _ => self.st = St::Broken,
                }
            }
            St::ChunkExt | St::TrailerLine => {
                let rest = &bytes[*i..];
                let (len, found) = match find_byte(rest, b'\n') {
                    Some(k) => (k + 1, true),
                    None => (rest.len(), false),
                };
                *i += len;
                let line = usize::from(self.line) + len;
                self.line = line.min(usize::from(u16::MAX)) as u16;
                if self.st == St::TrailerLine {
                    self.block = self.block.saturating_add(len.min(u32::MAX as usize) as u32);
                }
                if line > usize::from(MAX_LINE) || self.block > MAX_HEAD {
                    self.st = St::Broken;
                } else if found {
                    if self.st == St::ChunkExt {
                        self.end_chunk_size();
                    } else {
                        self.line = 0;
                        self.st = St::TrailerStart;
                    }
                }
            }
            St::TrailerStart => {
                *i += 1;
                self.block = self.block.saturating_add(1);
                if !self.count_line() || self.block > MAX_HEAD {
                    self.st = St::Broken;
                    return false;
                }
                match b {
                    b'\r' => {}
                    b'\n' => {
                        self.st = St::Idle;
                        out.ended = true;
                        return true;
                    }
                    _ => self.st = St::TrailerLine,
                }
            }
            // Runs of bytes that only move the line on: a request target, a
            // reason phrase, the value of a field framing does not read. Skipped
            // at once, within the same bounds the byte-at-a-time path checks.
            St::Target | St::Reason | St::Value
                if self.st != St::Value || matches!(self.field, Field::Other | Field::NoneYet) =>
            {
                let rest = &bytes[*i..];
                let run = match self.st {
                    St::Target => rest
                        .iter()
                        .position(|&c| c == b' ' || c == b'\r' || c == b'\n'),
                    _ => find_byte(rest, b'\n'),
                }
                .unwrap_or(rest.len());
                let room = usize::from(MAX_LINE.saturating_sub(self.line))
                    .min(MAX_HEAD.saturating_sub(self.block) as usize);
                let n = run.min(room);
                if n == 0 {
                    // The byte that ends the run, or one past a bound: one at a time.
                    self.head_step(side, request, b, i, out, skipping);
                    if out.ended {
                        return true;
                    }
                    return false;
                }
                // n <= MAX_LINE - line, which fits u16; and <= MAX_HEAD - block.
                self.line += n as u16;
                self.block += n as u32;
                *i += n;
            }
            // `HTTP/1.` whole in these bytes: what eight byte steps would do.
            St::Version | St::StatusVersion
                if self.pos == 0
                    && bytes[*i..].starts_with(VERSION_PREFIX)
                    && usize::from(MAX_LINE.saturating_sub(self.line)) > VERSION_PREFIX.len()
                    && (MAX_HEAD.saturating_sub(self.block) as usize) > VERSION_PREFIX.len() =>
            {
                let n = VERSION_PREFIX.len();
                self.pos = n as u8;
                self.st = if self.st == St::Version {
                    St::VersionMinor
                } else {
                    St::StatusMinor
                };
                self.line += n as u16;
                self.block += n as u32;
                *i += n;
            }
            // A field name whose colon is in these bytes: read at once, with the
            // outcome the byte-at-a-time path reaches at the colon.
            St::LineStart if !matches!(b, b'\r' | b'\n' | b' ' | b'\t') => {
                if !self.name_at_once(&bytes[*i..], i) {
                    self.head_step(side, request, b, i, out, skipping);
                    if out.ended {
                        return true;
                    }
                }
            }
            // The start line and the header section, a byte at a time.
            _ => {
                self.head_step(side, request, b, i, out, skipping);
                if out.ended {
                    return true;
                }
            }
        }
        false
    }

    /// At a message's first byte: when its whole head is in `bytes` and every line is
    /// of the plain shape (`METHOD SP target SP HTTP/1.d`, `HTTP/1.d SP ddd[ SP reason]`,
    /// `name:value` fields, CRLF or LF ends, within the bounds), reads it at once and
    /// returns the bytes it took and what the head's end decided, exactly as byte steps
    /// would. Anything else (an incomplete head, folding, a line without a colon, odd
    /// spacing…) leaves the state untouched and returns `None`: the byte path decides.
    fn head_at_once(
        &mut self,
        side: Side,
        request: Option<RequestKind>,
        bytes: &[u8],
    ) -> Option<WholeHead> {
        let saved = self.clone();
        let result = match self.head_by_masks(side, request, bytes) {
            Some(whole) => Some(whole),
            None => {
                *self = saved.clone();
                self.head_by_lines(side, request, bytes)
            }
        };
        if result.is_none() {
            *self = saved;
        }
        result
    }

    /// [`Core::head_at_once`] for the commonest head: whole within the first
    /// [`MAX_LINE`] bytes, every line ending in CRLF with no other CR, no line starting
    /// with a blank. Reads the head 64 bytes at a time ([`masks`]): the line starts come
    /// from the LF mask and only lines whose first byte may start a framing field name
    /// are read. The outcome is [`Core::head_by_lines`']; `None` for any other head
    /// (the state is then the caller's to restore).
    fn head_by_masks(
        &mut self,
        side: Side,
        request: Option<RequestKind>,
        bytes: &[u8],
    ) -> Option<WholeHead> {
        // Every line of a head within MAX_LINE bytes is within MAX_LINE bytes, and the
        // head within MAX_HEAD: no bound needs a check of its own.
        let bytes = bytes.get(..usize::from(MAX_LINE)).unwrap_or(bytes);
        let mut fields = FieldLines {
            connection: FieldLines::ABSENT,
            content_length: FieldLines::ABSENT,
        };
        // Whether the start line was read, and bit 0 of the next block's line starts
        // and of its expected LFs (a CR ending the block before).
        let (mut start_read, mut carry_lf, mut carry_cr) = (false, 0u64, 0u64);
        // A candidate field line whose LF is in a later block.
        let mut pending = None;
        let mut base = 0;
        loop {
            if base >= bytes.len() {
                return None;
            }
            let m = masks::block_at(bytes, base);
            // Lines after the start line begin after an LF (block 0's bit 0 is the start
            // line's own first byte, read separately).
            let starts = (m.lf << 1) | carry_lf;
            // The empty line that ends the head: a line starting with CR (in a head that
            // passes the CRLF test below, a CR is always followed by its LF).
            let blank = starts & m.cr;
            let end = (blank != 0).then(|| blank.trailing_zeros() as usize);
            // The bits before the empty line's CR, or the whole block.
            let valid = match end {
                Some(end) => (1u64 << end) - 1,
                None => !0,
            };
            // Every LF right after a CR, every CR right before an LF.
            if (((m.cr << 1) | carry_cr) ^ m.lf) & valid != 0 {
                return None;
            }
            if !start_read {
                let first = m.lf & valid;
                if first != 0 {
                    let lf = base + first.trailing_zeros() as usize;
                    // A head's first byte is never an LF; the CR before the LF is the
                    // CRLF test's.
                    let start = bytes.get(..lf.checked_sub(1)?)?;
                    self.start_line(side, start, false)?;
                    start_read = true;
                }
            }
            // A candidate line whose LF the block before did not hold ends at this
            // block's first LF (the lines after it start here).
            if let Some(line_start) = pending {
                if m.lf != 0 {
                    pending = None;
                    let lf = base + m.lf.trailing_zeros() as usize;
                    self.field_line_to(bytes, line_start, lf, &mut fields)?;
                }
            }
            let mut lines = starts & valid;
            while lines != 0 {
                let at = lines.trailing_zeros() as usize;
                lines &= lines - 1;
                let line_start = base + at;
                match bytes.get(line_start).map(|&b| LINE_LEAD[usize::from(b)]) {
                    Some(LEAD_OTHER) | None => continue,
                    // Folding, or whitespace before the first field line: the byte
                    // path's.
                    Some(LEAD_BLANK) => return None,
                    _ => {}
                }
                // No colon right after a name of its first letter: a field framing
                // ignores (`field_line` would leave everything as it is).
                if !colon_after_name(bytes, line_start) {
                    continue;
                }
                // The line's LF: in this block, or (this being its last line) in a
                // later one.
                let later = m.lf & (!0u64 << at);
                if later == 0 {
                    pending = Some(line_start);
                    break;
                }
                let lf = base + later.trailing_zeros() as usize;
                self.field_line_to(bytes, line_start, lf, &mut fields)?;
            }
            if let Some(end) = end {
                let at = base + end;
                if !start_read || pending.is_some() || bytes.get(at + 1) != Some(&b'\n') {
                    return None;
                }
                let next = at + 2;
                let head = self.finish_head(side, request, next);
                return Some(WholeHead {
                    taken: next,
                    head,
                    crlf_only: true,
                    fields,
                });
            }
            carry_lf = m.lf >> 63;
            carry_cr = m.cr >> 63;
            base += masks::BLOCK;
        }
    }

    /// The field line from `line_start` to its LF at `lf`, in a head whose lines end
    /// in CRLF (else the head is given up when the block holding the LF is tested).
    /// Out of line: [`Core::head_by_masks`] calls it from two places (a line ending in
    /// the block, a line ending in the next), and inlined twice the value reading
    /// would run from two copies, both hot.
    #[inline(never)]
    fn field_line_to(
        &mut self,
        bytes: &[u8],
        line_start: usize,
        lf: usize,
        fields: &mut FieldLines,
    ) -> Option<()> {
        // Without its CR: lf > line_start, the line's first byte being no LF.
        let line = bytes.get(line_start..lf.saturating_sub(1).max(line_start))?;
        self.field_line(bytes, line_start, line, lf + 1, fields);
        Some(())
    }

    /// [`Core::head_at_once`] line by line, for any head of the plain shape.
    #[inline(never)]
    fn head_by_lines(
        &mut self,
        side: Side,
        request: Option<RequestKind>,
        bytes: &[u8],
    ) -> Option<WholeHead> {
        // Every line so far ended in CRLF, with no other CR.
        let mut crlf_only = true;
        // The first `Connection` and `Content-Length` lines' starts.
        let mut fields = FieldLines {
            connection: FieldLines::ABSENT,
            content_length: FieldLines::ABSENT,
        };
        let (start, mut at) = line_at(bytes, 0, &mut crlf_only)?;
        // A start line that ends in CRLF holds no other CR.
        let start_has_cr = !crlf_only && start.contains(&b'\r');
        self.start_line(side, start, start_has_cr)?;
        loop {
            if at > MAX_HEAD as usize {
                return None;
            }
            let line_start = at;
            let (line, next) = line_at(bytes, at, &mut crlf_only)?;
            if line.is_empty() {
                if next > MAX_HEAD as usize {
                    return None;
                }
                let head = self.finish_head(side, request, next);
                return Some(WholeHead {
                    taken: next,
                    head,
                    crlf_only,
                    fields,
                });
            }
            // Folding, a whitespace line, or a CR at the line start (skipped byte by
            // byte before the name): the byte path's business.
            if matches!(line[0], b' ' | b'\t' | b'\r') {
                return None;
            }
            self.field_line(bytes, line_start, line, next, &mut fields);
            at = next;
        }
    }

    /// The start line `start` (without its line end) of the plain shape: what byte
    /// steps over it set. `None` for any other shape, or with a CR in it.
    #[inline(always)]
    fn start_line(&mut self, side: Side, start: &[u8], has_cr: bool) -> Option<()> {
        let version_minor = |v: &[u8]| -> Option<u8> {
            match v.strip_prefix(VERSION_PREFIX)? {
                [d] if d.is_ascii_digit() => Some(*d),
                _ => None,
            }
        };
        match side {
            Side::Request => {
                let sp = find_byte(start, b' ')?;
                let (method, rest) = (&start[..sp], &start[sp + 1..]);
                let sp2 = find_byte(rest, b' ')?;
                let (target, version) = (&rest[..sp2], &rest[sp2 + 1..]);
                if method.is_empty()
                    || !method.iter().all(|&c| is_tchar(c))
                    || target.is_empty()
                    || has_cr
                {
                    return None;
                }
                let minor = version_minor(version)?;
                // The two methods framing depends on (`METHODS`' HEAD and CONNECT).
                match method {
                    b"HEAD" => self.flags |= F_HEAD,
                    b"CONNECT" => self.flags |= F_CONNECT,
                    _ => {}
                }
                if minor != b'0' {
                    self.flags |= F_V11;
                }
            }
            Side::Response => {
                let minor = version_minor(start.get(..VERSION_PREFIX.len() + 1)?)?;
                let code = match start.get(VERSION_PREFIX.len() + 1..)? {
                    [b' ', a, b, c, rest @ ..]
                        if a.is_ascii_digit()
                            && b.is_ascii_digit()
                            && c.is_ascii_digit()
                            && (rest.is_empty() || rest[0] == b' ') =>
                    {
                        [*a, *b, *c]
                    }
                    _ => return None,
                };
                let status = code.iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
                if status < 100 || has_cr {
                    return None;
                }
                self.status = status;
                if minor != b'0' {
                    self.flags |= F_V11;
                }
            }
        }
        Some(())
    }

    /// A field line (`line`, without its line end, starting at `line_start` in
    /// `bytes`; `next` is the offset after its LF) of a head read at once: ends the
    /// field before it, and reads its value if framing depends on it. Notes the first
    /// `Connection` and `Content-Length` lines in `fields`.
    #[inline(always)]
    fn field_line(
        &mut self,
        bytes: &[u8],
        line_start: usize,
        line: &[u8],
        next: usize,
        fields: &mut FieldLines,
    ) {
        // (The field before ended with its line: `field` is `NoneYet`.)
        // A line without a colon, or with one first, names no field byte by byte
        // either (and no folding follows here): as any other field.
        let (field, name_len) = field_of_line(line);
        // A line past the offsets' range is not told (0).
        let told = || {
            u16::try_from(line_start)
                .ok()
                .filter(|&at| at != FieldLines::ABSENT)
                .unwrap_or(0)
        };
        match field {
            Field::Connection if fields.connection == FieldLines::ABSENT => {
                fields.connection = told();
            }
            Field::ContentLength if fields.content_length == FieldLines::ABSENT => {
                fields.content_length = told();
            }
            _ => {}
        }
        if field != Field::Other {
            self.field = field;
            self.phase = LEAD;
            self.pos = 0;
            self.n = 0;
            // The value's bytes as byte steps see them: up to the LF, a CR included.
            if let Some(value) = bytes.get(line_start + name_len + 1..next - 1) {
                self.whole_value(value);
            }
        }
    }

    /// The empty line ending a head read at once was read; `next` is the offset after
    /// it. What the byte path's end of the head decides.
    #[inline(always)]
    fn finish_head(
        &mut self,
        side: Side,
        request: Option<RequestKind>,
        next: usize,
    ) -> Option<(BodyFraming, Option<Handoff>)> {
        self.end_field();
        self.st = St::LineStart;
        // next <= MAX_HEAD (the callers' bounds).
        self.block = next as u32;
        self.line = 0;
        self.end_head(side, request)
    }

    /// At the start of a field line (`rest[0]` begins its name): when the line's colon
    /// is in `rest` before any line end, within the line and section bounds, reads the
    /// name and the colon at once (ending the previous field as a new line does) and
    /// moves `*i` past them. Otherwise changes nothing and returns false.
    fn name_at_once(&mut self, rest: &[u8], i: &mut usize) -> bool {
        let line_end = find_byte(rest, b'\n').unwrap_or(rest.len());
        // (A colon as the line's first byte is a name byte, byte by byte.)
        let Some(colon) = find_byte(&rest[..line_end], b':').filter(|&c| c > 0) else {
            return false;
        };
        let name = &rest[..colon];
        let n = colon + 1;
        let room = usize::from(MAX_LINE.saturating_sub(self.line))
            .min(MAX_HEAD.saturating_sub(self.block) as usize);
        if n > room {
            return false;
        }
        self.end_field();
        self.field = field_named(name);
        self.st = St::Value;
        self.phase = LEAD;
        self.pos = 0;
        self.n = 0;
        // n <= room: fits the counters.
        self.line += n as u16;
        self.block += n as u32;
        *i += n;
        true
    }

    /// One byte of the start line or the header section, at `bytes[*i]`.
    #[inline(never)]
    fn head_step(
        &mut self,
        side: Side,
        request: Option<RequestKind>,
        b: u8,
        i: &mut usize,
        out: &mut Out,
        skipping: &mut bool,
    ) {
        *i += 1;
        self.block = self.block.saturating_add(1);
        let step = if !self.count_line() || self.block > MAX_HEAD {
            Step::Fail
        } else {
            self.head_byte(b)
        };
        match step {
            Step::Continue => {}
            Step::Fail => {
                if self.flags & F_RESYNC != 0 {
                    self.st = if b == b'\n' {
                        St::ResyncLine
                    } else {
                        St::Resync
                    };
                    self.flags = 0;
                } else {
                    self.st = St::Broken;
                }
            }
            Step::StartLine => {
                if self.flags & F_RESYNC != 0 {
                    // A whole start line after a gap: the message starts at its first
                    // byte, maybe in an earlier call.
                    self.flags &= !F_RESYNC;
                    let line = usize::from(self.line);
                    out.started = true;
                    out.skipped = i.saturating_sub(line);
                    out.early = line.saturating_sub(*i);
                    *skipping = false;
                }
                self.st = St::LineStart;
                self.field = Field::NoneYet;
                self.line = 0;
            }
            Step::HeadEnd => {
                // Framing that cannot be trusted breaks the framer: no head.
                out.head = self.end_head(side, request);
                if out.head.is_some()
                    && !matches!(self.st, St::Length | St::ChunkSize | St::UntilClose)
                {
                    out.ended = true;
                }
            }
        }
    }

    /// Counts a byte of the current line; false past [`MAX_LINE`].
    fn count_line(&mut self) -> bool {
        self.line = self.line.saturating_add(1);
        self.line <= MAX_LINE
    }

    fn start_chunk_line(&mut self) {
        self.st = St::ChunkSize;
        self.n = 0;
        self.phase = 0;
        self.line = 0;
    }

    /// The chunk-size line ended: data, or the trailer section after the last chunk.
    fn end_chunk_size(&mut self) {
        self.line = 0;
        if self.n == 0 {
            self.st = St::TrailerStart;
            self.block = 0;
        } else {
            self.st = St::ChunkData;
        }
    }

    /// One byte of the start line or of the field lines.
    fn head_byte(&mut self, b: u8) -> Step {
        let resync = self.flags & F_RESYNC != 0;
        match self.st {
            St::Method => match b {
                b' ' => {
                    match matched(METHODS, self.mask, self.pos) {
                        Some(METHOD_HEAD) => self.flags |= F_HEAD,
                        Some(METHOD_CONNECT) => self.flags |= F_CONNECT,
                        Some(_) => {}
                        None if resync => return Step::Fail,
                        None => {}
                    }
                    self.st = St::TargetStart;
                }
                _ if is_tchar(b) => self.match_byte(METHODS, b),
                b'\r' | b'\n' => return Step::Fail,
                _ if resync => return Step::Fail,
                _ => {
                    self.flags |= F_BAD_METHOD;
                    self.mask = 0;
                }
            },
            St::TargetStart => match b {
                b' ' => {}
                b'\r' | b'\n' => return Step::Fail,
                _ => self.st = St::Target,
            },
            St::Target => match b {
                b' ' => {
                    self.st = St::Version;
                    self.pos = 0;
                }
                // No version: HTTP/0.9, or not HTTP.
                b'\r' | b'\n' => return Step::Fail,
                _ => {}
            },
            St::Version | St::StatusVersion => {
                if VERSION_PREFIX.get(usize::from(self.pos)) != Some(&b) {
                    return Step::Fail;
                }
                self.pos += 1;
                if usize::from(self.pos) == VERSION_PREFIX.len() {
                    self.st = if self.st == St::Version {
                        St::VersionMinor
                    } else {
                        St::StatusMinor
                    };
                }
            }
            St::VersionMinor | St::StatusMinor => {
                if !b.is_ascii_digit() {
                    return Step::Fail;
                }
                if b != b'0' {
                    self.flags |= F_V11;
                }
                self.st = if self.st == St::VersionMinor {
                    St::VersionEnd
                } else {
                    St::StatusSpace
                };
            }
            St::VersionEnd => match b {
                b'\r' => {}
                b'\n' => return Step::StartLine,
                _ => return Step::Fail,
            },
            St::StatusSpace => {
                if b != b' ' {
                    return Step::Fail;
                }
                self.st = St::StatusCode;
                self.pos = 0;
            }
            St::StatusCode => {
                if !b.is_ascii_digit() {
                    return Step::Fail;
                }
                self.status = self.status * 10 + u16::from(b - b'0');
                self.pos += 1;
                if self.pos == 3 {
                    if self.status < 100 {
                        return Step::Fail;
                    }
                    self.st = St::StatusAfterCode;
                }
            }
            St::StatusAfterCode => match b {
                b' ' | b'\r' => self.st = St::Reason,
                b'\n' => return Step::StartLine,
                _ => return Step::Fail,
            },
            St::Reason if b == b'\n' => return Step::StartLine,
            St::LineStart => {
                if (b == b' ' || b == b'\t') && self.field != Field::NoneYet {
                    // Obsolete line folding (RFC 9112 §5.2): the value goes on.
                    self.st = St::Value;
                    self.value_byte(b);
                    return Step::Continue;
                }
                self.end_field();
                match b {
                    b'\r' => {}
                    b'\n' => return Step::HeadEnd,
                    // Whitespace before the first field line (RFC 9112 §2.2): the line
                    // is ignored.
                    b' ' | b'\t' => {
                        self.field = Field::Other;
                        self.st = St::Value;
                    }
                    _ => {
                        self.st = St::Name;
                        self.mask = all(NAMES);
                        self.pos = 0;
                        self.match_byte(NAMES, b.to_ascii_lowercase());
                    }
                }
            }
            St::Name => match b {
                b':' => {
                    self.field = field_of(matched(NAMES, self.mask, self.pos));
                    self.st = St::Value;
                    self.phase = LEAD;
                    self.pos = 0;
                    self.n = 0;
                }
                // A line without a colon is ignored.
                b'\n' => {
                    self.field = Field::NoneYet;
                    self.st = St::LineStart;
                    self.line = 0;
                }
                _ if is_tchar(b) => self.match_byte(NAMES, b.to_ascii_lowercase()),
                _ => self.mask = 0,
            },
            St::Value => {
                if b == b'\n' {
                    self.st = St::LineStart;
                    self.line = 0;
                } else {
                    self.value_byte(b);
                }
            }
            _ => {}
        }
        Step::Continue
    }

    /// Narrows the candidates to those whose next byte is `b`.
    fn match_byte(&mut self, cands: &[&[u8]], b: u8) {
        let pos = usize::from(self.pos);
        for (j, cand) in cands.iter().enumerate() {
            if cand.get(pos) != Some(&b) {
                self.mask &= !(1 << j);
            }
        }
        self.pos = self.pos.saturating_add(1);
    }

    fn tokens(&self) -> &'static [&'static [u8]] {
        match self.field {
            Field::TransferEncoding => TE_TOKENS,
            Field::Connection => CONNECTION_TOKENS,
            _ => UPGRADE_TOKENS,
        }
    }

    /// One byte of a field value (not LF).
    fn value_byte(&mut self, b: u8) {
        match self.field {
            Field::NoneYet | Field::Other => {}
            // `1*DIGIT`, or a list of equal values (RFC 9110 §8.6).
            Field::ContentLength => match (self.phase, b) {
                (BAD, _) => {}
                (LEAD | TOKEN, b'0'..=b'9') => {
                    let digit = u64::from(b - b'0');
                    match self.n.checked_mul(10).and_then(|n| n.checked_add(digit)) {
                        Some(n) => {
                            self.n = n;
                            self.phase = TOKEN;
                        }
                        None => self.cl_bad(),
                    }
                }
                (LEAD | SKIP, b' ' | b'\t' | b'\r') => {}
                (TOKEN, b' ' | b'\t' | b'\r') => self.phase = SKIP,
                (_, b',') => self.end_length(),
                _ => self.cl_bad(),
            },
            // Comma-separated lists of tokens (RFC 9110 §5.6.1), a token ending at
            // whitespace, `;` (parameters) or `/` (a protocol version).
            Field::TransferEncoding | Field::Connection | Field::Upgrade => match (self.phase, b) {
                (_, b',') => {
                    if self.phase == TOKEN {
                        self.end_token();
                    }
                    self.phase = LEAD;
                }
                (LEAD, b' ' | b'\t' | b'\r') => {}
                (LEAD, _) => {
                    self.phase = TOKEN;
                    self.mask = all(self.tokens());
                    self.pos = 0;
                    self.match_byte(self.tokens(), b.to_ascii_lowercase());
                }
                (TOKEN, b' ' | b'\t' | b'\r' | b';' | b'/') => {
                    self.end_token();
                    self.phase = SKIP;
                }
                (TOKEN, _) => self.match_byte(self.tokens(), b.to_ascii_lowercase()),
                _ => {}
            },
        }
    }

    /// A whole field value, from the state the colon left (`phase` LEAD, `pos` and `n`
    /// zero), to the state [`Core::value_byte`] steps over its bytes reach.
    #[inline]
    fn value_at_once(&mut self, value: &[u8]) {
        if !self.known_token(value) && !self.plain_value(value) {
            for &c in value {
                self.value_byte(c);
            }
        }
    }

    /// A framing field's whole value, as [`Core::value_at_once`] takes it, and the end
    /// of its field: the state `value_at_once` then [`Core::end_field`] leave. The
    /// commonest values (one number, one known token, between blanks) take effect at
    /// once; others go through `value_at_once`.
    #[inline(always)]
    fn whole_value(&mut self, value: &[u8]) {
        let blank = |c: &u8| VALUE_CLASS[usize::from(*c)] == V_BLANK;
        let start = value.iter().position(|c| !blank(c)).unwrap_or(value.len());
        let end = value
            .iter()
            .rposition(|c| !blank(c))
            .map_or(start, |last| last + 1);
        let (token, trailing) = (value.get(start..end).unwrap_or_default(), end < value.len());
        match self.field {
            // `value_byte`'s digits, then `end_length`. 19 digits cannot overflow a u64.
            Field::ContentLength
                if !token.is_empty()
                    && token.len() <= 19
                    && token.iter().all(u8::is_ascii_digit) =>
            {
                let n = token.iter().fold(0, |n, d| n * 10 + u64::from(d - b'0'));
                if self.flags & F_CL != 0 && self.cl != n {
                    self.flags |= F_CL_BAD;
                }
                self.cl = n;
                self.flags |= F_CL;
                self.phase = LEAD;
                self.n = 0;
                self.field = Field::NoneYet;
                return;
            }
            // `known_token`, then `end_field`: the token ends once, at a trailing blank
            // or with the field.
            Field::TransferEncoding | Field::Connection | Field::Upgrade => {
                if let Some(hit) = known_token_index(self.tokens(), token) {
                    self.mask = 1 << hit;
                    self.pos = token.len() as u8;
                    self.phase = if trailing { SKIP } else { TOKEN };
                    self.token_ended(Some(hit));
                    self.field = Field::NoneYet;
                    return;
                }
            }
            _ => {}
        }
        self.value_at_once(value);
        self.end_field();
    }

    /// The commonest value of a list field, at once: one of its known tokens whole
    /// between blanks (`keep-alive`, `close`, `chunked`…). No token is a prefix of
    /// another of its field, so `match_byte` leaves exactly that token's candidate.
    /// Returns false, changing nothing, for anything else.
    #[inline(always)]
    fn known_token(&mut self, value: &[u8]) -> bool {
        if !matches!(
            self.field,
            Field::TransferEncoding | Field::Connection | Field::Upgrade
        ) {
            return false;
        }
        let blank = |c: &u8| VALUE_CLASS[usize::from(*c)] == V_BLANK;
        let lead = value.iter().take_while(|c| blank(c)).count();
        let rest = &value[lead..];
        let trail = rest.iter().rev().take_while(|c| blank(c)).count();
        let token = &rest[..rest.len() - trail];
        let Some(hit) = self
            .tokens()
            .iter()
            .position(|cand| same_ignoring_case(token, cand))
        else {
            return false;
        };
        self.mask = 1 << hit;
        self.pos = token.len() as u8;
        self.phase = TOKEN;
        if trail > 0 {
            self.end_token();
            self.phase = SKIP;
        }
        true
    }

    /// The plain shapes of a framing field's value, at once: blanks, then one number
    /// (`Content-Length`) or one token (the lists), then blanks. Returns false, changing
    /// nothing, for anything else (lists, parameters, versions, long numbers…).
    #[inline(always)]
    fn plain_value(&mut self, value: &[u8]) -> bool {
        let run = |from: usize, class: u8| {
            let mut i = from;
            while value
                .get(i)
                .is_some_and(|&c| VALUE_CLASS[usize::from(c)] == class)
            {
                i += 1;
            }
            i
        };
        let start = run(0, V_BLANK);
        let end = run(start, V_TOKEN);
        if run(end, V_BLANK) != value.len() {
            // A separator, or more than one token.
            return false;
        }
        let (token, trailing) = (&value[start..end], end < value.len());
        if token.is_empty() {
            // Blanks only: the byte path stays in LEAD.
            return true;
        }
        match self.field {
            Field::NoneYet | Field::Other => {}
            Field::ContentLength => {
                // 19 digits cannot overflow a u64.
                if token.len() > 19 || !token.iter().all(u8::is_ascii_digit) {
                    return false;
                }
                self.n = token.iter().fold(0, |n, d| n * 10 + u64::from(d - b'0'));
                self.phase = if trailing { SKIP } else { TOKEN };
            }
            Field::TransferEncoding | Field::Connection | Field::Upgrade => {
                // What `match_byte` leaves after the token: the candidates it prefixes.
                let mut mask = 0;
                for (j, cand) in self.tokens().iter().enumerate() {
                    let prefix = cand.get(..token.len());
                    if prefix.is_some_and(|p| same_ignoring_case(token, p)) {
                        mask |= 1 << j;
                    }
                }
                self.mask = mask;
                self.pos = token.len().min(usize::from(u8::MAX)) as u8;
                self.phase = TOKEN;
                if trailing {
                    self.end_token();
                    self.phase = SKIP;
                }
            }
        }
        true
    }

    fn cl_bad(&mut self) {
        self.flags |= F_CL_BAD;
        self.phase = BAD;
    }

    /// The end of one Content-Length value: it must equal any earlier one (RFC 9112
    /// §6.3 rule 5).
    fn end_length(&mut self) {
        if matches!(self.phase, TOKEN | SKIP) {
            if self.flags & F_CL != 0 && self.cl != self.n {
                self.flags |= F_CL_BAD;
            }
            self.cl = self.n;
            self.flags |= F_CL;
        }
        if self.phase != BAD {
            self.phase = LEAD;
        }
        self.n = 0;
    }

    fn end_token(&mut self) {
        self.token_ended(matched(self.tokens(), self.mask, self.pos));
    }

    /// A token of the current list field ended; `hit`: the known token it was.
    #[inline(always)]
    fn token_ended(&mut self, hit: Option<usize>) {
        match self.field {
            Field::TransferEncoding => {
                // Chunked iff the last coding is `chunked` (RFC 9112 §6.3 rule 4).
                self.flags |= F_TE;
                if hit.is_some() {
                    self.flags |= F_CHUNKED;
                } else {
                    self.flags &= !F_CHUNKED;
                }
            }
            Field::Connection => match hit {
                Some(0) => self.flags |= F_CLOSE,
                Some(1) => self.flags |= F_KEEP,
                Some(2) => self.flags |= F_CONN_UPGRADE,
                _ => {}
            },
            _ => match hit {
                Some(0) => self.flags |= F_WS,
                Some(1) => self.flags |= F_H2C,
                _ => self.flags |= F_UPG_OTHER,
            },
        }
    }

    /// The field line pending at a line start is over (no folding follows).
    #[inline]
    fn end_field(&mut self) {
        match self.field {
            Field::ContentLength => self.end_length(),
            Field::TransferEncoding | Field::Connection | Field::Upgrade if self.phase == TOKEN => {
                self.end_token()
            }
            _ => {}
        }
        self.field = Field::NoneYet;
    }

    /// The header section is complete: how the body is framed (RFC 9112 §6.3), and
    /// the state that reads it.
    fn end_head(
        &mut self,
        side: Side,
        request: Option<RequestKind>,
    ) -> Option<(BodyFraming, Option<Handoff>)> {
        let te = self.flags & F_TE != 0;
        let chunked = te && self.flags & F_CHUNKED != 0;
        let framing = match side {
            Side::Request => {
                if chunked {
                    Some(BodyFraming::Chunked)
                } else if te || self.flags & F_CL_BAD != 0 {
                    // Rule 4 (a request whose last coding is not chunked) and rule 5.
                    None
                } else if self.flags & F_CL != 0 {
                    Some(BodyFraming::Length(self.cl))
                } else {
                    Some(BodyFraming::None)
                }
            }
            Side::Response => {
                let request = request.unwrap_or(RequestKind::Other);
                let status = self.status;
                if status == 101 {
                    self.st = St::Stopped;
                    return Some((BodyFraming::None, Some(Handoff::SwitchingProtocols)));
                }
                if request == RequestKind::Connect && (200..300).contains(&status) {
                    self.st = St::Stopped;
                    return Some((BodyFraming::None, Some(Handoff::Tunnel)));
                }
                if request == RequestKind::Head
                    || (100..200).contains(&status)
                    || status == 204
                    || status == 304
                {
                    Some(BodyFraming::None)
                } else if chunked {
                    Some(BodyFraming::Chunked)
                } else if te {
                    Some(BodyFraming::UntilClose)
                } else if self.flags & F_CL_BAD != 0 {
                    None
                } else if self.flags & F_CL != 0 {
                    Some(BodyFraming::Length(self.cl))
                } else {
                    Some(BodyFraming::UntilClose)
                }
            }
        };
        let Some(framing) = framing else {
            self.st = St::Broken;
            return None;
        };
        match framing {
            BodyFraming::None | BodyFraming::Length(0) => self.st = St::Idle,
            BodyFraming::Length(n) => {
                self.n = n;
                self.st = St::Length;
            }
            BodyFraming::Chunked => self.start_chunk_line(),
            BodyFraming::UntilClose => self.st = St::UntilClose,
        }
        Some((framing, None))
    }
}

#[cfg(test)]
mod tests;
