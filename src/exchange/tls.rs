//! TLS analyzer: the ClientHello's server name and version (`%tls.sni`,
//! `%tls.version`).
//!
//! A bounds-checked reader over the request bytes: anything malformed or incomplete
//! gives `None`, never a panic. Only a ClientHello that lies whole inside its first
//! TLS record is read (no reassembly of handshake fragments across records).

/// TLS record content type `handshake` (RFC 8446 §5.1).
const CONTENT_HANDSHAKE: u8 = 0x16;
/// Major byte of every SSL 3.0 / TLS record version.
const VERSION_MAJOR: u8 = 0x03;
/// Handshake type `client_hello` (RFC 8446 §4).
const HANDSHAKE_CLIENT_HELLO: u8 = 0x01;
/// Extension `server_name` (RFC 6066 §3).
const EXT_SERVER_NAME: u16 = 0x0000;
/// Extension `supported_versions` (RFC 8446 §4.2.1).
const EXT_SUPPORTED_VERSIONS: u16 = 0x002b;
/// `NameType` `host_name` (RFC 6066 §3).
const NAME_TYPE_HOST_NAME: u8 = 0x00;

/// What `%tls.*` print from a ClientHello.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientHello<'a> {
    /// The first `host_name` of the `server_name` extension (`None` if absent or empty).
    pub sni: Option<&'a [u8]>,
    /// The highest non-GREASE `supported_versions` entry in 0x0301–0x03ff, else the
    /// hello's legacy version.
    pub version: u16,
}

/// A cursor over bytes whose reads fail instead of running past the end (shared with
/// [`super::tls_stream`]).
pub(super) struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(super) fn new(data: &'a [u8]) -> Self {
        Reader { data }
    }

    pub(super) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.data.len() {
            return None;
        }
        let (head, tail) = self.data.split_at(n);
        self.data = tail;
        Some(head)
    }

    pub(super) fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    pub(super) fn u16(&mut self) -> Option<u16> {
        let b = self.take(2)?;
        Some(u16::from_be_bytes([b[0], b[1]]))
    }

    pub(super) fn u24(&mut self) -> Option<usize> {
        let b = self.take(3)?;
        Some((usize::from(b[0]) << 16) | (usize::from(b[1]) << 8) | usize::from(b[2]))
    }

    /// A vector with a one-byte length prefix.
    pub(super) fn vec8(&mut self) -> Option<&'a [u8]> {
        let n = usize::from(self.u8()?);
        self.take(n)
    }

    /// A vector with a two-byte length prefix.
    pub(super) fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = usize::from(self.u16()?);
        self.take(n)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// Finds the first `16 03` in `data` and reads the ClientHello that starts there.
pub fn parse_client_hello(data: &[u8]) -> Option<ClientHello<'_>> {
    let start = data
        .windows(2)
        .position(|w| w == [CONTENT_HANDSHAKE, VERSION_MAJOR])?;
    let mut record = Reader::new(&data[start..]);
    record.take(3)?; // content type, record version
    let fragment = record.vec16()?;

    let mut hs = Reader::new(fragment);
    if hs.u8()? != HANDSHAKE_CLIENT_HELLO {
        return None;
    }
    let len = hs.u24()?;
    // The hello must be complete inside this record.
    let mut hello = Reader::new(hs.take(len)?);

    let legacy_version = hello.u16()?;
    hello.take(32)?; // random
    hello.vec8()?; // legacy_session_id
    hello.vec16()?; // cipher_suites
    hello.vec8()?; // legacy_compression_methods

    let mut out = ClientHello {
        sni: None,
        version: legacy_version,
    };
    if hello.is_empty() {
        return Some(out); // a hello without extensions (RFC 5246 §7.4.1.2)
    }
    let mut best: Option<u16> = None;
    let mut exts = Reader::new(hello.vec16()?);
    while !exts.is_empty() {
        let kind = exts.u16()?;
        let body = exts.vec16()?;
        match kind {
            EXT_SERVER_NAME if out.sni.is_none() => out.sni = first_host_name(body),
            EXT_SUPPORTED_VERSIONS => {
                let mut list = Reader::new(body);
                let mut versions = Reader::new(list.vec8()?);
                while let Some(v) = versions.u16() {
                    if !is_grease(v) && (0x0301..=0x03ff).contains(&v) {
                        best = best.max(Some(v));
                    }
                }
            }
            _ => {}
        }
    }
    if let Some(v) = best {
        out.version = v;
    }
    Some(out)
}

/// The first non-empty `host_name` entry of a `server_name` extension body.
pub(super) fn first_host_name(body: &[u8]) -> Option<&[u8]> {
    let mut names = Reader::new(Reader::new(body).vec16()?);
    while !names.is_empty() {
        let kind = names.u8()?;
        let name = names.vec16()?;
        if kind == NAME_TYPE_HOST_NAME {
            return (!name.is_empty()).then_some(name);
        }
    }
    None
}

/// GREASE values (RFC 8701 §2): `0x?a?a` with both bytes equal.
pub(super) fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && v >> 8 == v & 0xff
}

/// Appends the `%tls.version` text: `TLS_1.0`…`TLS_1.3`, other values as `0x` and
/// four lowercase hex digits.
pub fn write_version(version: u16, out: &mut Vec<u8>) {
    let name: &[u8] = match version {
        0x0301 => b"TLS_1.0",
        0x0302 => b"TLS_1.1",
        0x0303 => b"TLS_1.2",
        0x0304 => b"TLS_1.3",
        _ => {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"0x");
            for shift in [12, 8, 4, 0] {
                out.push(HEX[usize::from((version >> shift) & 0xf)]);
            }
            return;
        }
    };
    out.extend_from_slice(name);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a ClientHello record with the given extensions (type, body).
    fn hello(legacy: u16, exts: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&legacy.to_be_bytes());
        body.extend_from_slice(&[0x11; 32]); // random
        body.extend_from_slice(&[2, 0xaa, 0xbb]); // session id
        body.extend_from_slice(&[0, 4, 0x13, 0x01, 0xc0, 0x2f]); // cipher suites
        body.extend_from_slice(&[1, 0]); // compression: null
        let mut ext_bytes = Vec::new();
        for (kind, data) in exts {
            ext_bytes.extend_from_slice(&kind.to_be_bytes());
            ext_bytes.extend_from_slice(&(data.len() as u16).to_be_bytes());
            ext_bytes.extend_from_slice(data);
        }
        body.extend_from_slice(&(ext_bytes.len() as u16).to_be_bytes());
        body.extend_from_slice(&ext_bytes);
        let mut hs = vec![
            HANDSHAKE_CLIENT_HELLO,
            0,
            (body.len() >> 8) as u8,
            body.len() as u8,
        ];
        hs.extend_from_slice(&body);
        let mut rec = vec![CONTENT_HANDSHAKE, 0x03, 0x01];
        rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
        rec.extend_from_slice(&hs);
        rec
    }

    fn sni(names: &[(u8, &[u8])]) -> Vec<u8> {
        let mut list = Vec::new();
        for (kind, name) in names {
            list.push(*kind);
            list.extend_from_slice(&(name.len() as u16).to_be_bytes());
            list.extend_from_slice(name);
        }
        let mut out = (list.len() as u16).to_be_bytes().to_vec();
        out.extend_from_slice(&list);
        out
    }

    fn versions(vs: &[u16]) -> Vec<u8> {
        let mut out = vec![(vs.len() * 2) as u8];
        for v in vs {
            out.extend_from_slice(&v.to_be_bytes());
        }
        out
    }

    #[test]
    fn tls12_hello_gives_sni_and_legacy_version() {
        let rec = hello(
            0x0303,
            &[(0x000b, vec![1, 0]), (0, sni(&[(0, b"www.example.test")]))],
        );
        let h = parse_client_hello(&rec).unwrap();
        assert_eq!(h.sni, Some(&b"www.example.test"[..]));
        assert_eq!(h.version, 0x0303);
    }

    #[test]
    fn supported_versions_wins_over_legacy_and_ignores_grease() {
        let rec = hello(
            0x0303,
            &[
                (0, sni(&[(0, b"api.example.test")])),
                (0x002b, versions(&[0x3a3a, 0x0304, 0x0303])),
            ],
        );
        let h = parse_client_hello(&rec).unwrap();
        assert_eq!(h.version, 0x0304);
        assert_eq!(h.sni, Some(&b"api.example.test"[..]));
    }

    #[test]
    fn supported_versions_outside_tls_range_fall_back_to_legacy() {
        let rec = hello(0x0301, &[(0x002b, versions(&[0x7f1c, 0x0a0a]))]);
        assert_eq!(parse_client_hello(&rec).unwrap().version, 0x0301);
    }

    #[test]
    fn first_host_name_is_taken_after_other_name_types() {
        let rec = hello(
            0x0303,
            &[(0, sni(&[(7, b"other"), (0, b"a.test"), (0, b"b.test")]))],
        );
        assert_eq!(parse_client_hello(&rec).unwrap().sni, Some(&b"a.test"[..]));
    }

    #[test]
    fn hello_after_leading_bytes_is_found_at_the_first_16_03() {
        let mut data = b"xx".to_vec();
        data.extend(hello(0x0303, &[(0, sni(&[(0, b"h.test")]))]));
        assert_eq!(parse_client_hello(&data).unwrap().sni, Some(&b"h.test"[..]));
    }

    #[test]
    fn hello_without_extensions_has_no_sni() {
        let mut rec = hello(0x0302, &[]);
        // Drop the (empty) extensions length and fix up the lengths.
        rec.truncate(rec.len() - 2);
        let hs_len = rec.len() - 5;
        rec[3..5].copy_from_slice(&(hs_len as u16).to_be_bytes());
        let body_len = hs_len - 4;
        rec[7..9].copy_from_slice(&(body_len as u16).to_be_bytes());
        let h = parse_client_hello(&rec).unwrap();
        assert_eq!((h.sni, h.version), (None, 0x0302));
    }

    #[test]
    fn incomplete_or_foreign_data_gives_none() {
        let rec = hello(0x0303, &[(0, sni(&[(0, b"www.example.test")]))]);
        for cut in 0..rec.len() {
            assert_eq!(parse_client_hello(&rec[..cut]), None, "cut at {cut}");
        }
        assert_eq!(parse_client_hello(b"GET / HTTP/1.1\r\n\r\n"), None);
        let mut server_hello = rec.clone();
        server_hello[5] = 0x02;
        assert_eq!(parse_client_hello(&server_hello), None);
    }

    #[test]
    fn version_names() {
        let text = |v| {
            let mut out = Vec::new();
            write_version(v, &mut out);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(text(0x0301), "TLS_1.0");
        assert_eq!(text(0x0304), "TLS_1.3");
        assert_eq!(text(0x0300), "0x0300");
        assert_eq!(text(0x7f1c), "0x7f1c");
    }

    #[test]
    fn no_panic_on_arbitrary_bytes() {
        // A deterministic pseudo-random walk over many short inputs that start like
        // a hello, so the parser goes deep.
        let mut state = 0x1234_5678_u32;
        for len in 0..300 {
            let mut data = vec![0x16, 0x03, 0x01];
            for _ in 0..len {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                data.push((state % 7) as u8);
            }
            let _ = parse_client_hello(&data);
        }
    }
}
