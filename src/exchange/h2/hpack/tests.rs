use super::*;
use proptest::prelude::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

type Pair = (String, String);

/// Decodes a block into (name, value) strings; an unknown field is `?` and its value
/// or `?`.
fn decode(d: &mut Decoder, block: &[u8]) -> Result<Vec<Pair>, HpackError> {
    let mut out = Vec::new();
    d.decode(block, &mut |f| {
        out.push(match f {
            Field::Header { name, value } => (
                String::from_utf8_lossy(name).into_owned(),
                String::from_utf8_lossy(value).into_owned(),
            ),
            Field::Unknown { value } => (
                "?".to_string(),
                value.map_or("?".to_string(), |v| String::from_utf8_lossy(v).into_owned()),
            ),
        })
    })?;
    Ok(out)
}

fn pairs(list: &[(&str, &str)]) -> Vec<Pair> {
    list.iter()
        .map(|&(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// The dynamic table, newest first.
fn table(d: &Decoder) -> Vec<Pair> {
    (0..d.table_len())
        .map(|i| {
            let (name, value) = d.table_entry(i).unwrap();
            (
                name.map_or("?".to_string(), |n| String::from_utf8_lossy(n).into_owned()),
                String::from_utf8_lossy(value).into_owned(),
            )
        })
        .collect()
}

/// Decodes `block` and checks the fields, then the table and its size.
fn step(
    d: &mut Decoder,
    block: &str,
    fields: &[(&str, &str)],
    entries: &[(&str, &str)],
    size: usize,
) {
    assert_eq!(decode(d, &hex(block)).unwrap(), pairs(fields));
    assert_eq!(table(d), pairs(entries));
    assert_eq!(d.table_size(), size);
}

/// A decoder whose table holds `size` bytes from the start, as in RFC 7541 C.5/C.6
/// (SETTINGS_HEADER_TABLE_SIZE 256).
fn with_table_size(size: usize) -> Decoder {
    let mut d = Decoder::new();
    d.max_size = size;
    d.limit = Some(size as u32);
    d
}

// ---- RFC 7541 Appendix C ----

#[test]
fn rfc7541_c1_integers() {
    // C.1.1: 10 on a 5-bit prefix; C.1.2: 1337 on a 5-bit prefix; C.1.3: 42 on 8 bits.
    assert_eq!(integer(&[0b1110_1010], 0, 5), Ok((10, 1)));
    assert_eq!(integer(&[0x1f, 0x9a, 0x0a], 0, 5), Ok((1337, 3)));
    assert_eq!(integer(&[0x2a], 0, 8), Ok((42, 1)));
    // The prefix's high bits are not part of the value.
    assert_eq!(integer(&[0xff, 0x9a, 0x0a, 0x02], 0, 5), Ok((1337, 3)));
    for (value, n) in [(10u64, 5), (1337, 5), (42, 8), (u64::from(u32::MAX), 4)] {
        let mut out = Vec::new();
        write_integer(&mut out, 0, n, value);
        assert_eq!(integer(&out, 0, n), Ok((value as u32, out.len())));
    }
}

#[test]
fn rfc7541_c2_single_representations() {
    // C.2.1: literal with indexing.
    let mut d = Decoder::new();
    step(
        &mut d,
        "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572",
        &[("custom-key", "custom-header")],
        &[("custom-key", "custom-header")],
        55,
    );
    // C.2.2: literal without indexing.
    let mut d = Decoder::new();
    step(
        &mut d,
        "040c 2f73 616d 706c 652f 7061 7468",
        &[(":path", "/sample/path")],
        &[],
        0,
    );
    // C.2.3: literal never indexed.
    let mut d = Decoder::new();
    step(
        &mut d,
        "1008 7061 7373 776f 7264 0673 6563 7265 74",
        &[("password", "secret")],
        &[],
        0,
    );
    // C.2.4: indexed.
    let mut d = Decoder::new();
    step(&mut d, "82", &[(":method", "GET")], &[], 0);
}

const REQ1: [(&str, &str); 4] = [
    (":method", "GET"),
    (":scheme", "http"),
    (":path", "/"),
    (":authority", "www.example.com"),
];
const REQ2: [(&str, &str); 5] = [
    (":method", "GET"),
    (":scheme", "http"),
    (":path", "/"),
    (":authority", "www.example.com"),
    ("cache-control", "no-cache"),
];
const REQ3: [(&str, &str); 5] = [
    (":method", "GET"),
    (":scheme", "https"),
    (":path", "/index.html"),
    (":authority", "www.example.com"),
    ("custom-key", "custom-value"),
];
const REQ_TABLE3: [(&str, &str); 3] = [
    ("custom-key", "custom-value"),
    ("cache-control", "no-cache"),
    (":authority", "www.example.com"),
];

#[test]
fn rfc7541_c3_requests_without_huffman() {
    let mut d = Decoder::new();
    step(
        &mut d,
        "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
        &REQ1,
        &[(":authority", "www.example.com")],
        57,
    );
    step(
        &mut d,
        "8286 84be 5808 6e6f 2d63 6163 6865",
        &REQ2,
        &REQ_TABLE3[1..],
        110,
    );
    step(
        &mut d,
        "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
        &REQ3,
        &REQ_TABLE3,
        164,
    );
}

#[test]
fn rfc7541_c4_requests_with_huffman() {
    let mut d = Decoder::new();
    step(
        &mut d,
        "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
        &REQ1,
        &[(":authority", "www.example.com")],
        57,
    );
    step(
        &mut d,
        "8286 84be 5886 a8eb 1064 9cbf",
        &REQ2,
        &REQ_TABLE3[1..],
        110,
    );
    step(
        &mut d,
        "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
        &REQ3,
        &REQ_TABLE3,
        164,
    );
}

const DATE1: &str = "Mon, 21 Oct 2013 20:13:21 GMT";
const DATE2: &str = "Mon, 21 Oct 2013 20:13:22 GMT";
const LOCATION: &str = "https://www.example.com";
const COOKIE: &str = "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1";

/// C.5 and C.6: the same responses and tables (256-byte table, with evictions).
fn responses(blocks: [&str; 3]) {
    let mut d = with_table_size(256);
    step(
        &mut d,
        blocks[0],
        &[
            (":status", "302"),
            ("cache-control", "private"),
            ("date", DATE1),
            ("location", LOCATION),
        ],
        &[
            ("location", LOCATION),
            ("date", DATE1),
            ("cache-control", "private"),
            (":status", "302"),
        ],
        222,
    );
    // ":status: 307" evicts ":status: 302".
    step(
        &mut d,
        blocks[1],
        &[
            (":status", "307"),
            ("cache-control", "private"),
            ("date", DATE1),
            ("location", LOCATION),
        ],
        &[
            (":status", "307"),
            ("location", LOCATION),
            ("date", DATE1),
            ("cache-control", "private"),
        ],
        222,
    );
    step(
        &mut d,
        blocks[2],
        &[
            (":status", "200"),
            ("cache-control", "private"),
            ("date", DATE2),
            ("location", LOCATION),
            ("content-encoding", "gzip"),
            ("set-cookie", COOKIE),
        ],
        &[
            ("set-cookie", COOKIE),
            ("content-encoding", "gzip"),
            ("date", DATE2),
        ],
        215,
    );
}

#[test]
fn rfc7541_c5_responses_without_huffman() {
    responses([
        "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
         2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70
         6c65 2e63 6f6d",
        "4803 3330 37c1 c0bf",
        "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
         54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
         5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e
         3d31",
    ]);
}

#[test]
fn rfc7541_c6_responses_with_huffman() {
    responses([
        "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
         2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
        "4883 640e ffc1 c0bf",
        "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
         77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
         9587 3160 65c0 03ed 4ee5 b106 3d50 07",
    ]);
}

// ---- the dynamic table ----

#[test]
fn a_field_larger_than_the_table_empties_it() {
    let mut d = with_table_size(256);
    let mut enc = Encoder::new();
    let mut block = Vec::new();
    enc.field(b"a", b"1", 1, &mut block);
    enc.field(b"b", &[b'x'; 300], 1, &mut block);
    assert_eq!(decode(&mut d, &block).unwrap().len(), 2);
    assert_eq!((d.table_len(), d.table_size()), (0, 0));
}

#[test]
fn an_entry_may_take_the_name_of_the_entry_it_evicts() {
    // RFC 7541 §4.4: "aaaa: bbbb" (40 bytes) in a 100-byte table, then a literal that
    // names index 62 with a 50-byte value (86 bytes): inserting it evicts its name.
    let mut d = with_table_size(100);
    let mut block = hex("4004 6161 6161 0462 6262 62");
    block.push(0x40 | 62);
    block.push(50);
    block.extend([b'v'; 50]);
    let fields = decode(&mut d, &block).unwrap();
    assert_eq!(fields[1], ("aaaa".to_string(), "v".repeat(50)));
    assert_eq!(table(&d), [("aaaa".to_string(), "v".repeat(50))]);
    assert_eq!(d.table_size(), 86);
}

#[test]
fn size_updates_evict_and_must_open_the_block() {
    let mut d = Decoder::new();
    decode(
        &mut d,
        &hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"),
    )
    .unwrap();
    // Two updates, 0 then 4096: the table empties, and may be used again.
    let mut block = Vec::new();
    write_integer(&mut block, 0x20, 5, 0);
    write_integer(&mut block, 0x20, 5, 4096);
    block.push(0x82);
    let mut summary = None;
    summary.get_or_insert(d.decode(&block, &mut |_| {}).unwrap());
    assert_eq!(
        summary,
        Some(BlockSummary {
            fields: 1,
            unknown: 0,
            size_updates: 2
        })
    );
    assert_eq!((d.table_len(), d.max_table_size()), (0, 4096));
    // After a field: an error.
    let mut d = Decoder::new();
    assert_eq!(
        decode(&mut d, &hex("82 20")),
        Err(HpackError::SizeUpdateNotFirst)
    );
}

#[test]
fn a_size_update_above_the_announced_limit_is_an_error() {
    let mut d = Decoder::new();
    let mut block = Vec::new();
    write_integer(&mut block, 0x20, 5, 4097);
    assert_eq!(
        decode(&mut d, &block),
        Err(HpackError::SizeUpdateTooLarge {
            size: 4097,
            limit: 4096
        })
    );
    // Within a larger announced limit, it is fine.
    let mut d = Decoder::new();
    d.set_table_limit(8192);
    assert_eq!(decode(&mut d, &block), Ok(vec![]));
    assert_eq!(d.max_table_size(), 4097);
    assert_eq!(d.overruns(), 0);
}

#[test]
fn the_table_is_capped_and_overruns_counted() {
    let mut d = Decoder::new();
    d.set_table_limit(1 << 20);
    assert_eq!(d.overruns(), 1);
    let mut enc = Encoder::new();
    let mut block = Vec::new();
    enc.size_update(1 << 20, &mut block);
    assert_eq!(decode(&mut d, &block), Ok(vec![]));
    assert_eq!((d.overruns(), d.max_table_size()), (2, MAX_TABLE_SIZE));
    // 100 entries of ~1 KiB: the encoder keeps them all, we keep 64 KiB of them.
    let value = vec![b'v'; 1000];
    for i in 0..100u32 {
        let mut block = Vec::new();
        enc.field(format!("k{i:02}").as_bytes(), &value, 1, &mut block);
        decode(&mut d, &block).unwrap();
        assert!(d.table_size() <= MAX_TABLE_SIZE);
    }
    assert!(d.memory() < 3 * MAX_TABLE_SIZE);
    let kept = d.table_len();
    assert!((60..100).contains(&kept), "{kept}");
    assert!(!d.is_complete());
    // The newest is known; one we dropped is unknown, not an error.
    let mut block = Vec::new();
    enc.field(b"k99", &value, 0, &mut block);
    enc.field(b"k00", &value, 0, &mut block);
    let fields = decode(&mut d, &block).unwrap();
    assert_eq!(fields[0].0, "k99");
    assert_eq!(fields[1], ("?".to_string(), "?".to_string()));
}

// ---- a connection picked up mid-stream ----

#[test]
fn mid_stream_entries_inserted_since_the_pickup_are_known_older_ones_are_not() {
    let mut d = Decoder::mid_stream();
    // Index 62: an entry from before the pickup.
    assert_eq!(decode(&mut d, &hex("be")).unwrap(), pairs(&[("?", "?")]));
    // A static reference and a literal decode; the literal is inserted.
    assert_eq!(
        decode(
            &mut d,
            &hex("82 400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572")
        )
        .unwrap(),
        pairs(&[(":method", "GET"), ("custom-key", "custom-header")])
    );
    // Now 62 is the new entry and 63 an old one.
    let mut summary = None;
    let mut fields = Vec::new();
    summary.get_or_insert(
        d.decode(&hex("be bf"), &mut |f| fields.push(format!("{f:?}")))
            .unwrap(),
    );
    assert_eq!(fields.len(), 2);
    assert_eq!(
        summary,
        Some(BlockSummary {
            fields: 2,
            unknown: 1,
            size_updates: 0
        })
    );
    // A literal named by an old entry: its value is known, and so is the value of
    // the entry it inserts.
    assert_eq!(
        decode(&mut d, &hex("7f00 0361 6263 be")).unwrap(),
        pairs(&[("?", "abc"), ("?", "abc")])
    );
    assert_eq!(
        table(&d),
        pairs(&[("?", "abc"), ("custom-key", "custom-header")])
    );
    assert!(!d.is_complete());
}

#[test]
fn mid_stream_a_size_update_tells_when_no_older_entry_is_left() {
    let mut d = Decoder::mid_stream();
    decode(
        &mut d,
        &hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"),
    )
    .unwrap();
    // 100 bytes: an older entry (≥ 32 bytes) may still fit behind our 55.
    let mut block = Vec::new();
    write_integer(&mut block, 0x20, 5, 100);
    block.push(0xbf);
    assert_eq!(decode(&mut d, &block).unwrap(), pairs(&[("?", "?")]));
    assert!(!d.is_complete());
    // 60 bytes: none can; index 63 is now past the table.
    let mut block = Vec::new();
    write_integer(&mut block, 0x20, 5, 60);
    block.push(0xbe);
    assert_eq!(
        decode(&mut d, &block).unwrap(),
        pairs(&[("custom-key", "custom-header")])
    );
    assert!(d.is_complete());
    assert_eq!(
        decode(&mut d, &hex("bf")),
        Err(HpackError::IndexOutOfRange { index: 63 })
    );
}

#[test]
fn mid_stream_evicting_a_known_entry_means_the_older_ones_went_first() {
    let mut d = Decoder::mid_stream();
    let mut enc = Encoder::new();
    let mut block = Vec::new();
    enc.size_update(200, &mut block);
    enc.field(b"a", &[b'1'; 100], 1, &mut block);
    decode(&mut d, &block).unwrap();
    assert!(!d.is_complete()); // 133 bytes: an older entry may still fit
    let mut block = Vec::new();
    enc.field(b"b", &[b'2'; 100], 1, &mut block);
    decode(&mut d, &block).unwrap();
    assert!(d.is_complete());
    assert_eq!(table(&d), pairs(&[("b", &"2".repeat(100))]));
}

// ---- errors ----

#[test]
fn malformed_blocks_are_errors_and_break_the_decoder() {
    for (block, error) in [
        ("80", HpackError::ZeroIndex),
        ("be", HpackError::IndexOutOfRange { index: 62 }),
        // Index 127 + 2^35-ish: six continuation bytes.
        ("ff ff ff ff ff ff 01", HpackError::IntegerOverflow),
        // 127 + 0xffffffff·: over u32 in five.
        ("ff ff ff ff ff 7f", HpackError::IntegerOverflow),
        ("ff 80", HpackError::Truncated),
        ("40", HpackError::Truncated),
        ("4005 6162", HpackError::StringTooLong { len: 5 }),
        ("4001 61 7e", HpackError::StringTooLong { len: 126 }),
        // A Huffman value of four 0xff bytes holds EOS.
        ("4001 61 84 ffff ffff", HpackError::BadHuffman),
        // '0' (00000) padded with zeros.
        ("4001 61 81 00", HpackError::BadHuffman),
    ] {
        let mut d = Decoder::new();
        assert_eq!(decode(&mut d, &hex(block)), Err(error), "{block}");
        assert!(d.is_broken());
        assert_eq!(d.error(), Some(error));
        // Broken for good, even for a valid block.
        assert_eq!(decode(&mut d, &hex("82")), Err(error));
        assert!(error.to_string().ends_with("(COMPRESSION_ERROR)"));
    }
}

#[test]
fn the_static_table_has_the_rfc_entries() {
    assert_eq!(STATIC_TABLE[0], (&b":authority"[..], &b""[..]));
    assert_eq!(STATIC_TABLE[1], (&b":method"[..], &b"GET"[..]));
    assert_eq!(STATIC_TABLE[7], (&b":status"[..], &b"200"[..]));
    assert_eq!(
        STATIC_TABLE[15],
        (&b"accept-encoding"[..], &b"gzip, deflate"[..])
    );
    assert_eq!(STATIC_TABLE[60], (&b"www-authenticate"[..], &b""[..]));
}

// ---- round trips through the test encoder ----

fn any_field() -> impl Strategy<Value = (Vec<u8>, Vec<u8>, u8)> {
    prop_oneof![
        (0usize..61, any::<u8>())
            .prop_map(|(i, how)| { (STATIC_TABLE[i].0.to_vec(), STATIC_TABLE[i].1.to_vec(), how) }),
        (
            proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), any::<u8>()], 0..6),
            proptest::collection::vec(any::<u8>(), 0..300),
            any::<u8>()
        ),
    ]
}

proptest! {
    #[test]
    fn encoded_fields_decode_back_also_mid_stream(
        blocks in proptest::collection::vec(
            (proptest::option::of(0usize..5000), proptest::collection::vec(any_field(), 0..8)),
            1..8,
        ),
        missed in 0usize..4,
    ) {
        let mut enc = Encoder::new();
        let mut encoded = Vec::new();
        for (update, fields) in &blocks {
            let mut block = Vec::new();
            if let Some(size) = update {
                enc.size_update((*size).min(DEFAULT_TABLE_SIZE), &mut block);
            }
            for (name, value, how) in fields {
                enc.field(name, value, *how, &mut block);
            }
            encoded.push((block, enc.table_len()));
        }
        let mut full = Decoder::new();
        let mut mid = Decoder::mid_stream();
        for (i, ((block, entries), (_, fields))) in encoded.iter().zip(&blocks).enumerate() {
            let want: Vec<Pair> = fields
                .iter()
                .map(|(n, v, _)| {
                    (String::from_utf8_lossy(n).into_owned(), String::from_utf8_lossy(v).into_owned())
                })
                .collect();
            prop_assert_eq!(decode(&mut full, block).unwrap(), want.clone());
            prop_assert!(full.is_complete());
            prop_assert_eq!(full.table_len(), *entries);
            if i < missed {
                continue;
            }
            let got = decode(&mut mid, block).unwrap();
            prop_assert_eq!(got.len(), want.len());
            for (g, w) in got.iter().zip(&want) {
                if g.0 != "?" {
                    prop_assert_eq!(g, w);
                } else if g.1 != "?" {
                    prop_assert_eq!(&g.1, &w.1);
                }
            }
        }
    }
}

/// Decoding speed of a typical request header block (a browser-like request, Huffman
/// coded, first with literals, then mostly indexed): `cargo test --profile ci --lib
/// hpack_speed -- --ignored --nocapture`.
#[test]
#[ignore]
fn hpack_speed() {
    let fields: [(&[u8], &[u8]); 10] = [
        (b":method", b"GET"),
        (b":scheme", b"http"),
        (b":path", b"/api/v1/items/12345?fields=name,price"),
        (b":authority", b"service.internal.example.com:8080"),
        (
            b"user-agent",
            b"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101",
        ),
        (b"accept", b"application/json, text/plain, */*"),
        (b"accept-encoding", b"gzip, deflate, br"),
        (b"accept-language", b"en-US,en;q=0.5"),
        (b"x-request-id", b"5f0c1a6e-9ea1-6b62-4f8a-2e3c4d5e6f70"),
        (
            b"cookie",
            b"session=0123456789abcdef0123456789abcdef; theme=dark",
        ),
    ];
    let mut enc = Encoder::new();
    let mut first = Vec::new();
    let mut later = Vec::new();
    for (n, v) in fields {
        enc.field(n, v, 0b1_1100, &mut first);
    }
    for (n, v) in fields {
        enc.field(n, v, 0b1_1100, &mut later);
    }
    let n = 200_000;
    let mut bytes = 0;
    let start = std::time::Instant::now();
    for i in 0..n {
        let mut d = Decoder::new();
        let block = if i % 4 == 0 { &first } else { &later };
        if i % 4 != 0 {
            d.decode(&first, &mut |_| {}).unwrap();
        }
        d.decode(block, &mut |f| {
            if let Field::Header { value, .. } = f {
                bytes += value.len();
            }
        })
        .unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{n} requests in {secs:.3} s: {:.0}/s (each a fresh decoder and a {}-byte block of \
         Huffman literals, 3 in 4 followed by a {}-byte block of indexed fields)",
        n as f64 / secs,
        first.len(),
        later.len()
    );
    assert!(bytes > 0);
}
