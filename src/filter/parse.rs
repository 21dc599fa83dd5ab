//! The filter grammar (libpcap's `grammar.y`, same precedence and abbreviations):
//!
//! * `and` and `or` have the same precedence and group to the left (`a or b and c` is
//!   `(a or b) and c`); `not`/`!` binds tighter.
//! * A bare identifier after `and`/`or` takes the qualifiers of the primitive before it:
//!   `tcp port 80 or 8080`, `host a and not b`. A parenthesised group lends the
//!   qualifiers that were in force before it; `tcp`, comparisons, `vlan`, `less` and
//!   `greater` lend none.
//! * Arithmetic follows C precedence for `| & << >> + - * /`; `%` and `^` have no
//!   declared precedence in libpcap, so yacc always shifts on them: they bind their left
//!   operand as tightly as possible and their right operand as loosely as possible
//!   (`a % b + c` is `a % (b + c)`, `a + b % c` is `a + (b % c)`).
//!
//! Nesting is bounded ([`MAX_DEPTH`]) so that no expression can exhaust the stack, here
//! or when the tree is evaluated or dropped.

use super::ast::{ArithOp, Comparison, Depth, Expr, Layer, NetProto, Value, MAX_GENEVE};
use super::build::{AddrQual, Builder, DirQual, Mask, ProtoQual, Qual};
use super::lex::{tokenize, Token, TokenKind};
use super::names::Keyword;
use super::FilterError;

/// The deepest nesting of parentheses, negations and operators accepted.
pub(super) const MAX_DEPTH: usize = 100;

/// The most `vlan` keywords in one expression (each moves later tests 4 bytes on), and
/// the most `mpls` or `pppoes` keywords.
const MAX_VLAN_TAGS: u8 = 32;

/// Binding power of unary minus: above every binary operator but `%` and `^`.
const UNARY_MINUS_POWER: u8 = 12;

/// Parses a filter expression into a tree. The empty expression matches everything.
pub(super) fn parse(source: &str) -> Result<Expr, FilterError> {
    let tokens = tokenize(source)?;
    let mut parser = Parser {
        source,
        tokens,
        pos: 0,
        link_depth: Depth::default(),
        nesting: 0,
    };
    if parser.peek() == &TokenKind::End {
        return Ok(Expr::Const(true));
    }
    let parsed = parser.expr(None)?;
    if parser.peek() != &TokenKind::End {
        return Err(parser.error_here(format!("unexpected '{}'", parser.token().text)));
    }
    if !ip_only_over_mpls(&parsed.expr) {
        return Err(FilterError::general(
            "unsupported protocol over mpls".into(),
        ));
    }
    Ok(parsed.expr)
}

/// Whether every test behind an MPLS label looks for IPv4 or IPv6 only: libpcap has no
/// other protocol over MPLS (the bottom label says nothing about its payload).
fn ip_only_over_mpls(expr: &Expr) -> bool {
    use super::ast::{Test, TestKind};
    let ip = |p: NetProto| matches!(p, NetProto::Ipv4 | NetProto::Ipv6);
    let value_ok = |v: &Value| value_ip_only_over_mpls(v);
    match expr {
        Expr::Const(_) => true,
        Expr::All(items) | Expr::Any(items) => items.iter().all(ip_only_over_mpls),
        Expr::Not(inner) => ip_only_over_mpls(inner),
        Expr::Compare { lhs, rhs, .. } => value_ok(lhs) && value_ok(rhs),
        Expr::Test(Test { depth, kind }) => {
            depth.mpls_labels == 0
                || match *kind {
                    TestKind::NetProto(p) => ip(p),
                    TestKind::Ipv4Address { carrier, .. } => ip(carrier),
                    _ => true,
                }
        }
    }
}

fn value_ip_only_over_mpls(value: &Value) -> bool {
    match value {
        Value::Const(_) | Value::WireLen => true,
        Value::Load {
            layer,
            index,
            depth,
            ..
        } => {
            let ok = match layer {
                Layer::Network(p) => {
                    depth.mpls_labels == 0 || matches!(p, NetProto::Ipv4 | NetProto::Ipv6)
                }
                _ => true,
            };
            ok && value_ip_only_over_mpls(index)
        }
        Value::Binary { lhs, rhs, .. } => {
            value_ip_only_over_mpls(lhs) && value_ip_only_over_mpls(rhs)
        }
        Value::Neg(inner) => value_ip_only_over_mpls(inner),
    }
}

/// A parsed piece: the tree, its depth, and the qualifiers it lends to a following bare
/// identifier (`None`: it lends none, as after `tcp` or a comparison).
struct Parsed {
    expr: Expr,
    depth: usize,
    lends: Option<Qual>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Logic {
    And,
    Or,
}

struct Parser<'a> {
    source: &'a str,
    tokens: Vec<Token>,
    pos: usize,
    /// `vlan`, `pppoes` and `mpls` keywords met so far.
    link_depth: Depth,
    /// Current recursion depth of the parser itself.
    nesting: usize,
}

impl Parser<'_> {
    // ---- token access ---------------------------------------------------------------

    fn token(&self) -> &Token {
        // `tokens` always ends with End and `pos` never passes it.
        &self.tokens[self.pos.min(self.tokens.len() - 1)]
    }

    fn peek(&self) -> &TokenKind {
        &self.token().kind
    }

    fn peek_at(&self, ahead: usize) -> &TokenKind {
        &self.tokens[(self.pos + ahead).min(self.tokens.len() - 1)].kind
    }

    fn advance(&mut self) -> Token {
        let token = self.token().clone();
        if self.pos < self.tokens.len() - 1 {
            self.pos += 1;
        }
        token
    }

    fn error_here(&self, message: String) -> FilterError {
        self.error_at(message, self.token())
    }

    fn error_at(&self, message: String, token: &Token) -> FilterError {
        if token.kind == TokenKind::End {
            FilterError::at_end(message)
        } else {
            FilterError::at_text(message, self.source, token.start, &token.text)
        }
    }

    fn expect(&mut self, kind: TokenKind, what: &str) -> Result<Token, FilterError> {
        if self.peek() == &kind {
            Ok(self.advance())
        } else {
            Err(self.error_here(format!("expected {what}")))
        }
    }

    /// Enters one level of recursion, refusing expressions nested too deeply.
    fn enter(&mut self) -> Result<(), FilterError> {
        self.nesting += 1;
        if self.nesting > MAX_DEPTH {
            return Err(self.error_here(format!(
                "expression nested more than {MAX_DEPTH} levels deep"
            )));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.nesting -= 1;
    }

    fn checked_depth(&self, depth: usize) -> Result<usize, FilterError> {
        if depth > MAX_DEPTH {
            Err(self.error_here(format!(
                "expression nested more than {MAX_DEPTH} levels deep"
            )))
        } else {
            Ok(depth)
        }
    }

    fn builder(&self) -> Builder {
        Builder {
            depth: self.link_depth,
        }
    }

    // ---- boolean structure ----------------------------------------------------------

    /// `expr: term | expr and term | expr and id | expr or term | expr or id`.
    fn expr(&mut self, context: Option<Qual>) -> Result<Parsed, FilterError> {
        let mut acc = self.term(context)?;
        loop {
            let logic = match self.peek() {
                TokenKind::Keyword(Keyword::And) | TokenKind::AndAnd => Logic::And,
                TokenKind::Keyword(Keyword::Or) | TokenKind::OrOr => Logic::Or,
                _ => break,
            };
            self.advance();
            let rhs = if self.identifier_follows() {
                self.identifier(acc.lends)?
            } else {
                self.term(acc.lends)?
            };
            acc = self.combine(logic, acc, rhs)?;
        }
        Ok(acc)
    }

    /// Joins two pieces, flattening chains of the same operator.
    fn combine(&self, logic: Logic, lhs: Parsed, rhs: Parsed) -> Result<Parsed, FilterError> {
        let lends = rhs.lends;
        let (expr, depth) = match (logic, lhs.expr) {
            (Logic::And, Expr::All(mut items)) => {
                items.push(rhs.expr);
                (Expr::All(items), lhs.depth.max(rhs.depth + 1))
            }
            (Logic::Or, Expr::Any(mut items)) => {
                items.push(rhs.expr);
                (Expr::Any(items), lhs.depth.max(rhs.depth + 1))
            }
            (Logic::And, other) => (
                Expr::All(vec![other, rhs.expr]),
                lhs.depth.max(rhs.depth) + 1,
            ),
            (Logic::Or, other) => (
                Expr::Any(vec![other, rhs.expr]),
                lhs.depth.max(rhs.depth) + 1,
            ),
        };
        Ok(Parsed {
            expr,
            depth: self.checked_depth(depth)?,
            lends,
        })
    }

    /// Whether what follows `and`/`or` is a bare identifier (possibly negated or in
    /// parentheses) rather than a term. A number starts a comparison when an operator
    /// follows it.
    fn identifier_follows(&self) -> bool {
        let mut ahead = 0;
        while matches!(
            self.peek_at(ahead),
            TokenKind::Bang | TokenKind::Keyword(Keyword::Not)
        ) {
            ahead += 1;
        }
        match self.peek_at(ahead) {
            TokenKind::Num(_) => !starts_arithmetic_or_comparison(self.peek_at(ahead + 1)),
            TokenKind::DottedV4(_)
            | TokenKind::Ipv6(_)
            | TokenKind::Mac(_)
            | TokenKind::Name(_) => true,
            TokenKind::LParen => self.parenthesised_identifiers(self.pos + ahead),
            _ => false,
        }
    }

    /// Whether the parenthesised group starting at `open` holds only identifiers (so it
    /// is `(80 or 443)` after `port 22 or`, not `(tcp or udp)` or `(ip[0] + 1) = 5`).
    fn parenthesised_identifiers(&self, open: usize) -> bool {
        let mut level = 0usize;
        for (i, token) in self.tokens.iter().enumerate().skip(open) {
            match &token.kind {
                TokenKind::LParen => level += 1,
                TokenKind::RParen => {
                    level = level.saturating_sub(1);
                    if level == 0 {
                        let after = self.tokens.get(i + 1).map(|t| &t.kind);
                        return !after.is_some_and(starts_arithmetic_or_comparison);
                    }
                }
                TokenKind::Num(_)
                | TokenKind::DottedV4(_)
                | TokenKind::Ipv6(_)
                | TokenKind::Mac(_)
                | TokenKind::Name(_)
                | TokenKind::Slash
                | TokenKind::Bang
                | TokenKind::AndAnd
                | TokenKind::OrOr
                | TokenKind::Keyword(Keyword::And | Keyword::Or | Keyword::Not | Keyword::Mask) => {
                }
                _ => return false,
            }
        }
        false
    }

    /// Whether the group starting at `open` is arithmetic: its `)` is followed by an
    /// operator or comparison (`(ip[0] & 0xf0) = 0x40`).
    fn parenthesised_arithmetic(&self, open: usize) -> bool {
        let mut level = 0usize;
        for (i, token) in self.tokens.iter().enumerate().skip(open) {
            match token.kind {
                TokenKind::LParen => level += 1,
                TokenKind::RParen => {
                    level = level.saturating_sub(1);
                    if level == 0 {
                        return self
                            .tokens
                            .get(i + 1)
                            .is_some_and(|t| starts_arithmetic_or_comparison(&t.kind));
                    }
                }
                TokenKind::End => return false,
                _ => {}
            }
        }
        false
    }

    /// `term: rterm | not term`.
    fn term(&mut self, context: Option<Qual>) -> Result<Parsed, FilterError> {
        self.enter()?;
        let parsed = self.term_inner(context);
        self.leave();
        parsed
    }

    fn term_inner(&mut self, context: Option<Qual>) -> Result<Parsed, FilterError> {
        let token = self.token().clone();
        match token.kind.clone() {
            TokenKind::Bang | TokenKind::Keyword(Keyword::Not) => {
                self.advance();
                let inner = self.term(context)?;
                Ok(Parsed {
                    expr: Expr::Not(Box::new(inner.expr)),
                    depth: self.checked_depth(inner.depth + 1)?,
                    lends: inner.lends,
                })
            }
            TokenKind::LParen if self.parenthesised_arithmetic(self.pos) => self.comparison(),
            TokenKind::LParen => {
                self.advance();
                let inner = self.expr(context)?;
                self.expect(TokenKind::RParen, "')'")?;
                // libpcap: `(...)` lends what was in force before the parenthesis.
                Ok(Parsed {
                    lends: context,
                    ..inner
                })
            }
            TokenKind::Keyword(keyword) => self.keyword_term(keyword, &token),
            TokenKind::Num(_) | TokenKind::Minus => self.comparison(),
            TokenKind::DottedV4(_) | TokenKind::Ipv6(_) | TokenKind::Mac(_) => {
                Err(self.error_here(format!(
                    "'{}' needs a qualifier such as 'host' or 'net' in front of it",
                    token.text
                )))
            }
            TokenKind::Name(name) => Err(self.error_here(format!(
                "unknown word '{name}' (expected a primitive such as host, net, port, tcp or a comparison)"
            ))),
            TokenKind::End => Err(self.error_here("expected a primitive".into())),
            _ => Err(self.error_here(format!("unexpected '{}'", token.text))),
        }
    }

    fn keyword_term(&mut self, keyword: Keyword, token: &Token) -> Result<Parsed, FilterError> {
        if let Some(proto) = protocol_qualifier(keyword) {
            if self.peek_at(1) == &TokenKind::LBracket {
                return self.comparison();
            }
            self.advance();
            if starts_head(self.peek()) {
                let q = self.head(proto)?;
                return self.identifier(Some(q));
            }
            if let TokenKind::Keyword(Keyword::Unsupported(word)) = self.peek() {
                return Err(self.error_here(unsupported(word)));
            }
            let expr = self
                .builder()
                .protocol_abbreviation(proto)
                .map_err(|m| self.error_at(m, token))?;
            return Ok(leaf(expr, None));
        }
        match keyword {
            Keyword::Src
            | Keyword::Dst
            | Keyword::Host
            | Keyword::Net
            | Keyword::Port
            | Keyword::PortRange
            | Keyword::Proto => {
                let q = self.head(ProtoQual::Default)?;
                self.identifier(Some(q))
            }
            Keyword::Less | Keyword::Greater => {
                self.advance();
                let TokenKind::Num(n) = *self.peek() else {
                    return Err(
                        self.error_here(format!("expected a length after '{}'", token.text))
                    );
                };
                self.advance();
                // `less N` is `len <= N`, `greater N` is `len >= N` (pcap-filter(7)).
                let op = if keyword == Keyword::Less {
                    Comparison::Le
                } else {
                    Comparison::Ge
                };
                Ok(leaf(
                    Expr::Compare {
                        op,
                        lhs: Value::WireLen,
                        rhs: Value::Const(n),
                    },
                    None,
                ))
            }
            Keyword::Vlan => {
                self.advance();
                let id = self.optional_parenthesised_number();
                let expr = self
                    .builder()
                    .vlan(id)
                    .map_err(|m| self.error_at(m, token))?;
                if self.link_depth.vlan_tags >= MAX_VLAN_TAGS {
                    return Err(
                        self.error_at(format!("more than {MAX_VLAN_TAGS} 'vlan' keywords"), token)
                    );
                }
                self.link_depth.vlan_tags += 1;
                Ok(leaf(expr, None))
            }
            Keyword::Mpls => {
                self.advance();
                let label = self.optional_parenthesised_number();
                let expr = self
                    .builder()
                    .mpls(label)
                    .map_err(|m| self.error_at(m, token))?;
                if self.link_depth.mpls_labels >= MAX_VLAN_TAGS {
                    return Err(
                        self.error_at(format!("more than {MAX_VLAN_TAGS} 'mpls' keywords"), token)
                    );
                }
                self.link_depth.mpls_labels += 1;
                Ok(leaf(expr, None))
            }
            Keyword::Pppoes => {
                self.advance();
                let session = self.optional_parenthesised_number();
                let expr = self
                    .builder()
                    .pppoes(session)
                    .map_err(|m| self.error_at(m, token))?;
                if self.link_depth.pppoe_headers >= MAX_VLAN_TAGS {
                    return Err(self.error_at(
                        format!("more than {MAX_VLAN_TAGS} 'pppoes' keywords"),
                        token,
                    ));
                }
                self.link_depth.pppoe_headers += 1;
                Ok(leaf(expr, None))
            }
            Keyword::Geneve => {
                self.advance();
                let vni = self.optional_parenthesised_number();
                let expr = self
                    .builder()
                    .geneve(vni)
                    .map_err(|m| self.error_at(m, token))?;
                if usize::from(self.link_depth.geneve) >= MAX_GENEVE {
                    return Err(
                        self.error_at(format!("more than {MAX_GENEVE} 'geneve' keywords"), token)
                    );
                }
                // Later tests look into the Geneve payload, whose own tags and headers
                // count from there.
                self.link_depth = Depth {
                    geneve: self.link_depth.geneve + 1,
                    ..Depth::default()
                };
                Ok(leaf(expr, None))
            }
            Keyword::Len => self.comparison(),
            Keyword::Unsupported(word) => Err(self.error_here(unsupported(word))),
            Keyword::And | Keyword::Or => {
                Err(self.error_here(format!("expected a primitive before '{}'", token.text)))
            }
            _ => Err(self.error_here(format!("unexpected '{}'", token.text))),
        }
    }

    /// `pnum: NUM | '(' pnum ')'`, if one follows.
    fn optional_parenthesised_number(&mut self) -> Option<u32> {
        let mut opens = 0;
        while self.peek_at(opens) == &TokenKind::LParen {
            opens += 1;
        }
        let TokenKind::Num(n) = *self.peek_at(opens) else {
            return None;
        };
        if (1..=opens).any(|i| self.peek_at(opens + i) != &TokenKind::RParen) {
            return None;
        }
        for _ in 0..(2 * opens + 1) {
            self.advance();
        }
        Some(n)
    }

    /// The qualifiers after an optional protocol: `[src|dst|src or dst|src and dst]
    /// [host|net|port|portrange]`, or `proto`.
    fn head(&mut self, proto: ProtoQual) -> Result<Qual, FilterError> {
        let mut q = Qual {
            proto,
            dir: DirQual::Default,
            addr: AddrQual::Default,
        };
        match self.peek().clone() {
            TokenKind::Keyword(first @ (Keyword::Src | Keyword::Dst)) => {
                self.advance();
                let other = if first == Keyword::Src {
                    Keyword::Dst
                } else {
                    Keyword::Src
                };
                let joined = match (self.peek(), self.peek_at(1)) {
                    (TokenKind::Keyword(Keyword::Or) | TokenKind::OrOr, TokenKind::Keyword(k))
                        if *k == other =>
                    {
                        Some(DirQual::Or)
                    }
                    (
                        TokenKind::Keyword(Keyword::And) | TokenKind::AndAnd,
                        TokenKind::Keyword(k),
                    ) if *k == other => Some(DirQual::And),
                    _ => None,
                };
                q.dir = match joined {
                    Some(dir) => {
                        self.advance();
                        self.advance();
                        dir
                    }
                    None if first == Keyword::Src => DirQual::Src,
                    None => DirQual::Dst,
                };
                if let Some(addr) = address_qualifier(self.peek()) {
                    self.advance();
                    q.addr = addr;
                }
            }
            TokenKind::Keyword(Keyword::Proto) => {
                self.advance();
                q.addr = AddrQual::Proto;
            }
            kind => {
                if let Some(addr) = address_qualifier(&kind) {
                    self.advance();
                    q.addr = addr;
                }
            }
        }
        Ok(q)
    }

    // ---- identifiers ----------------------------------------------------------------

    /// `id: nid | pnum | '(' pid ')'`, interpreted with the qualifiers `q`.
    fn identifier(&mut self, q: Option<Qual>) -> Result<Parsed, FilterError> {
        self.enter()?;
        let parsed = self.identifier_inner(q);
        self.leave();
        parsed
    }

    fn identifier_inner(&mut self, q: Option<Qual>) -> Result<Parsed, FilterError> {
        let token = self.token().clone();
        let Some(q) = q else {
            return Err(self.error_here(format!(
                "'{}' needs a qualifier such as 'host' or 'port' (the term before it lends none)",
                token.text
            )));
        };
        match token.kind.clone() {
            TokenKind::Bang | TokenKind::Keyword(Keyword::Not) => {
                self.advance();
                let inner = self.identifier(Some(q))?;
                Ok(Parsed {
                    expr: Expr::Not(Box::new(inner.expr)),
                    depth: self.checked_depth(inner.depth + 1)?,
                    lends: Some(q),
                })
            }
            TokenKind::LParen => {
                self.advance();
                let mut acc = self.identifier(Some(q))?;
                loop {
                    let logic = match self.peek() {
                        TokenKind::Keyword(Keyword::And) | TokenKind::AndAnd => Logic::And,
                        TokenKind::Keyword(Keyword::Or) | TokenKind::OrOr => Logic::Or,
                        _ => break,
                    };
                    self.advance();
                    let rhs = self.identifier(Some(q))?;
                    acc = self.combine(logic, acc, rhs)?;
                }
                self.expect(TokenKind::RParen, "')'")?;
                Ok(acc)
            }
            TokenKind::Num(value) => {
                self.advance();
                self.built(self.builder().number(q, value), &token, q)
            }
            TokenKind::DottedV4(text) => {
                self.advance();
                let built = match self.peek().clone() {
                    TokenKind::Slash => {
                        self.advance();
                        let TokenKind::Num(len) = *self.peek() else {
                            return Err(
                                self.error_here("expected a prefix length after '/'".into())
                            );
                        };
                        self.advance();
                        self.builder().masked_ipv4(q, &text, Mask::Len(len))
                    }
                    TokenKind::Keyword(Keyword::Mask) => {
                        self.advance();
                        let TokenKind::DottedV4(mask) = self.peek().clone() else {
                            return Err(
                                self.error_here("expected a dotted netmask after 'mask'".into())
                            );
                        };
                        self.advance();
                        self.builder().masked_ipv4(q, &text, Mask::Dotted(&mask))
                    }
                    _ => self.builder().dotted(q, &text),
                };
                self.built(built, &token, q)
            }
            TokenKind::Ipv6(addr) => {
                self.advance();
                let prefix_len = if self.peek() == &TokenKind::Slash {
                    self.advance();
                    let TokenKind::Num(len) = *self.peek() else {
                        return Err(self.error_here("expected a prefix length after '/'".into()));
                    };
                    self.advance();
                    len
                } else {
                    128
                };
                let built = self
                    .builder()
                    .ipv6(q, u128::from(addr), prefix_len, &token.text);
                self.built(built, &token, q)
            }
            TokenKind::Mac(mac) => {
                self.advance();
                self.built(self.builder().mac(q, mac), &token, q)
            }
            TokenKind::Name(name) => {
                self.advance();
                self.built(self.builder().name(q, &name), &token, q)
            }
            TokenKind::Keyword(Keyword::Unsupported(word)) => {
                Err(self.error_here(unsupported(word)))
            }
            _ => {
                let previous = self
                    .pos
                    .checked_sub(1)
                    .and_then(|i| self.tokens.get(i))
                    .map_or(String::new(), |t| t.text.clone());
                Err(self.error_here(format!("expected {} after '{previous}'", expected_value(q))))
            }
        }
    }

    fn built(
        &self,
        built: Result<Expr, String>,
        token: &Token,
        q: Qual,
    ) -> Result<Parsed, FilterError> {
        let expr = built.map_err(|m| self.error_at(m, token))?;
        Ok(leaf(expr, Some(q)))
    }

    // ---- comparisons and arithmetic -------------------------------------------------

    /// `arth relop arth`.
    fn comparison(&mut self) -> Result<Parsed, FilterError> {
        let (lhs, lhs_depth) = self.value(0)?;
        let op = match self.peek() {
            TokenKind::Eq => Comparison::Eq,
            TokenKind::NotEq => Comparison::Ne,
            TokenKind::Less => Comparison::Lt,
            TokenKind::LessEq => Comparison::Le,
            TokenKind::Greater => Comparison::Gt,
            TokenKind::GreaterEq => Comparison::Ge,
            _ => {
                return Err(self.error_here(
                    "expected a comparison (=, !=, <, <=, >, >=) after the value".into(),
                ))
            }
        };
        self.advance();
        let (rhs, rhs_depth) = self.value(0)?;
        let depth = self.checked_depth(lhs_depth.max(rhs_depth) + 1)?;
        let expr = match (&lhs, &rhs) {
            (Value::Const(a), Value::Const(b)) => Expr::Const(op.holds(*a, *b)),
            _ => Expr::Compare { op, lhs, rhs },
        };
        Ok(Parsed {
            expr,
            depth,
            lends: None,
        })
    }

    /// A value whose binary operators all bind at least as tightly as `min_power`
    /// (precedence climbing).
    fn value(&mut self, min_power: u8) -> Result<(Value, usize), FilterError> {
        self.enter()?;
        let parsed = self.value_inner(min_power);
        self.leave();
        parsed
    }

    fn value_inner(&mut self, min_power: u8) -> Result<(Value, usize), FilterError> {
        let token = self.token().clone();
        let (mut lhs, mut depth) = match token.kind {
            TokenKind::Num(n) => {
                self.advance();
                (Value::Const(n), 1)
            }
            TokenKind::Keyword(Keyword::Len) => {
                self.advance();
                (Value::WireLen, 1)
            }
            TokenKind::Minus => {
                self.advance();
                let (inner, depth) = self.value(UNARY_MINUS_POWER)?;
                let negated = match inner {
                    Value::Const(c) => Value::Const(c.wrapping_neg()),
                    other => Value::Neg(Box::new(other)),
                };
                (negated, depth + 1)
            }
            TokenKind::LParen => {
                self.advance();
                let inner = self.value(0)?;
                self.expect(TokenKind::RParen, "')'")?;
                inner
            }
            TokenKind::Keyword(keyword) => match load_layer(keyword) {
                Some(layer) => self.load(layer)?,
                None => {
                    return Err(self.error_here(format!(
                    "'{}' cannot be indexed; expected a value (a number, len, or proto[offset])",
                    token.text
                )))
                }
            },
            _ => {
                return Err(
                    self.error_here("expected a value (a number, len, or proto[offset])".into())
                )
            }
        };
        while let Some((op, left_power, right_power)) = binary_operator(self.peek()) {
            if left_power < min_power {
                break;
            }
            let op_token = self.advance();
            let (rhs, rhs_depth) = self.value(right_power)?;
            lhs = fold(op, lhs, rhs).map_err(|m| self.error_at(m, &op_token))?;
            depth = self.checked_depth(depth.max(rhs_depth) + 1)?;
        }
        Ok((lhs, depth))
    }

    /// `proto [ index ]` or `proto [ index : size ]`.
    fn load(&mut self, layer: Layer) -> Result<(Value, usize), FilterError> {
        let proto_token = self.advance();
        self.expect(
            TokenKind::LBracket,
            &format!("'[' after '{}'", proto_token.text),
        )?;
        let (index, depth) = self.value(0)?;
        let size = if self.peek() == &TokenKind::Colon {
            self.advance();
            let TokenKind::Num(size) = *self.peek() else {
                return Err(self.error_here("expected a size (1, 2 or 4) after ':'".into()));
            };
            if !matches!(size, 1 | 2 | 4) {
                return Err(self.error_here("data size must be 1, 2, or 4".into()));
            }
            self.advance();
            size as u8
        } else {
            1
        };
        self.expect(TokenKind::RBracket, "']'")?;
        Ok((
            Value::Load {
                layer,
                index: Box::new(index),
                size,
                depth: self.link_depth,
            },
            depth + 1,
        ))
    }
}

fn leaf(expr: Expr, lends: Option<Qual>) -> Parsed {
    // A primitive expands to at most two levels (an `Any` of tests).
    Parsed {
        expr,
        depth: 2,
        lends,
    }
}

fn unsupported(word: &str) -> String {
    format!("'{word}' is not supported by this filter implementation")
}

/// What an identifier with these qualifiers should have been.
fn expected_value(q: Qual) -> &'static str {
    match q.addr {
        AddrQual::Default | AddrQual::Host => "an address",
        AddrQual::Net => "a network address",
        AddrQual::Port => "a port number",
        AddrQual::PortRange => "a port range",
        AddrQual::Proto => "a protocol number",
    }
}

fn starts_head(kind: &TokenKind) -> bool {
    matches!(
        kind,
        TokenKind::Keyword(
            Keyword::Src
                | Keyword::Dst
                | Keyword::Host
                | Keyword::Net
                | Keyword::Port
                | Keyword::PortRange
                | Keyword::Proto
        )
    )
}

fn address_qualifier(kind: &TokenKind) -> Option<AddrQual> {
    match kind {
        TokenKind::Keyword(Keyword::Host) => Some(AddrQual::Host),
        TokenKind::Keyword(Keyword::Net) => Some(AddrQual::Net),
        TokenKind::Keyword(Keyword::Port) => Some(AddrQual::Port),
        TokenKind::Keyword(Keyword::PortRange) => Some(AddrQual::PortRange),
        _ => None,
    }
}

fn starts_arithmetic_or_comparison(kind: &TokenKind) -> bool {
    binary_operator(kind).is_some()
        || matches!(
            kind,
            TokenKind::Eq
                | TokenKind::NotEq
                | TokenKind::Less
                | TokenKind::LessEq
                | TokenKind::Greater
                | TokenKind::GreaterEq
        )
}

/// The protocol a keyword qualifies with, if it is a protocol keyword.
fn protocol_qualifier(keyword: Keyword) -> Option<ProtoQual> {
    Some(match keyword {
        Keyword::Link => ProtoQual::Link,
        Keyword::Ip => ProtoQual::Ip,
        Keyword::Ip6 => ProtoQual::Ip6,
        Keyword::Arp => ProtoQual::Arp,
        Keyword::Rarp => ProtoQual::Rarp,
        Keyword::Tcp => ProtoQual::Tcp,
        Keyword::Udp => ProtoQual::Udp,
        Keyword::Sctp => ProtoQual::Sctp,
        Keyword::Icmp => ProtoQual::Icmp,
        Keyword::Icmp6 => ProtoQual::Icmp6,
        Keyword::Igmp => ProtoQual::Igmp,
        Keyword::Igrp => ProtoQual::Igrp,
        Keyword::Pim => ProtoQual::Pim,
        Keyword::Vrrp => ProtoQual::Vrrp,
        Keyword::Carp => ProtoQual::Carp,
        Keyword::Ah => ProtoQual::Ah,
        Keyword::Esp => ProtoQual::Esp,
        _ => return None,
    })
}

/// Where `proto[...]` counts from (libpcap `gen_load`).
fn load_layer(keyword: Keyword) -> Option<Layer> {
    use super::ast::ip_protocol as p;
    Some(match keyword {
        Keyword::Link => Layer::Link,
        Keyword::Ip => Layer::Network(NetProto::Ipv4),
        Keyword::Ip6 => Layer::Network(NetProto::Ipv6),
        Keyword::Arp => Layer::Network(NetProto::Arp),
        Keyword::Rarp => Layer::Network(NetProto::Rarp),
        Keyword::Tcp => Layer::AfterIpv4(p::TCP),
        Keyword::Udp => Layer::AfterIpv4(p::UDP),
        Keyword::Sctp => Layer::AfterIpv4(p::SCTP),
        Keyword::Icmp => Layer::AfterIpv4(p::ICMP),
        Keyword::Igmp => Layer::AfterIpv4(p::IGMP),
        Keyword::Igrp => Layer::AfterIpv4(p::IGRP),
        Keyword::Pim => Layer::AfterIpv4(p::PIM),
        Keyword::Vrrp | Keyword::Carp => Layer::AfterIpv4(p::VRRP),
        Keyword::Icmp6 => Layer::Icmp6,
        _ => return None,
    })
}

/// A binary arithmetic operator with its left and right binding powers. Left-associative
/// operators bind their right operand one step tighter; `%` and `^` mimic yacc's
/// shift on undeclared precedence (see the module documentation).
fn binary_operator(kind: &TokenKind) -> Option<(ArithOp, u8, u8)> {
    Some(match kind {
        TokenKind::Pipe => (ArithOp::Or, 2, 3),
        TokenKind::Amp => (ArithOp::And, 4, 5),
        TokenKind::ShiftLeft => (ArithOp::Shl, 6, 7),
        TokenKind::ShiftRight => (ArithOp::Shr, 6, 7),
        TokenKind::Plus => (ArithOp::Add, 8, 9),
        TokenKind::Minus => (ArithOp::Sub, 8, 9),
        TokenKind::Star => (ArithOp::Mul, 10, 11),
        TokenKind::Slash => (ArithOp::Div, 10, 11),
        TokenKind::Percent => (ArithOp::Mod, 100, 1),
        TokenKind::Caret => (ArithOp::Xor, 100, 1),
        _ => return None,
    })
}

/// Builds `lhs op rhs`, folding constants and refusing what libpcap refuses at compile
/// time: a constant zero divisor, a constant shift of 32 or more.
fn fold(op: ArithOp, lhs: Value, rhs: Value) -> Result<Value, String> {
    if let Value::Const(b) = rhs {
        match op {
            ArithOp::Div if b == 0 => return Err("division by zero".into()),
            ArithOp::Mod if b == 0 => return Err("modulus by zero".into()),
            ArithOp::Shl | ArithOp::Shr if b > 31 => {
                return Err("shift by more than 31 bits".into())
            }
            _ => {}
        }
        if let Value::Const(a) = lhs {
            if let Some(folded) = op.apply(a, b) {
                return Ok(Value::Const(folded));
            }
        }
    }
    Ok(Value::Binary {
        op,
        lhs: Box::new(lhs),
        rhs: Box::new(rhs),
    })
}
