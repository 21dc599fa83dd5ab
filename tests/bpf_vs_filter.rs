//! Differential test of the classic BPF compiler: for every expression of the tcpdump
//! differential test, on every frame of the conformance captures, of synthetic captures
//! of every link type, random frames, and every frame cut short, the compiled program
//! (run by the kernel-like interpreter) accepts exactly the frames `Filter::matches`
//! accepts. Every program must also pass the kernel's checks.

use std::path::PathBuf;

use rustniffer::capture::file;
use rustniffer::capture::{LinkType, Next, PacketSource};
use rustniffer::filter::bpf::{self, BpfInsn};
use rustniffer::filter::Filter;

#[path = "common/filter_corpus.rs"]
mod filter_corpus;
use filter_corpus::{corpus_pcaps, framed, garbage, EXPRESSIONS};

/// (link type, captured bytes, wire length)
type Frame = (LinkType, Vec<u8>, u32);

fn corpus_frames() -> Vec<Frame> {
    let tunnels = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tunnels/pcaps");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(tunnels)
        .expect("tests/tunnels/pcaps")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    match corpus_pcaps() {
        Some(dir) => paths.extend(
            std::fs::read_dir(dir)
                .expect("corpus readable")
                .filter_map(|e| e.ok().map(|e| e.path())),
        ),
        None => eprintln!("note: conformance corpus not found, only synthetic frames compared"),
    }
    paths.sort();
    let mut frames = Vec::new();
    for path in paths {
        let Ok(mut source) = file::open(path.to_str().expect("utf-8 path"), true) else {
            continue;
        };
        while let Next::Packet(p) = source.next_packet() {
            // The filter compiles for the link types libpcap's generator knows.
            if Filter::compile("").is_ok_and(|f| f.to_bpf(p.link).is_ok()) {
                frames.push((p.link, p.data.to_vec(), p.orig_len));
            }
        }
    }
    frames
}

fn random_frames(count: usize) -> Vec<Frame> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut random = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let types: [u16; 9] = [
        0x0800, 0x86DD, 0x0806, 0x8100, 0x88A8, 0x9100, 0x8035, 0x8847, 0x8864,
    ];
    (0..count)
        .map(|_| {
            let mut frame: Vec<u8> = (0..12).map(|_| random() as u8).collect();
            // Up to two tags, then a likely ethertype, then random bytes with plausible
            // IPv4/IPv6 first bytes and protocol numbers.
            for _ in 0..random() % 3 {
                frame.extend(types[3 + (random() % 3) as usize].to_be_bytes());
                frame.extend([random() as u8 & 0x0F, random() as u8]);
            }
            frame.extend(types[(random() % 7) as usize].to_be_bytes());
            let len = (random() % 120) as usize;
            for i in 0..len {
                let byte = random() as u8;
                frame.push(match i {
                    0 if byte & 1 == 0 => 0x45,
                    0 => 0x40 | (byte >> 4),
                    6 if byte & 3 == 0 => 0,
                    6 if byte & 3 == 1 => 44,
                    9 | 6 => [6, 17, 132, 1, 58][(byte % 5) as usize],
                    _ => byte,
                });
            }
            let wire = frame.len() as u32 + (random() % 3) as u32 * 100;
            (LinkType::ETHERNET, frame, wire)
        })
        .collect()
}

fn all_frames() -> Vec<Frame> {
    let mut frames = corpus_frames();
    for link in [
        LinkType::ETHERNET,
        LinkType::LINUX_SLL,
        LinkType::LINUX_SLL2,
        LinkType::NULL,
        LinkType::LOOP,
        LinkType::RAW,
        LinkType::IPV4,
        LinkType::IPV6,
        LinkType::PPP,
        LinkType::PPP_HDLC,
        LinkType::PPP_ETHER,
        LinkType::C_HDLC,
        LinkType::NFLOG,
    ] {
        for frame in framed(link) {
            let wire = frame.len() as u32;
            frames.push((link, frame, wire));
        }
    }
    for link in [LinkType::ETHERNET, LinkType::LINUX_SLL] {
        for frame in garbage(link) {
            let wire = frame.len() as u32;
            frames.push((link, frame, wire));
        }
    }
    frames.extend(random_frames(2000));
    // Every frame cut short at a few lengths (within headers mostly).
    let mut cut = Vec::new();
    for (link, data, wire) in &frames {
        for len in [
            0, 1, 13, 14, 15, 17, 23, 24, 30, 33, 34, 36, 38, 40, 46, 54, 58, 62, 70,
        ] {
            if len < data.len() {
                cut.push((*link, data[..len].to_vec(), *wire));
            }
        }
    }
    frames.extend(cut);
    frames
}

fn accepts(program: &[BpfInsn], frame: &Frame) -> bool {
    bpf::run(program, &frame.1, frame.2) != 0
}

/// Beyond the tcpdump list: what only the compiler finds hard (shifts by a computed
/// count, divisions by zero, huge or computed indexes, deep arithmetic).
const BPF_EXPRESSIONS: &[&str] = &[
    "tcp[0] << tcp[1] = 0",
    "ip[0] >> (ip[1] & 63) = 2 or udp",
    "ip[0] << (ip[1] | 32) = 0",
    "tcp[13] / (tcp[12] & 1) = 0",
    "ip[2:2] % (ip[0] & 0) = 1 or ip6",
    "ether[0xfffffff0] = 1 or ip",
    "ip[ip[0] * 0x10000000] = 0 or arp",
    "tcp[ip[0] - 0x45] = 0",
    "tcp[tcp[12] >> 4] & 0xff = tcp[2:2] - tcp[0:2]",
    "-ip[0] = -69",
    "len * 2 > ip[2:2] + 28 and not vlan",
    "icmp6[ip6[4:2] - 8] = 0",
    "1 + (2 + (3 + (4 + (5 + (6 + (7 + (ip[0] + ip[1]))))))) > 100",
    "ip[0] ^ ip[1] | ip[2] & ip[3] = ip[4] * ip[5] - ip[6] + ip[7] / (ip[8] + 1)",
    // Computed indexes from offsets a `geneve` stored, and arithmetic above its words.
    "geneve and ether[ether[0] & 7] = 2",
    "geneve and tcp[tcp[12] >> 4] = 0 or ip6[ip6[4] & 3] = 0",
    "geneve and geneve and udp[udp[0] & 7] = 1 or icmp6[icmp6[0] & 1] = 0",
    "not geneve 42 and ip[0] + ip[1] * (ip[2] - ip[3]) > ip[4] / (ip[5] + 1)",
];

#[test]
fn compiled_programs_accept_exactly_what_the_filter_accepts() {
    compare(EXPRESSIONS);
}

#[test]
fn hard_arithmetic_compiles_to_the_same_verdicts() {
    compare(BPF_EXPRESSIONS);
}

fn compare(expressions: &[&str]) {
    let frames = all_frames();
    let links: Vec<LinkType> = {
        let mut links: Vec<LinkType> = frames.iter().map(|f| f.0).collect();
        links.sort_by_key(|l| l.0);
        links.dedup();
        links
    };
    let mut compared = 0usize;
    let mut accepted = 0usize;
    let mut not_compiled = Vec::new();
    let mut mismatches = Vec::new();
    let mut longest = 0;
    for &expr in expressions {
        // Expressions libpcap refuses too (`mpls and arp`): filter_vs_tcpdump checks that.
        let Ok(filter) = Filter::compile(expr) else {
            continue;
        };
        for &link in &links {
            let program = match filter.to_bpf(link) {
                Ok(program) => program,
                Err(e) => {
                    not_compiled.push(format!("{expr} (link {}): {e}", link.0));
                    continue;
                }
            };
            longest = longest.max(program.len());
            if let Err(e) = bpf::validate(&program) {
                panic!(
                    "{expr} (link {}): invalid program: {e}\n{}",
                    link.0,
                    bpf::dump(&program)
                );
            }
            for frame in frames.iter().filter(|f| f.0 == link) {
                compared += 1;
                let ours = filter.matches(link, &frame.1, frame.2);
                accepted += usize::from(ours);
                if accepts(&program, frame) != ours && mismatches.len() < 20 {
                    mismatches.push(format!(
                        "{expr} (link {}): filter {ours}, program {}, frame {:02x?}\n{}",
                        link.0,
                        !ours,
                        frame.1,
                        bpf::dump(&program)
                    ));
                }
            }
        }
    }
    println!(
        "{} expressions x {} frames: {compared} comparisons, {accepted} accepted, {} disagreements, \
         longest program {longest} instructions, {} (expression, link) pairs not compiled",
        expressions.len(),
        frames.len(),
        mismatches.len(),
        not_compiled.len()
    );
    assert!(
        not_compiled.is_empty(),
        "not compiled:\n{}",
        not_compiled.join("\n")
    );
    assert!(
        mismatches.is_empty(),
        "disagreements:\n{}",
        mismatches.join("\n")
    );
}

/// Filters long enough that jumps span more than 255 instructions, and one too long.
#[test]
fn long_jumps_and_the_length_limit() {
    let hosts: Vec<String> = (0..120).map(|i| format!("host 192.0.2.{i}")).collect();
    let frames = all_frames();
    for expr in [
        format!("tcp and ({}) and port 80", hosts.join(" or ")),
        format!("not ({}) or udp", hosts.join(" or ")),
        format!("({}) and tcp[13] = 2", hosts.join(" or ")),
    ] {
        let filter = Filter::compile(&expr).expect("compiles");
        let program = filter.to_bpf(LinkType::ETHERNET).expect("fits");
        bpf::validate(&program).expect("valid");
        assert!(program.len() > 300, "{}", program.len());
        assert!(
            program
                .iter()
                .any(|i| i.code == bpf::BPF_JMP | bpf::BPF_JA && i.k > 255),
            "no long jump in a {}-instruction program",
            program.len()
        );
        for frame in frames.iter().filter(|f| f.0 == LinkType::ETHERNET) {
            assert_eq!(
                accepts(&program, frame),
                filter.matches(LinkType::ETHERNET, &frame.1, frame.2),
                "{expr} on {:02x?}",
                frame.1
            );
        }
    }
    let many: Vec<String> = (0..900).map(|i| format!("host fd00::{i:x}")).collect();
    let filter = Filter::compile(&many.join(" or ")).expect("compiles");
    let error = filter.to_bpf(LinkType::ETHERNET).expect_err("too long");
    assert!(error.to_string().contains("instructions"), "{error}");
    // More nested arithmetic than scratch words: an error, not a panic.
    let mut deep = "ip[0]".to_string();
    for i in 0..20 {
        deep = format!("({deep}) + ip[{i}]");
    }
    let filter = Filter::compile(&format!("{deep} = 0")).expect("compiles");
    let error = filter.to_bpf(LinkType::ETHERNET).expect_err("too deep");
    assert!(error.to_string().contains("scratch"), "{error}");
}

/// The interpreter rejects what the kernel rejects.
#[test]
fn interpreter_rejects_out_of_bounds_reads() {
    let insn = |code: u16, k: u32| BpfInsn {
        code,
        jt: 0,
        jf: 0,
        k,
    };
    let ret_a = insn(bpf::BPF_RET | bpf::BPF_A, 0);
    let frame = [0x45u8, 1, 2, 3, 4, 5, 6, 7, 8, 9];
    let run = |program: &[BpfInsn]| bpf::run(program, &frame, 1000);
    // In bounds.
    assert_eq!(
        run(&[insn(bpf::BPF_LD | bpf::BPF_W | bpf::BPF_ABS, 6), ret_a]),
        0x0607_0809
    );
    assert_eq!(
        run(&[insn(bpf::BPF_LD | bpf::BPF_B | bpf::BPF_ABS, 9), ret_a]),
        9
    );
    // One byte past the end, for each size and mode; accept otherwise.
    let accept = insn(bpf::BPF_RET | bpf::BPF_K, 1);
    assert_eq!(
        run(&[insn(bpf::BPF_LD | bpf::BPF_W | bpf::BPF_ABS, 7), accept]),
        0
    );
    assert_eq!(
        run(&[insn(bpf::BPF_LD | bpf::BPF_H | bpf::BPF_ABS, 9), accept]),
        0
    );
    assert_eq!(
        run(&[insn(bpf::BPF_LD | bpf::BPF_B | bpf::BPF_ABS, 10), accept]),
        0
    );
    assert_eq!(
        run(&[
            insn(bpf::BPF_LD | bpf::BPF_B | bpf::BPF_ABS, u32::MAX),
            accept
        ]),
        0
    );
    let ldx = |k| insn(bpf::BPF_LDX | bpf::BPF_IMM, k);
    assert_eq!(
        run(&[
            ldx(8),
            insn(bpf::BPF_LD | bpf::BPF_H | bpf::BPF_IND, 0),
            accept
        ]),
        1
    );
    assert_eq!(
        run(&[
            ldx(8),
            insn(bpf::BPF_LD | bpf::BPF_H | bpf::BPF_IND, 1),
            accept
        ]),
        0
    );
    // `X + k` wraps at 32 bits as in the kernel (hence the compiler's index guard), and
    // a negative offset reads nothing from the packet.
    let ldb_ind = |k| insn(bpf::BPF_LD | bpf::BPF_B | bpf::BPF_IND, k);
    assert_eq!(run(&[ldx(u32::MAX), ldb_ind(1), ret_a]), 0x45);
    assert_eq!(run(&[ldx(0x7FFF_FFFF), ldb_ind(1), accept]), 0);
    assert_eq!(run(&[ldx(0), ldb_ind(u32::MAX), accept]), 0);
    assert_eq!(
        run(&[insn(bpf::BPF_LDX | bpf::BPF_B | bpf::BPF_MSH, 10), accept]),
        0
    );
    // `ldxb 4*([0]&0xf)` on 0x45: 20.
    assert_eq!(
        run(&[
            insn(bpf::BPF_LDX | bpf::BPF_B | bpf::BPF_MSH, 0),
            insn(bpf::BPF_MISC | bpf::BPF_TXA, 0),
            ret_a
        ]),
        20
    );
    // Division by a zero X, a jump out of the program, falling off the end.
    assert_eq!(
        run(&[
            ldx(0),
            insn(bpf::BPF_ALU | bpf::BPF_DIV | bpf::BPF_X, 0),
            accept
        ]),
        0
    );
    assert_eq!(run(&[insn(bpf::BPF_JMP | bpf::BPF_JA, 5), accept]), 0);
    assert_eq!(run(&[insn(bpf::BPF_LD | bpf::BPF_IMM, 1)]), 0);
    assert_eq!(
        run(&[insn(bpf::BPF_LD | bpf::BPF_W | bpf::BPF_LEN, 0), ret_a]),
        1000
    );
    // The kernel's checker refuses these.
    assert!(bpf::validate(&[insn(bpf::BPF_ALU | bpf::BPF_DIV | bpf::BPF_K, 0), accept]).is_err());
    assert!(bpf::validate(&[insn(bpf::BPF_JMP | bpf::BPF_JA, 1), accept]).is_err());
    assert!(bpf::validate(&[insn(bpf::BPF_ST, 16), accept]).is_err());
    assert!(bpf::validate(&[insn(bpf::BPF_LD | bpf::BPF_IMM, 1)]).is_err());
    assert!(bpf::validate(&[]).is_err());
}
