//! TLS record reader for one direction of a connection (the `messages` mode's TLS
//! analyzer reads one per direction): follows the record boundaries of bytes that
//! arrive in arbitrary pieces, and reads the facts of the direction's first handshake
//! message (ClientHello from the client, ServerHello from the server).
//!
//! It owns a few bytes of record-boundary state and, only while the first hello is
//! incomplete across pieces, a reassembly buffer bounded by [`MAX_HELLO_LEN`] and freed
//! as soon as the hello is read or given up. It never decrypts, keeps no payload and
//! never panics; the events do not depend on how the bytes are cut into pieces.
//! It does not know which side it reads, nor print anything: the analyzer does.

use super::tls::{first_host_name, is_grease, write_version, Reader};
use super::tls_suites::CIPHER_SUITES;

/// Record content types (RFC 8446 §5.1, RFC 5246 §6.2.1, RFC 6520 §2 for heartbeat).
pub mod content_type {
    pub const CHANGE_CIPHER_SPEC: u8 = 20;
    pub const ALERT: u8 = 21;
    pub const HANDSHAKE: u8 = 22;
    pub const APPLICATION_DATA: u8 = 23;
    pub const HEARTBEAT: u8 = 24;
}
use content_type::{APPLICATION_DATA, CHANGE_CIPHER_SPEC, HANDSHAKE, HEARTBEAT};

/// Record header: type (1), legacy_record_version (2), length (2) (RFC 8446 §5.1).
const RECORD_HEADER_LEN: u8 = 5;
/// Major byte of every SSL 3.0 / TLS record version (RFC 5246 §6.2.1, App. E).
const VERSION_MAJOR: u8 = 0x03;
/// Largest record body: a TLS 1.2 `TLSCiphertext` may carry 2^14 + 2048 bytes
/// (RFC 5246 §6.2.3; TLS 1.3 allows 2^14 + 256, RFC 8446 §5.2).
pub const MAX_RECORD_LEN: u16 = (1 << 14) + 2048;
/// Handshake message header: msg_type (1), length (3) (RFC 8446 §4).
const HANDSHAKE_HEADER_LEN: usize = 4;
/// Largest first handshake message (header included) that is reassembled; a longer one
/// is given up (its records are still followed).
pub const MAX_HELLO_LEN: usize = 64 * 1024;
/// Handshake types `client_hello` and `server_hello` (RFC 8446 §4).
const HANDSHAKE_CLIENT_HELLO: u8 = 1;
const HANDSHAKE_SERVER_HELLO: u8 = 2;
/// Extension `server_name` (RFC 6066 §3).
const EXT_SERVER_NAME: u16 = 0x0000;
/// Extension `application_layer_protocol_negotiation` (RFC 7301 §3.1).
const EXT_ALPN: u16 = 0x0010;
/// Extension `supported_versions` (RFC 8446 §4.2.1).
const EXT_SUPPORTED_VERSIONS: u16 = 0x002b;
/// TLS 1.3's version number (RFC 8446 §4.2.1).
const TLS_1_3: u16 = 0x0304;
/// The ServerHello random of a HelloRetryRequest: SHA-256("HelloRetryRequest")
/// (RFC 8446 §4.1.3).
const HELLO_RETRY_REQUEST_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];
/// Bytes of a server name kept (a DNS name has at most 253, RFC 1035 §2.3.4).
pub const MAX_SNI_LEN: usize = 255;
/// ALPN protocol names kept from a ClientHello (each is at most 255 bytes, RFC 7301 §3.1).
pub const MAX_ALPN: usize = 16;
/// `supported_versions` entries kept from a ClientHello.
pub const MAX_VERSIONS: usize = 16;

/// What a ClientHello offers (RFC 8446 §4.1.2; TLS 1.2: RFC 5246 §7.4.1.2).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientHelloFacts {
    /// `legacy_version` (the real version for TLS ≤ 1.2).
    pub legacy_version: u16,
    /// The `%tls.version` rule (SPEC §5): the highest non-GREASE `supported_versions`
    /// entry in 0x0301–0x03ff, else `legacy_version`.
    pub version: u16,
    /// The first non-empty `host_name` of `server_name` (RFC 6066 §3), at most
    /// [`MAX_SNI_LEN`] bytes (longer names are cut).
    pub sni: Option<Vec<u8>>,
    /// The offered ALPN protocol names in order (RFC 7301 §3.1), the first
    /// [`MAX_ALPN`] non-empty ones.
    pub alpn: Vec<Vec<u8>>,
    /// The offered `supported_versions` in order without GREASE values (RFC 8701), the
    /// first [`MAX_VERSIONS`]; empty when the extension is absent.
    pub supported_versions: Vec<u16>,
    /// Whether it offers TLS 1.3 (0x0304 among `supported_versions`, RFC 8446 §4.2.1).
    pub tls13: bool,
}

/// What a ServerHello chose (RFC 8446 §4.1.3; TLS 1.2: RFC 5246 §7.4.1.3).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerHelloFacts {
    /// `legacy_version` (0x0303 in TLS 1.3).
    pub legacy_version: u16,
    /// The negotiated version: `supported_versions`' `selected_version` if present
    /// (TLS 1.3, RFC 8446 §4.2.1), else `legacy_version`.
    pub version: u16,
    /// The chosen cipher suite (see [`cipher_suite_name`]).
    pub cipher_suite: u16,
    /// The chosen ALPN protocol (RFC 7301 §3.1). TLS ≤ 1.2 only: TLS 1.3 sends it in
    /// the encrypted EncryptedExtensions (RFC 8446 §4.3.1), out of sight.
    pub alpn: Option<Vec<u8>>,
    /// A HelloRetryRequest (the special random, RFC 8446 §4.1.3): the real ServerHello
    /// comes later, and the reader looks for it at the next handshake record.
    pub hello_retry_request: bool,
}

/// What a [`RecordReader`] reports, in stream order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordEvent {
    /// The direction's first handshake message was a complete, well-formed ClientHello
    /// (reported when its last byte arrives, before its record's `Record`).
    ClientHello(ClientHelloFacts),
    /// Same for a ServerHello (or a HelloRetryRequest).
    ServerHello(ServerHelloFacts),
    /// A whole record was read (header and `len` body bytes).
    Record { content_type: u8, len: u16 },
    /// A record header is not TLS (content type outside 20–24, major version not 3, or
    /// length above [`MAX_RECORD_LEN`]): the reader stops.
    NotTls,
    /// A gap fell outside a record body, so the next header cannot be found: the
    /// reader stops.
    LostSync,
}

/// Whether a record of this type carries application data (for TLS 1.3 the first one
/// of a direction ends its cleartext handshake: the rest is encrypted, RFC 8446 §5.2).
pub fn is_application_data(content_type: u8) -> bool {
    content_type == APPLICATION_DATA
}

/// Whether a record of this type is a ChangeCipherSpec (TLS ≤ 1.2: what follows in
/// this direction is encrypted, RFC 5246 §7.1; TLS 1.3 peers may send one for
/// middlebox compatibility, RFC 8446 §D.4).
pub fn is_change_cipher_spec(content_type: u8) -> bool {
    content_type == CHANGE_CIPHER_SPEC
}

/// Whether, seen in one direction, a record of this type means that direction's
/// cleartext handshake is over (ChangeCipherSpec or application_data).
pub fn ends_cleartext_handshake(content_type: u8) -> bool {
    is_change_cipher_spec(content_type) || is_application_data(content_type)
}

/// Where the direction's first handshake message stands.
#[derive(Debug, Default)]
enum Hello {
    /// The next handshake body byte starts it: no handshake byte seen yet.
    #[default]
    First,
    /// Look for one at the start of the next handshake record (after a
    /// HelloRetryRequest, or [`RecordReader::expect_hello`]).
    NextRecord,
    /// Its bytes so far: it began in one piece and did not end there.
    Partial(Vec<u8>),
    /// Read, or given up: no bytes kept.
    Done,
}

/// Follows one direction's TLS records. See the module documentation.
#[derive(Debug, Default)]
pub struct RecordReader {
    /// Header bytes read so far (0–4) while between records.
    header_len: u8,
    /// The current record's type and length (from its header).
    content_type: u8,
    record_len: u16,
    /// Body bytes of the current record still to come; 0 between records.
    remaining: u16,
    /// Not TLS, or lost sync: every later byte is ignored.
    stopped: bool,
    /// Whole records read.
    records: u64,
    hello: Hello,
}

impl RecordReader {
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads the next bytes of the direction, reporting events to `on`.
    pub fn feed(&mut self, mut bytes: &[u8], on: &mut impl FnMut(RecordEvent)) {
        while !self.stopped {
            if self.remaining == 0 {
                let Some((&b, rest)) = bytes.split_first() else {
                    return;
                };
                bytes = rest;
                self.header_byte(b, on);
            } else {
                if bytes.is_empty() {
                    return;
                }
                let n = bytes.len().min(usize::from(self.remaining));
                let (chunk, rest) = bytes.split_at(n);
                bytes = rest;
                if self.content_type == HANDSHAKE {
                    self.hello_bytes(chunk, on);
                }
                // n ≤ remaining, which is a u16.
                self.remaining -= u16::try_from(n).unwrap_or(self.remaining);
                if self.remaining == 0 {
                    self.end_record(on);
                }
            }
        }
    }

    /// [`Self::feed`], also telling `piece` the content type of the record each run of
    /// `bytes` belongs to (a header's bytes belong to the record it starts), or `None`
    /// for bytes after the reader stopped (not TLS), and the record's number in the
    /// direction (0 for the first).
    pub fn feed_pieces(
        &mut self,
        mut bytes: &[u8],
        on: &mut impl FnMut(RecordEvent),
        piece: &mut impl FnMut(&[u8], Option<u8>, u64),
    ) {
        while !bytes.is_empty() {
            let number = self.records;
            if self.stopped {
                return piece(bytes, None, number);
            }
            let (n, content_type) = if self.remaining > 0 {
                (
                    bytes.len().min(usize::from(self.remaining)),
                    self.content_type,
                )
            } else if self.header_len == 0 {
                (1, bytes[0])
            } else {
                (1, self.content_type)
            };
            let (now, rest) = bytes.split_at(n);
            self.feed(now, on);
            piece(now, (!self.stopped).then_some(content_type), number);
            bytes = rest;
        }
    }

    /// Skips `len` missing bytes. Inside a record body that holds them the reader
    /// stays in sync (a hello they cut is given up); anywhere else it reports
    /// [`RecordEvent::LostSync`] and stops.
    pub fn gap(&mut self, len: u64, on: &mut impl FnMut(RecordEvent)) {
        if self.stopped || len == 0 {
            return;
        }
        let Ok(len) = u16::try_from(len) else {
            return self.stop(RecordEvent::LostSync, on);
        };
        if self.remaining == 0 || len > self.remaining {
            return self.stop(RecordEvent::LostSync, on);
        }
        self.remaining -= len;
        if self.content_type == HANDSHAKE && matches!(self.hello, Hello::First | Hello::Partial(_))
        {
            self.hello = Hello::Done;
        }
        if self.remaining == 0 {
            self.end_record(on);
        }
    }

    /// Looks for one more hello at the start of the next handshake record, if the
    /// first one was already read: the client's second ClientHello after the server's
    /// HelloRetryRequest (RFC 8446 §4.1.4). The server side re-arms by itself.
    pub fn expect_hello(&mut self) {
        if matches!(self.hello, Hello::Done) && !self.stopped {
            self.hello = Hello::NextRecord;
        }
    }

    /// Whether the reader is inside a record (part of a header or body read).
    pub fn in_record(&self) -> bool {
        !self.stopped && (self.remaining > 0 || self.header_len > 0)
    }

    /// Whole records read.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Whether the reader stopped (not TLS, or lost sync).
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// Bytes held for the hello's reassembly (0 except while it spans pieces).
    pub fn buffered(&self) -> usize {
        match &self.hello {
            Hello::Partial(buf) => buf.capacity(),
            _ => 0,
        }
    }

    fn header_byte(&mut self, b: u8, on: &mut impl FnMut(RecordEvent)) {
        let valid = match self.header_len {
            0 => (CHANGE_CIPHER_SPEC..=HEARTBEAT).contains(&b),
            1 => b == VERSION_MAJOR,
            _ => true,
        };
        if !valid {
            return self.stop(RecordEvent::NotTls, on);
        }
        match self.header_len {
            0 => self.content_type = b,
            3 => self.record_len = u16::from(b) << 8,
            4 => self.record_len |= u16::from(b),
            _ => {}
        }
        self.header_len += 1;
        if self.header_len < RECORD_HEADER_LEN {
            return;
        }
        self.header_len = 0;
        if self.record_len > MAX_RECORD_LEN {
            return self.stop(RecordEvent::NotTls, on);
        }
        self.remaining = self.record_len;
        // Handshake messages are not interleaved with other record types (RFC 8446
        // §5.1), and a direction opens with its hello (RFC 8446 §4).
        let handshake = self.content_type == HANDSHAKE;
        match self.hello {
            Hello::NextRecord if handshake => self.hello = Hello::First,
            Hello::First | Hello::Partial(_) if !handshake => self.hello = Hello::Done,
            _ => {}
        }
        if self.remaining == 0 {
            self.end_record(on);
        }
    }

    fn end_record(&mut self, on: &mut impl FnMut(RecordEvent)) {
        self.records += 1;
        on(RecordEvent::Record {
            content_type: self.content_type,
            len: self.record_len,
        });
    }

    fn stop(&mut self, event: RecordEvent, on: &mut impl FnMut(RecordEvent)) {
        self.stopped = true;
        self.hello = Hello::Done;
        self.remaining = 0;
        self.header_len = 0;
        on(event);
    }

    /// Body bytes of a handshake record.
    fn hello_bytes(&mut self, chunk: &[u8], on: &mut impl FnMut(RecordEvent)) {
        match &self.hello {
            Hello::First => {
                let Some(&kind) = chunk.first() else {
                    return;
                };
                if kind != HANDSHAKE_CLIENT_HELLO && kind != HANDSHAKE_SERVER_HELLO {
                    self.hello = Hello::Done;
                    return;
                }
                let total = message_len(chunk);
                if total.is_some_and(|t| t > MAX_HELLO_LEN) {
                    self.hello = Hello::Done;
                    return;
                }
                // Whole in this piece: read it in place, nothing kept.
                if let Some(message) = total.and_then(|t| chunk.get(..t)) {
                    self.hello = Hello::Done;
                    return self.finish(message, on);
                }
                let capacity = total.unwrap_or(HANDSHAKE_HEADER_LEN);
                self.hello = Hello::Partial(Vec::with_capacity(capacity));
                self.append(chunk, on);
            }
            Hello::Partial(_) => self.append(chunk, on),
            Hello::NextRecord | Hello::Done => {}
        }
    }

    /// Adds bytes to the partial hello, and reads it once whole.
    fn append(&mut self, mut chunk: &[u8], on: &mut impl FnMut(RecordEvent)) {
        let Hello::Partial(buf) = &mut self.hello else {
            return;
        };
        if buf.len() < HANDSHAKE_HEADER_LEN {
            let n = chunk.len().min(HANDSHAKE_HEADER_LEN - buf.len());
            let (head, rest) = chunk.split_at(n);
            buf.extend_from_slice(head);
            chunk = rest;
        }
        let Some(total) = message_len(buf) else {
            return; // the header is still incomplete: chunk is empty
        };
        if total > MAX_HELLO_LEN {
            self.hello = Hello::Done;
            return;
        }
        buf.reserve_exact(total.saturating_sub(buf.capacity()));
        let n = chunk.len().min(total.saturating_sub(buf.len()));
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        if buf.len() == total {
            if let Hello::Partial(message) = std::mem::replace(&mut self.hello, Hello::Done) {
                self.finish(&message, on);
            }
        }
    }

    /// Reads a whole hello (`message` with its header) and reports it. The state is
    /// already `Done`; a HelloRetryRequest re-arms it.
    fn finish(&mut self, message: &[u8], on: &mut impl FnMut(RecordEvent)) {
        let body = message.get(HANDSHAKE_HEADER_LEN..).unwrap_or_default();
        let event = match message.first() {
            Some(&HANDSHAKE_CLIENT_HELLO) => {
                ClientHelloFacts::parse(body).map(RecordEvent::ClientHello)
            }
            Some(&HANDSHAKE_SERVER_HELLO) => ServerHelloFacts::parse(body).map(|facts| {
                if facts.hello_retry_request {
                    self.hello = Hello::NextRecord;
                }
                RecordEvent::ServerHello(facts)
            }),
            _ => None,
        };
        if let Some(event) = event {
            on(event);
        }
    }
}

/// The whole length (header included) of the handshake message `bytes` begins with,
/// once its 4-byte header is there.
fn message_len(bytes: &[u8]) -> Option<usize> {
    let mut r = Reader::new(bytes);
    r.u8()?;
    Some(HANDSHAKE_HEADER_LEN + r.u24()?)
}

/// Calls `each(type, body)` for the extensions of a hello's extension block, in order,
/// until the block ends or stops making sense.
fn for_each_extension<'a>(block: &'a [u8], mut each: impl FnMut(u16, &'a [u8])) {
    let mut exts = Reader::new(block);
    while !exts.is_empty() {
        let (Some(kind), Some(body)) = (exts.u16(), exts.vec16()) else {
            return;
        };
        each(kind, body);
    }
}

/// The non-empty names of an ALPN `ProtocolNameList` (RFC 7301 §3.1), at most `max`.
fn alpn_names(body: &[u8], max: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let Some(list) = Reader::new(body).vec16() else {
        return out;
    };
    let mut names = Reader::new(list);
    while out.len() < max {
        match names.vec8() {
            Some([]) => {}
            Some(name) => out.push(name.to_vec()),
            None => break,
        }
    }
    out
}

impl ClientHelloFacts {
    /// Reads a ClientHello body (after the 4-byte handshake header). `None` if its
    /// fixed part is malformed; a malformed extension is skipped, and extensions are
    /// read until the block stops making sense. Only the first of each type counts.
    pub fn parse(body: &[u8]) -> Option<Self> {
        let mut hello = Reader::new(body);
        let legacy_version = hello.u16()?;
        hello.take(32)?; // random
        hello.vec8()?; // legacy_session_id
        hello.vec16()?; // cipher_suites
        hello.vec8()?; // legacy_compression_methods
        let mut facts = ClientHelloFacts {
            legacy_version,
            version: legacy_version,
            ..Default::default()
        };
        // Extensions may be absent in TLS ≤ 1.2 (RFC 5246 §7.4.1.2).
        let block = hello.vec16().unwrap_or_default();
        let (mut seen_sni, mut seen_alpn, mut seen_versions) = (false, false, false);
        for_each_extension(block, |kind, data| match kind {
            EXT_SERVER_NAME if !seen_sni => {
                seen_sni = true;
                facts.sni = first_host_name(data)
                    .map(|name| name.get(..MAX_SNI_LEN).unwrap_or(name).to_vec());
            }
            EXT_ALPN if !seen_alpn => {
                seen_alpn = true;
                facts.alpn = alpn_names(data, MAX_ALPN);
            }
            EXT_SUPPORTED_VERSIONS if !seen_versions => {
                seen_versions = true;
                let mut best = None;
                let mut list = Reader::new(Reader::new(data).vec8().unwrap_or_default());
                while let Some(v) = list.u16() {
                    if is_grease(v) {
                        continue;
                    }
                    if facts.supported_versions.len() < MAX_VERSIONS {
                        facts.supported_versions.push(v);
                    }
                    facts.tls13 |= v == TLS_1_3;
                    if (0x0301..=0x03ff).contains(&v) {
                        best = best.max(Some(v));
                    }
                }
                facts.version = best.unwrap_or(legacy_version);
            }
            _ => {}
        });
        Some(facts)
    }
}

impl ServerHelloFacts {
    /// Reads a ServerHello body (after the 4-byte handshake header). `None` if its
    /// fixed part is malformed; extensions are read as for [`ClientHelloFacts::parse`].
    pub fn parse(body: &[u8]) -> Option<Self> {
        let mut hello = Reader::new(body);
        let legacy_version = hello.u16()?;
        let random = hello.take(32)?;
        hello.vec8()?; // legacy_session_id_echo
        let cipher_suite = hello.u16()?;
        hello.u8()?; // legacy_compression_method
        let mut facts = ServerHelloFacts {
            legacy_version,
            version: legacy_version,
            cipher_suite,
            alpn: None,
            hello_retry_request: random == HELLO_RETRY_REQUEST_RANDOM,
        };
        let block = hello.vec16().unwrap_or_default();
        let (mut seen_alpn, mut seen_versions) = (false, false);
        for_each_extension(block, |kind, data| match kind {
            EXT_ALPN if !seen_alpn => {
                seen_alpn = true;
                facts.alpn = alpn_names(data, 1).pop();
            }
            EXT_SUPPORTED_VERSIONS if !seen_versions => {
                seen_versions = true;
                if let Some(v) = Reader::new(data).u16() {
                    facts.version = v;
                }
            }
            _ => {}
        });
        Some(facts)
    }
}

/// The IANA registry name of a cipher suite (e.g. 0x1301 `TLS_AES_128_GCM_SHA256`),
/// `None` for an unassigned, reserved or GREASE value.
pub fn cipher_suite_name(suite: u16) -> Option<&'static str> {
    CIPHER_SUITES
        .binary_search_by_key(&suite, |&(code, _)| code)
        .ok()
        .and_then(|i| CIPHER_SUITES.get(i))
        .map(|&(_, name)| name)
}

/// The `%tls.version` text of a version (SPEC §5): `TLS_1.0`…`TLS_1.3`, other values
/// as `0x` and four lowercase hex digits.
pub fn version_name(version: u16) -> String {
    let mut out = Vec::with_capacity(7);
    write_version(version, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests;
