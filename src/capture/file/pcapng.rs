//! pcapng blocks (draft-ietf-opsawg-pcapng): framing, sections, interfaces and the three
//! kinds of packet block. Section headers and interface descriptions are decoded by
//! pcap-parser; packet blocks are read here, in place, without allocating.

use pcap_parser::{
    parse_interfacedescriptionblock_be, parse_interfacedescriptionblock_le,
    parse_sectionheaderblock, InterfaceDescriptionBlock,
};

use super::{ByteOrder, FileSource, Fill, FoundPacket, Step, MAX_BUFFERED_BLOCK, MAX_PACKET_LEN};
use crate::capture::LinkType;
use crate::time::Timestamp;

/// Block type and block total length (§3.1 "General Block Structure").
pub(super) const BLOCK_HEADER_LEN: usize = 8;
/// The trailing copy of the block total length (§3.1).
const BLOCK_TRAILER_LEN: usize = 4;
/// The smallest possible block: header and trailer, no body (§3.1).
const MIN_BLOCK_LEN: usize = BLOCK_HEADER_LEN + BLOCK_TRAILER_LEN;

/// Block types (§4 and the "Packet Block (obsolete!)" appendix).
mod block_type {
    /// §4.1; the value reads the same in both byte orders.
    pub const SECTION_HEADER: u32 = 0x0A0D_0D0A;
    /// §4.2.
    pub const INTERFACE_DESCRIPTION: u32 = 0x0000_0001;
    /// Obsolete Packet Block (appendix A), still written by old tools.
    pub const OBSOLETE_PACKET: u32 = 0x0000_0002;
    /// §4.4.
    pub const SIMPLE_PACKET: u32 = 0x0000_0003;
    /// §4.3.
    pub const ENHANCED_PACKET: u32 = 0x0000_0006;
}

/// Byte-order magic of the section header, as written by the file's writer (§4.1).
const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;
/// Offset of the byte-order magic in the section header block (§4.1).
const BYTE_ORDER_MAGIC_AT: usize = 8;
/// The only major version defined (§4.1 "Major Version").
const MAJOR_VERSION: u16 = 1;

/// Interface description options we use (§4.2, table of IDB options).
mod option_code {
    pub const END_OF_OPTIONS: u16 = 0;
    /// One byte: MSB clear = 10^-n seconds, MSB set = 2^-n seconds; default 6 (µs).
    pub const IF_TSRESOL: u16 = 9;
    /// Eight bytes, signed seconds added to every timestamp of the interface.
    pub const IF_TSOFFSET: u16 = 14;
}

/// Default timestamp resolution without `if_tsresol`: microseconds (§4.2).
const DEFAULT_UNITS_PER_SECOND: u64 = 1_000_000;

/// Offsets inside packet blocks, from the start of the block (§4.3, §4.4, appendix A).
mod field {
    /// Enhanced and obsolete packet blocks share this layout after the block header
    /// (the obsolete one has a 16-bit interface id followed by a 16-bit drop count).
    pub const INTERFACE_ID: usize = 8;
    pub const TIMESTAMP_HIGH: usize = 12;
    pub const TIMESTAMP_LOW: usize = 16;
    pub const CAPTURED_LEN: usize = 20;
    pub const ORIGINAL_LEN: usize = 24;
    pub const PACKET_DATA: usize = 28;
    /// Simple packet block: original length, then the data.
    pub const SIMPLE_ORIGINAL_LEN: usize = 8;
    pub const SIMPLE_PACKET_DATA: usize = 12;
}

/// Most interfaces kept for one section: a hostile file must not grow the table without
/// bound (the format allows 2^32, real captures have a handful).
const MAX_INTERFACES_PER_SECTION: usize = 65_536;

/// One interface of the current section (§4.2).
#[derive(Clone, Copy, Debug)]
struct Interface {
    link: LinkType,
    snaplen: u32,
    units_per_second: u64,
    offset_secs: i64,
}

impl Interface {
    /// A packet timestamp of this interface (§4.3 "Timestamp"), truncated to microseconds.
    fn timestamp(&self, high: u32, low: u32) -> Timestamp {
        let ticks = (u64::from(high) << 32) | u64::from(low);
        let since_offset = Timestamp::from_ticks(ticks, self.units_per_second);
        Timestamp(
            since_offset
                .0
                .saturating_add(self.offset_secs.saturating_mul(1_000_000_000)),
        )
    }
}

/// What the reader knows about the sections read so far.
#[derive(Debug)]
pub(super) struct Sections {
    /// Byte order of the current section.
    order: ByteOrder,
    /// Interfaces of the current section, by interface id.
    interfaces: Vec<Interface>,
    /// The first interface of the file: it decides the file's link type and snapshot
    /// length, as `pcap_datalink`/`pcap_snapshot` do in libpcap.
    first_interface: Option<(LinkType, u32)>,
}

impl Default for Sections {
    fn default() -> Self {
        Sections {
            order: ByteOrder::Little,
            interfaces: Vec::new(),
            first_interface: None,
        }
    }
}

/// Whether `prefix` starts with a section header block.
pub(super) fn starts_with_section_header(prefix: &[u8]) -> bool {
    ByteOrder::Little.u32_at(prefix, 0) == Some(block_type::SECTION_HEADER)
}

/// The byte order of the section header block at the start of `block`, if it has one.
fn section_byte_order(block: &[u8]) -> Option<ByteOrder> {
    match ByteOrder::Little.u32_at(block, BYTE_ORDER_MAGIC_AT)? {
        BYTE_ORDER_MAGIC => Some(ByteOrder::Little),
        m if m == BYTE_ORDER_MAGIC.swap_bytes() => Some(ByteOrder::Big),
        _ => None,
    }
}

/// The total length of the section header block at the start of `prefix`, when `prefix`
/// starts with one and holds its first 12 bytes.
pub(super) fn section_header_len(prefix: &[u8]) -> Option<usize> {
    if !starts_with_section_header(prefix) {
        return None;
    }
    let order = section_byte_order(prefix)?;
    Some(order.u32_at(prefix, 4)? as usize)
}

/// Timestamp units per second for an `if_tsresol` value (§4.2); `None` if it overflows.
fn units_per_second(tsresol: u8) -> Option<u64> {
    let exponent = u32::from(tsresol & 0x7F);
    if tsresol & 0x80 == 0 {
        10u64.checked_pow(exponent)
    } else if exponent < 64 {
        Some(1u64 << exponent)
    } else {
        None
    }
}

fn block_name(kind: u32) -> &'static str {
    match kind {
        block_type::SECTION_HEADER => "section header block",
        block_type::INTERFACE_DESCRIPTION => "interface description block",
        block_type::OBSOLETE_PACKET => "packet block",
        block_type::SIMPLE_PACKET => "simple packet block",
        block_type::ENHANCED_PACKET => "enhanced packet block",
        _ => "block",
    }
}

impl FileSource {
    /// Reads the blocks before the first packet: section header, interface descriptions
    /// and whatever else comes first. Sets the file's link type and snapshot length from
    /// the first interface. An error here is a bad header (the caller says so).
    pub(super) fn read_pcapng_headers(&mut self) -> Result<(), String> {
        loop {
            match self.read_pcapng_block() {
                // Left in the buffer: `next_packet` reads it again.
                Step::Packet(_) | Step::End => break,
                Step::Handled => {}
                Step::Damaged(reason) => {
                    if self.pcapng.first_interface.is_none() {
                        return Err(reason);
                    }
                    self.damage_ahead = Some(reason);
                    break;
                }
            }
        }
        let (link, snaplen) = self
            .pcapng
            .first_interface
            .ok_or("pcapng file without an interface description block")?;
        self.link = link;
        self.snaplen = snaplen;
        Ok(())
    }

    /// Reads the next block. A packet block is left in the buffer (the caller consumes
    /// it); any other block is consumed.
    pub(super) fn read_pcapng_block(&mut self) -> Step {
        let offset = self.offset();
        match self.fill_to(BLOCK_HEADER_LEN) {
            Fill::Ready => {}
            Fill::Short(0) => return Step::End,
            Fill::Short(n) => {
                return Step::Damaged(format!(
                    "truncated block header at byte offset {offset} ({n} of {BLOCK_HEADER_LEN} bytes before the end of the file)"
                ))
            }
            Fill::Failed(reason) => return Step::Damaged(reason),
        }
        let raw_type = ByteOrder::Little
            .u32_at(self.reader.data(), 0)
            .unwrap_or_default();
        let order = if raw_type == block_type::SECTION_HEADER {
            // A new section may change the byte order: its magic tells, before its length.
            match self.fill_to(BYTE_ORDER_MAGIC_AT + 4) {
                Fill::Ready => {}
                Fill::Short(_) => {
                    return Step::Damaged(format!(
                        "truncated section header block at byte offset {offset}"
                    ))
                }
                Fill::Failed(reason) => return Step::Damaged(reason),
            }
            match section_byte_order(self.reader.data()) {
                Some(order) => order,
                None => {
                    return Step::Damaged(format!(
                        "section header block at byte offset {offset} has no valid byte-order magic"
                    ))
                }
            }
        } else {
            self.pcapng.order
        };
        let data = self.reader.data();
        let kind = order.u32_at(data, 0).unwrap_or_default();
        let block_len = order.u32_at(data, 4).unwrap_or_default() as usize;
        if block_len < MIN_BLOCK_LEN || block_len % 4 != 0 {
            return Step::Damaged(format!(
                "{} at byte offset {offset} has an invalid length ({block_len})",
                block_name(kind)
            ));
        }

        let needed = matches!(
            kind,
            block_type::SECTION_HEADER
                | block_type::INTERFACE_DESCRIPTION
                | block_type::OBSOLETE_PACKET
                | block_type::SIMPLE_PACKET
                | block_type::ENHANCED_PACKET
        );
        if !needed {
            // Statistics, name resolution, secrets, custom blocks...: not ours to read.
            return match self.skip(block_len as u64) {
                Fill::Ready => Step::Handled,
                Fill::Short(_) => Step::Damaged(format!(
                    "truncated block at byte offset {offset} (block length {block_len})"
                )),
                Fill::Failed(reason) => Step::Damaged(reason),
            };
        }
        if block_len > MAX_BUFFERED_BLOCK {
            return Step::Damaged(format!(
                "{} at byte offset {offset} is {block_len} bytes long, more than the {MAX_BUFFERED_BLOCK} accepted",
                block_name(kind)
            ));
        }
        match self.fill_to(block_len) {
            Fill::Ready => {}
            Fill::Short(n) => {
                return Step::Damaged(format!(
                    "truncated {} at byte offset {offset} ({n} of {block_len} bytes before the end of the file)",
                    block_name(kind)
                ))
            }
            Fill::Failed(reason) => return Step::Damaged(reason),
        }
        let trailer = order.u32_at(self.reader.data(), block_len - BLOCK_TRAILER_LEN);
        if trailer != Some(block_len as u32) {
            return Step::Damaged(format!(
                "{} at byte offset {offset}: the length at its end ({}) differs from the length at its start ({block_len})",
                block_name(kind),
                trailer.unwrap_or_default()
            ));
        }

        match kind {
            block_type::SECTION_HEADER => self.start_section(order, block_len, offset),
            block_type::INTERFACE_DESCRIPTION => self.add_interface(order, block_len, offset),
            _ => self.packet_block(kind, order, block_len, offset),
        }
    }

    fn start_section(&mut self, order: ByteOrder, block_len: usize, offset: usize) -> Step {
        let block = &self.reader.data()[..block_len];
        let version = match parse_sectionheaderblock(block) {
            Ok((_, shb)) => (shb.major_version, shb.minor_version),
            Err(_) => {
                return Step::Damaged(format!(
                    "malformed section header block at byte offset {offset}"
                ))
            }
        };
        if version.0 != MAJOR_VERSION {
            return Step::Damaged(format!(
                "section header block at byte offset {offset}: unsupported pcapng version {}.{}",
                version.0, version.1
            ));
        }
        self.pcapng.order = order;
        self.pcapng.interfaces.clear();
        self.reader.consume(block_len);
        Step::Handled
    }

    fn add_interface(&mut self, order: ByteOrder, block_len: usize, offset: usize) -> Step {
        let block = &self.reader.data()[..block_len];
        let parsed = match order {
            ByteOrder::Little => parse_interfacedescriptionblock_le(block),
            ByteOrder::Big => parse_interfacedescriptionblock_be(block),
        };
        let interface = match parsed {
            Ok((_, idb)) => interface_from(&idb, order),
            Err(_) => Err("malformed".to_string()),
        };
        let interface = match interface {
            Ok(interface) => interface,
            Err(what) => {
                return Step::Damaged(format!(
                    "interface description block at byte offset {offset}: {what}"
                ))
            }
        };
        if self.pcapng.interfaces.len() >= MAX_INTERFACES_PER_SECTION {
            return Step::Damaged(format!(
                "interface description block at byte offset {offset}: more than {MAX_INTERFACES_PER_SECTION} interfaces in one section"
            ));
        }
        self.pcapng
            .first_interface
            .get_or_insert((interface.link, interface.snaplen));
        self.pcapng.interfaces.push(interface);
        self.reader.consume(block_len);
        Step::Handled
    }

    /// Reads an enhanced, simple or obsolete packet block, complete in the buffer.
    fn packet_block(
        &mut self,
        kind: u32,
        order: ByteOrder,
        block_len: usize,
        offset: usize,
    ) -> Step {
        let record_number = self.records_seen + 1;
        let block = &self.reader.data()[..block_len];
        let data_capacity = |data_at: usize| block_len.checked_sub(data_at + BLOCK_TRAILER_LEN);
        let u32_at = |at| order.u32_at(block, at).unwrap_or_default();

        let (interface_id, data_start, caplen, orig_len) = if kind == block_type::SIMPLE_PACKET {
            let Some(capacity) = data_capacity(field::SIMPLE_PACKET_DATA) else {
                return Step::Damaged(format!(
                    "simple packet block at byte offset {offset} is too short ({block_len} bytes)"
                ));
            };
            let orig_len = u32_at(field::SIMPLE_ORIGINAL_LEN);
            // The captured length is not stored: it is the original length cut to the
            // snapshot length of interface 0 (§4.4), and never more than the block holds.
            let snaplen = match self.pcapng.interfaces.first() {
                Some(interface) if interface.snaplen != 0 => interface.snaplen as usize,
                _ => usize::MAX,
            };
            let caplen = (orig_len as usize).min(snaplen).min(capacity);
            (0, field::SIMPLE_PACKET_DATA, caplen, orig_len)
        } else {
            let Some(capacity) = data_capacity(field::PACKET_DATA) else {
                return Step::Damaged(format!(
                    "{} at byte offset {offset} is too short ({block_len} bytes)",
                    block_name(kind)
                ));
            };
            let interface_id = if kind == block_type::OBSOLETE_PACKET {
                u32::from(order.u16_at(block, field::INTERFACE_ID).unwrap_or_default())
            } else {
                u32_at(field::INTERFACE_ID)
            };
            let caplen = u32_at(field::CAPTURED_LEN) as usize;
            if caplen > capacity {
                return Step::Damaged(format!(
                    "packet {record_number} at byte offset {offset}: captured length {caplen} exceeds its {block_len}-byte block"
                ));
            }
            (
                interface_id,
                field::PACKET_DATA,
                caplen,
                u32_at(field::ORIGINAL_LEN),
            )
        };
        if caplen > MAX_PACKET_LEN {
            return Step::Damaged(format!(
                "packet {record_number} at byte offset {offset}: captured length {caplen} exceeds the maximum of {MAX_PACKET_LEN}"
            ));
        }
        let Some(interface) = self.pcapng.interfaces.get(interface_id as usize) else {
            return Step::Damaged(format!(
                "packet {record_number} at byte offset {offset} refers to interface {interface_id}, which its section does not describe"
            ));
        };
        let ts = if kind == block_type::SIMPLE_PACKET {
            // No timestamp is stored (§4.4); libpcap reports 0 plus the interface offset.
            interface.timestamp(0, 0)
        } else {
            interface.timestamp(u32_at(field::TIMESTAMP_HIGH), u32_at(field::TIMESTAMP_LOW))
        };
        Step::Packet(FoundPacket {
            ts,
            link: interface.link,
            data_start,
            caplen,
            orig_len,
            record_len: block_len,
        })
    }
}

/// The interface an interface description block describes, or what is wrong with it.
fn interface_from(
    idb: &InterfaceDescriptionBlock<'_>,
    order: ByteOrder,
) -> Result<Interface, String> {
    let mut units = DEFAULT_UNITS_PER_SECOND;
    let mut offset_secs = 0i64;
    for option in &idb.options {
        let value = option.as_bytes().unwrap_or_default();
        match option.code.0 {
            option_code::END_OF_OPTIONS => break,
            option_code::IF_TSRESOL => {
                let Some(&tsresol) = value.first() else {
                    return Err("empty if_tsresol option".to_string());
                };
                units = units_per_second(tsresol).ok_or_else(|| {
                    format!("unsupported timestamp resolution (if_tsresol 0x{tsresol:02x})")
                })?;
            }
            option_code::IF_TSOFFSET => {
                let eight: [u8; 8] = value
                    .try_into()
                    .map_err(|_| format!("if_tsoffset option of {} bytes", value.len()))?;
                offset_secs = order.i64_from(eight);
            }
            _ => {}
        }
    }
    Ok(Interface {
        // The IDB link type is 16 bits wide (§4.2), so this cannot lose anything.
        link: LinkType(idb.linktype.0 as u32 & 0xFFFF),
        snaplen: idb.snaplen,
        units_per_second: units,
        offset_secs,
    })
}
