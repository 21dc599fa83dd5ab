//! Drops tests whose outcome cannot change the result, as libpcap's optimiser does.
//!
//! This matters only for frames too short for a test's reads: BPF rejects a frame when
//! a read falls past its end, and libpcap's optimiser deletes reads whose result is
//! already decided. In `tcp[100:4] = 0 or ip`, once the frame is known to be IPv4 the
//! whole filter is true, so tcpdump never reads `tcp[100:4]` and accepts a short IPv4
//! frame. We reproduce the common case. Each test starts with checks of the link and IP
//! protocol fields (its preconditions); in an `or`, a test whose first few
//! preconditions already make a later alternative true is replaced by those
//! preconditions, and in an `and`, a test whose preconditions make a later operand false
//! is replaced by "false". Both rewrites leave the result unchanged for frames long
//! enough to read; they depend on the link type, because libpcap cannot remember the
//! outcome of a check that takes several comparisons (IPv6 on BSD loopback).

use super::ast::{Depth, Expr, IpVersion, Layer, NetProto, Test, TestKind, Transports, Value};
use super::eval::Framing;

/// How far ahead in one `or`/`and` list a test looks for an operand it decides, and how
/// many of its first preconditions are considered: the rewrite is optional, so long
/// expressions stay cheap to compile.
const LOOKAHEAD: usize = 64;
const MAX_FACTS: usize = 8;

/// A fact a test establishes, at a VLAN depth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fact {
    /// The link layer announces this protocol.
    Carries(NetProto, Depth),
    /// IPv4 with this protocol field.
    Ipv4Protocol(u32, Depth),
    /// IPv6 with this next header in the fixed header.
    Ipv6NextHeader(u32, Depth),
}

/// Rewrites the tree for one link type (bounded depth: the parser limits nesting).
pub(super) fn simplify(expr: Expr, framing: Framing) -> Expr {
    match expr {
        Expr::Any(items) => {
            let mut items: Vec<Expr> = items.into_iter().map(|e| simplify(e, framing)).collect();
            for i in 0..items.len() {
                let facts = preconditions(&items[i], framing);
                let later = &items[i + 1..];
                let deciding = (1..=facts.len()).find(|&k| {
                    later
                        .iter()
                        .take(LOOKAHEAD)
                        .any(|item| decide(item, &facts[..k]) == Some(true))
                });
                if let Some(k) = deciding {
                    items[i] = facts_as_expr(&facts[..k]);
                }
            }
            Expr::Any(items)
        }
        Expr::All(items) => {
            let mut items: Vec<Expr> = items.into_iter().map(|e| simplify(e, framing)).collect();
            for i in 0..items.len() {
                let facts = preconditions(&items[i], framing);
                let contradicted = !facts.is_empty()
                    && items[i + 1..]
                        .iter()
                        .take(LOOKAHEAD)
                        .any(|item| decide(item, &facts) == Some(false));
                if contradicted {
                    items[i] = Expr::Const(false);
                }
            }
            Expr::All(items)
        }
        Expr::Not(inner) => Expr::Not(Box::new(simplify(*inner, framing))),
        other => other,
    }
}

/// The facts established, in the order they are checked, before `expr` can hold; cut
/// where libpcap stops remembering on this link.
fn preconditions(expr: &Expr, framing: Framing) -> Vec<Fact> {
    let mut facts = match expr {
        Expr::Test(test) => test_preconditions(test),
        Expr::Compare { lhs, rhs, .. } => {
            let mut facts = value_preconditions(lhs);
            facts.extend(value_preconditions(rhs));
            facts
        }
        Expr::All(items) => items
            .iter()
            .flat_map(|item| preconditions(item, framing))
            .take(MAX_FACTS)
            .collect(),
        Expr::Any(items) => {
            // Only a common beginning of every alternative.
            let mut common = items
                .first()
                .map(|item| preconditions(item, framing))
                .unwrap_or_default();
            for item in items.iter().skip(1) {
                let facts = preconditions(item, framing);
                let shared = common
                    .iter()
                    .zip(&facts)
                    .take_while(|(a, b)| a == b)
                    .count();
                common.truncate(shared);
            }
            common
        }
        Expr::Not(_) | Expr::Const(_) => Vec::new(),
    };
    if let Some(cut) = facts.iter().position(
        |fact| matches!(fact, Fact::Carries(proto, _) if !framing.single_comparison(*proto)),
    ) {
        facts.truncate(cut);
    }
    facts.truncate(MAX_FACTS);
    facts
}

/// The single protocol of a set, if it has exactly one.
fn single_protocol(protocols: Transports) -> Option<u32> {
    match (protocols.tcp, protocols.udp, protocols.sctp) {
        (true, false, false) => Some(6),
        (false, true, false) => Some(17),
        (false, false, true) => Some(132),
        _ => None,
    }
}

fn test_preconditions(test: &Test) -> Vec<Fact> {
    let v = test.depth;
    match test.kind {
        TestKind::NetProto(proto) => vec![Fact::Carries(proto, v)],
        TestKind::Ipv4Protocol(protocol) => vec![
            Fact::Carries(NetProto::Ipv4, v),
            Fact::Ipv4Protocol(protocol, v),
        ],
        TestKind::Ipv6NextHeader(protocol) => vec![
            Fact::Carries(NetProto::Ipv6, v),
            Fact::Ipv6NextHeader(protocol, v),
        ],
        TestKind::Ipv6Protocol(_) | TestKind::Ipv6Address { .. } => {
            vec![Fact::Carries(NetProto::Ipv6, v)]
        }
        TestKind::Ipv4Address { carrier, .. } => vec![Fact::Carries(carrier, v)],
        TestKind::Port { ip, protocols, .. } => {
            let (proto, next): (NetProto, fn(u32, Depth) -> Fact) = match ip {
                IpVersion::V4 => (NetProto::Ipv4, Fact::Ipv4Protocol),
                IpVersion::V6 => (NetProto::Ipv6, Fact::Ipv6NextHeader),
            };
            let mut facts = vec![Fact::Carries(proto, v)];
            facts.extend(single_protocol(protocols).map(|p| next(p, v)));
            facts
        }
        TestKind::EtherAddress { .. }
        | TestKind::Vlan { .. }
        | TestKind::Mpls { .. }
        | TestKind::Pppoes { .. }
        | TestKind::Geneve { .. } => Vec::new(),
    }
}

fn value_preconditions(value: &Value) -> Vec<Fact> {
    match value {
        Value::Const(_) | Value::WireLen => Vec::new(),
        Value::Neg(inner) => value_preconditions(inner),
        Value::Binary { lhs, rhs, .. } => {
            let mut facts = value_preconditions(lhs);
            facts.extend(value_preconditions(rhs));
            facts
        }
        Value::Load {
            layer,
            index,
            depth,
            ..
        } => {
            let mut facts = value_preconditions(index);
            let v = *depth;
            match *layer {
                Layer::Link => {}
                Layer::Network(proto) => facts.push(Fact::Carries(proto, v)),
                Layer::AfterIpv4(protocol) => {
                    facts.push(Fact::Carries(NetProto::Ipv4, v));
                    facts.push(Fact::Ipv4Protocol(protocol.into(), v));
                }
                Layer::Icmp6 => {
                    facts.push(Fact::Carries(NetProto::Ipv6, v));
                    facts.push(Fact::Ipv6NextHeader(58, v));
                }
            }
            facts
        }
    }
}

/// The facts as a test: all of them hold.
fn facts_as_expr(facts: &[Fact]) -> Expr {
    let tests = facts
        .iter()
        .map(|fact| {
            let (kind, depth) = match *fact {
                Fact::Carries(proto, v) => (TestKind::NetProto(proto), v),
                Fact::Ipv4Protocol(protocol, v) => (TestKind::Ipv4Protocol(protocol), v),
                Fact::Ipv6NextHeader(protocol, v) => (TestKind::Ipv6NextHeader(protocol), v),
            };
            Expr::Test(Test { depth, kind })
        })
        .collect();
    Expr::All(tests)
}

/// Whether two facts cannot both hold (the same field with different values).
fn conflict(a: Fact, b: Fact) -> bool {
    use Fact::*;
    match (a, b) {
        (Carries(p, v), Carries(q, w)) => v == w && p != q,
        (Ipv4Protocol(n, v), Ipv4Protocol(m, w)) | (Ipv6NextHeader(n, v), Ipv6NextHeader(m, w)) => {
            v == w && n != m
        }
        (Carries(p, v), Ipv4Protocol(_, w)) | (Ipv4Protocol(_, w), Carries(p, v)) => {
            v == w && p != NetProto::Ipv4
        }
        (Carries(p, v), Ipv6NextHeader(_, w)) | (Ipv6NextHeader(_, w), Carries(p, v)) => {
            v == w && p != NetProto::Ipv6
        }
        (Ipv4Protocol(_, v), Ipv6NextHeader(_, w)) | (Ipv6NextHeader(_, w), Ipv4Protocol(_, v)) => {
            v == w
        }
    }
}

/// What a fact-shaped test must be under `facts`, if they decide it.
fn decide_fact(wanted: Fact, facts: &[Fact]) -> Option<bool> {
    if facts.contains(&wanted) {
        Some(true)
    } else if facts.iter().any(|&f| conflict(f, wanted)) {
        Some(false)
    } else {
        None
    }
}

/// The value `expr` must have whenever all `facts` hold, if they decide it.
fn decide(expr: &Expr, facts: &[Fact]) -> Option<bool> {
    match expr {
        Expr::Const(value) => Some(*value),
        Expr::Not(inner) => decide(inner, facts).map(|value| !value),
        Expr::All(items) => {
            let mut all_true = true;
            for item in items {
                match decide(item, facts) {
                    Some(false) => return Some(false),
                    Some(true) => {}
                    None => all_true = false,
                }
            }
            all_true.then_some(true)
        }
        Expr::Any(items) => {
            let mut all_false = true;
            for item in items {
                match decide(item, facts) {
                    Some(true) => return Some(true),
                    Some(false) => {}
                    None => all_false = false,
                }
            }
            all_false.then_some(false)
        }
        Expr::Test(test) => {
            let v = test.depth;
            match test.kind {
                TestKind::NetProto(proto) => decide_fact(Fact::Carries(proto, v), facts),
                TestKind::Ipv4Protocol(p) => decide_fact(Fact::Ipv4Protocol(p, v), facts),
                TestKind::Ipv6NextHeader(p) => decide_fact(Fact::Ipv6NextHeader(p, v), facts),
                TestKind::Ipv6Protocol(p) => {
                    // Next header `p` directly decides it; any other next header but the
                    // fragment header (44) rules it out.
                    let known_next = facts.iter().find_map(|f| match *f {
                        Fact::Ipv6NextHeader(next, w) if w == v => Some(next),
                        _ => None,
                    });
                    match known_next {
                        Some(next) if next == p => Some(true),
                        Some(next) if next != 44 => Some(false),
                        Some(_) => None,
                        None => decide_fact(Fact::Carries(NetProto::Ipv6, v), facts)
                            .filter(|holds| !holds),
                    }
                }
                _ => contradicted(&test_preconditions(test), facts),
            }
        }
        Expr::Compare { lhs, rhs, .. } => {
            let mut needs = value_preconditions(lhs);
            needs.extend(value_preconditions(rhs));
            contradicted(&needs, facts)
        }
    }
}

/// `Some(false)` when a test's preconditions contradict the facts.
fn contradicted(needs: &[Fact], facts: &[Fact]) -> Option<bool> {
    needs
        .iter()
        .any(|&need| facts.iter().any(|&f| conflict(f, need)))
        .then_some(false)
}
