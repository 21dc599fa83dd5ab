//! What a connection's TLS handshake said, kept for its exchanges' records
//! (`%tls.sni`, `%tls.alpn`, `%tls.version`, `%tls.cipher` in `messages` mode).

/// The handshake facts of one connection. Owned and small: filled once from the
/// ClientHello and the ServerHello, then only read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsFacts {
    /// The ClientHello's host_name (RFC 6066 §3).
    pub sni: Option<Box<[u8]>>,
    /// The ALPN protocols the client offered, in its order (RFC 7301 §3.1).
    pub offered_alpn: Vec<Box<[u8]>>,
    /// The protocol the server chose.
    pub chosen_alpn: Option<Box<[u8]>>,
    /// The highest version the client offered (supported_versions, else legacy).
    pub offered_version: Option<u16>,
    /// The version the server chose (supported_versions, else legacy).
    pub version: Option<u16>,
    /// The cipher suite the server chose.
    pub cipher: Option<u16>,
}

impl TlsFacts {
    /// `%tls.alpn`: the chosen protocol, else the offered list joined by commas.
    pub fn alpn(&self, out: &mut Vec<u8>) -> bool {
        if let Some(chosen) = &self.chosen_alpn {
            out.extend_from_slice(chosen);
            return true;
        }
        for (i, name) in self.offered_alpn.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(name);
        }
        !self.offered_alpn.is_empty()
    }

    /// `%tls.version`: the chosen version, else the highest offered.
    pub fn version(&self) -> Option<u16> {
        self.version.or(self.offered_version)
    }

    /// Whether the server chose HTTP/2.
    pub fn is_h2(&self) -> bool {
        self.chosen_alpn.as_deref() == Some(b"h2")
    }
}
