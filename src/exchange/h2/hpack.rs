//! HPACK header block decoder (RFC 7541) for one direction of an HTTP/2 connection:
//! the static table, the dynamic table with its size updates and evictions, literal and
//! Huffman strings. A header block is decoded whole (the analyzer joins HEADERS and
//! CONTINUATION fragments first, see [`super::frame::HeaderBlock`]).
//!
//! Bounds: the dynamic table holds at most [`MAX_TABLE_SIZE`] bytes of RFC 7541 §4.1
//! entry size whatever the peers announce (an overrun is counted, and the decoder then
//! treats entries it could not keep as unknown), its storage is one byte arena of at
//! most about twice that, and the scratch for Huffman strings is at most 8/5 of the
//! block. HPACK integers are bounded to `u32` with at most [`MAX_INTEGER_CONTINUATIONS`]
//! continuation bytes. Any error breaks the decoder for good: the connection's
//! compression state is lost, as it would be for a peer (RFC 7541 §2.3.3 makes every
//! decoding error a connection error, COMPRESSION_ERROR in RFC 9113 §4.3).
//!
//! A decoder made by [`Decoder::mid_stream`] follows a connection picked up in the
//! middle: the dynamic table then holds entries of unknown content. Entries inserted
//! after the pickup are at the front of the table and are known; references past them
//! decode as [`Field::Unknown`] until the decoder can prove that no older entry is left.

use super::huffman;

/// The dynamic table size every HPACK context starts with (RFC 9113 §6.5.2
/// `SETTINGS_HEADER_TABLE_SIZE`'s initial value).
pub const DEFAULT_TABLE_SIZE: usize = 4096;
/// Largest dynamic table the decoder keeps, whatever the peers announce (common
/// servers use 4 KiB; a peer asking for more is counted as an overrun).
pub const MAX_TABLE_SIZE: usize = 64 * 1024;
/// Continuation bytes of an HPACK integer accepted (RFC 7541 §5.1): 5 hold 35 bits,
/// enough for any `u32`; the value must also fit a `u32`.
pub const MAX_INTEGER_CONTINUATIONS: usize = 5;
/// Per-entry overhead of the entry size (RFC 7541 §4.1).
const ENTRY_OVERHEAD: usize = 32;
/// Dead bytes at the start of the table's arena tolerated before it is compacted.
const ARENA_SLACK: usize = 4096;
/// Scratch capacity kept between blocks.
const KEPT_SCRATCH: usize = 16 * 1024;

/// The static table (RFC 7541 Appendix A); index 1 is the first element.
pub const STATIC_TABLE: [(&[u8], &[u8]); 61] = [
    (b":authority", b""),
    (b":method", b"GET"),
    (b":method", b"POST"),
    (b":path", b"/"),
    (b":path", b"/index.html"),
    (b":scheme", b"http"),
    (b":scheme", b"https"),
    (b":status", b"200"),
    (b":status", b"204"),
    (b":status", b"206"),
    (b":status", b"304"),
    (b":status", b"400"),
    (b":status", b"404"),
    (b":status", b"500"),
    (b"accept-charset", b""),
    (b"accept-encoding", b"gzip, deflate"),
    (b"accept-language", b""),
    (b"accept-ranges", b""),
    (b"accept", b""),
    (b"access-control-allow-origin", b""),
    (b"age", b""),
    (b"allow", b""),
    (b"authorization", b""),
    (b"cache-control", b""),
    (b"content-disposition", b""),
    (b"content-encoding", b""),
    (b"content-language", b""),
    (b"content-length", b""),
    (b"content-location", b""),
    (b"content-range", b""),
    (b"content-type", b""),
    (b"cookie", b""),
    (b"date", b""),
    (b"etag", b""),
    (b"expect", b""),
    (b"expires", b""),
    (b"from", b""),
    (b"host", b""),
    (b"if-match", b""),
    (b"if-modified-since", b""),
    (b"if-none-match", b""),
    (b"if-range", b""),
    (b"if-unmodified-since", b""),
    (b"last-modified", b""),
    (b"link", b""),
    (b"location", b""),
    (b"max-forwards", b""),
    (b"proxy-authenticate", b""),
    (b"proxy-authorization", b""),
    (b"range", b""),
    (b"referer", b""),
    (b"refresh", b""),
    (b"retry-after", b""),
    (b"server", b""),
    (b"set-cookie", b""),
    (b"strict-transport-security", b""),
    (b"transfer-encoding", b""),
    (b"user-agent", b""),
    (b"vary", b""),
    (b"via", b""),
    (b"www-authenticate", b""),
];

/// A decoded header field, in block order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field<'a> {
    /// A field whose name and value are known.
    Header { name: &'a [u8], value: &'a [u8] },
    /// A field that refers to a dynamic-table entry whose name is not known (a
    /// [`Decoder::mid_stream`] decoder: an entry inserted before the pickup, or one
    /// inserted since with the name of such an entry). `value` is the value when it is
    /// known: a literal value, or an entry inserted since the pickup. A name is never
    /// known alone: entries of unknown content are unknown as a whole.
    Unknown { value: Option<&'a [u8]> },
}

/// What a decoded block held.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BlockSummary {
    /// Field representations decoded, [`Field::Unknown`] ones included.
    pub fields: u32,
    /// Of which unknown.
    pub unknown: u32,
    /// Dynamic table size updates at the start of the block.
    pub size_updates: u32,
}

/// Why a header block cannot be decoded (RFC 7541 §2.3.3, §4.2, §5, §6); every one is
/// a COMPRESSION_ERROR for HTTP/2 (RFC 9113 §4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HpackError {
    /// Index 0 (RFC 7541 §6.1).
    ZeroIndex,
    /// An index past the static and dynamic tables, when the whole table is known.
    IndexOutOfRange { index: u32 },
    /// An integer over `u32` or with more than [`MAX_INTEGER_CONTINUATIONS`]
    /// continuation bytes.
    IntegerOverflow,
    /// The block ends inside a representation's integer.
    Truncated,
    /// A string longer than the rest of the block.
    StringTooLong { len: u32 },
    /// A Huffman string with the EOS symbol, or padding over 7 bits or not all ones
    /// (RFC 7541 §5.2).
    BadHuffman,
    /// A dynamic table size update above the limit the decoding side announced
    /// (RFC 7541 §6.3).
    SizeUpdateTooLarge { size: u32, limit: u32 },
    /// A dynamic table size update after a field representation (RFC 7541 §4.2).
    SizeUpdateNotFirst,
}

impl std::fmt::Display for HpackError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            HpackError::ZeroIndex => f.write_str("hpack index 0"),
            HpackError::IndexOutOfRange { index } => {
                write!(f, "hpack index {index} past the tables")
            }
            HpackError::IntegerOverflow => f.write_str("hpack integer overflow"),
            HpackError::Truncated => f.write_str("hpack block ends inside an integer"),
            HpackError::StringTooLong { len } => {
                write!(f, "hpack string of {len} bytes past the block's end")
            }
            HpackError::BadHuffman => f.write_str("hpack bad huffman string"),
            HpackError::SizeUpdateTooLarge { size, limit } => {
                write!(f, "hpack table size update {size} over the limit {limit}")
            }
            HpackError::SizeUpdateNotFirst => f.write_str("hpack table size update after a field"),
        }?;
        f.write_str(" (COMPRESSION_ERROR)")
    }
}

impl std::error::Error for HpackError {}

/// A dynamic table entry: where its bytes are in the arena.
#[derive(Clone, Copy, Debug)]
struct Entry {
    /// Logical offset of the name (then the value) in the arena.
    offset: usize,
    name_len: usize,
    value_len: usize,
    /// False for an entry inserted with the name of an entry of unknown content: only
    /// its value is stored, and its size counts no name bytes (a lower bound).
    name_known: bool,
}

impl Entry {
    fn size(&self) -> usize {
        self.name_len + self.value_len + ENTRY_OVERHEAD
    }
}

/// The dynamic table (RFC 7541 §2.3.2): a FIFO of entries, the newest first, whose
/// bytes live in one arena in insertion order (evictions drop the oldest, at the
/// arena's start, which is compacted once its dead part outgrows the live part).
#[derive(Debug, Default)]
struct Table {
    entries: std::collections::VecDeque<Entry>,
    arena: Vec<u8>,
    /// Logical offset of `arena[0]`.
    base: usize,
    /// Sum of the entries' sizes (a lower bound when some names are unknown).
    size: usize,
}

impl Table {
    /// Entry `i` (0 = newest): its name if known, and its value.
    fn get(&self, i: usize) -> Option<(Option<&[u8]>, &[u8])> {
        let e = self.entries.get(i)?;
        let start = e.offset.checked_sub(self.base)?;
        let name = self.arena.get(start..start + e.name_len)?;
        let value = self
            .arena
            .get(start + e.name_len..start + e.name_len + e.value_len)?;
        Some((e.name_known.then_some(name), value))
    }

    /// Evicts the oldest entries until the size is at most `max`; whether any went.
    fn evict_to(&mut self, max: usize) -> bool {
        let mut evicted = false;
        while self.size > max {
            let Some(e) = self.entries.pop_back() else {
                break;
            };
            self.size -= e.size();
            evicted = true;
        }
        if self.entries.is_empty() {
            self.size = 0;
            self.base += self.arena.len();
            self.arena.clear();
        } else if let Some(oldest) = self.entries.back() {
            let dead = oldest.offset - self.base;
            if dead > ARENA_SLACK && dead > self.arena.len() - dead {
                self.arena.drain(..dead);
                self.base = oldest.offset;
            }
        }
        evicted
    }

    /// Inserts an entry (the caller made room: `size + entry size ≤ max`).
    fn push(&mut self, name: Option<&[u8]>, value: &[u8]) {
        let offset = self.base + self.arena.len();
        let name_known = name.is_some();
        let name = name.unwrap_or_default();
        self.arena.extend_from_slice(name);
        self.arena.extend_from_slice(value);
        let e = Entry {
            offset,
            name_len: name.len(),
            value_len: value.len(),
            name_known,
        };
        self.size += e.size();
        self.entries.push_front(e);
    }

    fn clear(&mut self) {
        *self = Table::default();
    }
}

/// Where a field's name is, while the field is being decoded.
#[derive(Clone, Copy)]
enum Name {
    Static(usize),
    /// Dynamic entry `i` whose name is known.
    Dynamic(usize),
    /// A literal: a range of the block, or the Huffman scratch.
    Block(usize, usize),
    Scratch,
    /// A dynamic entry of unknown name.
    Unknown,
}

/// Where a literal string is.
#[derive(Clone, Copy)]
enum Str {
    Block(usize, usize),
    Scratch,
}

/// An index resolved (RFC 7541 §2.3.3).
enum Lookup {
    Static(usize),
    Dynamic(usize),
    /// Past the known entries of a table that may hold more.
    Unknown,
}

/// Decodes one direction's header blocks. See the module documentation.
#[derive(Debug)]
pub struct Decoder {
    table: Table,
    /// The dynamic table's maximum size as the encoder set it (RFC 7541 §4.2), capped
    /// at [`MAX_TABLE_SIZE`]; [`MAX_TABLE_SIZE`] while not known (mid-stream, before a
    /// size update), which keeps at least every entry the encoder keeps.
    max_size: usize,
    /// Whether `max_size` is the encoder's (not a cap or a guess).
    max_exact: bool,
    /// The limit the decoding side announced (`SETTINGS_HEADER_TABLE_SIZE`, RFC 7541
    /// §4.2); `None` when not seen (mid-stream).
    limit: Option<u32>,
    /// The encoder's table may hold entries older than ours, of unknown content.
    tail_unknown: bool,
    /// Peers asked for more than [`MAX_TABLE_SIZE`].
    overruns: u64,
    broken: Option<HpackError>,
    /// Huffman-decoded name and value of the field being decoded.
    name_scratch: Vec<u8>,
    value_scratch: Vec<u8>,
    /// The name of an entry being inserted (its source may be evicted by the insertion,
    /// RFC 7541 §4.4).
    insert_name: Vec<u8>,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    /// A decoder from the connection's start: an empty table of 4096 bytes.
    pub fn new() -> Self {
        Decoder {
            table: Table::default(),
            max_size: DEFAULT_TABLE_SIZE,
            max_exact: true,
            limit: Some(DEFAULT_TABLE_SIZE as u32),
            tail_unknown: false,
            overruns: 0,
            broken: None,
            name_scratch: Vec::new(),
            value_scratch: Vec::new(),
            insert_name: Vec::new(),
        }
    }

    /// A decoder for a connection picked up in the middle: the table's earlier content
    /// and maximum size are unknown.
    pub fn mid_stream() -> Self {
        Decoder {
            max_size: MAX_TABLE_SIZE,
            max_exact: false,
            limit: None,
            tail_unknown: true,
            ..Self::new()
        }
    }

    /// The `SETTINGS_HEADER_TABLE_SIZE` the decoding side announced (call when its
    /// SETTINGS frame is acknowledged: the encoder may use the new limit from then on,
    /// RFC 9113 §6.5.3). A limit over [`MAX_TABLE_SIZE`] counts an overrun; the table
    /// itself changes only with the encoder's size updates.
    pub fn set_table_limit(&mut self, bytes: usize) {
        if bytes > MAX_TABLE_SIZE {
            self.overruns += 1;
        }
        self.limit = Some(u32::try_from(bytes).unwrap_or(u32::MAX));
    }

    /// Decodes a complete header block, reporting each field to `on` in order. After an
    /// error the decoder is broken and returns that error for every later block.
    pub fn decode(
        &mut self,
        block: &[u8],
        on: &mut impl FnMut(Field<'_>),
    ) -> Result<BlockSummary, HpackError> {
        if let Some(e) = self.broken {
            return Err(e);
        }
        let result = self.decode_block(block, on);
        if let Err(e) = result {
            self.broken = Some(e);
            self.table.clear();
        }
        for scratch in [
            &mut self.name_scratch,
            &mut self.value_scratch,
            &mut self.insert_name,
        ] {
            if scratch.capacity() > KEPT_SCRATCH {
                *scratch = Vec::new();
            }
        }
        result
    }

    /// Whether a decoding error broke the decoder.
    pub fn is_broken(&self) -> bool {
        self.broken.is_some()
    }

    /// The error that broke the decoder.
    pub fn error(&self) -> Option<HpackError> {
        self.broken
    }

    /// Times a peer asked for a table over [`MAX_TABLE_SIZE`] (a limit or a size update).
    pub fn overruns(&self) -> u64 {
        self.overruns
    }

    /// Whether every entry of the encoder's table is known (an index past the table is
    /// then an error rather than an unknown field).
    pub fn is_complete(&self) -> bool {
        !self.tail_unknown
    }

    /// Entries in the dynamic table.
    pub fn table_len(&self) -> usize {
        self.table.entries.len()
    }

    /// The dynamic table's size (RFC 7541 §4.1; unknown names count as empty).
    pub fn table_size(&self) -> usize {
        self.table.size
    }

    /// The dynamic table's maximum size as the decoder applies it.
    pub fn max_table_size(&self) -> usize {
        self.max_size
    }

    /// Bytes of storage held by the table and the scratch buffers.
    pub fn memory(&self) -> usize {
        self.table.arena.capacity()
            + self.table.entries.capacity() * std::mem::size_of::<Entry>()
            + self.name_scratch.capacity()
            + self.value_scratch.capacity()
            + self.insert_name.capacity()
    }

    /// Dynamic entry `i` (0 = the newest, HPACK index 62): its name when known, and
    /// its value.
    pub fn table_entry(&self, i: usize) -> Option<(Option<&[u8]>, &[u8])> {
        self.table.get(i)
    }

    fn decode_block(
        &mut self,
        block: &[u8],
        on: &mut impl FnMut(Field<'_>),
    ) -> Result<BlockSummary, HpackError> {
        let mut summary = BlockSummary::default();
        let mut pos = 0;
        while let Some(&first) = block.get(pos) {
            if first & 0x80 != 0 {
                // Indexed field (RFC 7541 §6.1).
                let (index, next) = integer(block, pos, 7)?;
                pos = next;
                summary.fields += 1;
                match self.lookup(index)? {
                    Lookup::Static(i) => {
                        let (name, value) = STATIC_TABLE[i];
                        on(Field::Header { name, value });
                    }
                    Lookup::Dynamic(i) => match self.table.get(i) {
                        Some((Some(name), value)) => on(Field::Header { name, value }),
                        Some((None, value)) => {
                            summary.unknown += 1;
                            on(Field::Unknown { value: Some(value) });
                        }
                        None => {
                            summary.unknown += 1;
                            on(Field::Unknown { value: None });
                        }
                    },
                    Lookup::Unknown => {
                        summary.unknown += 1;
                        on(Field::Unknown { value: None });
                    }
                }
            } else if first & 0xe0 == 0x20 {
                // Dynamic table size update (RFC 7541 §6.3).
                if summary.fields > 0 {
                    return Err(HpackError::SizeUpdateNotFirst);
                }
                let (size, next) = integer(block, pos, 5)?;
                pos = next;
                summary.size_updates += 1;
                self.size_update(size)?;
            } else {
                // Literal with incremental indexing (01, 6-bit index, RFC 7541
                // §6.2.1), without indexing (0000) or never indexed (0001, 4-bit).
                let indexing = first & 0x40 != 0;
                let (index, next) = integer(block, pos, if indexing { 6 } else { 4 })?;
                pos = next;
                summary.fields += 1;
                let name = if index == 0 {
                    let (s, next) = string(block, pos, &mut self.name_scratch)?;
                    pos = next;
                    match s {
                        Str::Block(a, b) => Name::Block(a, b),
                        Str::Scratch => Name::Scratch,
                    }
                } else {
                    match self.lookup(index)? {
                        Lookup::Static(i) => Name::Static(i),
                        Lookup::Dynamic(i) => match self.table.get(i) {
                            Some((Some(_), _)) => Name::Dynamic(i),
                            _ => Name::Unknown,
                        },
                        Lookup::Unknown => Name::Unknown,
                    }
                };
                let (value, next) = string(block, pos, &mut self.value_scratch)?;
                pos = next;
                let value = match value {
                    Str::Block(a, b) => block.get(a..b).unwrap_or_default(),
                    Str::Scratch => &self.value_scratch[..],
                };
                let name = match name {
                    Name::Static(i) => Some(STATIC_TABLE[i].0),
                    Name::Dynamic(i) => self.table.get(i).and_then(|(n, _)| n),
                    Name::Block(a, b) => block.get(a..b),
                    Name::Scratch => Some(&self.name_scratch[..]),
                    Name::Unknown => None,
                };
                match name {
                    Some(name) => on(Field::Header { name, value }),
                    None => {
                        summary.unknown += 1;
                        on(Field::Unknown { value: Some(value) });
                    }
                }
                if indexing {
                    self.insert_name.clear();
                    if let Some(name) = name {
                        self.insert_name.extend_from_slice(name);
                    }
                    let known = name.is_some();
                    insert(
                        &mut self.table,
                        self.max_size,
                        self.max_exact,
                        &mut self.tail_unknown,
                        known.then_some(&self.insert_name[..]),
                        value,
                    );
                }
            }
        }
        Ok(summary)
    }

    fn lookup(&self, index: u32) -> Result<Lookup, HpackError> {
        let i = usize::try_from(index).unwrap_or(usize::MAX);
        if i == 0 {
            return Err(HpackError::ZeroIndex);
        }
        if i <= STATIC_TABLE.len() {
            return Ok(Lookup::Static(i - 1));
        }
        let d = i - STATIC_TABLE.len() - 1;
        if d < self.table.entries.len() {
            Ok(Lookup::Dynamic(d))
        } else if self.tail_unknown {
            Ok(Lookup::Unknown)
        } else {
            Err(HpackError::IndexOutOfRange { index })
        }
    }

    /// A dynamic table size update (RFC 7541 §4.2, §6.3).
    fn size_update(&mut self, size: u32) -> Result<(), HpackError> {
        if let Some(limit) = self.limit {
            if size > limit {
                return Err(HpackError::SizeUpdateTooLarge { size, limit });
            }
        }
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        if size > MAX_TABLE_SIZE {
            // The encoder may keep more than we can: what we drop becomes unknown.
            self.overruns += 1;
            self.max_size = MAX_TABLE_SIZE;
            self.max_exact = false;
            if self.table.evict_to(MAX_TABLE_SIZE) {
                self.tail_unknown = true;
            }
            return Ok(());
        }
        // We keep the longest run of newest entries that fits, the encoder keeps at
        // most as many (our sizes are lower bounds): so if none of the encoder's older
        // entries can fit behind ours, we know them all.
        self.max_size = size;
        self.max_exact = true;
        self.table.evict_to(size);
        if self.table.size + ENTRY_OVERHEAD > size {
            self.tail_unknown = false;
        }
        Ok(())
    }
}

/// Inserts an entry (RFC 7541 §4.4): evicts the oldest entries to make room, or empties
/// the table when the entry is larger than it. `name` is `None` when unknown (the entry
/// is kept with its value only, its size a lower bound). Keeps `tail_unknown` true
/// while the encoder may hold entries we do not.
fn insert(
    table: &mut Table,
    max_size: usize,
    max_exact: bool,
    tail_unknown: &mut bool,
    name: Option<&[u8]>,
    value: &[u8],
) {
    let size = name.map_or(0, <[u8]>::len) + value.len() + ENTRY_OVERHEAD;
    if size > max_size {
        table.evict_to(0);
        // With the encoder's own maximum, its table is now empty too; with a cap or a
        // guess, it may hold this entry.
        *tail_unknown = !max_exact;
        return;
    }
    let evicted = table.evict_to(max_size - size);
    table.push(name, value);
    if max_exact && (evicted || table.size + ENTRY_OVERHEAD > max_size) {
        // Evicting a known entry means older ones went first; or no older entry fits.
        *tail_unknown = false;
    } else if !max_exact && evicted {
        *tail_unknown = true;
    }
}

/// An HPACK integer with an `n`-bit prefix starting at `block[pos]` (RFC 7541 §5.1);
/// returns it and the position after it.
fn integer(block: &[u8], pos: usize, n: u32) -> Result<(u32, usize), HpackError> {
    // n is 1..=8.
    let mask = u8::try_from((1u16 << n.min(8)) - 1).unwrap_or(u8::MAX);
    let first = block.get(pos).ok_or(HpackError::Truncated)? & mask;
    let mut pos = pos + 1;
    if first < mask {
        return Ok((u32::from(first), pos));
    }
    let mut value = u64::from(mask);
    for shift in (0..MAX_INTEGER_CONTINUATIONS as u32).map(|i| 7 * i) {
        let b = *block.get(pos).ok_or(HpackError::Truncated)?;
        pos += 1;
        value += u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            let value = u32::try_from(value).map_err(|_| HpackError::IntegerOverflow)?;
            return Ok((value, pos));
        }
    }
    Err(HpackError::IntegerOverflow)
}

/// A string literal at `block[pos]` (RFC 7541 §5.2): a range of the block, or, Huffman
/// coded, its decoding in `scratch`. Returns it and the position after it.
fn string(block: &[u8], pos: usize, scratch: &mut Vec<u8>) -> Result<(Str, usize), HpackError> {
    let huffman = block.get(pos).ok_or(HpackError::Truncated)? & 0x80 != 0;
    let (len, start) = integer(block, pos, 7)?;
    let end = usize::try_from(len)
        .ok()
        .and_then(|n| start.checked_add(n))
        .filter(|&end| end <= block.len())
        .ok_or(HpackError::StringTooLong { len })?;
    if !huffman {
        return Ok((Str::Block(start, end), end));
    }
    scratch.clear();
    huffman::decode(&block[start..end], scratch).map_err(|_| HpackError::BadHuffman)?;
    Ok((Str::Scratch, end))
}

/// A small HPACK encoder with its own, deliberately naive, dynamic table (a `Vec`,
/// newest first): tests and fuzz targets encode fields with it and check that the
/// decoder gives them back.
#[cfg(any(test, feature = "testing"))]
#[derive(Debug)]
pub struct Encoder {
    table: Vec<(Vec<u8>, Vec<u8>)>,
    max_size: usize,
}

#[cfg(any(test, feature = "testing"))]
impl Default for Encoder {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(any(test, feature = "testing"))]
impl Encoder {
    /// An encoder with the default 4096-byte table.
    pub fn new() -> Self {
        Encoder {
            table: Vec::new(),
            max_size: DEFAULT_TABLE_SIZE,
        }
    }

    fn size(&self) -> usize {
        self.table
            .iter()
            .map(|(n, v)| n.len() + v.len() + ENTRY_OVERHEAD)
            .sum()
    }

    fn evict_to(&mut self, max: usize) {
        while self.size() > max {
            self.table.pop();
        }
    }

    /// Entries in the encoder's table.
    pub fn table_len(&self) -> usize {
        self.table.len()
    }

    /// Writes a dynamic table size update (RFC 7541 §6.3) and applies it.
    pub fn size_update(&mut self, size: usize, out: &mut Vec<u8>) {
        write_integer(out, 0x20, 5, size as u64);
        self.max_size = size;
        self.evict_to(size);
    }

    /// Writes one field. `how` picks the representation: bits 0–1: 0 an indexed field
    /// if the table has it (else as 1), 1 literal with incremental indexing, 2 without
    /// indexing, 3 never indexed; bit 2: the name by index when a table has it; bit 3:
    /// Huffman-coded name; bit 4: Huffman-coded value.
    pub fn field(&mut self, name: &[u8], value: &[u8], how: u8, out: &mut Vec<u8>) {
        let find = |exact: bool| {
            let statics = STATIC_TABLE.iter().map(|&(n, v)| (n, v));
            let dynamics = self.table.iter().map(|(n, v)| (&n[..], &v[..]));
            statics
                .chain(dynamics)
                .position(|(n, v)| n == name && (!exact || v == value))
                .map(|i| i as u64 + 1)
        };
        let kind = how & 3;
        if kind == 0 {
            if let Some(index) = find(true) {
                return write_integer(out, 0x80, 7, index);
            }
        }
        let (first, prefix) = match kind {
            0 | 1 => (0x40, 6),
            2 => (0x00, 4),
            _ => (0x10, 4),
        };
        match find(false).filter(|_| how & 4 != 0) {
            Some(index) => write_integer(out, first, prefix, index),
            None => {
                out.push(first);
                write_string(out, name, how & 8 != 0);
            }
        }
        write_string(out, value, how & 16 != 0);
        if kind <= 1 {
            let size = name.len() + value.len() + ENTRY_OVERHEAD;
            if size > self.max_size {
                self.table.clear();
            } else {
                self.evict_to(self.max_size - size);
                self.table.insert(0, (name.to_vec(), value.to_vec()));
            }
        }
    }
}

/// An HPACK integer (RFC 7541 §5.1) with `first`'s high bits and an `n`-bit prefix.
#[cfg(any(test, feature = "testing"))]
fn write_integer(out: &mut Vec<u8>, first: u8, n: u32, mut value: u64) {
    let mask = (1u64 << n) - 1;
    if value < mask {
        out.push(first | value as u8);
        return;
    }
    out.push(first | mask as u8);
    value -= mask;
    while value >= 128 {
        out.push((value % 128) as u8 | 0x80);
        value /= 128;
    }
    out.push(value as u8);
}

/// A string literal (RFC 7541 §5.2).
#[cfg(any(test, feature = "testing"))]
fn write_string(out: &mut Vec<u8>, s: &[u8], huffman: bool) {
    if huffman {
        write_integer(out, 0x80, 7, huffman::encoded_len(s) as u64);
        huffman::encode(s, out);
    } else {
        write_integer(out, 0, 7, s.len() as u64);
        out.extend_from_slice(s);
    }
}

#[cfg(test)]
mod tests;
