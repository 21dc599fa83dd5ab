//! TLS analyzer: the ClientHello's server name and version.
