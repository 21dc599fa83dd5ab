//! HTTP/1 analyzer: header blocks, header lookup, request and status lines.
