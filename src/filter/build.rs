//! Turns a qualified identifier (`tcp src port 80`, `net 10.0.0.0/8`, `ether host ...`)
//! into tests, with libpcap's rules for which qualifiers go with which kind of value and
//! its error messages (`'tcp' modifier applied to host`...).

use super::ast::{ip_protocol, Depth, Dir, Expr, IpVersion, NetProto, Test, TestKind, Transports};
use super::names;

/// The protocol qualifier in front of a primitive (`tcp`, `ip6`, `ether`...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ProtoQual {
    Default,
    Link,
    Ip,
    Ip6,
    Arp,
    Rarp,
    Tcp,
    Udp,
    Sctp,
    Icmp,
    Icmp6,
    Igmp,
    Igrp,
    Pim,
    Vrrp,
    Carp,
    Ah,
    Esp,
}

impl ProtoQual {
    fn name(self) -> &'static str {
        match self {
            ProtoQual::Default => "",
            ProtoQual::Link => "link",
            ProtoQual::Ip => "ip",
            ProtoQual::Ip6 => "ip6",
            ProtoQual::Arp => "arp",
            ProtoQual::Rarp => "rarp",
            ProtoQual::Tcp => "tcp",
            ProtoQual::Udp => "udp",
            ProtoQual::Sctp => "sctp",
            ProtoQual::Icmp => "icmp",
            ProtoQual::Icmp6 => "icmp6",
            ProtoQual::Igmp => "igmp",
            ProtoQual::Igrp => "igrp",
            ProtoQual::Pim => "pim",
            ProtoQual::Vrrp => "vrrp",
            ProtoQual::Carp => "carp",
            ProtoQual::Ah => "ah",
            ProtoQual::Esp => "esp",
        }
    }
}

/// The direction qualifier (`src`, `dst`, `src or dst`, `src and dst`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum DirQual {
    Default,
    Src,
    Dst,
    Or,
    And,
}

impl DirQual {
    fn dir(self) -> Dir {
        match self {
            DirQual::Default | DirQual::Or => Dir::Either,
            DirQual::Src => Dir::Src,
            DirQual::Dst => Dir::Dst,
            DirQual::And => Dir::Both,
        }
    }
}

/// What kind of value the identifier is (`host`, `net`, `port`, `portrange`, `proto`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum AddrQual {
    Default,
    Host,
    Net,
    Port,
    PortRange,
    Proto,
}

/// The qualifiers in force for an identifier: written in front of it, or inherited
/// from the primitive before (`port 80 or 443`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Qual {
    pub proto: ProtoQual,
    pub dir: DirQual,
    pub addr: AddrQual,
}

/// Builds tests behind the encapsulations stepped over so far.
pub(super) struct Builder {
    pub depth: Depth,
}

type Built = Result<Expr, String>;

impl Builder {
    fn test(&self, kind: TestKind) -> Expr {
        Expr::Test(Test {
            depth: self.depth,
            kind,
        })
    }

    /// A number where an address, port or protocol is expected (`port 80`, `host 10`).
    pub fn number(&self, q: Qual, value: u32) -> Built {
        match q.addr {
            AddrQual::Default | AddrQual::Host | AddrQual::Net => {
                if q.proto == ProtoQual::Link {
                    return Err("illegal link layer address".into());
                }
                let (addr, mask) = if q.addr == AddrQual::Net {
                    promote_short_net(value)
                } else {
                    (value, u32::MAX)
                };
                self.ipv4_host(q, addr, mask)
            }
            AddrQual::Port | AddrQual::PortRange => {
                let keyword = if q.addr == AddrQual::Port {
                    "port"
                } else {
                    "portrange"
                };
                let protocols = port_transports(q.proto, keyword)?;
                let port = port_number(value)?;
                Ok(self.ports(protocols, q.dir.dir(), port, port))
            }
            AddrQual::Proto => self.protocol(q, value),
        }
    }

    /// A dotted IPv4 address or prefix (`10.1` is `10.1.0.0/16`).
    pub fn dotted(&self, q: Qual, text: &str) -> Built {
        let (value, bits) = parse_dotted(text)?;
        match q.addr {
            AddrQual::Default | AddrQual::Host | AddrQual::Net => {
                if q.proto == ProtoQual::Link {
                    return Err("illegal link layer address".into());
                }
                let shift = 32 - bits;
                self.ipv4_host(q, value << shift, u32::MAX << shift)
            }
            AddrQual::Port => Err("'port' modifier applied to ip host".into()),
            AddrQual::PortRange => Err("'portrange' modifier applied to ip host".into()),
            AddrQual::Proto => Err("'proto' modifier applied to ip host".into()),
        }
    }

    /// `net A.B.C.D/len` or `net A.B.C.D mask M.M.M.M`.
    pub fn masked_ipv4(&self, q: Qual, text: &str, mask: Mask<'_>) -> Built {
        let (value, bits) = parse_dotted(text)?;
        let addr = value << (32 - bits);
        let (mask, shown) = match mask {
            Mask::Len(len) => {
                if len > 32 {
                    return Err("mask length must be <= 32".into());
                }
                let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
                (mask, format!("{text}/{len}"))
            }
            Mask::Dotted(mask_text) => {
                let (value, bits) = parse_dotted(mask_text)?;
                (value << (32 - bits), format!("{text} mask {mask_text}"))
            }
        };
        if addr & !mask != 0 {
            return Err(format!("non-network bits set in \"{shown}\""));
        }
        if q.addr != AddrQual::Net {
            return Err("Mask syntax for networks only".into());
        }
        self.ipv4_host(q, addr, mask)
    }

    /// An IPv6 address with a prefix length (128 when none was written).
    pub fn ipv6(&self, q: Qual, addr: u128, prefix_len: u32, text: &str) -> Built {
        if prefix_len > 128 {
            return Err("mask length must be <= 128".into());
        }
        let mask = u128::MAX.checked_shl(128 - prefix_len).unwrap_or(0);
        if addr & !mask != 0 {
            return Err(format!("non-network bits set in \"{text}/{prefix_len}\""));
        }
        let what = match q.addr {
            AddrQual::Default | AddrQual::Host if prefix_len != 128 => {
                return Err("Mask syntax for networks only".into())
            }
            AddrQual::Default | AddrQual::Host => "host",
            AddrQual::Net => "net",
            _ => return Err("invalid qualifier against IPv6 address".into()),
        };
        match q.proto {
            ProtoQual::Default | ProtoQual::Ip6 => Ok(self.test(TestKind::Ipv6Address {
                dir: q.dir.dir(),
                addr,
                mask,
            })),
            ProtoQual::Link => Err(format!("link-layer modifier applied to ip6 {what}")),
            other => Err(format!("'{}' modifier applied to ip6 {what}", other.name())),
        }
    }

    /// An Ethernet address: only `ether host`/`ether src`/`ether dst`.
    pub fn mac(&self, q: Qual, mac: [u8; 6]) -> Built {
        if matches!(q.addr, AddrQual::Default | AddrQual::Host) && q.proto == ProtoQual::Link {
            Ok(self.test(TestKind::EtherAddress {
                dir: q.dir.dir(),
                mac,
            }))
        } else {
            Err("ethernet address used in non-ether expression".into())
        }
    }

    /// A name: a service (`port http`), port range (`portrange 80-90`), protocol
    /// (`proto \tcp`). Host and network names are refused: nothing is resolved.
    pub fn name(&self, q: Qual, name: &str) -> Built {
        match q.addr {
            AddrQual::Net => Err(format!(
                "unknown network '{name}' (network names are not looked up; write the address)"
            )),
            AddrQual::Default | AddrQual::Host if q.proto == ProtoQual::Link => Err(format!(
                "unknown ether host '{name}' (host names are not looked up; write the MAC address)"
            )),
            AddrQual::Default | AddrQual::Host => Err(format!(
                "unknown host '{name}' (host names are not resolved; write the address)"
            )),
            AddrQual::Port => {
                let (port, registered) =
                    names::service(name).ok_or_else(|| format!("unknown port '{name}'"))?;
                let protocols =
                    restrict_service(q.proto, registered_transports(registered), name, "port")?;
                Ok(self.ports(protocols, q.dir.dir(), port, port))
            }
            AddrQual::PortRange => {
                let (low, high, registered) = parse_port_range(name)?;
                let protocols = restrict_service(q.proto, registered, name, "portrange")?;
                Ok(self.ports(protocols, q.dir.dir(), low.min(high), low.max(high)))
            }
            AddrQual::Proto => {
                let number = match q.proto {
                    ProtoQual::Default | ProtoQual::Ip | ProtoQual::Ip6 => names::ip_protocol(name)
                        .ok_or_else(|| format!("unknown ip proto '{name}'"))?,
                    ProtoQual::Link => names::ethertype(name)
                        .ok_or_else(|| format!("unknown ether proto '{name}'"))?,
                    other => return Err(format!("'{} proto' is bogus", other.name())),
                };
                self.protocol(q, number)
            }
        }
    }

    /// `ip proto N`, `ip6 proto N`, `proto N`, `ether proto N`.
    pub fn protocol(&self, q: Qual, number: u32) -> Built {
        if q.dir != DirQual::Default {
            return Err("direction applied to 'proto'".into());
        }
        match q.proto {
            ProtoQual::Default => Ok(Expr::Any(vec![
                self.test(TestKind::Ipv4Protocol(number)),
                self.test(TestKind::Ipv6Protocol(number)),
            ])),
            ProtoQual::Ip => Ok(self.test(TestKind::Ipv4Protocol(number))),
            ProtoQual::Ip6 => Ok(self.test(TestKind::Ipv6Protocol(number))),
            ProtoQual::Link => {
                let Ok(value) = u16::try_from(number) else {
                    // No 16-bit type field can hold it.
                    return Ok(Expr::Const(false));
                };
                if value <= super::ast::ethertype::MAX_802_3_LENGTH {
                    return Err(format!(
                        "ether proto {value}: values up to 1500 are 802.3 lengths (LLC SAPs are not supported)"
                    ));
                }
                Ok(self.test(TestKind::NetProto(NetProto::from_ethertype(value))))
            }
            ProtoQual::Arp => Err("arp does not encapsulate another protocol".into()),
            ProtoQual::Rarp => Err("rarp does not encapsulate another protocol".into()),
            other => Err(format!("'{} proto' is bogus", other.name())),
        }
    }

    /// A protocol name on its own: `tcp`, `ip6`, `arp`, `icmp`...
    pub fn protocol_abbreviation(&self, proto: ProtoQual) -> Built {
        let both = |number: u8| {
            Expr::Any(vec![
                self.test(TestKind::Ipv4Protocol(number.into())),
                self.test(TestKind::Ipv6Protocol(number.into())),
            ])
        };
        let v4 = |number: u8| self.test(TestKind::Ipv4Protocol(number.into()));
        Ok(match proto {
            ProtoQual::Tcp => both(ip_protocol::TCP),
            ProtoQual::Udp => both(ip_protocol::UDP),
            ProtoQual::Sctp => both(ip_protocol::SCTP),
            ProtoQual::Pim => both(ip_protocol::PIM),
            ProtoQual::Ah => both(ip_protocol::AH),
            ProtoQual::Esp => both(ip_protocol::ESP),
            ProtoQual::Icmp => v4(ip_protocol::ICMP),
            ProtoQual::Igmp => v4(ip_protocol::IGMP),
            ProtoQual::Igrp => v4(ip_protocol::IGRP),
            ProtoQual::Vrrp | ProtoQual::Carp => v4(ip_protocol::VRRP),
            ProtoQual::Icmp6 => self.test(TestKind::Ipv6Protocol(ip_protocol::ICMPV6.into())),
            ProtoQual::Ip => self.test(TestKind::NetProto(NetProto::Ipv4)),
            ProtoQual::Ip6 => self.test(TestKind::NetProto(NetProto::Ipv6)),
            ProtoQual::Arp => self.test(TestKind::NetProto(NetProto::Arp)),
            ProtoQual::Rarp => self.test(TestKind::NetProto(NetProto::Rarp)),
            ProtoQual::Link => return Err("link layer applied in wrong context".into()),
            ProtoQual::Default => return Err("expected a protocol".into()),
        })
    }

    /// `vlan [id]`.
    pub fn vlan(&self, id: Option<u32>) -> Built {
        if self.depth.mpls_labels > 0 {
            return Err("no VLAN match after MPLS".into());
        }
        if self.depth.pppoe_headers > 0 {
            return Err("no VLAN support for PPP".into());
        }
        let id = match id {
            Some(id) if id > 4095 => {
                return Err(format!("VLAN tag {id} greater than maximum 4095"));
            }
            Some(id) => Some(id as u16),
            None => None,
        };
        Ok(self.test(TestKind::Vlan { id }))
    }

    /// `mpls [label]` (after `pppoes`, PPP's MPLS protocol).
    pub fn mpls(&self, label: Option<u32>) -> Built {
        if let Some(label) = label.filter(|&l| l > 0xF_FFFF) {
            return Err(format!("MPLS label {label} greater than maximum 1048575"));
        }
        Ok(self.test(TestKind::Mpls { label }))
    }

    /// `pppoes [session]`.
    pub fn pppoes(&self, session: Option<u32>) -> Built {
        if self.depth.mpls_labels > 0 {
            return Err("unsupported protocol over mpls".into());
        }
        let session = match session {
            Some(s) if s > 0xFFFF => {
                return Err(format!(
                    "PPPoE session number {s} greater than maximum 65535"
                ));
            }
            s => s.map(|s| s as u16),
        };
        Ok(self.test(TestKind::Pppoes { session }))
    }

    /// `geneve [vni]`.
    pub fn geneve(&self, vni: Option<u32>) -> Built {
        if self.depth.mpls_labels > 0 {
            // libpcap would go on testing MPLS labels inside the Geneve payload.
            return Err("'geneve' after 'mpls' is not supported".into());
        }
        if let Some(vni) = vni.filter(|&v| v > 0xFF_FFFF) {
            return Err(format!("Geneve VNI {vni} greater than maximum 16777215"));
        }
        Ok(self.test(TestKind::Geneve { vni }))
    }

    /// An IPv4 address test in the headers the protocol qualifier allows.
    fn ipv4_host(&self, q: Qual, addr: u32, mask: u32) -> Built {
        let what = if q.addr == AddrQual::Net {
            "net"
        } else {
            "host"
        };
        let dir = q.dir.dir();
        let one = |carrier| {
            self.test(TestKind::Ipv4Address {
                carrier,
                dir,
                addr,
                mask,
            })
        };
        match q.proto {
            // Over MPLS libpcap looks for the address in IPv4 only.
            ProtoQual::Default if self.depth.mpls_labels > 0 => Ok(one(NetProto::Ipv4)),
            ProtoQual::Default => Ok(Expr::Any(vec![
                one(NetProto::Ipv4),
                one(NetProto::Arp),
                one(NetProto::Rarp),
            ])),
            ProtoQual::Ip => Ok(one(NetProto::Ipv4)),
            ProtoQual::Arp => Ok(one(NetProto::Arp)),
            ProtoQual::Rarp => Ok(one(NetProto::Rarp)),
            ProtoQual::Link => Err(format!("link-layer modifier applied to {what}")),
            ProtoQual::Ip6 => Err(format!("'ip6' modifier applied to ip {what}")),
            other => Err(format!("'{}' modifier applied to {what}", other.name())),
        }
    }

    fn ports(&self, protocols: Transports, dir: Dir, low: u16, high: u16) -> Expr {
        let one = |ip| {
            self.test(TestKind::Port {
                ip,
                protocols,
                dir,
                low,
                high,
            })
        };
        Expr::Any(vec![one(IpVersion::V4), one(IpVersion::V6)])
    }
}

/// How a masked IPv4 network was written.
pub(super) enum Mask<'a> {
    Len(u32),
    Dotted(&'a str),
}

/// A short network number names the top bytes: `net 10` is 10.0.0.0/8 (libpcap).
fn promote_short_net(mut value: u32) -> (u32, u32) {
    let mut mask = u32::MAX;
    while value != 0 && value & 0xFF00_0000 == 0 {
        value <<= 8;
        mask <<= 8;
    }
    (value, mask)
}

/// `a.b[.c[.d]]` as a number and its width in bits (each part one byte).
fn parse_dotted(text: &str) -> Result<(u32, u32), String> {
    let invalid = || format!("invalid IPv4 address '{text}'");
    let mut value = 0u32;
    let mut bits = 0;
    for part in text.split('.') {
        let byte: u8 = part.parse().map_err(|_| invalid())?;
        if bits == 32 {
            return Err(invalid());
        }
        value = (value << 8) | u32::from(byte);
        bits += 8;
    }
    Ok((value, bits))
}

fn port_number(value: u32) -> Result<u16, String> {
    u16::try_from(value).map_err(|_| format!("illegal port number {value} > 65535"))
}

/// The transports a `port`/`portrange` primitive may carry under a protocol qualifier.
fn port_transports(proto: ProtoQual, keyword: &str) -> Result<Transports, String> {
    match proto {
        ProtoQual::Default => Ok(Transports::ALL),
        ProtoQual::Tcp => Ok(Transports::TCP),
        ProtoQual::Udp => Ok(Transports::UDP),
        ProtoQual::Sctp => Ok(Transports::SCTP),
        _ => Err(format!("illegal qualifier of '{keyword}'")),
    }
}

/// What a service name stands for: a service registered for both TCP and UDP on the
/// same port means any transport (libpcap's `PROTO_UNDEF`).
fn registered_transports(registered: names::ServiceProtocols) -> Transports {
    match (registered.tcp, registered.udp) {
        (true, true) => Transports::ALL,
        (true, false) => Transports::TCP,
        _ => Transports::UDP,
    }
}

/// Applies a protocol qualifier to a named service's transports.
fn restrict_service(
    proto: ProtoQual,
    registered: Transports,
    name: &str,
    keyword: &str,
) -> Result<Transports, String> {
    let only = |wanted: Transports, wanted_name: &str| {
        if registered == Transports::ALL || registered == wanted {
            Ok(wanted)
        } else {
            let actual = if registered.tcp { "tcp" } else { "udp" };
            Err(format!("{keyword} '{name}' is {actual}, not {wanted_name}"))
        }
    };
    match proto {
        ProtoQual::Default => Ok(registered),
        ProtoQual::Tcp => only(Transports::TCP, "tcp"),
        ProtoQual::Udp => only(Transports::UDP, "udp"),
        ProtoQual::Sctp => only(Transports::SCTP, "sctp"),
        _ => Err(format!("illegal qualifier of '{keyword}'")),
    }
}

/// `N-M` with numbers or service names (split at the first `-`, like libpcap).
fn parse_port_range(text: &str) -> Result<(u16, u16, Transports), String> {
    let unknown = || format!("unknown port in range '{text}'");
    let (first, second) = text.split_once('-').ok_or_else(unknown)?;
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if numeric(first) && numeric(second) {
        let number = |s: &str| {
            s.parse::<u32>()
                .map_err(|_| format!("illegal port number {s} > 65535"))
                .and_then(port_number)
        };
        return Ok((number(first)?, number(second)?, Transports::ALL));
    }
    let (low, low_registered) = names::service(first).ok_or_else(unknown)?;
    let (high, high_registered) = names::service(second).ok_or_else(unknown)?;
    let low_transports = registered_transports(low_registered);
    let transports = if low_transports == registered_transports(high_registered) {
        low_transports
    } else {
        Transports::ALL
    };
    Ok((low, high, transports))
}
