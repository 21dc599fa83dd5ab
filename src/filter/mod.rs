//! The packet filter (`-p`): tcpdump's expression language, applied to every captured
//! frame before anything else looks at it.
//!
//! The expression is parsed once ([`parse`]) into a tree of tests ([`ast`]), pruned of
//! tests whose outcome cannot matter as libpcap's optimiser prunes them ([`simplify`]),
//! and [`eval`] runs the tree on each frame. Meaning follows libpcap 1.10 as tcpdump uses it:
//! same grammar and abbreviations, same header offsets for every supported link type,
//! same treatment of VLAN tags (a frame is looked into past a tag only after a `vlan`
//! keyword), fragments (ports and `tcp[...]` only in the first IPv4 fragment) and short
//! frames (a read past the captured bytes rejects the frame). The tree is kept close to
//! libpcap's code-generator primitives so that it can later be compiled to classic BPF
//! for a kernel filter.
//!
//! Must not: resolve names over the network (host and network names are refused), or
//! panic or recurse without bound on any expression or frame.

mod ast;
pub mod bpf;
mod build;
mod eval;
mod lex;
mod names;
mod parse;
mod simplify;

#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::OnceLock;

use crate::capture::LinkType;
use ast::{Expr, TestKind};
use eval::{Frame, Framing};

/// A compiled filter expression.
#[derive(Clone, Debug)]
pub struct Filter {
    expr: Expr,
    /// `expr` simplified for each link type, made when first needed.
    per_framing: [OnceLock<Expr>; Framing::COUNT],
}

impl Filter {
    /// Compiles a tcpdump filter expression. The empty expression matches every frame.
    pub fn compile(expr: &str) -> Result<Filter, FilterError> {
        Ok(Filter {
            expr: parse::parse(expr)?,
            per_framing: Default::default(),
        })
    }

    /// The tree run on frames of this link type. libpcap does not optimise a program
    /// with `geneve` (its offsets code has a jump the optimiser cannot follow), so
    /// such a tree stays as written: every read in it happens.
    fn tree(&self, framing: Framing) -> &Expr {
        self.per_framing[framing.index()].get_or_init(|| {
            if ast::geneve_depth(&self.expr) > 0 {
                self.expr.clone()
            } else {
                simplify::simplify(self.expr.clone(), framing)
            }
        })
    }

    /// Whether a frame of link type `link` passes. `frame` is the captured bytes,
    /// `orig_len` the length on the wire (what `len`, `less` and `greater` see).
    /// Frames of a link type the filter does not know never match.
    pub fn matches(&self, link: LinkType, frame: &[u8], orig_len: u32) -> bool {
        let Some(framing) = Framing::of(link) else {
            return false;
        };
        eval::matches(self.tree(framing), &Frame::new(framing, frame, orig_len))
    }

    /// The filter as a classic BPF program for frames of link type `link`, accepting
    /// exactly the frames [`Filter::matches`] accepts (see [`bpf`]). An error for link
    /// types the filter does not know and for programs too long for the kernel.
    pub fn to_bpf(&self, link: LinkType) -> Result<Vec<bpf::BpfInsn>, bpf::BpfError> {
        let framing = Framing::of(link)
            .ok_or_else(|| bpf::BpfError::new(format!("link type {} unknown", link.0)))?;
        bpf::compile(self.tree(framing), framing)
    }

    /// Refuses, as tcpdump does when it compiles for a given link type, a filter that
    /// uses something the link type does not have (`vlan` or an Ethernet address outside
    /// Ethernet, `mpls` on PPP over serial, anything but `link[]` and lengths on NFLOG).
    /// Such parts never match; calling this first turns them into an error.
    pub fn check_link(&self, link: LinkType) -> Result<(), FilterError> {
        let Some(framing) = Framing::of(link) else {
            return Err(FilterError::general(format!(
                "link type {} is not supported by the filter",
                link.0
            )));
        };
        let mut problem = None;
        visit_tests(&self.expr, &mut |test| {
            let inside_geneve = test.depth.geneve > 0;
            problem = problem.take().or(match test.kind {
                _ if framing == Framing::Nflog => {
                    Some("NFLOG link-layer type filtering not implemented".to_string())
                }
                TestKind::Vlan { .. } if !framing.ethernet_at(test.depth) => {
                    Some(format!("no VLAN support for {}", framing.name()))
                }
                // After `pppoes` the link is PPP, which has MPLS; so does the Geneve
                // payload (libpcap takes it for Ethernet).
                TestKind::Mpls { .. }
                    if test.depth.pppoe_headers == 0
                        && !inside_geneve
                        && !matches!(
                            framing,
                            Framing::Ethernet | Framing::Ppp | Framing::CHdlc
                        ) =>
                {
                    Some(format!("no MPLS support for {}", framing.name()))
                }
                TestKind::EtherAddress { .. } if !framing.ethernet_at(test.depth) => {
                    Some("ethernet addresses supported only on ethernet".to_string())
                }
                _ => None,
            });
        });
        if framing == Framing::Nflog && problem.is_none() && !link_loads_only(&self.expr) {
            problem = Some("NFLOG link-layer type filtering not implemented".to_string());
        }
        match problem {
            Some(message) => Err(FilterError::general(message)),
            None => Ok(()),
        }
    }
}

/// Whether every load in the tree counts from the start of the frame (`link[]`), the
/// only loads libpcap compiles for NFLOG.
fn link_loads_only(expr: &Expr) -> bool {
    fn value_ok(value: &ast::Value) -> bool {
        match value {
            ast::Value::Const(_) | ast::Value::WireLen => true,
            ast::Value::Neg(inner) => value_ok(inner),
            ast::Value::Binary { lhs, rhs, .. } => value_ok(lhs) && value_ok(rhs),
            ast::Value::Load { layer, index, .. } => *layer == ast::Layer::Link && value_ok(index),
        }
    }
    match expr {
        Expr::All(items) | Expr::Any(items) => items.iter().all(link_loads_only),
        Expr::Not(inner) => link_loads_only(inner),
        Expr::Compare { lhs, rhs, .. } => value_ok(lhs) && value_ok(rhs),
        Expr::Const(_) | Expr::Test(_) => true,
    }
}

/// Calls `visit` for every primitive test in the tree.
fn visit_tests(expr: &Expr, visit: &mut impl FnMut(&ast::Test)) {
    match expr {
        Expr::All(items) | Expr::Any(items) => {
            for item in items {
                visit_tests(item, visit);
            }
        }
        Expr::Not(inner) => visit_tests(inner, visit),
        Expr::Test(test) => visit(test),
        Expr::Const(_) | Expr::Compare { .. } => {}
    }
}

/// A filter expression that cannot be compiled: what is wrong and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterError {
    message: String,
    location: Location,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Location {
    /// At a token: its text and 1-based character position.
    At {
        text: String,
        column: usize,
    },
    End,
    Nowhere,
}

impl FilterError {
    /// An error at the character at byte `offset` of `source`.
    fn at_offset(message: String, source: &str, offset: usize) -> FilterError {
        let text: String = source.get(offset..).unwrap_or("").chars().take(1).collect();
        FilterError::at_text(message, source, offset, &text)
    }

    /// An error at the token `text` found at byte `offset` of `source`.
    fn at_text(message: String, source: &str, offset: usize, text: &str) -> FilterError {
        let column = source
            .get(..offset)
            .map_or(0, |before| before.chars().count())
            + 1;
        FilterError {
            message,
            location: Location::At {
                text: text.chars().take(40).collect(),
                column,
            },
        }
    }

    fn at_end(message: String) -> FilterError {
        FilterError {
            message,
            location: Location::End,
        }
    }

    fn general(message: String) -> FilterError {
        FilterError {
            message,
            location: Location::Nowhere,
        }
    }

    /// What is wrong, without the location.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            // A message that already quotes the token ("unexpected '::2'") only needs
            // the position.
            Location::At { text, column } if self.message.contains(&format!("'{text}'")) => {
                let quoted = format!("'{text}'");
                if self.message.starts_with(&quoted) {
                    write!(f, "filter: {} (character {column})", self.message)
                } else {
                    let at = format!("{quoted} at character {column}");
                    write!(f, "filter: {}", self.message.replacen(&quoted, &at, 1))
                }
            }
            Location::At { text, column } => {
                write!(
                    f,
                    "filter: {} at '{text}' (character {column})",
                    self.message
                )
            }
            Location::End => write!(f, "filter: {} at end of expression", self.message),
            Location::Nowhere => write!(f, "filter: {}", self.message),
        }
    }
}

impl std::error::Error for FilterError {}
