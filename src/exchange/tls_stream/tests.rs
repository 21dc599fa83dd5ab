use super::content_type::{ALERT, APPLICATION_DATA, CHANGE_CIPHER_SPEC, HANDSHAKE};
use super::*;

// ---- builders, byte by byte from the RFC 8446 §4 / §5.1 layouts ----

fn vec8(data: &[u8]) -> Vec<u8> {
    let mut out = vec![data.len() as u8];
    out.extend_from_slice(data);
    out
}

fn vec16(data: &[u8]) -> Vec<u8> {
    let mut out = (data.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(data);
    out
}

fn ext(kind: u16, data: &[u8]) -> Vec<u8> {
    let mut out = kind.to_be_bytes().to_vec();
    out.extend(vec16(data));
    out
}

fn sni_ext(name: &[u8]) -> Vec<u8> {
    let mut entry = vec![0]; // host_name
    entry.extend(vec16(name));
    ext(0x0000, &vec16(&entry))
}

fn alpn_ext(names: &[&[u8]]) -> Vec<u8> {
    let list: Vec<u8> = names.iter().flat_map(|n| vec8(n)).collect();
    ext(0x0010, &vec16(&list))
}

/// The ClientHello form: a one-byte-length list of versions.
fn versions_ext(versions: &[u16]) -> Vec<u8> {
    let list: Vec<u8> = versions.iter().flat_map(|v| v.to_be_bytes()).collect();
    ext(0x002b, &vec8(&list))
}

/// The ServerHello form: one `selected_version`.
fn selected_version_ext(version: u16) -> Vec<u8> {
    ext(0x002b, &version.to_be_bytes())
}

/// A handshake message: type, 24-bit length, body.
fn handshake(kind: u8, body: &[u8]) -> Vec<u8> {
    let len = body.len() as u32;
    let mut out = vec![kind, (len >> 16) as u8, (len >> 8) as u8, len as u8];
    out.extend_from_slice(body);
    out
}

fn client_hello(legacy: u16, exts: &[Vec<u8>]) -> Vec<u8> {
    let mut body = legacy.to_be_bytes().to_vec();
    body.extend_from_slice(&[0x11; 32]); // random
    body.extend(vec8(&[0xaa; 32])); // legacy_session_id
    body.extend(vec16(&[0x13, 0x01, 0xc0, 0x2f])); // cipher_suites
    body.extend(vec8(&[0])); // compression: null
    body.extend(vec16(&exts.concat()));
    handshake(1, &body)
}

fn server_hello(legacy: u16, random: [u8; 32], suite: u16, exts: &[Vec<u8>]) -> Vec<u8> {
    let mut body = legacy.to_be_bytes().to_vec();
    body.extend_from_slice(&random);
    body.extend(vec8(&[0xaa; 32])); // legacy_session_id_echo
    body.extend_from_slice(&suite.to_be_bytes());
    body.push(0); // compression: null
    body.extend(vec16(&exts.concat()));
    handshake(2, &body)
}

/// A record: type, version 0x0303, 16-bit length, body.
fn record(content_type: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![content_type, 0x03, 0x03];
    out.extend(vec16(body));
    out
}

fn rec(content_type: u8, len: usize) -> RecordEvent {
    RecordEvent::Record {
        content_type,
        len: len as u16,
    }
}

fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

// ---- drivers ----

fn events_of(pieces: &[&[u8]]) -> Vec<RecordEvent> {
    let mut reader = RecordReader::new();
    let mut out = Vec::new();
    for piece in pieces {
        reader.feed(piece, &mut |e| out.push(e));
    }
    out
}

fn events(data: &[u8]) -> Vec<RecordEvent> {
    events_of(&[data])
}

/// The events of `data` fed whole, and checks that they are the same for every
/// single cut and for one-byte pieces.
fn split_independent(data: &[u8]) -> Vec<RecordEvent> {
    let whole = events(data);
    for cut in 0..=data.len() {
        let (a, b) = data.split_at(cut);
        assert_eq!(events_of(&[a, b]), whole, "cut at {cut}");
    }
    let bytes: Vec<&[u8]> = data.chunks(1).collect();
    assert_eq!(events_of(&bytes), whole, "one-byte pieces");
    whole
}

fn client_facts(events: &[RecordEvent]) -> &ClientHelloFacts {
    events
        .iter()
        .find_map(|e| match e {
            RecordEvent::ClientHello(f) => Some(f),
            _ => None,
        })
        .expect("a ClientHello event")
}

fn server_facts(events: &[RecordEvent]) -> Vec<&ServerHelloFacts> {
    events
        .iter()
        .filter_map(|e| match e {
            RecordEvent::ServerHello(f) => Some(f),
            _ => None,
        })
        .collect()
}

fn has_hello(events: &[RecordEvent]) -> bool {
    events
        .iter()
        .any(|e| matches!(e, RecordEvent::ClientHello(_) | RecordEvent::ServerHello(_)))
}

// ---- RFC 8448 §3 "Simple 1-RTT Handshake" ----

const RFC8448_CLIENT_HELLO: &str = "
    01 00 00 c0 03 03 cb 34 ec b1 e7 81 63 ba 1c 38 c6 da cb 19 6a 6d
    ff a2 1a 8d 99 12 ec 18 a2 ef 62 83 02 4d ec e7 00 00 06 13 01 13
    03 13 02 01 00 00 91 00 00 00 0b 00 09 00 00 06 73 65 72 76 65 72
    ff 01 00 01 00 00 0a 00 14 00 12 00 1d 00 17 00 18 00 19 01 00 01
    01 01 02 01 03 01 04 00 23 00 00 00 33 00 26 00 24 00 1d 00 20 99
    38 1d e5 60 e4 bd 43 d2 3d 8e 43 5a 7d ba fe b3 c0 6e 51 c1 3c ae
    4d 54 13 69 1e 52 9a af 2c 00 2b 00 03 02 03 04 00 0d 00 20 00 1e
    04 03 05 03 06 03 02 03 08 04 08 05 08 06 04 01 05 01 06 01 02 01
    04 02 05 02 06 02 02 02 00 2d 00 02 01 01 00 1c 00 02 40 01";

const RFC8448_SERVER_HELLO: &str = "
    02 00 00 56 03 03 a6 af 06 a4 12 18 60 dc 5e 6e 60 24 9c d3 4c 95
    93 0c 8a c5 cb 14 34 da c1 55 77 2e d3 e2 69 28 00 13 01 00 00 2e
    00 33 00 24 00 1d 00 20 c9 82 88 76 11 20 95 fe 66 76 2b db f7 c6
    72 e1 56 d6 cc 25 3b 83 3d f1 dd 69 b1 b0 4e 75 1f 0f 00 2b 00 02
    03 04";

#[test]
fn rfc8448_simple_handshake_gives_the_hello_facts() {
    let mut client = record(HANDSHAKE, &hex(RFC8448_CLIENT_HELLO));
    client[1..3].copy_from_slice(&[0x03, 0x01]); // as in the RFC's record
    client.extend(record(CHANGE_CIPHER_SPEC, &[1]));
    client.extend(record(APPLICATION_DATA, &[0x5a; 53])); // the encrypted Finished
    let got = split_independent(&client);
    let ch = client_facts(&got);
    assert_eq!(ch.sni.as_deref(), Some(&b"server"[..]));
    assert_eq!((ch.legacy_version, ch.version), (0x0303, 0x0304));
    assert_eq!(ch.supported_versions, vec![0x0304]);
    assert!(ch.tls13);
    assert!(ch.alpn.is_empty());
    assert_eq!(
        got[1..],
        [rec(HANDSHAKE, 196), rec(CHANGE_CIPHER_SPEC, 1), rec(23, 53)]
    );

    let mut server = record(HANDSHAKE, &hex(RFC8448_SERVER_HELLO));
    server.extend(record(APPLICATION_DATA, &[0x17; 40]));
    let got = split_independent(&server);
    let sh = server_facts(&got);
    assert_eq!(sh.len(), 1);
    assert_eq!((sh[0].legacy_version, sh[0].version), (0x0303, 0x0304));
    assert_eq!(sh[0].cipher_suite, 0x1301);
    assert_eq!(
        cipher_suite_name(sh[0].cipher_suite),
        Some("TLS_AES_128_GCM_SHA256")
    );
    assert!(!sh[0].hello_retry_request);
    assert_eq!(sh[0].alpn, None);
    assert_eq!(got[1..], [rec(HANDSHAKE, 90), rec(APPLICATION_DATA, 40)]);
}

// ---- facts ----

#[test]
fn client_hello_offers_sni_alpn_and_versions_without_grease() {
    let hello = client_hello(
        0x0303,
        &[
            ext(0x000b, &[1, 0]),
            sni_ext(b"www.example.test"),
            alpn_ext(&[b"h2", b"http/1.1"]),
            versions_ext(&[0x3a3a, 0x0304, 0x0303, 0x7f1c]),
        ],
    );
    let data = record(HANDSHAKE, &hello);
    let got = split_independent(&data);
    assert_eq!(got.len(), 2);
    let ch = client_facts(&got);
    assert_eq!(ch.sni.as_deref(), Some(&b"www.example.test"[..]));
    assert_eq!(ch.alpn, vec![b"h2".to_vec(), b"http/1.1".to_vec()]);
    assert_eq!(ch.supported_versions, vec![0x0304, 0x0303, 0x7f1c]);
    assert_eq!((ch.legacy_version, ch.version), (0x0303, 0x0304));
    assert!(ch.tls13);
    assert_eq!(got[1], rec(HANDSHAKE, hello.len()));
    assert_eq!(version_name(ch.version), "TLS_1.3");
}

#[test]
fn client_hello_agrees_with_the_percent_tls_parser() {
    let data = record(
        HANDSHAKE,
        &client_hello(
            0x0301,
            &[sni_ext(b"a.test"), versions_ext(&[0x7f1c, 0x0a0a])],
        ),
    );
    let old = crate::exchange::tls::parse_client_hello(&data).unwrap();
    let got = events(&data);
    let ch = client_facts(&got);
    assert_eq!(ch.version, old.version);
    assert_eq!(ch.version, 0x0301);
    assert_eq!(ch.sni.as_deref(), old.sni);
    assert!(!ch.tls13);
}

#[test]
fn tls12_client_hello_without_extensions() {
    let mut body = 0x0302_u16.to_be_bytes().to_vec();
    body.extend_from_slice(&[0; 32]);
    body.extend([0, 0, 2, 0x00, 0x2f, 1, 0]); // no session id, one suite, null compression
    let got = events(&record(HANDSHAKE, &handshake(1, &body)));
    let ch = client_facts(&got);
    assert_eq!(
        (ch.legacy_version, ch.version, ch.tls13),
        (0x0302, 0x0302, false)
    );
    assert_eq!((ch.sni.as_ref(), ch.alpn.len()), (None, 0));
}

#[test]
fn client_hello_values_are_bounded() {
    let long_name = vec![b'a'; 300];
    let names: Vec<Vec<u8>> = (0..20).map(|i| format!("p{i}").into_bytes()).collect();
    let refs: Vec<&[u8]> = names.iter().map(Vec::as_slice).collect();
    let versions: Vec<u16> = (0..40).map(|i| 0x0300 + i).collect();
    let data = record(
        HANDSHAKE,
        &client_hello(
            0x0303,
            &[
                sni_ext(&long_name),
                alpn_ext(&refs),
                versions_ext(&versions),
            ],
        ),
    );
    let got = events(&data);
    let ch = client_facts(&got);
    assert_eq!(ch.sni.as_ref().map(Vec::len), Some(MAX_SNI_LEN));
    assert_eq!(ch.alpn.len(), MAX_ALPN);
    assert_eq!(ch.alpn[15], b"p15");
    assert_eq!(ch.supported_versions.len(), MAX_VERSIONS);
    // The version rule and the TLS 1.3 flag still see the whole list.
    assert_eq!(ch.version, 0x0300 + 39);
    assert!(ch.tls13);
}

#[test]
fn malformed_extensions_are_skipped_and_the_rest_kept() {
    // An ALPN body that lies about its list length, then a truncated extension frame.
    let mut exts = vec![sni_ext(b"ok.test"), ext(0x0010, &[0, 9, 2, b'h', b'2'])];
    exts.push(vec![0x00, 0x2b, 0x00, 0x10, 0x02]);
    let got = events(&record(HANDSHAKE, &client_hello(0x0303, &exts)));
    let ch = client_facts(&got);
    assert_eq!(ch.sni.as_deref(), Some(&b"ok.test"[..]));
    assert!(ch.alpn.is_empty());
    assert!(ch.supported_versions.is_empty());
}

#[test]
fn tls12_server_hello_gives_suite_and_alpn() {
    let hello = server_hello(
        0x0303,
        [7; 32],
        0xc02f,
        &[ext(0xff01, &[0]), alpn_ext(&[b"h2"])],
    );
    let got = split_independent(&record(HANDSHAKE, &hello));
    let sh = server_facts(&got);
    assert_eq!(sh.len(), 1);
    assert_eq!((sh[0].legacy_version, sh[0].version), (0x0303, 0x0303));
    assert_eq!(sh[0].cipher_suite, 0xc02f);
    assert_eq!(sh[0].alpn.as_deref(), Some(&b"h2"[..]));
    assert!(!sh[0].hello_retry_request);
    assert_eq!(
        cipher_suite_name(0xc02f),
        Some("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")
    );
}

#[test]
fn malformed_hello_gives_no_facts_but_records_go_on() {
    let data = [
        record(HANDSHAKE, &handshake(2, &[3, 3, 1, 2])),
        record(APPLICATION_DATA, &[1, 2, 3]),
    ]
    .concat();
    assert_eq!(
        split_independent(&data),
        [rec(HANDSHAKE, 8), rec(APPLICATION_DATA, 3)]
    );
}

// ---- HelloRetryRequest ----

#[test]
fn hello_retry_request_is_flagged_and_the_real_server_hello_read_next() {
    let hrr = server_hello(
        0x0303,
        HELLO_RETRY_REQUEST_RANDOM,
        0x1302,
        &[selected_version_ext(0x0304)],
    );
    let sh = server_hello(0x0303, [9; 32], 0x1302, &[selected_version_ext(0x0304)]);
    let data = [
        record(HANDSHAKE, &hrr),
        record(CHANGE_CIPHER_SPEC, &[1]),
        record(HANDSHAKE, &sh),
        record(APPLICATION_DATA, &[0; 30]),
    ]
    .concat();
    let got = split_independent(&data);
    let hellos = server_facts(&got);
    assert_eq!(hellos.len(), 2);
    assert!(hellos[0].hello_retry_request);
    assert!(!hellos[1].hello_retry_request);
    assert_eq!(hellos[1].version, 0x0304);
    assert_eq!(got.len(), 6);
    assert!(matches!(got[0], RecordEvent::ServerHello(_)));
    assert!(matches!(got[3], RecordEvent::ServerHello(_)));
}

#[test]
fn expect_hello_reads_the_clients_second_hello() {
    let first = client_hello(0x0303, &[sni_ext(b"one.test"), versions_ext(&[0x0304])]);
    let second = client_hello(0x0303, &[sni_ext(b"two.test"), versions_ext(&[0x0304])]);
    let mut reader = RecordReader::new();
    let mut got = Vec::new();
    reader.feed(&record(HANDSHAKE, &first), &mut |e| got.push(e));
    reader.feed(&record(CHANGE_CIPHER_SPEC, &[1]), &mut |e| got.push(e));
    // Without expect_hello, a later hello is not read.
    let mut plain = RecordReader::new();
    let mut ignored = Vec::new();
    plain.feed(
        &[record(HANDSHAKE, &first), record(HANDSHAKE, &second)].concat(),
        &mut |e| ignored.push(e),
    );
    assert_eq!(
        ignored
            .iter()
            .filter(|e| has_hello(std::slice::from_ref(e)))
            .count(),
        1
    );

    reader.expect_hello(); // the server sent a HelloRetryRequest
    reader.feed(&record(HANDSHAKE, &second), &mut |e| got.push(e));
    let names: Vec<_> = got
        .iter()
        .filter_map(|e| match e {
            RecordEvent::ClientHello(f) => f.sni.clone(),
            _ => None,
        })
        .collect();
    assert_eq!(names, vec![b"one.test".to_vec(), b"two.test".to_vec()]);
}

// ---- reassembly ----

#[test]
fn hello_spanning_two_records_is_reassembled() {
    let hello = client_hello(0x0303, &[sni_ext(b"span.test"), alpn_ext(&[b"h2"])]);
    let (a, b) = hello.split_at(30);
    let data = [
        record(HANDSHAKE, a),
        record(HANDSHAKE, b),
        record(APPLICATION_DATA, &[1; 10]),
    ]
    .concat();
    let got = split_independent(&data);
    assert_eq!(got.len(), 4);
    assert_eq!(got[0], rec(HANDSHAKE, 30));
    assert_eq!(client_facts(&got).sni.as_deref(), Some(&b"span.test"[..]));
    assert_eq!(got[2], rec(HANDSHAKE, hello.len() - 30));
    // A hello cut inside its 4-byte header, over three records.
    let data = [
        record(HANDSHAKE, &hello[..2]),
        record(HANDSHAKE, &hello[2..3]),
        record(HANDSHAKE, &hello[3..]),
    ]
    .concat();
    let got = split_independent(&data);
    assert_eq!(client_facts(&got).sni.as_deref(), Some(&b"span.test"[..]));
    assert_eq!(got.len(), 4);
}

#[test]
fn two_handshake_messages_in_one_record_give_one_hello() {
    // A TLS 1.2 server flight: ServerHello, Certificate, ServerHelloDone in one record.
    let flight = [
        server_hello(0x0303, [3; 32], 0x009c, &[]),
        handshake(11, &[0, 0, 3, 0, 0, 0]),
        handshake(14, &[]),
    ]
    .concat();
    let data = [record(HANDSHAKE, &flight), record(HANDSHAKE, &[0x10; 20])].concat();
    let got = split_independent(&data);
    assert_eq!(server_facts(&got).len(), 1);
    assert_eq!(server_facts(&got)[0].cipher_suite, 0x009c);
    assert_eq!(got[1..], [rec(HANDSHAKE, flight.len()), rec(HANDSHAKE, 20)]);
}

#[test]
fn the_reassembly_buffer_lives_only_while_the_hello_spans_pieces() {
    let hello = client_hello(0x0303, &[sni_ext(b"buf.test")]);
    let data = record(HANDSHAKE, &hello);
    let mut reader = RecordReader::new();
    let mut got = Vec::new();
    reader.feed(&data[..40], &mut |e| got.push(e));
    assert!(reader.buffered() > 0 && reader.buffered() <= hello.len());
    assert!(reader.in_record());
    reader.feed(&data[40..], &mut |e| got.push(e));
    assert_eq!(reader.buffered(), 0);
    assert!(!reader.in_record());
    assert_eq!(got.len(), 2);
    // Whole in one piece, its record not yet: nothing is ever buffered.
    let data = record(HANDSHAKE, &[hello.clone(), handshake(14, &[])].concat());
    let mut reader = RecordReader::new();
    let mut got = Vec::new();
    reader.feed(&data[..5 + hello.len() + 1], &mut |e| got.push(e));
    assert_eq!(reader.buffered(), 0);
    assert!(reader.in_record());
    assert_eq!(got.len(), 1);
}

#[test]
fn idle_state_is_small() {
    assert!(std::mem::size_of::<RecordReader>() <= 40);
}

#[test]
fn oversized_hello_is_given_up_and_records_still_followed() {
    // A ClientHello announcing 70 000 bytes, spread over five full records.
    let mut message = vec![1, 0x01, 0x11, 0x70];
    message.resize(4 + 70_000, 0x42);
    let data: Vec<u8> = message
        .chunks(16_384)
        .flat_map(|c| record(HANDSHAKE, c))
        .chain(record(APPLICATION_DATA, &[1]))
        .collect();
    let mut reader = RecordReader::new();
    let mut got = Vec::new();
    for piece in data.chunks(1000) {
        reader.feed(piece, &mut |e| got.push(e));
        assert_eq!(reader.buffered(), 0);
    }
    assert!(!has_hello(&got));
    assert_eq!(got.len(), 6);
    assert_eq!(reader.records(), 6);
    assert_eq!(got[5], rec(APPLICATION_DATA, 1));
}

#[test]
fn hello_interrupted_by_another_record_type_is_given_up() {
    let hello = client_hello(0x0303, &[sni_ext(b"x.test")]);
    let data = [
        record(HANDSHAKE, &hello[..20]),
        record(ALERT, &[2, 40]),
        record(HANDSHAKE, &hello[20..]),
    ]
    .concat();
    let got = split_independent(&data);
    assert!(!has_hello(&got));
    assert_eq!(got.len(), 3);
}

#[test]
fn a_direction_opening_with_another_record_type_has_no_hello() {
    let hello = client_hello(0x0303, &[sni_ext(b"late.test")]);
    let data = [record(ALERT, &[2, 40]), record(HANDSHAKE, &hello)].concat();
    let got = split_independent(&data);
    assert!(!has_hello(&got));
    assert_eq!(got, [rec(ALERT, 2), rec(HANDSHAKE, hello.len())]);
}

#[test]
fn first_message_other_than_a_hello_gives_no_facts() {
    let data = record(HANDSHAKE, &handshake(11, &[0, 0, 0]));
    assert_eq!(split_independent(&data), [rec(HANDSHAKE, 7)]);
}

// ---- record framing ----

#[test]
fn record_header_split_across_pieces() {
    let data = [record(APPLICATION_DATA, &[9; 7]), record(ALERT, &[1, 0])].concat();
    let mut reader = RecordReader::new();
    let mut got = Vec::new();
    reader.feed(&data[..2], &mut |e| got.push(e));
    assert!(reader.in_record());
    reader.feed(&data[2..5], &mut |e| got.push(e));
    assert!(reader.in_record());
    reader.feed(&data[5..14], &mut |e| got.push(e));
    assert!(reader.in_record()); // one byte of the next header
    reader.feed(&data[14..], &mut |e| got.push(e));
    assert!(!reader.in_record());
    assert_eq!(got, [rec(APPLICATION_DATA, 7), rec(ALERT, 2)]);
    assert_eq!(reader.records(), 2);
}

#[test]
fn empty_records_are_reported() {
    let data = [
        record(APPLICATION_DATA, &[]),
        record(APPLICATION_DATA, &[1]),
    ]
    .concat();
    assert_eq!(
        split_independent(&data),
        [rec(APPLICATION_DATA, 0), rec(APPLICATION_DATA, 1)]
    );
}

#[test]
fn garbage_is_not_tls_and_the_reader_stops() {
    for data in [
        &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        &[0x16, 0x02, 0x01, 0x00, 0x01][..],    // major version 2
        &[0x80, 0x2e, 0x01, 0x03, 0x01][..],    // SSL 2.0 style hello
        &[0x17, 0x03, 0x03, 0x48, 0x01, 0][..], // length 2^14 + 2049
    ] {
        let mut reader = RecordReader::new();
        let mut got = Vec::new();
        reader.feed(data, &mut |e| got.push(e));
        reader.feed(&record(APPLICATION_DATA, &[1]), &mut |e| got.push(e));
        reader.gap(10, &mut |e| got.push(e));
        assert_eq!(got, [RecordEvent::NotTls], "{data:?}");
        assert!(reader.is_stopped() && !reader.in_record());
        assert_eq!(reader.records(), 0);
    }
    // Valid records, then garbage: the records count, then NotTls.
    let data = [record(APPLICATION_DATA, &[1, 2]), b"junk".to_vec()].concat();
    assert_eq!(
        split_independent(&data),
        [rec(APPLICATION_DATA, 2), RecordEvent::NotTls]
    );
    // The largest legal length is accepted.
    let data = record(APPLICATION_DATA, &vec![0; usize::from(MAX_RECORD_LEN)]);
    assert_eq!(
        events(&data),
        [rec(APPLICATION_DATA, usize::from(MAX_RECORD_LEN))]
    );
}

#[test]
fn gap_inside_a_record_keeps_sync() {
    let data = [record(APPLICATION_DATA, &[5; 100]), record(ALERT, &[1, 0])].concat();
    let mut reader = RecordReader::new();
    let mut got = Vec::new();
    reader.feed(&data[..15], &mut |e| got.push(e));
    reader.gap(80, &mut |e| got.push(e));
    assert!(reader.in_record());
    reader.feed(&data[95..], &mut |e| got.push(e));
    assert_eq!(got, [rec(APPLICATION_DATA, 100), rec(ALERT, 2)]);

    // A gap that ends the record exactly reports it.
    let mut reader = RecordReader::new();
    let mut got = Vec::new();
    reader.feed(&data[..5], &mut |e| got.push(e));
    reader.gap(100, &mut |e| got.push(e));
    assert_eq!(got, [rec(APPLICATION_DATA, 100)]);
    assert!(!reader.in_record());
    reader.feed(&data[105..], &mut |e| got.push(e));
    assert_eq!(got.len(), 2);
}

#[test]
fn gap_outside_a_record_body_loses_sync() {
    let data = record(APPLICATION_DATA, &[5; 100]);
    for (fed, gap) in [(50, 60), (105, 3), (2, 1), (0, 1), (50, u64::MAX)] {
        let mut reader = RecordReader::new();
        let mut got = Vec::new();
        reader.feed(&data[..fed], &mut |e| got.push(e));
        reader.gap(gap, &mut |e| got.push(e));
        reader.feed(&data, &mut |e| got.push(e));
        let expected = if fed == 105 {
            vec![rec(APPLICATION_DATA, 100), RecordEvent::LostSync]
        } else {
            vec![RecordEvent::LostSync]
        };
        assert_eq!(got, expected, "fed {fed}, gap {gap}");
        assert!(reader.is_stopped());
    }
}

#[test]
fn gap_inside_the_hello_gives_up_its_facts_only() {
    let hello = client_hello(0x0303, &[sni_ext(b"gap.test")]);
    let data = [record(HANDSHAKE, &hello), record(APPLICATION_DATA, &[1])].concat();
    let mut reader = RecordReader::new();
    let mut got = Vec::new();
    reader.feed(&data[..20], &mut |e| got.push(e));
    reader.gap(10, &mut |e| got.push(e));
    assert_eq!(reader.buffered(), 0);
    reader.feed(&data[30..], &mut |e| got.push(e));
    assert_eq!(got, [rec(HANDSHAKE, hello.len()), rec(APPLICATION_DATA, 1)]);
}

#[test]
fn handshake_end_helpers() {
    assert!(is_application_data(23) && !is_application_data(22));
    assert!(is_change_cipher_spec(20) && !is_change_cipher_spec(21));
    assert!(ends_cleartext_handshake(20) && ends_cleartext_handshake(23));
    assert!(!ends_cleartext_handshake(22) && !ends_cleartext_handshake(21));
}

// ---- names ----

#[test]
fn cipher_suite_table_is_sorted_without_duplicates() {
    assert!(CIPHER_SUITES.windows(2).all(|w| w[0].0 < w[1].0));
    assert!(CIPHER_SUITES
        .iter()
        .all(|(_, name)| name.starts_with("TLS_") && name.is_ascii()));
    for &(code, name) in CIPHER_SUITES {
        assert_eq!(cipher_suite_name(code), Some(name));
    }
}

#[test]
fn cipher_suite_names_from_the_registry() {
    for (code, name) in [
        (0x0000, "TLS_NULL_WITH_NULL_NULL"),
        (0x002f, "TLS_RSA_WITH_AES_128_CBC_SHA"),
        (0x009c, "TLS_RSA_WITH_AES_128_GCM_SHA256"),
        (0x00ff, "TLS_EMPTY_RENEGOTIATION_INFO_SCSV"),
        (0x1301, "TLS_AES_128_GCM_SHA256"),
        (0x1302, "TLS_AES_256_GCM_SHA384"),
        (0x1303, "TLS_CHACHA20_POLY1305_SHA256"),
        (0x1305, "TLS_AES_128_CCM_8_SHA256"),
        (0x5600, "TLS_FALLBACK_SCSV"),
        (0xc02b, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"),
        (0xc030, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"),
        (0xc0ac, "TLS_ECDHE_ECDSA_WITH_AES_128_CCM"),
        (0xcca8, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"),
        (0xcca9, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"),
        (0xd005, "TLS_ECDHE_PSK_WITH_AES_128_CCM_SHA256"),
    ] {
        assert_eq!(cipher_suite_name(code), Some(name), "{code:#06x}");
    }
    for unknown in [0x0a0a, 0x001c, 0x0047, 0x1306, 0xd004, 0xfafa, 0xffff] {
        assert_eq!(cipher_suite_name(unknown), None, "{unknown:#06x}");
    }
}

#[test]
fn version_names_follow_the_percent_tls_version_rule() {
    assert_eq!(version_name(0x0301), "TLS_1.0");
    assert_eq!(version_name(0x0302), "TLS_1.1");
    assert_eq!(version_name(0x0303), "TLS_1.2");
    assert_eq!(version_name(0x0304), "TLS_1.3");
    assert_eq!(version_name(0x0300), "0x0300");
    assert_eq!(version_name(0x7f1c), "0x7f1c");
}

// ---- properties ----

mod props {
    use super::*;
    use proptest::prelude::*;

    /// Feeds `data` cut at `cuts` (taken modulo its length plus one, in order).
    fn events_cut(data: &[u8], cuts: &[usize]) -> Vec<RecordEvent> {
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
        cuts.sort_unstable();
        let mut pieces = Vec::new();
        let mut at = 0;
        for c in cuts {
            pieces.push(&data[at..c]);
            at = c;
        }
        pieces.push(&data[at..]);
        events_of(&pieces)
    }

    /// A plausible stream: a hello over one or more records, then other records,
    /// with the strategy's bytes as a server name, an ALPN name and a record body.
    fn stream(seed: &[u8], split: usize, client: bool) -> Vec<u8> {
        let name = &seed[..seed.len().min(40)];
        let hello = if client {
            client_hello(
                0x0303,
                &[
                    sni_ext(name),
                    alpn_ext(&[b"h2", name]),
                    versions_ext(&[0x0304]),
                ],
            )
        } else {
            server_hello(0x0303, [1; 32], 0x1301, &[selected_version_ext(0x0304)])
        };
        let split = split % (hello.len() + 1);
        [
            record(HANDSHAKE, &hello[..split]),
            record(HANDSHAKE, &hello[split..]),
            record(CHANGE_CIPHER_SPEC, &[1]),
            record(APPLICATION_DATA, seed),
        ]
        .concat()
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic_and_splits_never_matter(
            data in proptest::collection::vec(any::<u8>(), 0..600),
            cuts in proptest::collection::vec(any::<usize>(), 0..8),
            prefix in 0..3usize,
        ) {
            // Start like a record sometimes, so the reader goes past the header.
            let data = match prefix {
                0 => data,
                1 => [vec![0x16, 0x03, 0x01, 0x01, 0x00, 0x01, 0x00, 0x00, 0xfc], data].concat(),
                _ => [vec![0x16, 0x03, 0x03, 0x00, 0x30, 0x02], data].concat(),
            };
            let whole = events(&data);
            prop_assert_eq!(events_cut(&data, &cuts), whole.clone());
            let records = whole.iter().filter(|e| matches!(e, RecordEvent::Record { .. })).count();
            let stops = whole.iter().filter(|e| matches!(e, RecordEvent::NotTls | RecordEvent::LostSync)).count();
            prop_assert!(stops <= 1);
            if stops == 1 {
                prop_assert!(matches!(whole.last(), Some(RecordEvent::NotTls)));
            }
            prop_assert!(records <= data.len() / 5);
        }

        #[test]
        fn valid_streams_give_the_same_events_however_cut(
            seed in proptest::collection::vec(any::<u8>(), 1..200),
            split in any::<usize>(),
            cuts in proptest::collection::vec(any::<usize>(), 0..12),
            client in any::<bool>(),
        ) {
            let data = stream(&seed, split, client);
            let whole = events(&data);
            prop_assert_eq!(events_cut(&data, &cuts), whole.clone());
            prop_assert!(has_hello(&whole));
            prop_assert_eq!(whole.len(), 5);
        }
    }
}
