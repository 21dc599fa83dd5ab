//! Compiles a filter tree to classic BPF, for the kernel to run before frames reach the
//! capture ring (`SO_ATTACH_FILTER`), and interprets such programs (for tests and for
//! `--dump-bpf` users who want to check one).
//!
//! The program makes the same reads, in the same order, as [`super::eval`] does on the
//! same tree, so that it accepts exactly the frames the evaluator accepts: a read past
//! the captured bytes or a division by zero ends the program with "reject" (as both the
//! kernel and libpcap's interpreter do), a shift by 32 or more yields 0 (libpcap's
//! interpreter; the kernel masks the count, so the program tests it first), and a
//! computed index too large for any frame rejects before it could wrap around or reach
//! the kernel's negative "ancillary data" offsets.
//!
//! Must not: emit a backward jump, a jump past the end, more than [`BPF_MAXINSNS`]
//! instructions, or anything the kernel's checker refuses ([`validate`]).

use std::fmt;

use super::ast::{
    ethertype, ip_protocol, ipv6_masked_words, ArithOp, Comparison, Depth, Dir, Expr, IpVersion,
    Layer, NetProto, Test, TestKind, Value, ETHERTYPE_TEB, GENEVE_PORT,
};
use super::eval::{At, Framing, GeneveReg, GENEVE_REGS};

/// One classic BPF instruction (`struct sock_filter`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BpfInsn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

// Instruction classes, sizes, modes and operations (linux/bpf_common.h, linux/filter.h).
pub const BPF_LD: u16 = 0x00;
pub const BPF_LDX: u16 = 0x01;
pub const BPF_ST: u16 = 0x02;
pub const BPF_STX: u16 = 0x03;
pub const BPF_ALU: u16 = 0x04;
pub const BPF_JMP: u16 = 0x05;
pub const BPF_RET: u16 = 0x06;
pub const BPF_MISC: u16 = 0x07;

pub const BPF_W: u16 = 0x00;
pub const BPF_H: u16 = 0x08;
pub const BPF_B: u16 = 0x10;

pub const BPF_IMM: u16 = 0x00;
pub const BPF_ABS: u16 = 0x20;
pub const BPF_IND: u16 = 0x40;
pub const BPF_MEM: u16 = 0x60;
pub const BPF_LEN: u16 = 0x80;
pub const BPF_MSH: u16 = 0xa0;

pub const BPF_ADD: u16 = 0x00;
pub const BPF_SUB: u16 = 0x10;
pub const BPF_MUL: u16 = 0x20;
pub const BPF_DIV: u16 = 0x30;
pub const BPF_OR: u16 = 0x40;
pub const BPF_AND: u16 = 0x50;
pub const BPF_LSH: u16 = 0x60;
pub const BPF_RSH: u16 = 0x70;
pub const BPF_NEG: u16 = 0x80;
pub const BPF_MOD: u16 = 0x90;
pub const BPF_XOR: u16 = 0xa0;

pub const BPF_JA: u16 = 0x00;
pub const BPF_JEQ: u16 = 0x10;
pub const BPF_JGT: u16 = 0x20;
pub const BPF_JGE: u16 = 0x30;
pub const BPF_JSET: u16 = 0x40;

pub const BPF_K: u16 = 0x00;
pub const BPF_X: u16 = 0x08;
/// `ret a` (the return value source of `BPF_RET`).
pub const BPF_A: u16 = 0x10;

pub const BPF_TAX: u16 = 0x00;
pub const BPF_TXA: u16 = 0x80;

/// Scratch memory words (`M[0]` to `M[15]`).
pub const BPF_MEMWORDS: usize = 16;
/// The longest program the kernel accepts.
pub const BPF_MAXINSNS: usize = 4096;

/// Negative offsets of `BPF_ABS` loads read the kernel's "ancillary data" instead of the
/// packet (linux/filter.h): here, whether a VLAN tag was taken out of the frame.
pub const SKF_AD_OFF: i32 = -0x1000;
pub const SKF_AD_VLAN_TAG_PRESENT: i32 = 48;

/// What the program returns for an accepted frame: the number of bytes to keep (all).
pub const ACCEPT: u32 = u32::MAX;

/// Largest offset a compiled load uses; a larger constant or computed offset rejects
/// (no frame is that long), which keeps `X + k` far from overflow and from the kernel's
/// negative offsets.
const MAX_OFFSET: u64 = 0x0FFF_FFFF;

/// Why a filter has no classic BPF form here (the caller filters in user space only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BpfError(String);

impl fmt::Display for BpfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no classic BPF program: {}", self.0)
    }
}

impl std::error::Error for BpfError {}

impl BpfError {
    pub(super) fn new(message: String) -> BpfError {
        BpfError(message)
    }
}

type Compiled<T> = Result<T, BpfError>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Label(usize);

/// An instruction before jump offsets are known.
#[derive(Clone, Copy, Debug)]
enum Item {
    Insn {
        code: u16,
        k: u32,
    },
    Jump {
        code: u16,
        k: u32,
        jt: Label,
        jf: Label,
    },
    Ja(Label),
    Mark(Label),
}

/// The generator: a list of items and the two final labels.
struct Gen {
    framing: Framing,
    items: Vec<Item>,
    labels: usize,
    reject: Label,
    /// The first scratch word free for arithmetic: those below hold the offsets the
    /// `geneve` tests store.
    first_scratch: usize,
}

/// Compiles a (simplified) tree for frames of `framing`.
pub(super) fn compile(expr: &Expr, framing: Framing) -> Compiled<Vec<BpfInsn>> {
    let geneve_regs = GENEVE_REGS * usize::from(super::ast::geneve_depth(expr));
    let mut gen = Gen {
        framing,
        items: Vec::new(),
        labels: 0,
        reject: Label(0),
        first_scratch: geneve_regs,
    };
    let accept = gen.label();
    gen.reject = gen.label();
    let reject = gen.reject;
    // The kernel refuses a program that may read a scratch word before writing it, and
    // the evaluator reads 0 from an offset no `geneve` stored.
    if geneve_regs > 0 {
        gen.insn(BPF_LD | BPF_IMM, 0);
        for slot in 0..geneve_regs {
            gen.insn(BPF_ST, Gen::scratch_word(slot)?);
        }
    }
    gen.expr(expr, accept, reject)?;
    gen.mark(accept);
    gen.insn(BPF_RET | BPF_K, ACCEPT);
    gen.mark(reject);
    gen.insn(BPF_RET | BPF_K, 0);
    let program = resolve(&gen.items, gen.labels)?;
    if program.len() > BPF_MAXINSNS {
        return Err(BpfError(format!(
            "{} instructions, more than the {BPF_MAXINSNS} the kernel accepts",
            program.len()
        )));
    }
    Ok(program)
}

impl Gen {
    fn label(&mut self) -> Label {
        self.labels += 1;
        Label(self.labels - 1)
    }

    fn mark(&mut self, label: Label) {
        self.items.push(Item::Mark(label));
    }

    fn insn(&mut self, code: u16, k: u32) {
        self.items.push(Item::Insn { code, k });
    }

    fn jump(&mut self, code: u16, k: u32, jt: Label, jf: Label) {
        self.items.push(Item::Jump {
            code: BPF_JMP | code,
            k,
            jt,
            jf,
        });
    }

    fn ja(&mut self, target: Label) {
        self.items.push(Item::Ja(target));
    }

    fn size_code(size: u8) -> u16 {
        match size {
            1 => BPF_B,
            2 => BPF_H,
            _ => BPF_W,
        }
    }

    /// `A = size bytes at offset`, or reject when no frame is that long.
    fn load_abs(&mut self, size: u8, offset: u64) {
        match u32::try_from(offset) {
            Ok(k) if offset <= MAX_OFFSET => self.insn(BPF_LD | Self::size_code(size) | BPF_ABS, k),
            _ => self.ja(self.reject),
        }
    }

    /// `A = size bytes at X + offset`.
    fn load_ind(&mut self, size: u8, offset: u64) {
        match u32::try_from(offset) {
            Ok(k) if offset <= MAX_OFFSET => self.insn(BPF_LD | Self::size_code(size) | BPF_IND, k),
            _ => self.ja(self.reject),
        }
    }

    /// `X =` the stored offset `at` counts from, when it has one.
    fn load_base(&mut self, at: At) -> Compiled<()> {
        if let Some(reg) = at.reg {
            self.insn(BPF_LDX | BPF_MEM, Self::scratch_word(reg)?);
        }
        Ok(())
    }

    /// `A = size bytes at at`.
    fn load(&mut self, size: u8, at: At) -> Compiled<()> {
        if at.reg.is_some() {
            self.load_base(at)?;
            self.load_ind(size, at.k);
        } else {
            self.load_abs(size, at.k);
        }
        Ok(())
    }

    /// `X =` the offset of the transport header of the IPv4 datagram at `net`, less
    /// `net.k`: loads at `X + net.k + n` then read its byte `n`.
    fn load_ipv4_transport(&mut self, net: At) -> Compiled<()> {
        match u32::try_from(net.k) {
            Ok(k) if net.k <= MAX_OFFSET => {
                if net.reg.is_some() {
                    // X = base + 4 * (byte at base + k & 0xf), as libpcap computes it
                    // when the network header's offset is variable.
                    self.load_base(net)?;
                    self.insn(BPF_LD | BPF_B | BPF_IND, k);
                    self.insn(BPF_ALU | BPF_AND | BPF_K, 0x0F);
                    self.insn(BPF_ALU | BPF_LSH | BPF_K, 2);
                    self.insn(BPF_ALU | BPF_ADD | BPF_X, 0);
                    self.insn(BPF_MISC | BPF_TAX, 0);
                } else {
                    self.insn(BPF_LDX | BPF_B | BPF_MSH, k);
                }
            }
            _ => self.ja(self.reject),
        }
        Ok(())
    }

    fn network(&self, depth: Depth) -> At {
        self.framing.network(depth)
    }

    fn expr(&mut self, expr: &Expr, t: Label, f: Label) -> Compiled<()> {
        match expr {
            Expr::Const(true) => self.ja(t),
            Expr::Const(false) => self.ja(f),
            Expr::All(items) => {
                let Some((last, first)) = items.split_last() else {
                    self.ja(t);
                    return Ok(());
                };
                for item in first {
                    let next = self.label();
                    self.expr(item, next, f)?;
                    self.mark(next);
                }
                self.expr(last, t, f)?;
            }
            Expr::Any(items) => {
                let Some((last, first)) = items.split_last() else {
                    self.ja(f);
                    return Ok(());
                };
                for item in first {
                    let next = self.label();
                    self.expr(item, t, next)?;
                    self.mark(next);
                }
                self.expr(last, t, f)?;
            }
            Expr::Not(inner) => self.expr(inner, f, t)?,
            Expr::Test(test) => self.test(test, t, f)?,
            Expr::Compare { op, lhs, rhs } => {
                self.requirements(lhs, f)?;
                self.requirements(rhs, f)?;
                let (src, k) = match rhs {
                    Value::Const(c) => {
                        self.value(lhs, 0)?;
                        (BPF_K, *c)
                    }
                    _ => {
                        let m = self.scratch(0)?;
                        self.value(rhs, 0)?;
                        self.insn(BPF_ST, m);
                        self.value(lhs, 1)?;
                        self.insn(BPF_LDX | BPF_MEM, m);
                        (BPF_X, 0)
                    }
                };
                let (cond, jt, jf) = match op {
                    Comparison::Eq => (BPF_JEQ, t, f),
                    Comparison::Ne => (BPF_JEQ, f, t),
                    Comparison::Lt => (BPF_JGE, f, t),
                    Comparison::Le => (BPF_JGT, f, t),
                    Comparison::Gt => (BPF_JGT, t, f),
                    Comparison::Ge => (BPF_JGE, t, f),
                };
                self.jump(cond | src, k, jt, jf);
            }
        }
        Ok(())
    }

    /// Jumps to `t` when the link layer announces `proto`, else to `f` (as
    /// `Frame::carries`).
    fn carries(&mut self, proto: NetProto, depth: Depth, t: Label, f: Label) -> Compiled<()> {
        if let Some((type_at, net)) = self.framing.type_and_network(depth) {
            if depth.mpls_labels > 0 {
                let version = match proto {
                    NetProto::Ipv4 => 0x40,
                    NetProto::Ipv6 => 0x60,
                    _ => {
                        self.ja(f);
                        return Ok(());
                    }
                };
                let bottom = self.label();
                self.load(1, net.minus(2))?;
                self.insn(BPF_ALU | BPF_AND | BPF_K, 0x01);
                self.jump(BPF_JEQ, 0x01, bottom, f);
                self.mark(bottom);
                self.load(1, net)?;
                self.insn(BPF_ALU | BPF_AND | BPF_K, 0xF0);
                self.jump(BPF_JEQ, version, t, f);
            } else {
                self.load(2, type_at)?;
                let wanted = self.framing.type_value(proto, depth);
                self.jump(BPF_JEQ, wanted, t, f);
            }
            return Ok(());
        }
        match self.framing {
            Framing::Null | Framing::Loop => {
                let families: &[u32] = match proto {
                    NetProto::Ipv4 => &[super::eval::AF_INET],
                    NetProto::Ipv6 => &super::eval::AF_INET6_BSD,
                    _ => {
                        self.ja(f);
                        return Ok(());
                    }
                };
                self.load_abs(4, 0);
                let mut candidates: Vec<u32> = families.to_vec();
                if self.framing == Framing::Null {
                    candidates.extend(families.iter().map(|f| f.swap_bytes()));
                }
                for family in candidates {
                    let next = self.label();
                    self.jump(BPF_JEQ, family, t, next);
                    self.mark(next);
                }
                self.ja(f);
            }
            Framing::RawIp => {
                let version = match proto {
                    NetProto::Ipv4 => 0x40,
                    NetProto::Ipv6 => 0x60,
                    _ => {
                        self.ja(f);
                        return Ok(());
                    }
                };
                self.load_abs(1, 0);
                self.insn(BPF_ALU | BPF_AND | BPF_K, 0xF0);
                self.jump(BPF_JEQ, version, t, f);
            }
            Framing::RawIpv4 => self.ja(if proto == NetProto::Ipv4 { t } else { f }),
            Framing::RawIpv6 => self.ja(if proto == NetProto::Ipv6 { t } else { f }),
            _ => self.ja(f),
        }
        Ok(())
    }

    /// Falls through when the link layer announces `proto`, else jumps to `f`.
    fn require_carries(&mut self, proto: NetProto, depth: Depth, f: Label) -> Compiled<()> {
        let next = self.label();
        self.carries(proto, depth, next, f)?;
        self.mark(next);
        Ok(())
    }

    /// Falls through when the byte at `at` is `value`, else jumps to `f`.
    fn require_byte(&mut self, at: At, value: u32, f: Label) -> Compiled<()> {
        let next = self.label();
        self.load(1, at)?;
        self.jump(BPF_JEQ, value, next, f);
        self.mark(next);
        Ok(())
    }

    /// Falls through for an IPv4 datagram at `net` that is not a later fragment.
    fn require_first_fragment(&mut self, net: At, f: Label) -> Compiled<()> {
        let next = self.label();
        self.load(2, net.plus(6))?;
        self.jump(BPF_JSET, 0x1FFF, f, next);
        self.mark(next);
        Ok(())
    }

    /// Applies `field` to the source, the destination, or both (as `by_direction`).
    fn by_direction(
        &mut self,
        dir: Dir,
        src: At,
        dst: At,
        t: Label,
        f: Label,
        field: &mut dyn FnMut(&mut Gen, At, Label, Label) -> Compiled<()>,
    ) -> Compiled<()> {
        match dir {
            Dir::Src => field(self, src, t, f),
            Dir::Dst => field(self, dst, t, f),
            Dir::Either => {
                let next = self.label();
                field(self, src, t, next)?;
                self.mark(next);
                field(self, dst, t, f)
            }
            Dir::Both => {
                let next = self.label();
                field(self, src, next, f)?;
                self.mark(next);
                field(self, dst, t, f)
            }
        }
    }

    /// Jumps to `ok` when A is one of the transport protocols, else to `f`.
    fn protocol_in(&mut self, protocols: super::ast::Transports, ok: Label, f: Label) {
        for (wanted, protocol) in [
            (protocols.tcp, ip_protocol::TCP),
            (protocols.udp, ip_protocol::UDP),
            (protocols.sctp, ip_protocol::SCTP),
        ] {
            if wanted {
                let next = self.label();
                self.jump(BPF_JEQ, u32::from(protocol), ok, next);
                self.mark(next);
            }
        }
        self.ja(f);
    }

    fn test(&mut self, test: &Test, t: Label, f: Label) -> Compiled<()> {
        let depth = test.depth;
        let net = self.network(depth);
        match test.kind {
            TestKind::NetProto(proto) => self.carries(proto, depth, t, f)?,
            TestKind::Ipv4Protocol(protocol) => {
                self.require_carries(NetProto::Ipv4, depth, f)?;
                self.load(1, net.plus(9))?;
                self.jump(BPF_JEQ, protocol, t, f);
            }
            TestKind::Ipv6Protocol(protocol) => {
                self.require_carries(NetProto::Ipv6, depth, f)?;
                self.load(1, net.plus(6))?;
                let fragment = self.label();
                self.jump(BPF_JEQ, protocol, t, fragment);
                self.mark(fragment);
                self.require_byte_in_a(u32::from(ip_protocol::IPV6_FRAGMENT), f);
                self.load(1, net.plus(40))?;
                self.jump(BPF_JEQ, protocol, t, f);
            }
            TestKind::Ipv6NextHeader(protocol) => {
                self.require_carries(NetProto::Ipv6, depth, f)?;
                self.load(1, net.plus(6))?;
                self.jump(BPF_JEQ, protocol, t, f);
            }
            TestKind::Ipv4Address {
                carrier,
                dir,
                addr,
                mask,
            } => {
                self.require_carries(carrier, depth, f)?;
                let (src, dst) = if carrier == NetProto::Ipv4 {
                    (12, 16)
                } else {
                    (14, 24)
                };
                self.by_direction(
                    dir,
                    net.plus(src),
                    net.plus(dst),
                    t,
                    f,
                    &mut |gen, at, t, f| {
                        if mask == 0 {
                            gen.ja(t);
                            return Ok(());
                        }
                        gen.load(4, at)?;
                        if mask != u32::MAX {
                            gen.insn(BPF_ALU | BPF_AND | BPF_K, mask);
                        }
                        gen.jump(BPF_JEQ, addr, t, f);
                        Ok(())
                    },
                )?;
            }
            TestKind::Ipv6Address { dir, addr, mask } => {
                self.require_carries(NetProto::Ipv6, depth, f)?;
                self.by_direction(
                    dir,
                    net.plus(8),
                    net.plus(24),
                    t,
                    f,
                    &mut |gen, at, t, f| {
                        for (word, addr_word, mask_word) in ipv6_masked_words(addr, mask) {
                            gen.load(4, at.plus(4 * u64::from(word)))?;
                            if mask_word != u32::MAX {
                                gen.insn(BPF_ALU | BPF_AND | BPF_K, mask_word);
                            }
                            let next = gen.label();
                            gen.jump(BPF_JEQ, addr_word, next, f);
                            gen.mark(next);
                        }
                        gen.ja(t);
                        Ok(())
                    },
                )?;
            }
            TestKind::EtherAddress { dir, mac } => {
                if !self.framing.ethernet_at(depth) {
                    self.ja(f);
                    return Ok(());
                }
                let tail = u32::from_be_bytes([mac[2], mac[3], mac[4], mac[5]]);
                let head = u32::from(u16::from_be_bytes([mac[0], mac[1]]));
                let link = self.framing.link_header(depth);
                self.by_direction(dir, link.plus(6), link, t, f, &mut |gen, at, t, f| {
                    let next = gen.label();
                    gen.load(4, at.plus(2))?;
                    gen.jump(BPF_JEQ, tail, next, f);
                    gen.mark(next);
                    gen.load(2, at)?;
                    gen.jump(BPF_JEQ, head, t, f);
                    Ok(())
                })?;
            }
            TestKind::Port {
                ip,
                protocols,
                dir,
                low,
                high,
            } => {
                let range = move |gen: &mut Gen, t: Label, f: Label| {
                    if low == high {
                        gen.jump(BPF_JEQ, u32::from(low), t, f);
                    } else {
                        let next = gen.label();
                        gen.jump(BPF_JGE, u32::from(low), next, f);
                        gen.mark(next);
                        gen.jump(BPF_JGT, u32::from(high), f, t);
                    }
                };
                let ok = self.label();
                match ip {
                    IpVersion::V4 => {
                        self.require_carries(NetProto::Ipv4, depth, f)?;
                        self.load(1, net.plus(9))?;
                        self.protocol_in(protocols, ok, f);
                        self.mark(ok);
                        self.require_first_fragment(net, f)?;
                        self.load_ipv4_transport(net)?;
                        let at = At::abs(net.k);
                        self.by_direction(dir, at, at.plus(2), t, f, &mut |gen, at, t, f| {
                            gen.load_ind(2, at.k);
                            range(gen, t, f);
                            Ok(())
                        })?;
                    }
                    IpVersion::V6 => {
                        self.require_carries(NetProto::Ipv6, depth, f)?;
                        self.load(1, net.plus(6))?;
                        self.protocol_in(protocols, ok, f);
                        self.mark(ok);
                        self.by_direction(
                            dir,
                            net.plus(40),
                            net.plus(42),
                            t,
                            f,
                            &mut |gen, at, t, f| {
                                gen.load(2, at)?;
                                range(gen, t, f);
                                Ok(())
                            },
                        )?;
                    }
                }
            }
            TestKind::Vlan { id } => {
                let Some((type_at, net)) = self.framing.type_and_network(depth) else {
                    self.ja(f);
                    return Ok(());
                };
                if !self.framing.ethernet_at(depth) {
                    self.ja(f);
                    return Ok(());
                }
                self.load(2, type_at)?;
                let tagged = self.label();
                for tpid in ethertype::VLAN_TAGS {
                    let next = self.label();
                    self.jump(BPF_JEQ, u32::from(tpid), tagged, next);
                    self.mark(next);
                }
                self.ja(f);
                self.mark(tagged);
                match id {
                    Some(id) => {
                        self.load(2, net)?;
                        self.insn(BPF_ALU | BPF_AND | BPF_K, 0x0FFF);
                        self.jump(BPF_JEQ, u32::from(id), t, f);
                    }
                    None => self.ja(t),
                }
            }
            TestKind::Mpls { label } => {
                if self.framing.type_and_network(depth).is_none() {
                    self.ja(f);
                    return Ok(());
                }
                let here = self.label();
                if depth.mpls_labels > 0 {
                    // Another label follows only when the previous one is not the bottom.
                    self.load(1, net.minus(2))?;
                    self.jump(BPF_JSET, 0x01, f, here);
                } else {
                    self.carries(NetProto::Ethertype(ethertype::MPLS), depth, here, f)?;
                }
                self.mark(here);
                match label {
                    Some(label) => {
                        self.load(4, net)?;
                        self.insn(BPF_ALU | BPF_AND | BPF_K, 0xFFFF_F000);
                        self.jump(BPF_JEQ, label << 12, t, f);
                    }
                    None => self.ja(t),
                }
            }
            TestKind::Pppoes { session } => {
                if self.framing.type_and_network(depth).is_none() {
                    self.ja(f);
                    return Ok(());
                }
                let here = self.label();
                self.carries(
                    NetProto::Ethertype(ethertype::PPPOE_SESSION),
                    depth,
                    here,
                    f,
                )?;
                self.mark(here);
                match session {
                    Some(id) => {
                        self.load(4, net)?;
                        self.insn(BPF_ALU | BPF_AND | BPF_K, 0xFFFF);
                        self.jump(BPF_JEQ, u32::from(id), t, f);
                    }
                    None => self.ja(t),
                }
            }
            TestKind::Geneve { vni } => self.geneve(depth, vni, t, f)?,
        }
        Ok(())
    }

    /// `geneve [vni]` (as `eval::geneve`): the IPv4 checks leave the Geneve header's
    /// offset in A, else the IPv6 checks do; then the offsets for the tests behind it go
    /// to its three scratch words.
    fn geneve(&mut self, depth: Depth, vni: Option<u32>, t: Label, f: Label) -> Compiled<()> {
        let net = self.network(depth);
        let (found, try_v6) = (self.label(), self.label());
        // Falls through when the Geneve header at X + k has version 0 (and the VNI).
        let header_checks = |gen: &mut Gen, k: u64, f: Label| {
            let version_ok = gen.label();
            gen.load_ind(1, k);
            gen.insn(BPF_ALU | BPF_AND | BPF_K, 0xC0);
            gen.jump(BPF_JEQ, 0, version_ok, f);
            gen.mark(version_ok);
            if let Some(vni) = vni {
                let vni_ok = gen.label();
                gen.load_ind(4, k + 4);
                gen.insn(BPF_ALU | BPF_AND | BPF_K, 0xFFFF_FF00);
                gen.jump(BPF_JEQ, vni << 8, vni_ok, f);
                gen.mark(vni_ok);
            }
        };
        let const_k = |gen: &mut Gen, k: u64| match u32::try_from(k) {
            Ok(k) if u64::from(k) <= MAX_OFFSET => gen.insn(BPF_LD | BPF_IMM, k),
            _ => gen.ja(gen.reject),
        };
        // IPv4: UDP, not a later fragment, to the Geneve port.
        self.require_carries(NetProto::Ipv4, depth, try_v6)?;
        self.require_byte(net.plus(9), u32::from(ip_protocol::UDP), try_v6)?;
        self.require_first_fragment(net, try_v6)?;
        self.load_ipv4_transport(net)?;
        let port_ok = self.label();
        self.load_ind(2, net.k + 2);
        self.jump(BPF_JEQ, u32::from(GENEVE_PORT), port_ok, try_v6);
        self.mark(port_ok);
        header_checks(self, net.k + 8, try_v6);
        self.insn(BPF_MISC | BPF_TXA, 0);
        match u32::try_from(net.k + 8) {
            Ok(k) if net.k + 8 <= MAX_OFFSET => self.insn(BPF_ALU | BPF_ADD | BPF_K, k),
            _ => self.ja(self.reject),
        }
        self.ja(found);
        // IPv6: UDP right after the fixed header, to the Geneve port.
        self.mark(try_v6);
        self.require_carries(NetProto::Ipv6, depth, f)?;
        self.require_byte(net.plus(6), u32::from(ip_protocol::UDP), f)?;
        let port_ok = self.label();
        self.load(2, net.plus(42))?;
        self.jump(BPF_JEQ, u32::from(GENEVE_PORT), port_ok, f);
        self.mark(port_ok);
        self.load_base(net)?;
        if net.reg.is_none() {
            self.insn(BPF_LDX | BPF_IMM, 0);
        }
        header_checks(self, net.k + 48, f);
        const_k(self, net.k + 48);
        self.insn(BPF_ALU | BPF_ADD | BPF_X, 0);
        // A = the Geneve header's offset.
        self.mark(found);
        let slot = GENEVE_REGS * usize::from(depth.geneve);
        let word = |reg: GeneveReg| Self::scratch_word(slot + reg as usize);
        self.insn(BPF_MISC | BPF_TAX, 0);
        self.insn(BPF_ALU | BPF_ADD | BPF_K, 2);
        self.insn(BPF_ST, word(GeneveReg::LinkType)?);
        // End of the header: X + 8 + 4 * options length (low 6 bits of the first byte).
        self.load_ind(1, 0);
        self.insn(BPF_ALU | BPF_AND | BPF_K, 0x3F);
        self.insn(BPF_ALU | BPF_LSH | BPF_K, 2);
        self.insn(BPF_ALU | BPF_ADD | BPF_K, 8);
        self.insn(BPF_ALU | BPF_ADD | BPF_X, 0);
        self.insn(BPF_ST, word(GeneveReg::LinkHeader)?);
        self.insn(BPF_ST, word(GeneveReg::Payload)?);
        let ethernet = self.label();
        self.load_ind(2, 2);
        self.jump(BPF_JEQ, u32::from(ETHERTYPE_TEB), ethernet, t);
        self.mark(ethernet);
        self.insn(BPF_LD | BPF_MEM, word(GeneveReg::LinkHeader)?);
        self.insn(BPF_ALU | BPF_ADD | BPF_K, 12);
        self.insn(BPF_ST, word(GeneveReg::LinkType)?);
        self.insn(BPF_ALU | BPF_ADD | BPF_K, 2);
        self.insn(BPF_ST, word(GeneveReg::Payload)?);
        self.ja(t);
        Ok(())
    }

    /// Falls through when A is `value`, else jumps to `f`.
    fn require_byte_in_a(&mut self, value: u32, f: Label) {
        let next = self.label();
        self.jump(BPF_JEQ, value, next, f);
        self.mark(next);
    }

    /// The protocol checks the loads in `value` imply, in the evaluator's order; falls
    /// through when they all hold.
    fn requirements(&mut self, value: &Value, f: Label) -> Compiled<()> {
        match value {
            Value::Const(_) | Value::WireLen => {}
            Value::Neg(inner) => self.requirements(inner, f)?,
            Value::Binary { lhs, rhs, .. } => {
                self.requirements(lhs, f)?;
                self.requirements(rhs, f)?;
            }
            Value::Load {
                layer,
                index,
                depth,
                ..
            } => {
                self.requirements(index, f)?;
                let net = self.network(*depth);
                match *layer {
                    Layer::Link => {}
                    Layer::Network(proto) => self.require_carries(proto, *depth, f)?,
                    Layer::AfterIpv4(protocol) => {
                        self.require_carries(NetProto::Ipv4, *depth, f)?;
                        self.require_byte(net.plus(9), u32::from(protocol), f)?;
                        self.require_first_fragment(net, f)?;
                    }
                    Layer::Icmp6 => {
                        self.require_carries(NetProto::Ipv6, *depth, f)?;
                        self.require_byte(net.plus(6), u32::from(ip_protocol::ICMPV6), f)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Scratch word `slot`, if there is one.
    fn scratch_word(slot: usize) -> Compiled<u32> {
        if slot < BPF_MEMWORDS {
            Ok(slot as u32)
        } else {
            Err(BpfError(
                "arithmetic nested too deeply for the 16 scratch words".to_string(),
            ))
        }
    }

    /// The scratch word for arithmetic at nesting `slot`, above the `geneve` offsets.
    fn scratch(&self, slot: usize) -> Compiled<u32> {
        Self::scratch_word(self.first_scratch + slot)
    }

    /// Computes `value` into A, using scratch words from `slot` up.
    fn value(&mut self, value: &Value, slot: usize) -> Compiled<()> {
        match value {
            Value::Const(c) => self.insn(BPF_LD | BPF_IMM, *c),
            Value::WireLen => self.insn(BPF_LD | BPF_W | BPF_LEN, 0),
            Value::Neg(inner) => {
                self.value(inner, slot)?;
                self.insn(BPF_ALU | BPF_NEG, 0);
            }
            Value::Binary { op, lhs, rhs } => {
                let alu = match op {
                    ArithOp::Add => BPF_ADD,
                    ArithOp::Sub => BPF_SUB,
                    ArithOp::Mul => BPF_MUL,
                    ArithOp::Div => BPF_DIV,
                    ArithOp::Mod => BPF_MOD,
                    ArithOp::And => BPF_AND,
                    ArithOp::Or => BPF_OR,
                    ArithOp::Xor => BPF_XOR,
                    ArithOp::Shl => BPF_LSH,
                    ArithOp::Shr => BPF_RSH,
                };
                let shift = matches!(op, ArithOp::Shl | ArithOp::Shr);
                if let Value::Const(c) = **rhs {
                    self.value(lhs, slot)?;
                    if matches!(op, ArithOp::Div | ArithOp::Mod) && c == 0 {
                        // The kernel refuses a constant division by zero; BPF rejects.
                        self.ja(self.reject);
                    } else if shift && c >= 32 {
                        self.insn(BPF_LD | BPF_IMM, 0);
                    } else {
                        self.insn(BPF_ALU | alu | BPF_K, c);
                    }
                    return Ok(());
                }
                let m = self.scratch(slot)?;
                self.value(rhs, slot)?;
                self.insn(BPF_ST, m);
                self.value(lhs, slot + 1)?;
                self.insn(BPF_LDX | BPF_MEM, m);
                if shift {
                    // A shift by 32 or more yields 0 (the kernel would mask the count).
                    let (ok, zero, done) = (self.label(), self.label(), self.label());
                    self.insn(BPF_ST, m);
                    self.insn(BPF_MISC | BPF_TXA, 0);
                    self.jump(BPF_JGE, 32, zero, ok);
                    self.mark(ok);
                    self.insn(BPF_LD | BPF_MEM, m);
                    self.insn(BPF_ALU | alu | BPF_X, 0);
                    self.ja(done);
                    self.mark(zero);
                    self.insn(BPF_LD | BPF_IMM, 0);
                    self.mark(done);
                } else {
                    self.insn(BPF_ALU | alu | BPF_X, 0);
                }
            }
            Value::Load {
                layer,
                index,
                size,
                depth,
            } => {
                let net = self.network(*depth);
                let base = match layer {
                    Layer::Link => self.framing.link_header(*depth),
                    Layer::Network(_) | Layer::AfterIpv4(_) => net,
                    Layer::Icmp6 => net.plus(40),
                };
                let after_ipv4 = matches!(layer, Layer::AfterIpv4(_));
                if let Value::Const(i) = **index {
                    if after_ipv4 {
                        self.load_ipv4_transport(net)?;
                        self.load_ind(*size, base.k + u64::from(i));
                    } else {
                        self.load(*size, base.plus(u64::from(i)))?;
                    }
                    return Ok(());
                }
                self.value(index, slot)?;
                // An index no frame is long enough for rejects before it can wrap.
                let fits = self.label();
                self.jump(BPF_JGT, MAX_OFFSET as u32, self.reject, fits);
                self.mark(fits);
                if after_ipv4 || base.reg.is_some() {
                    // A += the variable part of the base (X), a frame offset that a
                    // successful read produced: far from overflow.
                    let m = self.scratch(slot)?;
                    self.insn(BPF_ST, m);
                    if after_ipv4 {
                        self.load_ipv4_transport(net)?;
                    } else {
                        self.load_base(base)?;
                    }
                    self.insn(BPF_LD | BPF_MEM, m);
                    self.insn(BPF_ALU | BPF_ADD | BPF_X, 0);
                }
                self.insn(BPF_MISC | BPF_TAX, 0);
                self.load_ind(*size, base.k);
            }
        }
        Ok(())
    }
}

/// Lays the items out: jump offsets from labels, with a conditional jump whose target is
/// more than 255 instructions away turned into `jcc 0, 1; ja jt; ja jf`.
fn resolve(items: &[Item], labels: usize) -> Compiled<Vec<BpfInsn>> {
    // Drop `ja` to the very next instruction.
    let mut kept: Vec<Item> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        if let Item::Ja(target) = item {
            let next_marks = items[i + 1..]
                .iter()
                .take_while(|it| matches!(it, Item::Mark(_)))
                .any(|it| matches!(it, Item::Mark(l) if l == target));
            if next_marks {
                continue;
            }
        }
        kept.push(*item);
    }
    let mut long = vec![false; kept.len()];
    loop {
        // Positions of items and labels.
        let mut at = vec![0usize; kept.len()];
        let mut label_at = vec![usize::MAX; labels];
        let mut pc = 0;
        for (i, item) in kept.iter().enumerate() {
            at[i] = pc;
            match item {
                Item::Mark(l) => label_at[l.0] = pc,
                Item::Jump { .. } if long[i] => pc += 3,
                _ => pc += 1,
            }
        }
        if pc > 4 * BPF_MAXINSNS {
            return Err(BpfError(format!("more than {BPF_MAXINSNS} instructions")));
        }
        let offset = |from: usize, to: Label| -> Compiled<usize> {
            let target = label_at[to.0];
            target
                .checked_sub(from + 1)
                .filter(|_| target != usize::MAX)
                .ok_or_else(|| BpfError("internal: backward or unplaced jump".to_string()))
        };
        let mut changed = false;
        for (i, item) in kept.iter().enumerate() {
            if let Item::Jump { jt, jf, .. } = item {
                if !long[i] && (offset(at[i], *jt)? > 255 || offset(at[i], *jf)? > 255) {
                    long[i] = true;
                    changed = true;
                }
            }
        }
        if changed {
            continue;
        }
        let mut program = Vec::with_capacity(pc);
        let ja = |from: usize, to: Label| -> Compiled<BpfInsn> {
            Ok(BpfInsn {
                code: BPF_JMP | BPF_JA,
                jt: 0,
                jf: 0,
                k: u32::try_from(offset(from, to)?).map_err(|_| BpfError("jump".into()))?,
            })
        };
        for (i, item) in kept.iter().enumerate() {
            match *item {
                Item::Mark(_) => {}
                Item::Insn { code, k } => program.push(BpfInsn {
                    code,
                    jt: 0,
                    jf: 0,
                    k,
                }),
                Item::Ja(to) => program.push(ja(at[i], to)?),
                Item::Jump { code, k, jt, jf } if long[i] => {
                    program.push(BpfInsn {
                        code,
                        jt: 0,
                        jf: 1,
                        k,
                    });
                    program.push(ja(at[i] + 1, jt)?);
                    program.push(ja(at[i] + 2, jf)?);
                }
                Item::Jump { code, k, jt, jf } => program.push(BpfInsn {
                    code,
                    jt: offset(at[i], jt)? as u8,
                    jf: offset(at[i], jf)? as u8,
                    k,
                }),
            }
        }
        return Ok(program);
    }
}

/// Checks a program as the kernel does before attaching it (`bpf_check_classic`): length,
/// known opcodes, jumps inside the program, scratch words in range, no constant division
/// by zero or shift by 32 or more, and a return at the end.
#[cfg(any(test, feature = "testing"))]
pub fn validate(program: &[BpfInsn]) -> Result<(), String> {
    if program.is_empty() || program.len() > BPF_MAXINSNS {
        return Err(format!("{} instructions", program.len()));
    }
    for (pc, insn) in program.iter().enumerate() {
        let class = insn.code & 0x07;
        let fail = |what: &str| Err(format!("({pc:03}) {what}"));
        match class {
            BPF_LD | BPF_LDX => {
                let mode = insn.code & 0xe0;
                let size = insn.code & 0x18;
                if mode == BPF_MEM && insn.k as usize >= BPF_MEMWORDS {
                    return fail("scratch word out of range");
                }
                if size == 0x18 {
                    return fail("unknown size");
                }
            }
            BPF_ST | BPF_STX => {
                if insn.k as usize >= BPF_MEMWORDS {
                    return fail("scratch word out of range");
                }
            }
            BPF_ALU => {
                let op = insn.code & 0xf0;
                if insn.code & BPF_X == 0 {
                    if matches!(op, BPF_DIV | BPF_MOD) && insn.k == 0 {
                        return fail("division by constant zero");
                    }
                    if matches!(op, BPF_LSH | BPF_RSH) && insn.k >= 32 {
                        return fail("shift by 32 or more");
                    }
                }
                if op > BPF_XOR {
                    return fail("unknown ALU operation");
                }
            }
            BPF_JMP => {
                let op = insn.code & 0xf0;
                let targets: Vec<usize> = if op == BPF_JA {
                    vec![pc + 1 + insn.k as usize]
                } else if op <= BPF_JSET {
                    vec![pc + 1 + insn.jt as usize, pc + 1 + insn.jf as usize]
                } else {
                    return fail("unknown jump");
                };
                if targets.iter().any(|&t| t >= program.len()) {
                    return fail("jump past the end");
                }
            }
            BPF_RET | BPF_MISC => {}
            _ => return fail("unknown class"),
        }
    }
    match program.last() {
        Some(insn) if insn.code & 0x07 == BPF_RET => Ok(()),
        _ => Err("does not end with a return".to_string()),
    }
}

/// Runs a program on one frame as the Linux kernel would, and returns its result (0:
/// reject). A load past the frame's end, a negative offset other than "VLAN tag
/// present" (which reads 0: frames here carry their tags inline), a division by zero, a
/// jump out of the program or an unknown opcode reject. `X + k` of an indirect load
/// wraps at 32 bits, and shift counts are masked to 5 bits, as in the kernel.
#[cfg(any(test, feature = "testing"))]
pub fn run(program: &[BpfInsn], frame: &[u8], wire_len: u32) -> u32 {
    let load = |offset: i64, size: u16| -> Option<u32> {
        let start = usize::try_from(offset).ok()?;
        let len = match size {
            BPF_B => 1,
            BPF_H => 2,
            BPF_W => 4,
            _ => return None,
        };
        let bytes = frame.get(start..start.checked_add(len)?)?;
        Some(bytes.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b)))
    };
    let (mut a, mut x) = (0u32, 0u32);
    let mut mem = [0u32; BPF_MEMWORDS];
    let mut pc = 0usize;
    // Jumps only go forward, so a program runs at most its length in steps.
    while let Some(insn) = program.get(pc) {
        pc += 1;
        let k = insn.k;
        let src = if insn.code & BPF_X != 0 { x } else { k };
        match insn.code & 0x07 {
            BPF_LD => {
                let size = insn.code & 0x18;
                a = match insn.code & 0xe0 {
                    BPF_IMM => k,
                    BPF_MEM => match mem.get(k as usize) {
                        Some(&v) => v,
                        None => return 0,
                    },
                    BPF_LEN => wire_len,
                    BPF_ABS => {
                        let offset = i64::from(k as i32);
                        if offset < 0 {
                            if offset == i64::from(SKF_AD_OFF + SKF_AD_VLAN_TAG_PRESENT) {
                                0
                            } else {
                                return 0;
                            }
                        } else {
                            match load(offset, size) {
                                Some(v) => v,
                                None => return 0,
                            }
                        }
                    }
                    BPF_IND => {
                        // The kernel adds in 32 bits; a negative sum is not the packet.
                        let offset = i64::from((x as i32).wrapping_add(k as i32));
                        match load(offset, size) {
                            Some(v) => v,
                            None => return 0,
                        }
                    }
                    _ => return 0,
                };
            }
            BPF_LDX => {
                x = match insn.code & 0xe0 {
                    BPF_IMM => k,
                    BPF_MEM => match mem.get(k as usize) {
                        Some(&v) => v,
                        None => return 0,
                    },
                    BPF_LEN => wire_len,
                    BPF_MSH if insn.code & 0x18 == BPF_B => {
                        match load(i64::from(k as i32), BPF_B) {
                            Some(v) => 4 * (v & 0x0F),
                            None => return 0,
                        }
                    }
                    _ => return 0,
                };
            }
            BPF_ST | BPF_STX => {
                let value = if insn.code & 0x07 == BPF_ST { a } else { x };
                match mem.get_mut(k as usize) {
                    Some(slot) => *slot = value,
                    None => return 0,
                }
            }
            BPF_ALU => {
                a = match insn.code & 0xf0 {
                    BPF_ADD => a.wrapping_add(src),
                    BPF_SUB => a.wrapping_sub(src),
                    BPF_MUL => a.wrapping_mul(src),
                    BPF_DIV => match a.checked_div(src) {
                        Some(v) => v,
                        None => return 0,
                    },
                    BPF_MOD => match a.checked_rem(src) {
                        Some(v) => v,
                        None => return 0,
                    },
                    BPF_OR => a | src,
                    BPF_AND => a & src,
                    BPF_XOR => a ^ src,
                    // The kernel masks the shift count.
                    BPF_LSH => a << (src & 31),
                    BPF_RSH => a >> (src & 31),
                    BPF_NEG => a.wrapping_neg(),
                    _ => return 0,
                };
            }
            BPF_JMP => {
                let op = insn.code & 0xf0;
                if op == BPF_JA {
                    pc = match pc.checked_add(k as usize) {
                        Some(next) => next,
                        None => return 0,
                    };
                    continue;
                }
                let taken = match op {
                    BPF_JEQ => a == src,
                    BPF_JGT => a > src,
                    BPF_JGE => a >= src,
                    BPF_JSET => a & src != 0,
                    _ => return 0,
                };
                pc += usize::from(if taken { insn.jt } else { insn.jf });
            }
            BPF_RET => {
                return match insn.code & 0x18 {
                    BPF_K => k,
                    BPF_A => a,
                    _ => 0,
                }
            }
            BPF_MISC => match insn.code & 0xf8 {
                BPF_TAX => x = a,
                BPF_TXA => a = x,
                _ => return 0,
            },
            _ => return 0,
        }
    }
    0
}

/// The program in `tcpdump -d`'s notation, one instruction per line.
#[cfg(any(test, feature = "testing"))]
pub fn dump(program: &[BpfInsn]) -> String {
    let mut out = String::new();
    for (pc, insn) in program.iter().enumerate() {
        let k = insn.k;
        let size = match insn.code & 0x18 {
            BPF_H => "h",
            BPF_B => "b",
            _ => "",
        };
        let alu = |op: u16| match op {
            BPF_ADD => "add",
            BPF_SUB => "sub",
            BPF_MUL => "mul",
            BPF_DIV => "div",
            BPF_MOD => "mod",
            BPF_OR => "or",
            BPF_AND => "and",
            BPF_XOR => "xor",
            BPF_LSH => "lsh",
            BPF_RSH => "rsh",
            _ => "alu?",
        };
        let (op, operand, jumps): (String, String, Option<(usize, usize)>) = match insn.code & 0x07
        {
            BPF_LD => {
                let operand = match insn.code & 0xe0 {
                    BPF_IMM => format!("#{k:#x}"),
                    BPF_MEM => format!("M[{k}]"),
                    BPF_LEN => "#pktlen".to_string(),
                    BPF_ABS if (k as i32) < 0 => {
                        format!("[{}]", k as i32)
                    }
                    BPF_ABS => format!("[{k}]"),
                    BPF_IND => format!("[x + {k}]"),
                    _ => "?".to_string(),
                };
                (format!("ld{size}"), operand, None)
            }
            BPF_LDX => {
                let operand = match insn.code & 0xe0 {
                    BPF_IMM => format!("#{k:#x}"),
                    BPF_MEM => format!("M[{k}]"),
                    BPF_LEN => "#pktlen".to_string(),
                    BPF_MSH => format!("4*([{k}]&0xf)"),
                    _ => "?".to_string(),
                };
                (format!("ldx{size}"), operand, None)
            }
            BPF_ST => ("st".to_string(), format!("M[{k}]"), None),
            BPF_STX => ("stx".to_string(), format!("M[{k}]"), None),
            BPF_ALU => {
                let op = insn.code & 0xf0;
                if op == BPF_NEG {
                    ("neg".to_string(), String::new(), None)
                } else if insn.code & BPF_X != 0 {
                    (alu(op).to_string(), "x".to_string(), None)
                } else {
                    (alu(op).to_string(), format!("#{k}"), None)
                }
            }
            BPF_JMP => {
                let op = insn.code & 0xf0;
                if op == BPF_JA {
                    ("ja".to_string(), format!("{}", pc + 1 + k as usize), None)
                } else {
                    let name = match op {
                        BPF_JEQ => "jeq",
                        BPF_JGT => "jgt",
                        BPF_JGE => "jge",
                        BPF_JSET => "jset",
                        _ => "j?",
                    };
                    let operand = if insn.code & BPF_X != 0 {
                        "x".to_string()
                    } else {
                        format!("#{k:#x}")
                    };
                    (
                        name.to_string(),
                        operand,
                        Some((pc + 1 + usize::from(insn.jt), pc + 1 + usize::from(insn.jf))),
                    )
                }
            }
            BPF_RET => {
                let operand = if insn.code & 0x18 == BPF_A {
                    "a".to_string()
                } else {
                    format!("#{k}")
                };
                ("ret".to_string(), operand, None)
            }
            _ => {
                let op = if insn.code & 0xf8 == BPF_TXA {
                    "txa"
                } else {
                    "tax"
                };
                (op.to_string(), String::new(), None)
            }
        };
        let line = match jumps {
            Some((jt, jf)) => format!("({pc:03}) {op:<8} {operand:<16} jt {jt}\tjf {jf}"),
            None => format!("({pc:03}) {op:<8} {operand}"),
        };
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
