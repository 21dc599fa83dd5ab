//! The format language: any format string through the parser and, when it parses,
//! rendered over an arbitrary exchange with each encoding.
//!
//! Input: the format string up to the first NUL byte (UTF-8; other inputs are
//! skipped), then the bytes an `Unstructured` turns into the exchange.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use rustniffer::decode::Endpoint;
use rustniffer::exchange::http1::{RequestFramer, ResponseFramer};
use rustniffer::exchange::tls_facts::TlsFacts;
use rustniffer::exchange::{http, CloseOriginator, Exchange, Position, Protocol};
use rustniffer::format::{Encoding, RenderOptions, Template};
use rustniffer::time::Timestamp;

fn timestamp(u: &mut Unstructured<'_>) -> Result<Option<Timestamp>> {
    // Whole range of i64 nanoseconds now and then; mostly around 2020.
    Ok(match u.int_in_range(0..=3u8)? {
        0 => None,
        1 => Some(Timestamp(u.arbitrary()?)),
        _ => Some(Timestamp::from_secs_micros(
            1_600_000_000 + i64::from(u.arbitrary::<i32>()? >> 8),
            i64::from(u.int_in_range(0..=999_999u32)?),
        )),
    })
}

fn endpoint(u: &mut Unstructured<'_>) -> Result<Endpoint> {
    let ip = if u.arbitrary()? {
        IpAddr::V6(Ipv6Addr::from(u.arbitrary::<u128>()?))
    } else {
        IpAddr::V4(Ipv4Addr::from(u.arbitrary::<u32>()?))
    };
    Ok(Endpoint {
        ip,
        port: u.arbitrary()?,
    })
}

fn render(template: &Template, u: &mut Unstructured<'_>) -> Result<()> {
    let request: Vec<u8> = u.arbitrary()?;
    let response: Vec<u8> = u.arbitrary()?;
    let position = *u.choose(&[
        Position::Unique,
        Position::Start,
        Position::Continue,
        Position::Last,
    ])?;
    let close_originator = *u.choose(&[
        None,
        Some(CloseOriginator::Client),
        Some(CloseOriginator::Server),
        Some(CloseOriginator::TimedOut),
        Some(CloseOriginator::Truncated),
    ])?;
    let opening = timestamp(u)?.unwrap_or_default();
    let tls = TlsFacts {
        sni: u.arbitrary::<Option<Vec<u8>>>()?.map(Vec::into_boxed_slice),
        offered_alpn: u
            .arbitrary::<Vec<Vec<u8>>>()?
            .into_iter()
            .map(Vec::into_boxed_slice)
            .collect(),
        chosen_alpn: u.arbitrary::<Option<Vec<u8>>>()?.map(Vec::into_boxed_slice),
        offered_version: u.arbitrary()?,
        version: u.arbitrary()?,
        cipher: u.arbitrary()?,
    };
    let protocol = *u.choose(&[
        Protocol::None,
        Protocol::Http10,
        Protocol::Http11,
        Protocol::Tls,
        Protocol::H2,
        Protocol::H2c,
        Protocol::WebSocket,
        Protocol::Unknown,
    ])?;
    let (request_header_len, request_fields) = known_head(u, &request, true)?;
    let (response_header_len, response_fields) = known_head(u, &response, false)?;
    let ex = Exchange {
        id: u.arbitrary()?,
        client: endpoint(u)?,
        server: endpoint(u)?,
        position,
        close_originator,
        streams: u.arbitrary()?,
        session_requests: u.arbitrary()?,
        first: u.arbitrary()?,
        opening,
        open: timestamp(u)?,
        request_first: timestamp(u)?,
        request_last: timestamp(u)?,
        response_first: timestamp(u)?,
        response_last: timestamp(u)?,
        print: timestamp(u)?,
        close: timestamp(u)?,
        last_activity: timestamp(u)?,
        request: &request,
        response: &response,
        request_size: request.len() as u64,
        response_size: response.len() as u64,
        // As the exchange layer would say it, or not known; field lines as an HTTP/1
        // framer that read the head whole tells them (`messages` mode), or not known.
        request_header_len,
        response_header_len,
        request_fields,
        response_fields,
        protocol,
        index: u.arbitrary()?,
        pipelined: u.arbitrary()?,
        complete: u.arbitrary()?,
        gap: u.arbitrary()?,
        request_body_size: u.arbitrary()?,
        response_body_size: u.arbitrary()?,
        interim: u.arbitrary()?,
        previous_end: timestamp(u)?,
        tls: u.arbitrary::<bool>()?.then_some(&tls),
        connection: None,
        h2: None,
        h2_stream: None,
        ws: None,
        ws_message: None,
        tunnel: None,
    };
    let not_found: Vec<u8> = u.arbitrary()?;
    for encoding in [Encoding::Plain, Encoding::Unprintable, Encoding::Hex] {
        let options = RenderOptions {
            not_found: not_found.clone(),
            encoding,
            newline: true,
        };
        let mut out = b"kept".to_vec();
        template.render(&ex, &options, &mut out);
        assert!(out.starts_with(b"kept"), "rendering appends");
        assert_eq!(out.last(), Some(&b'\n'));
        if encoding != Encoding::Plain {
            assert!(
                out.iter()
                    .all(|&b| (0x20..=0x7e).contains(&b) || b == b'\n' || b == b'\t'),
                "encoded output is printable"
            );
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let Ok(format) = std::str::from_utf8(&data[..split]) else {
        return;
    };
    let Ok(template) = Template::parse(format) else {
        return;
    };
    let mut u = Unstructured::new(data.get(split + 1..).unwrap_or_default());
    let _ = render(&template, &mut u);
});

/// What the exchange layer may know of a message's head: nothing, the header end it
/// scanned for, or (when the framer read the head whole) the framer's header end and
/// field lines.
fn known_head(
    u: &mut Unstructured<'_>,
    data: &[u8],
    request: bool,
) -> Result<(Option<usize>, http::FieldLines)> {
    Ok(match u.int_in_range(0..=2u8)? {
        0 => (None, http::FieldLines::default()),
        1 => (
            Some(http::header_split(data).0),
            http::FieldLines::default(),
        ),
        _ => {
            let known = if request {
                RequestFramer::new().feed(data).known
            } else {
                ResponseFramer::new().feed(data, None).known
            };
            match known {
                Some(k) => (Some(k.header_end), k.fields),
                None => (
                    Some(http::header_split(data).0),
                    http::FieldLines::default(),
                ),
            }
        }
    })
}
