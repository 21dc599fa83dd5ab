//! The Linux kernel interface of live capture: every number taken from a kernel header,
//! named and cited here, and thin wrappers around the system calls that use them.
//!
//! Each wrapper holds one small `unsafe` block and turns the C return convention into an
//! `io::Result`; nothing here keeps state. Ring memory is not touched here (see `ring.rs`).

use std::ffi::CString;
use std::io;
use std::mem::{size_of, MaybeUninit};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use libc::{c_int, c_void, socklen_t};

/// `<linux/if_ether.h>`: every protocol (`ETH_P_ALL`), given to the kernel big-endian.
pub const ETH_P_ALL: u16 = 0x0003;

/// `<linux/if_packet.h>`: socket options at level `SOL_PACKET`.
pub const PACKET_ADD_MEMBERSHIP: c_int = 1;
pub const PACKET_RX_RING: c_int = 5;
pub const PACKET_STATISTICS: c_int = 6;
pub const PACKET_VERSION: c_int = 10;
pub const PACKET_FANOUT: c_int = 18;
/// Since Linux 4.20; older kernels refuse it, and user space then skips those packets.
pub const PACKET_IGNORE_OUTGOING: c_int = 23;

/// `<linux/if_packet.h>`: `PACKET_FANOUT` modes and flags (the upper 16 bits of the
/// option's value; the group id is the lower 16).
pub const PACKET_FANOUT_HASH: u32 = 0;
/// In kernels since 2017: the kernel chooses an id no group of the namespace uses.
pub const PACKET_FANOUT_FLAG_UNIQUEID: u32 = 0x2000;
/// Frames this host sends are not handed to the group, as `PACKET_IGNORE_OUTGOING` does
/// for one socket. A recent flag (2024): older kernels ignore it or refuse it.
pub const PACKET_FANOUT_FLAG_IGNORE_OUTGOING: u32 = 0x4000;
/// IPv4 fragments are reassembled before the hash is taken.
pub const PACKET_FANOUT_FLAG_DEFRAG: u32 = 0x8000;

/// `<linux/if_packet.h>`, `enum tpacket_versions`: the block-based ring.
pub const TPACKET_V3: c_int = 2;

/// `<linux/if_packet.h>`, `packet_mreq.mr_type`: promiscuous mode.
pub const PACKET_MR_PROMISC: u16 = 1;

/// `<linux/if_packet.h>`, `sockaddr_ll.sll_pkttype`: sent by this host.
pub const PACKET_OUTGOING: u8 = 4;

/// `<linux/if_packet.h>`: block and frame status bits.
pub const TP_STATUS_KERNEL: u32 = 0;
pub const TP_STATUS_USER: u32 = 1 << 0;
pub const TP_STATUS_VLAN_VALID: u32 = 1 << 4;
pub const TP_STATUS_VLAN_TPID_VALID: u32 = 1 << 6;

/// `<linux/if_packet.h>`: `TPACKET_ALIGNMENT`, the alignment of frames in a block.
pub const TPACKET_ALIGNMENT: usize = 16;

/// `<linux/if_arp.h>`: hardware types (`sll_hatype`, `SIOCGIFHWADDR`).
pub const ARPHRD_ETHER: u16 = 1;
pub const ARPHRD_LOOPBACK: u16 = 772;
/// No link-layer header at all (tun devices, WireGuard): frames start with IP.
pub const ARPHRD_NONE: u16 = 0xFFFE;

/// `<linux/if.h>`: interface flags (`SIOCGIFFLAGS`, `/sys/class/net/*/flags`).
pub const IFF_UP: u32 = 0x1;
pub const IFF_LOOPBACK: u32 = 0x8;

/// `<linux/if.h>`: `IFNAMSIZ`, the size of an interface name including its NUL.
pub const IFNAMSIZ: usize = 16;

/// `<linux/filter.h>`: `BPF_MAXINSNS`, the longest classic BPF program the kernel takes.
pub const BPF_MAXINSNS: usize = 4096;

/// `<linux/if_vlan.h>`: the 802.1Q tag protocol identifier, when the kernel gives none.
pub const ETH_P_8021Q: u16 = 0x8100;

/// Opens a packet socket of `kind` (`SOCK_RAW`: frames with their link header;
/// `SOCK_DGRAM`: from the network header, "cooked"). Protocol 0: it receives nothing
/// until `bind` names a protocol, so no frame arrives before the ring and filter are set.
pub fn packet_socket(kind: c_int) -> io::Result<OwnedFd> {
    // SAFETY: plain system call with constant arguments; no memory is passed.
    let fd = unsafe { libc::socket(libc::AF_PACKET, kind | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by socket(2) and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `setsockopt(fd, level, name, value)` for any plain-data `value`.
pub fn set_option<T: Copy>(fd: &OwnedFd, level: c_int, name: c_int, value: &T) -> io::Result<()> {
    // SAFETY: `value` is a live reference to `size_of::<T>()` readable bytes; the kernel
    // copies them before returning and keeps no pointer.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (value as *const T).cast::<c_void>(),
            size_of::<T>() as socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `getsockopt(fd, level, name)` into a zero-initialised plain-data `T`.
///
/// Only for `T` made of integers (all-zero bytes are a valid value).
pub fn get_option<T: Copy>(fd: &OwnedFd, level: c_int, name: c_int) -> io::Result<T> {
    let mut value = MaybeUninit::<T>::zeroed();
    let mut len = size_of::<T>() as socklen_t;
    // SAFETY: `value` has room for `len` bytes; the kernel writes at most `len` bytes and
    // updates `len`. The pointers do not outlive the call.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            value.as_mut_ptr().cast::<c_void>(),
            &mut len,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `value` started as all-zero bytes, a valid `T` for the integer structs this
    // is used with, and the kernel only overwrote some of them with other integers.
    Ok(unsafe { value.assume_init() })
}

/// Binds a packet socket to `ifindex` (0 = every interface) for every protocol.
pub fn bind_all_protocols(fd: &OwnedFd, ifindex: i32) -> io::Result<()> {
    // SAFETY: `sockaddr_ll` is a C struct of integers; all-zero is a valid value.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = ETH_P_ALL.to_be();
    addr.sll_ifindex = ifindex;
    // SAFETY: `addr` is a valid `sockaddr_ll` and the length passed is its size.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_ll).cast::<libc::sockaddr>(),
            size_of::<libc::sockaddr_ll>() as socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The interface index of `name`, or `None` when there is no such interface. Needs no
/// privilege, so a missing interface is reported as such even to an unprivileged user.
pub fn interface_index(name: &str) -> Option<i32> {
    if name.len() >= IFNAMSIZ {
        return None;
    }
    let c_name = CString::new(name).ok()?;
    // SAFETY: `c_name` is a NUL-terminated string that outlives the call.
    let index = unsafe { libc::if_nametoindex(c_name.as_ptr()) };
    i32::try_from(index).ok().filter(|&i| i > 0)
}

/// An `ifreq` naming `name` (which the caller checked to be shorter than `IFNAMSIZ`).
fn ifreq_for(name: &str) -> libc::ifreq {
    // SAFETY: `ifreq` is a C struct of integers and a union of integer structs; all-zero
    // is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (slot, byte) in req.ifr_name.iter_mut().zip(name.bytes().take(IFNAMSIZ - 1)) {
        *slot = byte as libc::c_char;
    }
    req
}

fn interface_ioctl(fd: RawFd, name: &str, request: libc::c_ulong) -> io::Result<libc::ifreq> {
    let mut req = ifreq_for(name);
    // SAFETY: `request` is one of the SIOCGIF* requests, which read the name from and
    // write one union member into the `ifreq` we pass, and keep no pointer to it.
    let rc = unsafe { libc::ioctl(fd, request, &mut req as *mut libc::ifreq) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(req)
}

/// The interface flags (`IFF_*`) of `name`.
pub fn interface_flags(fd: &OwnedFd, name: &str) -> io::Result<u32> {
    let req = interface_ioctl(fd.as_raw_fd(), name, libc::SIOCGIFFLAGS)?;
    // SAFETY: SIOCGIFFLAGS filled the `ifru_flags` member of the union.
    let flags = unsafe { req.ifr_ifru.ifru_flags };
    Ok(u32::from(flags as u16))
}

/// The hardware type (`ARPHRD_*`) of `name`.
pub fn interface_hardware_type(fd: &OwnedFd, name: &str) -> io::Result<u16> {
    let req = interface_ioctl(fd.as_raw_fd(), name, libc::SIOCGIFHWADDR)?;
    // SAFETY: SIOCGIFHWADDR filled the `ifru_hwaddr` member of the union.
    Ok(unsafe { req.ifr_ifru.ifru_hwaddr.sa_family })
}

/// Waits until `fd` is readable or `timeout_ms` passed. A signal ends the wait early
/// (`Ok` with no events), so that the caller can look at its stop flag.
pub fn poll_readable(fd: &OwnedFd, timeout_ms: c_int) -> io::Result<libc::c_short> {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN | libc::POLLERR,
        revents: 0,
    };
    // SAFETY: `pfd` is one valid `pollfd` and the count passed is 1.
    let rc = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
    if rc < 0 {
        let err = io::Error::last_os_error();
        if err.kind() == io::ErrorKind::Interrupted {
            return Ok(0);
        }
        return Err(err);
    }
    Ok(pfd.revents)
}

/// The pending error of a socket (`SO_ERROR`), which reading also clears.
pub fn take_socket_error(fd: &OwnedFd) -> io::Result<Option<io::Error>> {
    let code: c_int = get_option(fd, libc::SOL_SOCKET, libc::SO_ERROR)?;
    Ok((code != 0).then(|| io::Error::from_raw_os_error(code)))
}
