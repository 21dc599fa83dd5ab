//! Capture files: classic pcap and pcapng, read as a stream from a file or standard input.
//!
//! Owns recognising the format, validating what comes before the first packet (file header,
//! link type, snapshot length) so that `open` can refuse a file before anything is printed,
//! and yielding frames with timestamps truncated to microseconds (SPEC §2). Damage found
//! later ends the stream with [`Next::Damaged`] after everything before it was yielded.
//!
//! Must not: look inside frames, allocate per packet, or trust any length read from the
//! file. A record bigger than [`MAX_PACKET_LEN`] is damage, so the read buffer never grows.
//!
//! The byte stream goes through `pcap-parser`'s streaming reader (`create_reader`, `next`,
//! `consume`, `refill`), which also recognises the format and decodes classic pcap records
//! and pcapng section and interface headers. pcapng packet blocks are framed here instead:
//! the crate's block parser allocates a vector of options for every Enhanced Packet Block,
//! does not know the obsolete Packet Block, reads `if_tsoffset` little-endian in big-endian
//! sections, and cannot skip unneeded blocks bigger than its buffer.

use std::fs::File;
use std::io::{self, Read};
use std::sync::{Arc, Mutex};

use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{PcapBlockOwned, PcapError};

use super::{CaptureError, LinkType, Next, Packet, PacketSource};
use crate::time::Timestamp;

mod pcapng;
#[cfg(any(test, feature = "testing"))]
mod writer;

#[cfg(test)]
mod tests;

#[cfg(any(test, feature = "testing"))]
pub use writer::PcapWriter;

/// The largest captured length accepted for one packet: libpcap's `MAXIMUM_SNAPLEN`
/// (262144), the most libpcap itself reads for any link type rustniffer supports, so any
/// file that tcpdump or justniffer can read is read here too. Anything longer is damage.
pub const MAX_PACKET_LEN: usize = 262_144;

/// Size of the read buffer. It holds any block we keep in memory ([`MAX_BUFFERED_BLOCK`])
/// twice over, so refills are large and rare; it is allocated once and never grows.
const READ_BUFFER_LEN: usize = 1 << 20;

/// Most bytes taken from the stream per read. pcap-parser moves the unread part of
/// its buffer to the front each time more than half of it has been consumed; reading
/// in slices much smaller than that keeps the part it moves small, instead of copying
/// every byte of the file a second time, and keeps the buffer's working set in cache.
const READ_CHUNK_LEN: usize = 64 * 1024;

/// The largest pcapng block we parse in memory (section headers, interface descriptions,
/// packet blocks): a maximal packet plus generous room for options. Longer blocks of the
/// kinds we skip are skipped as a stream; longer blocks of the kinds we need are damage.
const MAX_BUFFERED_BLOCK: usize = 512 * 1024;

/// Snapshot lengths below this are refused unless forced (SPEC §2, justniffer's check).
const MIN_SNAPLEN: u32 = 65_535;

/// Classic pcap magic numbers as read little-endian (draft-ietf-opsawg-pcap §4 "Magic
/// Number"); the byte-swapped values mean a big-endian file.
mod classic_magic {
    /// Microsecond timestamps.
    pub const MICROS: u32 = 0xA1B2_C3D4;
    /// Nanosecond timestamps.
    pub const NANOS: u32 = 0xA1B2_3C4D;
    /// Alexey Kuznetzov's "modified" pcap: microseconds, 24-byte record headers (libpcap
    /// `sf-pcap.c`, `KUZNETZOV_TCPDUMP_MAGIC`).
    pub const MODIFIED: u32 = 0xA1B2_CD34;
}

/// Classic pcap file header and record header sizes (draft-ietf-opsawg-pcap §4, §5).
const CLASSIC_FILE_HEADER_LEN: usize = 24;
const CLASSIC_RECORD_HEADER_LEN: usize = 16;
/// Kuznetzov records add ifindex (4), protocol (2), pkt_type (1) and padding (1).
const MODIFIED_RECORD_HEADER_LEN: usize = 24;

/// The classic pcap major version (draft-ietf-opsawg-pcap §4 "Major Version").
const CLASSIC_MAJOR_VERSION: u16 = 2;

/// Whether a file stores its numbers least or most significant byte first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ByteOrder {
    Little,
    Big,
}

impl ByteOrder {
    /// Reads a `u32` at `at`; `None` when `bytes` is too short.
    fn u32_at(self, bytes: &[u8], at: usize) -> Option<u32> {
        let four: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(match self {
            ByteOrder::Little => u32::from_le_bytes(four),
            ByteOrder::Big => u32::from_be_bytes(four),
        })
    }

    fn u16_at(self, bytes: &[u8], at: usize) -> Option<u16> {
        let two: [u8; 2] = bytes.get(at..at.checked_add(2)?)?.try_into().ok()?;
        Some(match self {
            ByteOrder::Little => u16::from_le_bytes(two),
            ByteOrder::Big => u16::from_be_bytes(two),
        })
    }

    fn i64_from(self, eight: [u8; 8]) -> i64 {
        match self {
            ByteOrder::Little => i64::from_le_bytes(eight),
            ByteOrder::Big => i64::from_be_bytes(eight),
        }
    }
}

/// The snapshot length libpcap actually applies: 0 and values that do not fit its `int`
/// mean "no limit" (libpcap `sf-pcap.c`/`sf-pcapng.c` fall back to the link type maximum).
fn snaplen_is_too_small(snaplen: u32) -> bool {
    snaplen != 0 && snaplen <= i32::MAX as u32 && snaplen < MIN_SNAPLEN
}

/// Classic pcap details fixed by the file header.
#[derive(Clone, Copy, Debug)]
struct ClassicFormat {
    order: ByteOrder,
    nanos: bool,
    record_header_len: usize,
    link: LinkType,
}

#[derive(Clone, Copy, Debug)]
enum Format {
    Classic(ClassicFormat),
    Pcapng,
}

/// A packet found in the buffer, described by offsets so that the buffer can be borrowed
/// only when it is handed out.
#[derive(Clone, Copy, Debug)]
struct FoundPacket {
    ts: Timestamp,
    link: LinkType,
    /// Offset of the frame bytes from the start of the buffered data.
    data_start: usize,
    caplen: usize,
    orig_len: u32,
    /// Bytes to consume once the packet has been used (its whole record or block).
    record_len: usize,
}

/// What reading the next record or block produced.
enum Step {
    Packet(FoundPacket),
    /// A block that carried no packet (section header, interface, skipped block).
    Handled,
    End,
    Damaged(String),
}

/// What pcap-parser made of the next classic record, copied out of its borrowed result.
enum ClassicAttempt {
    Record {
        record_len: usize,
        ts_sec: u32,
        ts_frac: u32,
        caplen: u32,
        orig_len: u32,
    },
    NeedMore,
    Truncated,
    ReadError,
    Malformed(String),
}

/// Result of asking for a number of bytes at the front of the buffer.
enum Fill {
    Ready,
    /// The stream ended with only this many bytes left.
    Short(usize),
    Failed(String),
}

/// A capture file being read, one packet at a time.
pub struct FileSource {
    reader: Box<dyn PcapReaderIterator + Send>,
    read_error: Arc<Mutex<Option<io::Error>>>,
    format: Format,
    /// Sections and interfaces read so far (pcapng only).
    pcapng: pcapng::Sections,
    link: LinkType,
    snaplen: u32,
    /// Bytes of the packet handed out last, consumed at the next call.
    pending_consume: usize,
    /// Packet records met so far, yielded or skipped (numbers the records in messages).
    records_seen: u64,
    skipped_unknown_link: u64,
    finished: bool,
    /// Damage met while reading ahead in `open`, reported once the packets before it are out.
    damage_ahead: Option<String>,
    /// Size of the file, when it is a regular file (for progress).
    file_len: Option<u64>,
}

/// Opens a capture file (`"-"` = standard input) and reads everything up to the first
/// packet, so that a bad header, an unknown link type or a short snapshot length is an
/// error here rather than a surprise later.
pub fn open(path: &str, force_snaplen: bool) -> Result<FileSource, CaptureError> {
    if path == "-" {
        from_reader(io::stdin(), "standard input", force_snaplen)
    } else {
        let file = File::open(path).map_err(|source| CaptureError::Io {
            what: path.to_string(),
            source,
        })?;
        let file_len = file
            .metadata()
            .ok()
            .filter(|m| m.is_file())
            .map(|m| m.len());
        let mut source = from_reader(file, path, force_snaplen)?;
        source.file_len = file_len;
        Ok(source)
    }
}

/// Whether `path` names a regular file that starts with a pcap or pcapng magic number
/// (either byte order): what the command line uses to tell a capture file that ended up
/// among the words of `-l` or `-p` from format text.
pub fn looks_like_capture(path: &str) -> bool {
    // Checked before opening: opening a FIFO would wait for a writer.
    if !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
        return false;
    }
    let Ok(mut file) = File::open(path) else {
        return false;
    };
    let mut prefix = Vec::with_capacity(4);
    if read_up_to(&mut file, &mut prefix, 4).is_err() {
        return false;
    }
    if pcapng::starts_with_section_header(&prefix) {
        return true;
    }
    let Some(magic) = ByteOrder::Little.u32_at(&prefix, 0) else {
        return false;
    };
    [
        classic_magic::MICROS,
        classic_magic::NANOS,
        classic_magic::MODIFIED,
    ]
    .iter()
    .any(|&m| magic == m || magic == m.swap_bytes())
}

/// Like [`open`], over any byte stream; `what` names it in error messages.
pub fn from_reader<R: Read + Send + 'static>(
    mut input: R,
    what: &str,
    force_snaplen: bool,
) -> Result<FileSource, CaptureError> {
    let io_error = |source| CaptureError::Io {
        what: what.to_string(),
        source,
    };
    let bad_header = |detail: String| CaptureError::BadHeader {
        what: what.to_string(),
        detail,
    };

    // pcap-parser recognises the format from a single read, which a pipe may answer with
    // a few bytes: gather the whole file header first and hand it over in one piece.
    let prefix = read_file_header(&mut input).map_err(io_error)?;
    if prefix.is_empty() {
        return Err(bad_header("the file is empty".to_string()));
    }
    let read_error = Arc::new(Mutex::new(None));
    let stream = ErrorKeepingReader {
        inner: io::Cursor::new(prefix.clone()).chain(input),
        last_error: Arc::clone(&read_error),
    };
    let mut reader = pcap_parser::create_reader(READ_BUFFER_LEN, stream)
        .map_err(|_| bad_header(describe_unrecognised_header(&prefix)))?;

    let header = match reader.next() {
        Ok((len, PcapBlockOwned::LegacyHeader(h))) => Some((len, h)),
        Ok((_, PcapBlockOwned::NG(_))) => None,
        Ok(_) | Err(_) => return Err(bad_header(describe_unrecognised_header(&prefix))),
    };

    let mut source = FileSource {
        reader,
        read_error,
        format: Format::Pcapng,
        pcapng: pcapng::Sections::default(),
        link: LinkType(0),
        snaplen: 0,
        pending_consume: 0,
        records_seen: 0,
        skipped_unknown_link: 0,
        finished: false,
        damage_ahead: None,
        file_len: None,
    };

    match header {
        Some((len, h)) => {
            if h.version_major != CLASSIC_MAJOR_VERSION {
                return Err(bad_header(format!(
                    "unsupported pcap version {}.{}",
                    h.version_major, h.version_minor
                )));
            }
            // The upper 16 bits carry FCS information, not the link type
            // (draft-ietf-opsawg-pcap §4 "LinkType and additional information").
            let link = LinkType((h.network.0 as u32) & 0xFFFF);
            let format = ClassicFormat {
                order: if h.is_bigendian() {
                    ByteOrder::Big
                } else {
                    ByteOrder::Little
                },
                nanos: h.is_nanosecond_precision(),
                record_header_len: if h.is_modified_format() {
                    MODIFIED_RECORD_HEADER_LEN
                } else {
                    CLASSIC_RECORD_HEADER_LEN
                },
                link,
            };
            source.reader.consume(len);
            source.format = Format::Classic(format);
            source.link = link;
            source.snaplen = h.snaplen;
        }
        None => source.read_pcapng_headers().map_err(bad_header)?,
    }

    if !source.link.is_supported() {
        return Err(CaptureError::UnknownLinkType {
            what: what.to_string(),
            link: source.link.0,
        });
    }
    if snaplen_is_too_small(source.snaplen) && !force_snaplen {
        return Err(CaptureError::SnaplenTooSmall {
            what: what.to_string(),
            snaplen: source.snaplen,
        });
    }
    Ok(source)
}

/// Reads the start of the stream: the 24-byte classic header, or the whole pcapng section
/// header block (its length is in the block), or as much as the stream holds if shorter.
fn read_file_header(input: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut prefix = Vec::with_capacity(CLASSIC_FILE_HEADER_LEN);
    read_up_to(input, &mut prefix, pcapng::BLOCK_HEADER_LEN + 4)?;
    let wanted = pcapng::section_header_len(&prefix)
        .map_or(CLASSIC_FILE_HEADER_LEN, |len| len.min(MAX_BUFFERED_BLOCK));
    read_up_to(input, &mut prefix, wanted)?;
    Ok(prefix)
}

/// Appends to `buf` from `input` until it holds `len` bytes or the stream ends.
fn read_up_to(input: &mut impl Read, buf: &mut Vec<u8>, len: usize) -> io::Result<()> {
    if buf.len() >= len {
        return Ok(());
    }
    let missing = (len - buf.len()) as u64;
    input.take(missing).read_to_end(buf).map(|_| ())
}

/// Says what is wrong with a file whose beginning pcap-parser did not accept.
fn describe_unrecognised_header(prefix: &[u8]) -> String {
    if pcapng::starts_with_section_header(prefix) {
        return "truncated or malformed pcapng section header block".to_string();
    }
    let Some(magic) = ByteOrder::Little.u32_at(prefix, 0) else {
        return format!("only {} bytes", prefix.len());
    };
    let known = [
        classic_magic::MICROS,
        classic_magic::NANOS,
        classic_magic::MODIFIED,
    ];
    if known.iter().any(|&m| magic == m || magic == m.swap_bytes()) {
        format!(
            "truncated pcap file header ({} of {CLASSIC_FILE_HEADER_LEN} bytes)",
            prefix.len()
        )
    } else {
        // Shown in file order, as `xxd` would.
        format!("unknown magic number 0x{:08x}", magic.swap_bytes())
    }
}

/// Passes reads through, retrying interrupted ones and keeping the last error, which
/// pcap-parser reduces to "read error".
struct ErrorKeepingReader<R> {
    inner: R,
    last_error: Arc<Mutex<Option<io::Error>>>,
}

impl<R: Read> Read for ErrorKeepingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let len = buf.len().min(READ_CHUNK_LEN);
        loop {
            match self.inner.read(&mut buf[..len]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let kept = io::Error::new(e.kind(), e.to_string());
                    if let Ok(mut slot) = self.last_error.lock() {
                        *slot = Some(kept);
                    }
                    return Err(e);
                }
                Ok(n) => return Ok(n),
            }
        }
    }
}

impl FileSource {
    /// The link type of the file (pcapng: of its first interface).
    #[cfg(test)]
    pub fn link_type(&self) -> LinkType {
        self.link
    }

    /// The snapshot length of the file header (pcapng: of the first interface; 0 = none).
    #[cfg(test)]
    pub fn snaplen(&self) -> u32 {
        self.snaplen
    }

    /// Byte offset in the file of the next unread record or block.
    fn offset(&self) -> usize {
        self.reader.consumed()
    }

    /// Makes at least `wanted` bytes available at the front of the buffer, if the stream
    /// has them. `wanted` must not exceed the buffer (callers bound it).
    fn fill_to(&mut self, wanted: usize) -> Fill {
        loop {
            let available = self.reader.data().len();
            if available >= wanted {
                return Fill::Ready;
            }
            if self.reader.reader_exhausted() {
                return Fill::Short(available);
            }
            if self.reader.refill().is_err() {
                return Fill::Failed(self.read_error_text());
            }
            if self.reader.data().len() == available && !self.reader.reader_exhausted() {
                // A full buffer that still holds less than `wanted`: cannot happen while
                // callers respect the bounds, but must not turn into an endless loop.
                return Fill::Failed(format!(
                    "a record of {wanted} bytes does not fit the read buffer"
                ));
            }
        }
    }

    /// Discards `len` bytes of the stream without keeping them (a block we do not need).
    fn skip(&mut self, mut len: u64) -> Fill {
        while len > 0 {
            let available = self.reader.data().len();
            if available == 0 {
                match self.fill_to(1) {
                    Fill::Ready => continue,
                    other => return other,
                }
            }
            let step = available.min(usize::try_from(len).unwrap_or(usize::MAX));
            self.reader.consume(step);
            len -= step as u64;
        }
        Fill::Ready
    }

    fn read_error_text(&self) -> String {
        let kept = self.read_error.lock().ok().and_then(|mut slot| slot.take());
        match kept {
            Some(e) => format!("read error at byte offset {}: {e}", self.offset()),
            None => format!("read error at byte offset {}", self.offset()),
        }
    }

    /// Reads one classic pcap record (draft-ietf-opsawg-pcap §5).
    fn read_classic_record(&mut self, format: ClassicFormat) -> Step {
        if let Some(found) = self.buffered_classic_record(format) {
            return Step::Packet(found);
        }
        let record_number = self.records_seen + 1;
        loop {
            // The parsed record borrows the reader: copy out what we need first.
            let attempt = match self.reader.next() {
                Ok((record_len, PcapBlockOwned::Legacy(record))) => ClassicAttempt::Record {
                    record_len,
                    ts_sec: record.ts_sec,
                    ts_frac: record.ts_usec,
                    caplen: record.caplen,
                    orig_len: record.origlen,
                },
                Ok(_) => ClassicAttempt::Malformed("a file header".to_string()),
                Err(PcapError::Eof) => return Step::End,
                Err(PcapError::Incomplete(_)) | Err(PcapError::BufferTooSmall) => {
                    ClassicAttempt::NeedMore
                }
                Err(PcapError::UnexpectedEof) => ClassicAttempt::Truncated,
                Err(PcapError::ReadError) => ClassicAttempt::ReadError,
                Err(other) => ClassicAttempt::Malformed(other.to_string()),
            };
            match attempt {
                ClassicAttempt::Record {
                    record_len,
                    ts_sec,
                    ts_frac,
                    caplen,
                    orig_len,
                } => {
                    let caplen = caplen as usize;
                    if caplen > MAX_PACKET_LEN {
                        return Step::Damaged(self.oversized_classic(record_number, caplen));
                    }
                    let secs = i64::from(ts_sec);
                    let ts = if format.nanos {
                        Timestamp::from_secs_nanos(secs, i64::from(ts_frac))
                    } else {
                        Timestamp::from_secs_micros(secs, i64::from(ts_frac))
                    };
                    return Step::Packet(FoundPacket {
                        ts,
                        link: format.link,
                        data_start: record_len.saturating_sub(caplen),
                        caplen,
                        orig_len,
                        record_len,
                    });
                }
                ClassicAttempt::NeedMore => {
                    // Refuse an absurd length before buffering towards it.
                    let data = self.reader.data();
                    if let Some(caplen) = format.order.u32_at(data, 8) {
                        if caplen as usize > MAX_PACKET_LEN {
                            return Step::Damaged(
                                self.oversized_classic(record_number, caplen as usize),
                            );
                        }
                    }
                    let available = data.len();
                    match self.fill_to(available + 1) {
                        Fill::Ready => {}
                        Fill::Short(0) => return Step::End,
                        Fill::Short(_) => {
                            return Step::Damaged(self.truncated_classic(record_number, format))
                        }
                        Fill::Failed(reason) => return Step::Damaged(reason),
                    }
                }
                // pcap-parser reports a clean end as "unexpected" unless its buffer happens
                // to be shifted to the start: nothing left over means a clean end.
                ClassicAttempt::Truncated if self.reader.data().is_empty() => return Step::End,
                ClassicAttempt::Truncated => {
                    return Step::Damaged(self.truncated_classic(record_number, format))
                }
                ClassicAttempt::ReadError => return Step::Damaged(self.read_error_text()),
                ClassicAttempt::Malformed(what) => {
                    return Step::Damaged(format!(
                        "packet {record_number} at byte offset {}: malformed record ({what})",
                        self.offset()
                    ))
                }
            }
        }
    }

    /// The common case, read straight from the buffer: a whole standard record of an
    /// acceptable length is there. It is what pcap-parser's record parser would find
    /// (the four header fields in the file's byte order, then the frame), without
    /// its per-record overhead, which was a tenth of a run. Anything else (modified
    /// records, a record cut by the end of the buffer, damage) takes the general path.
    fn buffered_classic_record(&self, format: ClassicFormat) -> Option<FoundPacket> {
        if format.record_header_len != CLASSIC_RECORD_HEADER_LEN {
            return None;
        }
        let data = self.reader.data();
        let caplen = format.order.u32_at(data, 8)? as usize;
        let record_len = CLASSIC_RECORD_HEADER_LEN + caplen;
        if caplen > MAX_PACKET_LEN || data.len() < record_len {
            return None;
        }
        let secs = i64::from(format.order.u32_at(data, 0)?);
        let frac = i64::from(format.order.u32_at(data, 4)?);
        let ts = if format.nanos {
            Timestamp::from_secs_nanos(secs, frac)
        } else {
            Timestamp::from_secs_micros(secs, frac)
        };
        Some(FoundPacket {
            ts,
            link: format.link,
            data_start: CLASSIC_RECORD_HEADER_LEN,
            caplen,
            orig_len: format.order.u32_at(data, 12)?,
            record_len,
        })
    }

    fn oversized_classic(&self, record_number: u64, caplen: usize) -> String {
        format!(
            "packet {record_number} at byte offset {}: captured length {caplen} exceeds the maximum of {MAX_PACKET_LEN}",
            self.offset()
        )
    }

    fn truncated_classic(&self, record_number: u64, format: ClassicFormat) -> String {
        let data = self.reader.data();
        let header_len = format.record_header_len;
        let what = match format.order.u32_at(data, 8) {
            Some(caplen) if data.len() >= header_len => format!(
                "{} of {caplen} bytes of packet data",
                data.len() - header_len
            ),
            _ => format!("{} of {header_len} record header bytes", data.len()),
        };
        format!(
            "packet {record_number} at byte offset {} is truncated ({what} before the end of the file)",
            self.offset()
        )
    }

    /// Turns a packet found in the buffer into the borrowed view handed out.
    fn packet_view(&self, found: FoundPacket) -> Next<'_> {
        let end = found.data_start.saturating_add(found.caplen);
        match self.reader.data().get(found.data_start..end) {
            Some(data) => Next::Packet(Packet {
                ts: found.ts,
                link: found.link,
                data,
                orig_len: found.orig_len,
            }),
            None => Next::Damaged(format!(
                "internal error: packet at byte offset {} lies outside the read buffer",
                self.offset()
            )),
        }
    }
}

impl PacketSource for FileSource {
    fn position(&self) -> Option<(u64, u64)> {
        Some((self.offset() as u64, self.file_len?))
    }

    fn next_packet(&mut self) -> Next<'_> {
        if self.finished {
            return Next::End;
        }
        self.reader
            .consume(std::mem::take(&mut self.pending_consume));
        loop {
            let step = match self.format {
                Format::Classic(format) => self.read_classic_record(format),
                Format::Pcapng => match self.damage_ahead.take() {
                    Some(reason) => Step::Damaged(reason),
                    None => self.read_pcapng_block(),
                },
            };
            match step {
                Step::Packet(found) if !found.link.is_supported() => {
                    self.records_seen += 1;
                    self.skipped_unknown_link += 1;
                    self.reader.consume(found.record_len);
                }
                Step::Packet(found) => {
                    self.records_seen += 1;
                    self.pending_consume = found.record_len;
                    return self.packet_view(found);
                }
                Step::Handled => {}
                Step::End => {
                    self.finished = true;
                    return Next::End;
                }
                Step::Damaged(reason) => {
                    self.finished = true;
                    return Next::Damaged(reason);
                }
            }
        }
    }

    fn unsupported_link_packets(&self) -> u64 {
        self.skipped_unknown_link
    }
}
