//! The OTLP exporter's HTTP transport: one blocking HTTP/1.1 POST per export over std's
//! `TcpStream`, plain `http://` only (a node-local collector), every step bounded in
//! time and the response in size. It runs on the exporter threads, never on capture.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use opentelemetry_http::{HttpClient, HttpError};

/// Most bytes of a response read (status line, headers and body): the exporter only
/// reads the status and `Retry-After`.
const MAX_RESPONSE: usize = 64 * 1024;

/// A blocking HTTP/1.1 client; `timeout` bounds each request as a whole (connect,
/// write, read).
#[derive(Clone, Copy, Debug)]
pub struct StdClient {
    pub timeout: Duration,
}

#[async_trait::async_trait]
impl HttpClient for StdClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        post(request, self.timeout)
    }
}

fn post(request: Request<Bytes>, timeout: Duration) -> Result<Response<Bytes>, HttpError> {
    let deadline = Instant::now() + timeout;
    let uri = request.uri();
    if uri.scheme_str() != Some("http") {
        return Err(format!("{uri}: only http:// endpoints are supported").into());
    }
    let host = uri.host().ok_or("the endpoint has no host")?;
    let port = uri.port_u16().unwrap_or(80);
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut stream = None;
    let mut last_error = None;
    // An IPv6 literal comes in brackets (`http://[::1]:4318`).
    let name = host.trim_start_matches('[').trim_end_matches(']');
    for addr in (name, port).to_socket_addrs()? {
        let left = remaining(deadline)?;
        match TcpStream::connect_timeout(&addr, left) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last_error = Some(e),
        }
    }
    let mut stream = match (stream, last_error) {
        (Some(s), _) => s,
        (None, Some(e)) => return Err(e.into()),
        (None, None) => return Err(format!("{host}: no address").into()),
    };
    let mut head = format!(
        "{} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: {}\r\nConnection: close\r\n",
        request.method(),
        request.body().len()
    );
    for (name, value) in request.headers() {
        if let Ok(value) = value.to_str() {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    head.push_str("\r\n");
    stream.set_write_timeout(Some(remaining(deadline)?))?;
    stream.write_all(head.as_bytes())?;
    stream.write_all(request.body())?;
    let mut response = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    let mut expected: Option<usize> = None;
    loop {
        stream.set_read_timeout(Some(remaining(deadline)?))?;
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        let room = MAX_RESPONSE.saturating_sub(response.len());
        response.extend_from_slice(chunk.get(..n.min(room)).unwrap_or_default());
        if expected.is_none() {
            expected = head_end(&response).map(|end| end + content_length(&response[..end]));
        }
        if response.len() >= MAX_RESPONSE || expected.is_some_and(|e| response.len() >= e) {
            break;
        }
    }
    parse(&response)
}

fn remaining(deadline: Instant) -> Result<Duration, HttpError> {
    match deadline.checked_duration_since(Instant::now()) {
        Some(left) if !left.is_zero() => Ok(left),
        _ => Err("timed out".into()),
    }
}

/// Where the header block ends (after its blank line).
fn head_end(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| at + 4)
}

/// The `Content-Length` of a header block, 0 when absent or not a number.
fn content_length(head: &[u8]) -> usize {
    header(head, "content-length")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn header<'h>(head: &'h [u8], name: &str) -> Option<&'h str> {
    let text = std::str::from_utf8(head).ok()?;
    text.split("\r\n").skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then_some(v.trim())
    })
}

/// A response from its bytes: the status, `Retry-After`, and the body read.
fn parse(bytes: &[u8]) -> Result<Response<Bytes>, HttpError> {
    let end = head_end(bytes).unwrap_or(bytes.len());
    let head = bytes.get(..end).unwrap_or_default();
    let status_line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let mut words = status_line.split(|&b| b == b' ');
    let version = words.next().unwrap_or_default();
    let code = words.next().unwrap_or_default();
    if !version.starts_with(b"HTTP/1.") {
        return Err("the endpoint did not answer with HTTP/1.x".into());
    }
    let code: u16 = std::str::from_utf8(code)
        .ok()
        .and_then(|c| c.parse().ok())
        .ok_or("the endpoint's status line has no status code")?;
    let mut response = Response::builder().status(code);
    if let Some(after) = header(head, "retry-after") {
        response = response.header("retry-after", after);
    }
    let body = Bytes::copy_from_slice(bytes.get(end..).unwrap_or_default());
    Ok(response.body(body)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_gives_its_status_and_retry_after() {
        let r = parse(b"HTTP/1.1 503 Unavailable\r\nRetry-After: 1\r\nContent-Length: 2\r\n\r\nno")
            .unwrap();
        assert_eq!(r.status().as_u16(), 503);
        assert_eq!(r.headers()["retry-after"], "1");
        assert_eq!(r.body().as_ref(), b"no");
        assert_eq!(
            content_length(b"HTTP/1.1 200 OK\r\ncontent-length: 12\r\n\r\n"),
            12
        );
    }

    #[test]
    fn what_is_not_http_is_an_error() {
        assert!(parse(b"").is_err());
        assert!(parse(b"SSH-2.0-x\r\n\r\n").is_err());
        assert!(parse(b"HTTP/1.1 abc\r\n\r\n").is_err());
    }
}
