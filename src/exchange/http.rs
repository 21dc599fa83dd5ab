//! HTTP/1 analyzer: header blocks, header lookup, request and status lines.
//!
//! Pure functions over one direction's bytes (`&[u8]`): they never allocate, never
//! panic and do at most a few linear passes. They do not validate HTTP: the same
//! rules are applied to whatever protocol the connection carries, as justniffer does
//! (SPEC §5), so a redis or SMTP line gets "words" too.

/// `%request.line` / `%response.line`: the bytes up to the first CR, or all of them
/// when there is none (an LF-only request prints its whole header block).
pub fn first_line(data: &[u8]) -> &[u8] {
    match find_byte(data, b'\r') {
        Some(cr) => &data[..cr],
        None => data,
    }
}

/// Where the header block ends: `(header_len, body_start)`.
///
/// Scanning from the start, CRs are counted; an LF leaves the count alone and any
/// other byte resets it. The block ends just before the CR that brings the count to
/// two (`\r\n\r\n` normally, but `\r\r` and `\r\n\n\r` too). The body starts two
/// bytes after that CR, whatever the byte after it is (as justniffer does: in
/// k_tls12_A a TLS record holding `0d 0d a4 b5` gives a body starting at `b5`).
/// Without such a CR pair the whole input is header and the body is empty.
pub fn header_split(data: &[u8]) -> (usize, usize) {
    // Jump from CR to CR: after one, only LFs keep the count, so the terminator is
    // there iff the first byte after the LFs is another CR.
    let mut from = 0;
    while let Some(cr) = find_byte(&data[from..], b'\r') {
        let mut next = from + cr + 1;
        while data.get(next) == Some(&b'\n') {
            next += 1;
        }
        if data.get(next) == Some(&b'\r') {
            return (next, (next + 2).min(data.len()));
        }
        from = next;
    }
    (data.len(), data.len())
}

/// Finds the header terminator of [`header_split`] incrementally, across data events,
/// so that the exchange layer can stop keeping bytes once the header block is complete.
#[derive(Clone, Copy, Debug, Default)]
pub struct HeaderEndScan {
    crs: u8,
    found: bool,
}

impl HeaderEndScan {
    /// Whether the terminator has been seen.
    pub fn found(&self) -> bool {
        self.found
    }

    /// The terminator was found by other means (an HTTP/1 framer that read the head).
    pub fn set_found(&mut self) {
        self.crs = 2;
        self.found = true;
    }

    /// Scans the next bytes of the phase; returns the index in `bytes` of the CR that
    /// ends the header block when it is among them. Jumps from CR to CR: the count is at
    /// most one between two calls (two means found).
    pub fn scan(&mut self, bytes: &[u8]) -> Option<usize> {
        if self.found {
            return None;
        }
        let mut i = 0;
        loop {
            if self.crs > 0 {
                while bytes.get(i) == Some(&b'\n') {
                    i += 1;
                }
                match bytes.get(i) {
                    // The run of LFs may go on in the next event.
                    None => return None,
                    Some(b'\r') => {
                        self.crs = 2;
                        self.found = true;
                        return Some(i);
                    }
                    Some(_) => {
                        self.crs = 0;
                        i += 1;
                    }
                }
            }
            let cr = find_byte(bytes.get(i..)?, b'\r')?;
            i += cr + 1;
            self.crs = 1;
        }
    }
}

/// `%request.header` / `%response.header`: the bytes before the header terminator
/// (see [`header_split`]); all of them when there is no terminator.
pub fn header_block(data: &[u8]) -> &[u8] {
    &data[..header_split(data).0]
}

/// `%request.body` / `%response.body`: the bytes after the header terminator; empty
/// when there is none.
pub fn body(data: &[u8]) -> &[u8] {
    &data[header_split(data).1..]
}

/// The value of the first line of `block` that starts with `name` (ASCII
/// case-insensitive) directly followed by `:`. Blanks (space, tab) after the colon
/// are skipped; the value runs to the next CR or LF or the end of `block`.
///
/// Lines start at the beginning of `block` and after every LF. The value may be
/// empty: the caller decides whether that counts as found (SPEC §5: named header
/// keywords print not-found, `*.header.value` prints nothing).
pub fn header_value<'a>(block: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let mut start = 0;
    while start <= block.len() {
        let line = &block[start..];
        if let Some(value) = value_if_named(line, name) {
            return Some(value);
        }
        match find_byte(line, b'\n') {
            Some(lf) => start += lf + 1,
            None => break,
        }
    }
    None
}

/// [`header_value`] of two names in a header block, found in one pass over its lines:
/// the connection record reads `Connection` and `Keep-Alive` of the first exchange
/// this way.
pub fn header_values_of_two<'a>(
    block: &'a [u8],
    first: &[u8],
    second: &[u8],
) -> [Option<&'a [u8]>; 2] {
    let mut found = [None, None];
    let mut start = 0;
    while let Some(line) = block.get(start..) {
        if found[0].is_none() {
            found[0] = value_if_named(line, first);
        }
        if found[1].is_none() {
            found[1] = value_if_named(line, second);
        }
        if found[0].is_some() && found[1].is_some() {
            break;
        }
        match find_byte(line, b'\n') {
            Some(lf) => start += lf + 1,
            None => break,
        }
    }
    found
}

/// Where the first `Connection` and `Content-Length` field lines of a header block
/// start, as an HTTP/1 framer that read the whole head found them: what [`header_value`]
/// would find for those names, without looking again. Each is 0 when not known (line 0
/// is the start line, never one of them), [`FieldLines::ABSENT`] when the head has no
/// such line, else the offset of the line's first byte in the message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FieldLines {
    pub connection: u16,
    pub content_length: u16,
}

impl FieldLines {
    pub const ABSENT: u16 = u16::MAX;

    /// Where the line of `name` starts in a block whose lines these are: `Some(None)`
    /// when the head has none, `None` when not known (the caller looks).
    pub fn line_of(&self, name: &[u8]) -> Option<Option<usize>> {
        let at = if same_ignoring_case(name, b"connection") {
            self.connection
        } else if same_ignoring_case(name, b"content-length") {
            self.content_length
        } else {
            return None;
        };
        match at {
            0 => None,
            Self::ABSENT => Some(None),
            at => Some(Some(usize::from(at))),
        }
    }
}

/// [`header_value`] in a block whose [`FieldLines`] the framer told: for the names it
/// indexes, the value straight from the line it found, else the general search.
pub fn header_value_indexed<'a>(
    block: &'a [u8],
    name: &[u8],
    lines: FieldLines,
) -> Option<&'a [u8]> {
    let found = match lines.line_of(name) {
        // The framer matched `name:` there: the value follows the colon.
        Some(Some(at)) => block.get(at + name.len() + 1..).map(value_after_colon),
        Some(None) => None,
        None => return header_value(block, name),
    };
    debug_assert_eq!(found, header_value(block, name));
    found
}

/// If `line` starts with `name:`, the value after it (blanks skipped, up to CR/LF).
fn value_if_named<'a>(line: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let after_name = line.get(name.len()..)?;
    // The colon first: it rules out almost every other line for one comparison.
    if after_name.first() != Some(&b':') || !same_name(&line[..name.len()], name) {
        return None;
    }
    Some(value_after_colon(&after_name[1..]))
}

/// A field's value from the bytes after its colon: blanks skipped, up to CR/LF.
fn value_after_colon(after: &[u8]) -> &[u8] {
    let mut rest = after;
    while let [b' ' | b'\t', tail @ ..] = rest {
        rest = tail;
    }
    let end = find_cr_or_lf(rest).unwrap_or(rest.len());
    &rest[..end]
}

/// ASCII case-insensitive equality of two names of the same length; cheaper than
/// `eq_ignore_ascii_case` for the usual case of bytes that are equal or differ only
/// in the case of a letter.
fn same_name(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(&x, &y)| x == y || (x ^ y == 0x20 && (x | 0x20).is_ascii_lowercase()))
}

/// The first position of `needle` in `haystack`, eight bytes at a time. Header lines
/// are short: inlined word-at-a-time search beats a SIMD routine's call and set-up.
#[inline]
pub fn find_byte(haystack: &[u8], needle: u8) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let pattern = ONES * u64::from(needle);
    let mut chunks = haystack.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        // Zero bytes of `x` are the needle's positions; the lowest set high bit of
        // this test marks the first of them exactly (borrows only run upwards).
        let x = u64::from_le_bytes(word) ^ pattern;
        let found = x.wrapping_sub(ONES) & !x & HIGHS;
        if found != 0 {
            return Some(offset + (found.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| b == needle)
        .map(|p| offset + p)
}

/// `name.eq_ignore_ascii_case(lower)` for a `lower` made of lowercase letters, digits
/// and `-` (the names and tokens framing matches), eight bytes at a time: a letter
/// matches itself or the byte 0x20 below it, any other byte only itself.
pub fn same_ignoring_case(name: &[u8], lower: &[u8]) -> bool {
    let len = lower.len();
    if name.len() != len {
        return false;
    }
    if len < 8 {
        return name.eq_ignore_ascii_case(lower);
    }
    let word = |s: &[u8], at: usize| -> u64 {
        let mut w = [0u8; 8];
        if let Some(bytes) = s.get(at..at + 8) {
            w.copy_from_slice(bytes);
        }
        u64::from_le_bytes(w)
    };
    let same_word = |at: usize| {
        let want = word(lower, at);
        // Lowercase letters have 0x40 set, digits and `-` do not: 0x20 on letters.
        let case = (want & 0x4040_4040_4040_4040) >> 1;
        word(name, at) | case == want
    };
    // Up to 16 bytes (every name and token framing matches): the word at 0 and the one
    // ending at `len`, overlapping it, without a loop.
    if len <= 16 {
        return same_word(0) && same_word(len - 8);
    }
    // Words at 0, 8, … and a last one ending at `len` (overlapping the one before).
    let mut at = 0;
    loop {
        if !same_word(at) {
            return false;
        }
        if at + 8 == len {
            return true;
        }
        at = (at + 8).min(len - 8);
    }
}

/// The first CR or LF of `haystack`: the end of a line's content. Sixteen bytes at a
/// time where SSE2 is there (every x86-64), else eight.
#[inline(always)]
pub fn find_cr_or_lf(haystack: &[u8]) -> Option<usize> {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    {
        find_cr_or_lf_sse2(haystack)
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    {
        find_cr_or_lf_words(haystack)
    }
}

/// [`find_cr_or_lf`] sixteen bytes at a time, the tail by words.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline(always)]
fn find_cr_or_lf_sse2(haystack: &[u8]) -> Option<usize> {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8, _mm_set_epi64x,
    };
    let half = |bytes: &[u8]| -> i64 {
        let mut word = [0u8; 8];
        word.copy_from_slice(bytes);
        i64::from_le_bytes(word)
    };
    let mut chunks = haystack.chunks_exact(16);
    let mut offset = 0;
    for chunk in &mut chunks {
        let (low, high) = chunk.split_at(8);
        // SAFETY: the build targets SSE2 (the cfg above), so the CPU has it; these
        // work on registers only, from bytes read safely out of the slice.
        // Bit i of `found`: byte i is a CR or an LF.
        let found = unsafe {
            let v = _mm_set_epi64x(half(high), half(low));
            let cr = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\r' as i8));
            let lf = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\n' as i8));
            _mm_movemask_epi8(_mm_or_si128(cr, lf))
        };
        if found != 0 {
            return Some(offset + found.trailing_zeros() as usize);
        }
        offset += 16;
    }
    find_cr_or_lf_words(chunks.remainder()).map(|p| offset + p)
}

/// [`find_cr_or_lf`] eight bytes at a time (as `find_byte`): the general path.
#[inline(always)]
fn find_cr_or_lf_words(haystack: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut chunks = haystack.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let word = u64::from_le_bytes(word);
        // Each test's lowest set bit marks its byte's first position exactly: the lowest
        // of both marks the first of either byte.
        let cr = word ^ (ONES * u64::from(b'\r'));
        let lf = word ^ (ONES * u64::from(b'\n'));
        let found = ((cr.wrapping_sub(ONES) & !cr) | (lf.wrapping_sub(ONES) & !lf)) & HIGHS;
        if found != 0 {
            return Some(offset + (found.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .map(|p| offset + p)
}

/// ASCII whitespace as `\s` matches it in the C locale: space, `\t`, `\n`, `\v`,
/// `\f`, `\r`.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Length of the leading run of bytes that are (`space`) or are not whitespace.
fn run(data: &[u8], space: bool) -> usize {
    data.iter()
        .position(|&b| is_space(b) != space)
        .unwrap_or(data.len())
}

/// The `n`-th word (0-based) of a first line, as justniffer's default regexes find
/// it: `^\S*` for word 0, `^\S*\s*(\S*)` for word 1, `^\S*\s*\S*\s*(\S*)` for word
/// 2. Words are separated by runs of whitespace; a line that starts with whitespace
/// has an empty word 0. May return an empty slice (the caller prints not-found).
pub fn word(line: &[u8], n: usize) -> &[u8] {
    let mut rest = line;
    for _ in 0..n {
        let skip = run(rest, false);
        rest = &rest[skip..];
        let skip = run(rest, true);
        rest = &rest[skip..];
    }
    &rest[..run(rest, false)]
}

/// The first `count` words (at most three; the others empty) of `data`'s first line
/// ([`first_line`]), in one pass and without looking for the line's end first:
/// `word(first_line(data), n)` for `n` below `count`. The CR that ends the line is
/// whitespace, so a word stops there as it would at the end of the line; the runs
/// between words do not go past it.
pub fn first_words(data: &[u8], count: usize) -> [&[u8]; 3] {
    let mut words: [&[u8]; 3] = [&[]; 3];
    let mut at = 0;
    for (n, word) in words.iter_mut().enumerate() {
        if n >= count {
            break;
        }
        let end = next_space(data, at);
        *word = data.get(at..end).unwrap_or_default();
        at = end;
        while data.get(at).is_some_and(|&b| b != b'\r' && is_space(b)) {
            at += 1;
        }
    }
    words
}

/// Where the first whitespace byte at or after `from` is (`data.len()` when there is
/// none). Eight bytes at a time: whitespace is below 0x21, and the lowest byte flagged
/// by the usual `(x - 0x21..) & !x & 0x80..` test is the first such byte exactly.
/// Binary data's other control bytes are stepped over within the eight bytes read.
fn next_space(data: &[u8], from: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut at = from;
    while let Some(chunk) = data.get(at..at + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        let low = x.wrapping_sub(ONES * 0x21) & !x & HIGHS;
        if low == 0 {
            at += 8;
            continue;
        }
        // The flagged bytes in turn: the lowest is exact, those above it may include a
        // 0x21 after a borrow (not whitespace, skipped) but no whitespace is missed. A
        // control byte that is not whitespace (binary data) is part of the word.
        let mut flagged = low;
        while flagged != 0 {
            let first = at + (flagged.trailing_zeros() / 8) as usize;
            if data.get(first).is_some_and(|&b| is_space(b)) {
                return first;
            }
            flagged &= flagged - 1;
        }
        at += 8;
    }
    while data.get(at).is_some_and(|&b| !is_space(b)) {
        at += 1;
    }
    at.min(data.len())
}

/// `%response.message`: what follows the second word, as `^\S*\s*\S*\s*([^\r]*)`
/// finds it: whitespace skipped, then everything up to a CR.
pub fn after_second_word(line: &[u8]) -> &[u8] {
    let mut rest = line;
    for _ in 0..2 {
        let skip = run(rest, false);
        rest = &rest[skip..];
        let skip = run(rest, true);
        rest = &rest[skip..];
    }
    first_line(rest)
}

#[cfg(test)]
mod tests {
    /// The next value of a xorshift generator: the tests' repeatable pseudo-random inputs.
    fn xorshift(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    /// The rule of `header_value` written the plain way: each line in turn.
    fn header_value_by_lines<'a>(block: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
        let mut start = 0;
        loop {
            if let Some(v) = value_if_named(&block[start..], name) {
                return Some(v);
            }
            start += block[start..].iter().position(|&b| b == b'\n')? + 1;
        }
    }

    #[test]
    fn next_space_finds_the_first_whitespace_from_any_start() {
        let alphabet = [
            b' ', b'\t', b'\r', 0x0b, 0x00, 0x01, 0x1f, 0x21, b'a', 0x80, 0xff,
        ];
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            xorshift(&mut state);
            let len = (state % 24) as usize;
            let data: Vec<u8> = (0..len)
                .map(|i| {
                    let pick = (state >> (i % 61)) as usize + i * 5;
                    // Mostly non-whitespace, so that runs span whole words.
                    if pick % 5 == 0 {
                        alphabet[pick / 5 % 4]
                    } else {
                        alphabet[4 + pick % 7]
                    }
                })
                .collect();
            for from in 0..=len {
                let expected = data[from..]
                    .iter()
                    .position(|&b| is_space(b))
                    .map_or(len, |p| from + p);
                assert_eq!(next_space(&data, from), expected, "{data:?} from {from}");
            }
        }
    }

    #[test]
    fn header_lookup_agrees_with_the_line_by_line_rule() {
        let alphabet = b"\n\r: \tAaCcx";
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            xorshift(&mut state);
            let len = (state % 40) as usize;
            let block: Vec<u8> = (0..len)
                .map(|i| alphabet[((state >> (i % 60)) as usize + i * 7) % alphabet.len()])
                .collect();
            for name in [&b"a"[..], b"ac", b"x", b""] {
                assert_eq!(
                    header_value(&block, name),
                    header_value_by_lines(&block, name),
                    "{block:?} {name:?}"
                );
            }
        }
    }

    use super::*;

    #[test]
    fn the_incremental_scan_agrees_with_header_split_across_any_cut() {
        let data = b"GET / HTTP/1.1\r\nHost: x\r\n\r\nbody";
        for cut in 0..data.len() {
            let mut scan = HeaderEndScan::default();
            scan.scan(&data[..cut]);
            scan.scan(&data[cut..]);
            assert!(scan.found(), "cut at {cut}");
        }
        let mut scan = HeaderEndScan::default();
        scan.scan(b"no terminator\r\nhere\r\n");
        assert!(!scan.found());
    }

    #[test]
    fn the_incremental_scan_finds_header_split_s_end_in_random_pieces() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || xorshift(&mut state);
        for _ in 0..50_000 {
            let len = (next() % 40) as usize;
            let data: Vec<u8> = (0..len).map(|_| b"\r\nx"[(next() % 3) as usize]).collect();
            let (header_len, _) = header_split(&data);
            let expected = (header_len < data.len()).then_some(header_len);
            // Up to three pieces, as data events may cut anywhere.
            let mut cuts = [(next() as usize) % (len + 1), (next() as usize) % (len + 1)];
            cuts.sort_unstable();
            let mut scan = HeaderEndScan::default();
            let mut found = None;
            let mut start = 0;
            for end in [cuts[0], cuts[1], len] {
                if let Some(at) = scan.scan(&data[start..end]) {
                    assert!(found.is_none(), "found twice in {data:?}");
                    found = Some(start + at);
                }
                start = end;
            }
            assert_eq!(found, expected, "{data:?} cut at {cuts:?}");
            assert_eq!(scan.found(), expected.is_some());
        }
    }

    #[test]
    fn first_line_stops_at_the_first_cr() {
        assert_eq!(
            first_line(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
            b"GET / HTTP/1.1"
        );
    }

    #[test]
    fn first_line_without_cr_is_everything() {
        assert_eq!(
            first_line(b"GET /lf HTTP/1.1\nHost: x\n\n"),
            b"GET /lf HTTP/1.1\nHost: x\n\n"
        );
        assert_eq!(first_line(b""), b"");
    }

    #[test]
    fn header_block_ends_before_the_second_cr_of_crlfcrlf() {
        let data = b"GET / HTTP/1.1\r\nHost: x\r\n\r\nbody";
        assert_eq!(header_block(data), b"GET / HTTP/1.1\r\nHost: x\r\n");
        assert_eq!(body(data), b"body");
    }

    #[test]
    fn header_block_counts_crs_across_lfs_only() {
        // CR LF LF CR: the LFs do not reset the count.
        assert_eq!(header_split(b"a\r\n\n\r\nb"), (4, 6));
        // CR x CR: the x resets it, so no terminator.
        assert_eq!(header_split(b"a\rx\rb"), (5, 5));
        // CR CR: a terminator without LF; the body still starts two bytes on.
        assert_eq!(header_split(b"a\r\rxb"), (2, 4));
    }

    #[test]
    fn find_byte_finds_the_first_occurrence_anywhere() {
        let data: Vec<u8> = (0..40u8).collect();
        for (i, &b) in data.iter().enumerate() {
            assert_eq!(find_byte(&data, b), Some(i));
        }
        assert_eq!(find_byte(&data, 200), None);
        assert_eq!(find_byte(b"", b'a'), None);
        assert_eq!(
            find_byte(b"\x81\x80\x80\x80\x80\x80\x80\x80\x80\n", b'\n'),
            Some(9)
        );
        assert_eq!(find_byte(b"aaaaaaaaaaaaaaaab", b'b'), Some(16));
    }

    #[test]
    fn lf_only_headers_have_no_terminator() {
        let data = b"GET /lf HTTP/1.1\nHost: x\n\nbody";
        assert_eq!(header_block(data), &data[..]);
        assert_eq!(body(data), b"");
    }

    #[test]
    fn terminator_at_the_very_end_leaves_an_empty_body() {
        assert_eq!(header_split(b"H\r\n\r\n"), (3, 5));
        assert_eq!(header_split(b"H\r\n\r"), (3, 4));
    }

    #[test]
    fn header_lookup_is_anchored_at_a_line_start() {
        let block = b"GET / HTTP/1.1\r\nX-Host: decoy\r\nhost: real\r\n";
        assert_eq!(header_value(block, b"Host"), Some(&b"real"[..]));
        assert_eq!(header_value(block, b"x-host"), Some(&b"decoy"[..]));
    }

    #[test]
    fn header_lookup_skips_blanks_and_keeps_trailing_ones() {
        let block = b"R\r\nUSER-AGENT:\t \tTabbed Agent/1.0  \r\n";
        assert_eq!(
            header_value(block, b"User-Agent"),
            Some(&b"Tabbed Agent/1.0  "[..])
        );
    }

    #[test]
    fn header_lookup_returns_empty_values_and_the_first_duplicate() {
        let block = b"R\r\nReferer:\r\nCookie: first=1\r\ncookie: second=2\r\n";
        assert_eq!(header_value(block, b"Referer"), Some(&b""[..]));
        assert_eq!(header_value(block, b"Cookie"), Some(&b"first=1"[..]));
    }

    #[test]
    fn header_value_ends_at_lf_on_lf_only_lines() {
        let block = b"GET /lf HTTP/1.1\nHost: lf.example\nUser-Agent: a\n\n";
        assert_eq!(header_value(block, b"host"), Some(&b"lf.example"[..]));
        assert_eq!(header_value(block, b"User-Agent"), Some(&b"a"[..]));
    }

    #[test]
    fn two_header_values_in_one_pass_match_two_lookups() {
        let messages: [&[u8]; 7] = [
            b"GET / HTTP/1.1\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\nbody",
            b"HTTP/1.1 200 OK\r\nkeep-alive: max=9\r\nCONNECTION:close\r\nConnection: x\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\n\r\nConnection: after-the-end\r\n",
            b"GET /lf HTTP/1.1\nConnection: lf\n\n",
            b"Connection:",
            b"",
            b"\r\r\nKeep-Alive: 1\r\n",
        ];
        for message in messages {
            let block = header_block(message);
            assert_eq!(
                header_values_of_two(block, b"Connection", b"Keep-Alive"),
                [
                    header_value(block, b"Connection"),
                    header_value(block, b"Keep-Alive")
                ],
                "{:?}",
                String::from_utf8_lossy(message)
            );
        }
    }

    #[test]
    fn header_lookup_needs_the_colon_right_after_the_name() {
        assert_eq!(header_value(b"Host : x\r\n", b"Host"), None);
        assert_eq!(header_value(b"Hostname: x\r\n", b"Host"), None);
        assert_eq!(header_value(b"Host", b"Host"), None);
        assert_eq!(header_value(b"Host:", b"Host"), Some(&b""[..]));
        assert_eq!(header_value(b"", b"Host"), None);
    }

    #[test]
    fn words_follow_the_default_regexes() {
        let line = b"GET /index.html HTTP/1.1";
        assert_eq!(word(line, 0), b"GET");
        assert_eq!(word(line, 1), b"/index.html");
        assert_eq!(word(line, 2), b"HTTP/1.1");
        assert_eq!(word(b"PING", 1), b"");
        assert_eq!(word(b" lead", 0), b"");
        assert_eq!(word(b" lead", 1), b"lead");
    }

    #[test]
    fn message_is_the_rest_after_two_words_up_to_cr() {
        assert_eq!(
            after_second_word(b"HTTP/1.1 500 Internal Server Error"),
            b"Internal Server Error"
        );
        assert_eq!(after_second_word(b"250 OK"), b"");
        assert_eq!(
            after_second_word(b"HTTP/1.1 404 Not Found\nServer: x\n"),
            b"Not Found\nServer: x\n"
        );
    }

    #[test]
    fn line_ends_are_found_alike_by_every_path() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for len in 0..80 {
            for _ in 0..200 {
                let data: Vec<u8> = (0..len)
                    .map(|_| {
                        xorshift(&mut state);
                        // Mostly text, with CRs and LFs now and then.
                        match state % 40 {
                            0 => b'\r',
                            1 => b'\n',
                            n => b'a' + (n % 26) as u8,
                        }
                    })
                    .collect();
                let expected = data.iter().position(|&b| b == b'\r' || b == b'\n');
                assert_eq!(find_cr_or_lf(&data), expected);
                assert_eq!(find_cr_or_lf_words(&data), expected);
            }
        }
    }

    #[test]
    fn names_compare_by_words_as_ignoring_case() {
        let lower: &[&[u8]] = &[
            b"connection",
            b"content-length",
            b"h2c",
            b"transfer-encoding",
            // Eight and sixteen bytes: the two-word comparison's edges.
            b"websocke",
            b"keep-alive-0123x",
        ];
        for &l in lower {
            let mut upper = l.to_ascii_uppercase();
            assert!(same_ignoring_case(&upper, l));
            assert!(same_ignoring_case(l, l));
            for i in 0..upper.len() {
                for b in [
                    0u8,
                    b'\r',
                    b'-' ^ 0x20,
                    b'-',
                    b':',
                    0xff,
                    upper[i] ^ 0x20,
                    upper[i] ^ 0x40,
                ] {
                    let saved = upper[i];
                    upper[i] = b;
                    assert_eq!(same_ignoring_case(&upper, l), upper.eq_ignore_ascii_case(l));
                    upper[i] = saved;
                }
            }
            assert!(!same_ignoring_case(&upper[1..], l));
        }
    }
}
