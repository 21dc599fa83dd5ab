//! The format language (SPEC §5, §6): parsed once into a [`Template`], rendered per
//! exchange into the caller's buffer, with the `-u`/`-x` encodings.
//!
//! This module only reads [`crate::exchange::Exchange`] values; it never sees
//! packets or connections, and it tells the exchange layer what to keep through
//! [`Template::needs`].

mod conn_fields;
mod encode;
mod keywords;
mod render;
mod strftime;
mod template;

#[cfg(test)]
mod tests;

pub use encode::Encoding;
pub(crate) use render::{six_digits, write_ip, write_micros, write_u64};
pub use render::{OpRenderer, RenderOptions, Value};
pub use template::{edit_distance, FormatError, Template};

/// The default format of `--connections`: one line per connection that answers whether
/// it was reused, who closed it, how and when.
pub const DEFAULT_CONNECTION_FORMAT: &str = "%connection.timestamp(%Y-%m-%d %T) %source.ip:%source.port -> %dest.ip:%dest.port %protocol(tcp) %conn.state %conn.history dur=%conn.duration hs=%conn.handshake.time ex=%conn.exchanges idle.max=%conn.idle.max idle.before_close=%conn.idle.before_close close=%conn.close.how by=%conn.close.by pkts=%conn.client.packets/%conn.server.packets bytes=%conn.client.bytes/%conn.server.bytes retx=%conn.client.retransmitted/%conn.server.retransmitted";

/// The format used without `-l`, `-a` or `-r` (SPEC §1): Apache common-log style.
pub const DEFAULT_FORMAT: &str = "%source.ip - - [%request.timestamp(%d/%b/%Y:%T %z)] \"%request.line\" %response.code %response.header.content-length(0) \"%request.header.referer()\" \"%request.header.user-agent()\"";

/// The format `-r` stands for.
pub const RAW_FORMAT: &str = "%request%response";

/// Every keyword with its parameters and a one-line meaning, for `--help`, in a
/// stable order. `%-` comes last.
pub fn keywords_help() -> &'static [(&'static str, &'static str)] {
    static HELP: std::sync::OnceLock<Vec<(&'static str, &'static str)>> =
        std::sync::OnceLock::new();
    HELP.get_or_init(|| {
        keywords::KEYWORDS
            .iter()
            .map(|kw| (kw.usage, kw.help))
            .chain(std::iter::once((
                "%-",
                "nothing: ends a keyword before name characters",
            )))
            .collect()
    })
}
