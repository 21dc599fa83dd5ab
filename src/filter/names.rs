//! The words of the filter language: keywords, named constants, and the service,
//! protocol and ethertype names a filter may use instead of numbers.
//!
//! libpcap looks services and protocols up in `/etc/services` and `/etc/protocols`; we
//! carry the common entries of Debian's `netbase` (which follows the IANA registries)
//! so that a filter means the same on every machine.

/// A reserved word of the filter language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Keyword {
    Src,
    Dst,
    Host,
    Net,
    Mask,
    Port,
    PortRange,
    Proto,
    Less,
    Greater,
    And,
    Or,
    Not,
    Len,
    Vlan,
    /// `ether`, `link` and their libpcap synonyms: the link-layer header.
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
    /// A libpcap keyword this implementation does not support (the text says which).
    Unsupported(&'static str),
}

/// The keyword spelled `word`, if any (case-sensitive, as in libpcap).
pub(super) fn keyword(word: &str) -> Option<Keyword> {
    use Keyword::*;
    Some(match word {
        "src" => Src,
        "dst" => Dst,
        "host" => Host,
        "net" => Net,
        "mask" => Mask,
        "port" => Port,
        "portrange" => PortRange,
        "proto" => Proto,
        "less" => Less,
        "greater" => Greater,
        "and" => And,
        "or" => Or,
        "not" => Not,
        "len" | "length" => Len,
        "vlan" => Vlan,
        "ether" | "link" | "ppp" | "slip" | "fddi" | "tr" | "wlan" => Link,
        "ip" => Ip,
        "ip6" => Ip6,
        "arp" => Arp,
        "rarp" => Rarp,
        "tcp" => Tcp,
        "udp" => Udp,
        "sctp" => Sctp,
        "icmp" => Icmp,
        "icmp6" => Icmp6,
        "igmp" => Igmp,
        "igrp" => Igrp,
        "pim" => Pim,
        "vrrp" => Vrrp,
        "carp" => Carp,
        "ah" => Ah,
        "esp" => Esp,
        _ => {
            return UNSUPPORTED_KEYWORDS
                .iter()
                .find(|&&k| k == word)
                .map(|&k| Unsupported(k))
        }
    })
}

/// libpcap keywords outside what rustniffer's filter implements: rejected by name rather
/// than mistaken for host names.
const UNSUPPORTED_KEYWORDS: &[&str] = &[
    "gateway",
    "broadcast",
    "multicast",
    "protochain",
    "byte",
    "inbound",
    "outbound",
    "ifindex",
    "mpls",
    "pppoed",
    "pppoes",
    "geneve",
    "vxlan",
    "radio",
    "atalk",
    "aarp",
    "decnet",
    "lat",
    "sca",
    "moprc",
    "mopdl",
    "iso",
    "esis",
    "es-is",
    "isis",
    "is-is",
    "l1",
    "l2",
    "iih",
    "lsp",
    "snp",
    "csnp",
    "psnp",
    "clnp",
    "stp",
    "ipx",
    "netbeui",
    "type",
    "subtype",
    "dir",
    "direction",
    "addr1",
    "address1",
    "addr2",
    "address2",
    "addr3",
    "address3",
    "addr4",
    "address4",
    "ra",
    "ta",
    "lane",
    "llc",
    "metac",
    "bcc",
    "oam",
    "oamf4",
    "oamf4ec",
    "oamf4sc",
    "sc",
    "ilmic",
    "vpi",
    "vci",
    "connectmsg",
    "metaconnect",
    "on",
    "ifname",
    "rnr",
    "rulenum",
    "reason",
    "rset",
    "ruleset",
    "srnr",
    "subrulenum",
    "action",
    "fisu",
    "lssu",
    "lsu",
    "msu",
    "hfisu",
    "hlssu",
    "hmsu",
    "sio",
    "opc",
    "dpc",
    "sls",
    "hsio",
    "hopc",
    "hdpc",
    "hsls",
];

/// Named constants usable wherever a number is: header field offsets and values.
pub(super) fn named_constant(word: &str) -> Option<u32> {
    NAMED_CONSTANTS
        .iter()
        .find(|(name, _)| *name == word)
        .map(|&(_, value)| value)
}

const NAMED_CONSTANTS: &[(&str, u32)] = &[
    // Offset of the TCP flags byte and the flag bits (RFC 9293 §3.1, RFC 3168 for ECE/CWR).
    ("tcpflags", 13),
    ("tcp-fin", 0x01),
    ("tcp-syn", 0x02),
    ("tcp-rst", 0x04),
    ("tcp-push", 0x08),
    ("tcp-ack", 0x10),
    ("tcp-urg", 0x20),
    ("tcp-ece", 0x40),
    ("tcp-cwr", 0x80),
    // ICMP type/code offsets and message types (RFC 792, RFC 950, RFC 1256).
    ("icmptype", 0),
    ("icmpcode", 1),
    ("icmp-echoreply", 0),
    ("icmp-unreach", 3),
    ("icmp-sourcequench", 4),
    ("icmp-redirect", 5),
    ("icmp-echo", 8),
    ("icmp-routeradvert", 9),
    ("icmp-routersolicit", 10),
    ("icmp-timxceed", 11),
    ("icmp-paramprob", 12),
    ("icmp-tstamp", 13),
    ("icmp-tstampreply", 14),
    ("icmp-ireq", 15),
    ("icmp-ireqreply", 16),
    ("icmp-maskreq", 17),
    ("icmp-maskreply", 18),
    // ICMPv6 type/code offsets and message types (RFC 4443, 2710, 4861, 2894, 4620,
    // 3122, 3810, 6275, 3971, 4286).
    ("icmp6type", 0),
    ("icmp6code", 1),
    ("icmp6-destinationunreach", 1),
    ("icmp6-packettoobig", 2),
    ("icmp6-timeexceeded", 3),
    ("icmp6-parameterproblem", 4),
    ("icmp6-echo", 128),
    ("icmp6-echoreply", 129),
    ("icmp6-multicastlistenerquery", 130),
    ("icmp6-multicastlistenerreportv1", 131),
    ("icmp6-multicastlistenerdone", 132),
    ("icmp6-routersolicit", 133),
    ("icmp6-routeradvert", 134),
    ("icmp6-neighborsolicit", 135),
    ("icmp6-neighboradvert", 136),
    ("icmp6-redirect", 137),
    ("icmp6-routerrenum", 138),
    ("icmp6-nodeinformationquery", 139),
    ("icmp6-nodeinformationresponse", 140),
    ("icmp6-ineighbordiscoverysolicit", 141),
    ("icmp6-ineighbordiscoveryadvert", 142),
    ("icmp6-multicastlistenerreportv2", 143),
    ("icmp6-homeagentdiscoveryrequest", 144),
    ("icmp6-homeagentdiscoveryreply", 145),
    ("icmp6-mobileprefixsolicit", 146),
    ("icmp6-mobileprefixadvert", 147),
    ("icmp6-certpathsolicit", 148),
    ("icmp6-certpathadvert", 149),
    ("icmp6-multicastrouteradvert", 151),
    ("icmp6-multicastroutersolicit", 152),
    ("icmp6-multicastrouterterm", 153),
];

/// Which transport protocols a service name is registered for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct ServiceProtocols {
    pub tcp: bool,
    pub udp: bool,
}

/// A service (`port http`): its port and protocols.
pub(super) fn service(name: &str) -> Option<(u16, ServiceProtocols)> {
    let (_, port, tcp, udp) = SERVICES
        .iter()
        .find(|(names, ..)| names.split(' ').any(|n| n == name))?;
    Some((
        *port,
        ServiceProtocols {
            tcp: *tcp,
            udp: *udp,
        },
    ))
}

/// (names, port, registered for TCP, registered for UDP), from netbase's /etc/services.
const SERVICES: &[(&str, u16, bool, bool)] = &[
    ("ftp-data", 20, true, false),
    ("ftp", 21, true, false),
    ("ssh", 22, true, false),
    ("telnet", 23, true, false),
    ("smtp mail", 25, true, false),
    ("whois nicname", 43, true, false),
    ("domain", 53, true, true),
    ("bootps", 67, false, true),
    ("bootpc", 68, false, true),
    ("tftp", 69, false, true),
    ("finger", 79, true, false),
    ("http www", 80, true, false),
    ("kerberos kerberos5 krb5 kerberos-sec", 88, true, true),
    ("pop3 pop-3", 110, true, false),
    ("sunrpc portmapper", 111, true, true),
    ("auth authentication tap ident", 113, true, false),
    ("nntp readnews untp", 119, true, false),
    ("ntp", 123, false, true),
    ("netbios-ns", 137, false, true),
    ("netbios-dgm", 138, false, true),
    ("netbios-ssn", 139, true, false),
    ("imap2 imap", 143, true, false),
    ("snmp", 161, true, true),
    ("snmp-trap snmptrap", 162, true, true),
    ("bgp", 179, true, false),
    ("ldap", 389, true, true),
    ("https", 443, true, true),
    ("microsoft-ds", 445, true, false),
    ("isakmp", 500, false, true),
    ("syslog", 514, false, true),
    ("printer spooler", 515, true, false),
    ("dhcpv6-client", 546, false, true),
    ("rtsp", 554, true, true),
    ("submission", 587, true, false),
    ("ipp", 631, true, false),
    ("ldaps", 636, true, true),
    ("rsync", 873, true, false),
    ("ftps", 990, true, false),
    ("telnets", 992, true, false),
    ("imaps", 993, true, false),
    ("pop3s", 995, true, false),
    ("socks", 1080, true, false),
    ("openvpn", 1194, true, true),
    ("ms-sql-s", 1433, true, false),
    ("radius", 1812, true, true),
    ("nfs", 2049, true, true),
    ("mysql", 3306, true, false),
    ("ms-wbt-server", 3389, true, false),
    ("svn subversion", 3690, true, false),
    ("sip", 5060, true, true),
    ("xmpp-client jabber-client", 5222, true, false),
    ("mdns", 5353, false, true),
    ("postgresql postgres", 5432, true, false),
    ("amqp", 5672, true, false),
    ("x11 x11-0", 6000, true, false),
    ("redis", 6379, true, false),
    ("http-alt webcache", 8080, true, false),
    ("tproxy", 8081, true, false),
    ("git", 9418, true, false),
    ("zabbix-agent", 10050, true, false),
];

/// An IP protocol number by name (`proto \tcp`), from netbase's /etc/protocols (IANA).
pub(super) fn ip_protocol(name: &str) -> Option<u32> {
    IP_PROTOCOLS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|&(_, number)| number)
}

const IP_PROTOCOLS: &[(&str, u32)] = &[
    ("ip", 0),
    ("hopopt", 0),
    ("icmp", 1),
    ("igmp", 2),
    ("ggp", 3),
    ("ipencap", 4),
    ("st", 5),
    ("tcp", 6),
    ("egp", 8),
    ("igp", 9),
    ("pup", 12),
    ("udp", 17),
    ("hmp", 20),
    ("xns-idp", 22),
    ("rdp", 27),
    ("iso-tp4", 29),
    ("dccp", 33),
    ("xtp", 36),
    ("ddp", 37),
    ("idpr-cmtp", 38),
    ("ipv6", 41),
    ("ipv6-route", 43),
    ("ipv6-frag", 44),
    ("idrp", 45),
    ("rsvp", 46),
    ("gre", 47),
    ("esp", 50),
    ("ah", 51),
    ("skip", 57),
    ("ipv6-icmp", 58),
    ("ipv6-nonxt", 59),
    ("ipv6-opts", 60),
    ("rspf", 73),
    ("vmtp", 81),
    ("eigrp", 88),
    ("ospf", 89),
    ("ax.25", 93),
    ("ipip", 94),
    ("etherip", 97),
    ("encap", 98),
    ("pim", 103),
    ("ipcomp", 108),
    ("vrrp", 112),
    ("l2tp", 115),
    ("isis", 124),
    ("sctp", 132),
    ("fc", 133),
    ("mobility-header", 135),
    ("udplite", 136),
    ("mpls-in-ip", 137),
    ("manet", 138),
    ("hip", 139),
    ("shim6", 140),
    ("wesp", 141),
    ("rohc", 142),
    ("ethernet", 143),
];

/// An ethertype by name (`ether proto \ip`), as libpcap's built-in table has them (IEEE
/// registry values).
pub(super) fn ethertype(name: &str) -> Option<u32> {
    ETHERTYPES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|&(_, value)| value)
}

const ETHERTYPES: &[(&str, u32)] = &[
    ("ip", 0x0800),
    ("arp", 0x0806),
    ("rarp", 0x8035),
    ("ip6", 0x86DD),
    ("atalk", 0x809B),
    ("aarp", 0x80F3),
    ("decnet", 0x6003),
    ("lat", 0x6004),
    ("sca", 0x6007),
    ("moprc", 0x6002),
    ("mopdl", 0x6001),
    ("loopback", 0x9000),
];
