//! The HPACK decoder over arbitrary header blocks, and over blocks of a test encoder.
//!
//! Raw blocks go through one decoder from the connection's start and one picked up
//! mid-stream: nothing panics, the dynamic table never exceeds its maximum size nor
//! `MAX_TABLE_SIZE`, its memory stays bounded, every field's bytes fit what the block
//! and the table can hold, the summary counts the fields, and an error is sticky.
//!
//! Round trip: the same input, read as a script of fields (names and values, static
//! table picks, representations, Huffman or not, size updates), is encoded by
//! `hpack::Encoder` into blocks. A decoder from the start gives every field back
//! exactly; a mid-stream decoder that misses the first blocks gives each later field
//! back or as unknown (with the right value when it has one), never a wrong one.
//!
//! Input: a control byte (bit 0–1: table limit announced to the raw decoders; bits 2–4:
//! blocks the mid-stream decoder misses), then the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rustniffer::exchange::h2::hpack::{
    Decoder, Encoder, Field, HpackError, MAX_TABLE_SIZE, STATIC_TABLE,
};

/// Decodes `block`, checking the bounds; returns the fields (unknown ones as `None`
/// names) or the error.
fn decode(
    d: &mut Decoder,
    block: &[u8],
) -> Result<Vec<(Option<Vec<u8>>, Option<Vec<u8>>)>, HpackError> {
    let before = d.error();
    let mut fields = Vec::new();
    let longest = (block.len() * 8 / 5 + 1).max(MAX_TABLE_SIZE);
    let result = d.decode(block, &mut |f| match f {
        Field::Header { name, value } => {
            assert!(name.len() <= longest && value.len() <= longest);
            fields.push((Some(name.to_vec()), Some(value.to_vec())));
        }
        Field::Unknown { value } => {
            assert!(value.is_none_or(|v| v.len() <= longest));
            fields.push((None, value.map(<[u8]>::to_vec)));
        }
    });
    assert!(d.table_size() <= d.max_table_size());
    assert!(d.max_table_size() <= MAX_TABLE_SIZE);
    // The arena (live and dead bytes, doubled capacity), the entries, the scratch.
    assert!(d.memory() <= 8 * MAX_TABLE_SIZE + 3 * (block.len() * 8 / 5 + 64).max(16 * 1024));
    match (before, result) {
        (Some(e), r) => {
            assert_eq!(r, Err(e), "the error was not sticky");
            assert!(fields.is_empty());
        }
        (None, Ok(summary)) => {
            assert_eq!(summary.fields as usize, fields.len());
            let unknown = fields.iter().filter(|(n, _)| n.is_none()).count();
            assert_eq!(summary.unknown as usize, unknown);
        }
        (None, Err(e)) => {
            assert!(d.is_broken());
            assert!(!e.to_string().is_empty());
        }
    }
    result.map(|_| fields)
}

/// Reads the input as a script of blocks of fields for the encoder.
fn script(mut data: &[u8]) -> Vec<Vec<u8>> {
    let mut encoder = Encoder::new();
    let mut blocks = Vec::new();
    let mut block = Vec::new();
    let take = |data: &mut &[u8], n: usize| -> Vec<u8> {
        let n = n.min(data.len());
        let (head, tail) = data.split_at(n);
        *data = tail;
        head.to_vec()
    };
    while let Some((&ctl, rest)) = data.split_first() {
        data = rest;
        if ctl & 0xe0 == 0xe0 {
            // End of block; maybe a size update opens the next one.
            blocks.push(std::mem::take(&mut block));
            if ctl & 0x10 != 0 {
                let size = usize::from(take(&mut data, 1).first().copied().unwrap_or(0)) * 16;
                encoder.size_update(size, &mut block);
            }
            continue;
        }
        let pick = take(&mut data, 1).first().copied().unwrap_or(0);
        let (name, value) = if ctl & 0x20 != 0 {
            let (n, v) = STATIC_TABLE[usize::from(pick) % STATIC_TABLE.len()];
            let v = if ctl & 0x40 != 0 {
                v.to_vec()
            } else {
                let len = usize::from(take(&mut data, 1).first().copied().unwrap_or(0) % 48);
                take(&mut data, len)
            };
            (n.to_vec(), v)
        } else {
            let name = take(&mut data, usize::from(pick % 16));
            let len = if ctl & 0x40 != 0 {
                600
            } else {
                usize::from(pick / 16) * 3
            };
            (name, take(&mut data, len))
        };
        encoder.field(&name, &value, ctl & 0x1f, &mut block);
    }
    blocks.push(block);
    blocks
}

/// The fields a script's blocks encode, decoded by a reference: an encoder's inputs are
/// what a complete decoder must give back.
fn round_trip(data: &[u8], missed: usize) {
    let blocks = script(data);
    let mut full = Decoder::new();
    let mut expected = Vec::new();
    for block in &blocks {
        let fields = decode(&mut full, block).expect("an encoder's block decodes");
        assert!(
            fields.iter().all(|(n, _)| n.is_some()),
            "an unknown field from the start"
        );
        expected.push(fields);
    }
    // Mid-stream: the first `missed` blocks are not seen.
    let mut mid = Decoder::mid_stream();
    for (block, want) in blocks.iter().zip(&expected).skip(missed) {
        let got = decode(&mut mid, block).expect("an encoder's block decodes mid-stream");
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(want) {
            match g {
                (Some(_), _) => assert_eq!(g, w, "a wrong field mid-stream"),
                (None, Some(v)) => assert_eq!(Some(v), w.1.as_ref(), "a wrong value mid-stream"),
                (None, None) => {}
            }
        }
    }
    // Missing nothing, the mid-stream decoder knows everything.
    if missed == 0 {
        let mut mid = Decoder::mid_stream();
        for (block, want) in blocks.iter().zip(&expected) {
            assert_eq!(&decode(&mut mid, block).unwrap(), want);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let [control, rest @ ..] = data else {
        return;
    };
    let mut full = Decoder::new();
    let mut mid = Decoder::mid_stream();
    let limit = [4096, 0, 100_000, 256][usize::from(control & 3)];
    full.set_table_limit(limit);
    mid.set_table_limit(limit);
    // Raw blocks: each is a length byte and that many bytes.
    let mut raw = rest;
    while let Some((&len, tail)) = raw.split_first() {
        let n = usize::from(len).min(tail.len());
        let (block, tail) = tail.split_at(n);
        raw = tail;
        let _ = decode(&mut full, block);
        let _ = decode(&mut mid, block);
    }
    round_trip(rest, usize::from((control >> 2) & 7));
});
