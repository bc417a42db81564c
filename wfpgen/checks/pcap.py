"""Turn a packet capture into transport-layer classify events.

A small, self-contained reader of capture files and of the headers a transport layer sees.
The check compares what the generated reader decodes with what an independent decoder (dpkt)
reads from the same file, so this module deliberately shares no code with that decoder.

* Files: classic pcap (microsecond or nanosecond timestamps, either byte order; the FCS
  length the upper bits of its link-type field may announce) and pcapng, Wireshark's default
  (sections of either byte order; several interfaces, each with its own link type and FCS
  length; enhanced, simple and obsolete packet blocks). A frame check sequence is removed
  from the end of each frame that has one.
* Link layers: Ethernet (802.1Q / 802.1ad VLAN tags, MPLS label stacks), raw IP, Linux
  cooked capture v1 and v2, BSD and OpenBSD loopback. Other link types are not supported:
  their frames are skipped and counted, and a file with no frame on a supported link type
  is refused.
* MPLS: the label stack is walked to its bottom-of-stack entry; the payload is IPv4 or IPv6
  by its first nibble. A payload that is neither (an Ethernet pseudowire, with or without its
  control word) is skipped and counted.
* Network and transport: IPv4 and IPv6 (past the extension headers WFP looks past) carrying
  TCP, UDP, ICMP or ICMPv6. Everything else is skipped and counted, by reason.

:func:`check_capture` validates a file before anything is built; :func:`read_capture` reads it.
"""

from __future__ import annotations

import ipaddress
import stat
import struct
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from wfpgen.errors import WfpgenError

LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276
#: Link types read here (12 and 14 are raw IP as some systems' old DLT_RAW wrote it).
SUPPORTED_LINKTYPES = {
    LINKTYPE_NULL: "BSD loopback", LINKTYPE_ETHERNET: "Ethernet", 12: "raw IP", 14: "raw IP",
    LINKTYPE_RAW: "raw IP", LINKTYPE_LOOP: "OpenBSD loopback", LINKTYPE_LINUX_SLL: "Linux cooked",
    LINKTYPE_IPV4: "raw IPv4", LINKTYPE_IPV6: "raw IPv6", LINKTYPE_LINUX_SLL2: "Linux cooked v2",
}
#: Names of link types that are not supported, for the message that says so.
OTHER_LINKTYPES = {
    6: "Token Ring", 9: "PPP", 10: "FDDI", 50: "PPP in HDLC", 51: "PPPoE", 104: "Cisco HDLC",
    105: "IEEE 802.11", 119: "802.11 with Prism header", 127: "802.11 with radiotap header",
    147: "user-defined", 163: "802.11 with AVS header", 192: "PPI", 195: "IEEE 802.15.4",
    201: "Bluetooth HCI H4", 220: "USB", 249: "Netlink", 253: "NFLOG",
}
ETHERTYPE_IPV4, ETHERTYPE_IPV6 = 0x0800, 0x86DD
ETHERTYPE_VLAN = (0x8100, 0x88A8, 0x9100)
ETHERTYPE_MPLS = (0x8847, 0x8848)
ETHERTYPE_NAMES = {0x0806: "ARP", 0x8035: "RARP", 0x88CC: "LLDP", 0x888E: "EAPOL", 0x8863: "PPPoE discovery",
                   0x88F7: "PTP", 0x8809: "slow protocols", 0x893A: "IEEE 1905"}
#: Ethertypes that carry IP this reader does not decapsulate: said so, not called "not IP".
ETHERTYPE_UNSUPPORTED = {0x8864: "PPPoE session", 0x88E5: "MACsec", 0x6558: "transparent Ethernet bridging",
                         0x22F3: "TRILL", 0x8902: "CFM"}
#: BSD loopback address families: AF_INET, and AF_INET6 as the BSDs and macOS number it.
LOOPBACK_IPV4, LOOPBACK_IPV6 = (2,), (24, 28, 30)
TRANSPORTS = {1: "icmp", 6: "tcp", 17: "udp", 58: "icmpv6"}
ICMP = (1, 58)
IP_PROTOCOL_NAMES = {0: "hop-by-hop", 2: "IGMP", 4: "IP in IP", 41: "IPv6 in IP", 47: "GRE", 50: "ESP", 51: "AH",
                     59: "no next header", 89: "OSPF", 103: "PIM", 112: "VRRP", 132: "SCTP"}
#: IPv6 extension headers WFP's transport layers look past: hop-by-hop, routing, fragment,
#: authentication, destination options (ESP, 50, hides what follows).
IPV6_HOP_BY_HOP, IPV6_ROUTING, IPV6_FRAGMENT, IPV6_AH, IPV6_DESTINATION = 0, 43, 44, 51, 60
IPV6_EXTENSIONS = (IPV6_HOP_BY_HOP, IPV6_ROUTING, IPV6_FRAGMENT, IPV6_AH, IPV6_DESTINATION)

PCAP_MAGICS = {b"\xd4\xc3\xb2\xa1": "<", b"\x4d\x3c\xb2\xa1": "<", b"\xa1\xb2\xc3\xd4": ">", b"\xa1\xb2\x3c\x4d": ">"}
PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"
PCAPNG_BYTE_ORDER = 0x1A2B3C4D
PCAPNG_IDB, PCAPNG_PB, PCAPNG_SPB, PCAPNG_EPB = 1, 2, 3, 6
PCAPNG_IF_FCSLEN, PCAPNG_EPB_FLAGS = 13, 2
#: The pcap link-type field: bit 26 says the FCS length in bits 28-31 (in 16-bit words) is valid.
FCS_PRESENT, FCS_SHIFT = 0x04000000, 28

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class CaptureError(WfpgenError):
    """The capture or ``--local`` cannot be used: reported before anything is built."""

    exit_code = 2


@dataclass(frozen=True)
class Packet:
    """One IP packet of a transport WFP classifies: addresses, protocol, ports (ICMP: type/code)."""

    index: int
    version: int
    protocol: int
    source: IPAddress
    destination: IPAddress
    source_port: int
    destination_port: int
    # TCP or UDP with its whole header captured: the header's and the payload's length; else None.
    transport_header: int | None = None
    payload: int | None = None


@dataclass(frozen=True)
class Event:
    """A packet as the transport layer of one direction sees it."""

    packet: Packet
    layer: str  # inbound_transport_v4, outbound_transport_v6, ...
    values: dict[str, object]  # field name -> value (addresses as ipaddress objects)


@dataclass(frozen=True)
class Frame:
    """One captured frame, its frame check sequence removed."""

    index: int  # 0-based, in file order
    linktype: int
    data: bytes


@dataclass
class Capture:
    """What a capture file holds: its TCP/UDP/ICMP packets and, by reason, the frames skipped."""

    path: Path
    format: str  # "pcap" or "pcapng"
    frames: int = 0
    packets: list[Packet] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    linktypes: Counter[int] = field(default_factory=Counter)  # frames per link type

    def skipped_text(self) -> str:
        """``3 not IP (ARP), 1 later IP fragment`` (most frequent first), or ``none``."""
        ranked = sorted(self.skipped.items(), key=lambda item: (-item[1], item[0]))
        return ", ".join(f"{count} {reason}" for reason, count in ranked) or "none"

    def summary(self) -> str:
        """One line: the format, frames, packets used and frames skipped."""
        skipped = sum(self.skipped.values())
        return (f"{self.format}, {self.frames} frames: {len(self.packets)} TCP/UDP/ICMP packets, {skipped} "
                f"skipped ({self.skipped_text()})")


def linktype_name(linktype: int) -> str:
    """``105 (IEEE 802.11)``: a link type with its name where it has a common one."""
    name = SUPPORTED_LINKTYPES.get(linktype) or OTHER_LINKTYPES.get(linktype)
    return f"{linktype} ({name})" if name else str(linktype)


def _supported_list() -> str:
    names: dict[str, list[int]] = {}
    for number, name in SUPPORTED_LINKTYPES.items():
        names.setdefault(name, []).append(number)
    return ", ".join(f"{name} ({'/'.join(map(str, numbers))})" for name, numbers in names.items())


def _fcs_kept(fcs: int, captured: int, original: int) -> int:
    """How many bytes of an ``fcs``-byte FCS the captured part of a frame still holds."""
    return max(0, min(fcs - (original - captured), captured)) if fcs else 0


# -- the file ---------------------------------------------------------------------------------


def check_capture(path: Path) -> bytes:
    """The bytes of the capture at ``path``; a :class:`CaptureError` that says what is wrong with it.

    It must exist, be a regular file, be readable, and be a pcap or pcapng file.
    """
    try:
        info = path.stat()
    except FileNotFoundError:
        raise CaptureError(f"--pcap {path}: no such file") from None
    except OSError as exc:
        raise CaptureError(f"--pcap {path}: cannot read: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise CaptureError(f"--pcap {path}: {kind}; give a .pcap or .pcapng capture file")
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise CaptureError(f"--pcap {path}: cannot read: {exc.strerror or exc}") from None
    head = data[:4]
    if not data:
        raise CaptureError(f"--pcap {path}: the file is empty")
    if head[:2] == b"\x1f\x8b":
        raise CaptureError(f"--pcap {path}: gzip-compressed; decompress it first (gunzip)")
    if head not in PCAP_MAGICS and head != PCAPNG_SHB:
        raise CaptureError(f"--pcap {path}: not a pcap or pcapng capture (it starts with {head.hex(' ')}); "
                           "save it from Wireshark or tcpdump as pcap or pcapng")
    return data


def frames(data: bytes, path: Path) -> Iterator[Frame]:
    """Every frame of a pcap or pcapng file, in order, without its FCS."""
    records = _pcapng_frames(data, path) if data[:4] == PCAPNG_SHB else _pcap_frames(data, path)
    for index, (linktype, frame) in enumerate(records):
        yield Frame(index, linktype, frame)


def _truncated(path: Path, what: str, offset: int, needed: int, left: int) -> CaptureError:
    return CaptureError(f"--pcap {path}: truncated: the {what} at byte {offset} needs {needed} bytes, the file has "
                        f"{left} (a capture cut short? editcap or pcapfix can repair it)")


def _pcap_frames(data: bytes, path: Path) -> Iterator[tuple[int, bytes]]:
    if len(data) < 24:
        raise _truncated(path, "pcap file header", 0, 24, len(data))
    endian = PCAP_MAGICS[data[:4]]
    field_value = struct.unpack_from(endian + "I", data, 20)[0]
    linktype = field_value & 0xFFFF
    fcs = 2 * (field_value >> FCS_SHIFT) if field_value & FCS_PRESENT else 0
    offset = 24
    while offset < len(data):
        if offset + 16 > len(data):
            raise _truncated(path, "pcap record header", offset, 16, len(data) - offset)
        captured, original = struct.unpack_from(endian + "II", data, offset + 8)
        start = offset + 16
        if start + captured > len(data):
            raise _truncated(path, "pcap record", offset, 16 + captured, len(data) - offset)
        frame = data[start:start + captured]
        kept = _fcs_kept(fcs, captured, max(original, captured))
        yield linktype, frame[:len(frame) - kept]
        offset = start + captured


@dataclass
class _Interface:
    linktype: int
    snaplen: int
    fcs: int  # bytes


def _options(body: bytes, start: int, endian: str) -> dict[int, bytes]:
    """A pcapng block's options from ``start``: code -> value (the first of each code)."""
    found: dict[int, bytes] = {}
    offset = start
    while offset + 4 <= len(body):
        code, length = struct.unpack_from(endian + "HH", body, offset)
        if code == 0:
            break
        found.setdefault(code, body[offset + 4:offset + 4 + length])
        offset += 4 + length + (-length) % 4
    return found


def _fcs_option(value: bytes) -> int:
    """if_fcslen in bytes. The pcapng draft says bits, and writers have used bytes: 16 or 32 is bits."""
    if not value:
        return 0
    length = value[0]
    return length // 8 if length >= 8 and length % 8 == 0 else length


def _pcapng_frames(data: bytes, path: Path) -> Iterator[tuple[int, bytes]]:
    offset, endian = 0, "<"
    interfaces: list[_Interface] = []
    while offset < len(data):
        if len(data) - offset < 12:
            raise _truncated(path, "pcapng block", offset, 12, len(data) - offset)
        if data[offset:offset + 4] == PCAPNG_SHB:  # a new section: its own byte order and interfaces
            magic = data[offset + 8:offset + 12]
            if magic == PCAPNG_BYTE_ORDER.to_bytes(4, "little"):
                endian = "<"
            elif magic == PCAPNG_BYTE_ORDER.to_bytes(4, "big"):
                endian = ">"
            else:
                raise CaptureError(f"--pcap {path}: the pcapng section at byte {offset} has no valid byte-order magic")
            interfaces = []
        block_type, length = struct.unpack_from(endian + "II", data, offset)
        if length < 12 or length % 4:
            raise CaptureError(f"--pcap {path}: the pcapng block at byte {offset} has an invalid length {length}")
        if offset + length > len(data):
            raise _truncated(path, "pcapng block", offset, length, len(data) - offset)
        body = data[offset + 8:offset + length - 4]
        if block_type == PCAPNG_IDB and len(body) >= 8:
            linktype, _, snaplen = struct.unpack_from(endian + "HHI", body, 0)
            options = _options(body, 8, endian)
            interfaces.append(_Interface(linktype, snaplen, _fcs_option(options.get(PCAPNG_IF_FCSLEN, b""))))
        elif block_type in (PCAPNG_EPB, PCAPNG_PB, PCAPNG_SPB):
            yield _pcapng_packet(block_type, body, endian, interfaces, offset, path)
        offset += length


def _pcapng_packet(block_type: int, body: bytes, endian: str, interfaces: list[_Interface], offset: int,
                   path: Path) -> tuple[int, bytes]:
    if block_type == PCAPNG_SPB:
        interface, header = 0, 4
        original = struct.unpack_from(endian + "I", body, 0)[0] if len(body) >= 4 else 0
        snaplen = interfaces[0].snaplen if interfaces else 0
        captured = min(original, snaplen or original, len(body) - header)
    elif block_type == PCAPNG_EPB and len(body) >= 20:
        interface, captured, original = struct.unpack_from(endian + "I8xII", body, 0)
        header = 20
    elif block_type == PCAPNG_PB and len(body) >= 20:
        interface = struct.unpack_from(endian + "H", body, 0)[0]
        captured, original = struct.unpack_from(endian + "II", body, 12)
        header = 20
    else:
        raise CaptureError(f"--pcap {path}: the pcapng packet block at byte {offset} is too short")
    if interface >= len(interfaces):
        raise CaptureError(f"--pcap {path}: the pcapng packet block at byte {offset} names interface {interface}; "
                           f"its section describes {len(interfaces)}")
    if header + captured > len(body):
        raise CaptureError(f"--pcap {path}: the pcapng packet block at byte {offset} holds fewer than its "
                           f"{captured} captured bytes")
    fcs = interfaces[interface].fcs
    if block_type == PCAPNG_EPB:  # epb_flags bits 5-8: this packet's FCS length in bytes, when known
        flags = _options(body, header + captured + (-captured) % 4, endian).get(PCAPNG_EPB_FLAGS, b"")
        if len(flags) == 4 and (struct.unpack(endian + "I", flags)[0] >> 5) & 0xF:
            fcs = (struct.unpack(endian + "I", flags)[0] >> 5) & 0xF
    frame = body[header:header + captured]
    kept = _fcs_kept(fcs, captured, max(original, captured))
    return interfaces[interface].linktype, frame[:len(frame) - kept]


# -- link and network layers --------------------------------------------------------------------

Found = tuple[bytes | None, str | None]  # the IP packet, or why there is none


def _ip_payload(linktype: int, frame: bytes) -> Found:
    """The IP packet a frame of ``linktype`` carries, or the reason it carries none."""
    if linktype in (LINKTYPE_RAW, 12, 14, LINKTYPE_IPV4, LINKTYPE_IPV6):
        return frame, None
    if linktype == LINKTYPE_ETHERNET:
        if len(frame) < 14:
            return None, "truncated (shorter than an Ethernet header)"
        return _by_ethertype(struct.unpack_from("!H", frame, 12)[0], frame[14:])
    if linktype == LINKTYPE_LINUX_SLL:
        if len(frame) < 16:
            return None, "truncated (shorter than a Linux cooked header)"
        return _by_ethertype(struct.unpack_from("!H", frame, 14)[0], frame[16:])
    if linktype == LINKTYPE_LINUX_SLL2:
        if len(frame) < 20:
            return None, "truncated (shorter than a Linux cooked v2 header)"
        return _by_ethertype(struct.unpack_from("!H", frame, 0)[0], frame[20:])
    if linktype in (LINKTYPE_NULL, LINKTYPE_LOOP):
        if len(frame) < 4:
            return None, "truncated (shorter than a loopback header)"
        families = ({struct.unpack_from("<I", frame)[0], struct.unpack_from(">I", frame)[0]}
                    if linktype == LINKTYPE_NULL else {struct.unpack_from(">I", frame)[0]})  # (host byte order)
        if families & {*LOOPBACK_IPV4, *LOOPBACK_IPV6}:
            return frame[4:], None
        return None, f"not IP (loopback address family {min(families)})"
    return None, f"link type {linktype_name(linktype)}: not supported"


def _by_ethertype(ethertype: int, payload: bytes) -> Found:
    while ethertype in ETHERTYPE_VLAN:  # 802.1Q / 802.1ad tags, any depth
        if len(payload) < 4:
            return None, "truncated (inside a VLAN tag)"
        ethertype, payload = struct.unpack_from("!H", payload, 2)[0], payload[4:]
    if ethertype in (ETHERTYPE_IPV4, ETHERTYPE_IPV6):
        return payload, None
    if ethertype in ETHERTYPE_MPLS:
        return _mpls(payload)
    if ethertype < 0x0600:
        return None, "not IP (802.3 LLC frame)"
    if ethertype in ETHERTYPE_UNSUPPORTED:
        return None, f"{ETHERTYPE_UNSUPPORTED[ethertype]} (ethertype 0x{ethertype:04x}): not supported"
    name = ETHERTYPE_NAMES.get(ethertype)
    return None, f"not IP (ethertype 0x{ethertype:04x}{' ' + name if name else ''})"


def _mpls(payload: bytes) -> Found:
    """Past an MPLS label stack: each entry 4 bytes, bit 8 of the third byte marks the bottom."""
    offset = 0
    while True:
        if len(payload) < offset + 4:
            return None, "truncated (inside an MPLS label stack)"
        bottom = payload[offset + 2] & 0x01
        offset += 4
        if bottom:
            break
    inner = payload[offset:]
    if inner and inner[0] >> 4 in (4, 6):
        return inner, None
    return None, "MPLS pseudowire (payload not IPv4 or IPv6): not supported"


def _transport(protocol: int, payload: bytes) -> tuple[int, int] | None:
    if protocol in (6, 17) and len(payload) >= 4:
        source_port, destination_port = struct.unpack_from("!HH", payload, 0)
        return int(source_port), int(destination_port)
    if protocol in ICMP and len(payload) >= 2:
        return payload[0], payload[1]  # type and code (see to_event)
    return None


def _ipv6_payload(packet: bytes) -> tuple[int, bytes] | str:
    """The upper-layer protocol and payload past the extension headers, or why there is none."""
    protocol, offset = packet[6], 40
    while protocol in IPV6_EXTENSIONS:
        if len(packet) < offset + 8:
            return "truncated (inside an IPv6 extension header)"
        following = packet[offset]
        if protocol == IPV6_FRAGMENT:
            if struct.unpack_from("!H", packet, offset + 2)[0] >> 3:
                return "later IP fragment (no transport header)"
            length = 8
        elif protocol == IPV6_AH:
            length = (packet[offset + 1] + 2) * 4
        else:
            length = (packet[offset + 1] + 1) * 8
        protocol, offset = following, offset + length
    return protocol, packet[offset:]


def _parse_ip(index: int, packet: bytes) -> Packet | str:
    """The packet's addresses, protocol and ports, or the reason WFP's transport layers would not see it."""
    if not packet:
        return "truncated (no IP header)"
    version = packet[0] >> 4
    source: IPAddress
    destination: IPAddress
    if version == 4:
        header = (packet[0] & 0x0F) * 4
        if len(packet) < 20 or header < 20 or len(packet) < header:
            return "truncated (IPv4 header)"
        total = struct.unpack_from("!H", packet, 2)[0]
        if struct.unpack_from("!H", packet, 6)[0] & 0x1FFF:
            return "later IP fragment (no transport header)"
        protocol = packet[9]
        source, destination = ipaddress.IPv4Address(packet[12:16]), ipaddress.IPv4Address(packet[16:20])
        payload = packet[header:total] if total else packet[header:]  # (0: segmentation offload)
    elif version == 6:
        if len(packet) < 40:
            return "truncated (IPv6 header)"
        length = struct.unpack_from("!H", packet, 4)[0]
        source, destination = ipaddress.IPv6Address(packet[8:24]), ipaddress.IPv6Address(packet[24:40])
        upper = _ipv6_payload(packet[:40 + length] if length else packet)  # (0: jumbogram or offload)
        if isinstance(upper, str):
            return upper
        protocol, payload = upper
    else:
        return f"not IP (IP version {version})"
    if protocol not in TRANSPORTS:
        name = IP_PROTOCOL_NAMES.get(protocol)
        return f"IP protocol {protocol}{' (' + name + ')' if name else ''}"
    ports = _transport(protocol, payload)
    if ports is None:
        return f"truncated ({TRANSPORTS[protocol].upper()} header)"
    transport_header = _transport_header(protocol, payload)
    return Packet(index, version, protocol, source, destination, ports[0], ports[1], transport_header,
                  None if transport_header is None else len(payload) - transport_header)


def _transport_header(protocol: int, payload: bytes) -> int | None:
    """The TCP or UDP header's length when all of it was captured (the payload follows it), else None."""
    if protocol == 17:
        return 8 if len(payload) >= 8 else None
    if protocol == 6 and len(payload) >= 13:
        length = (payload[12] >> 4) * 4
        return length if 20 <= length <= len(payload) else None
    return None


def read_capture(path: Path) -> Capture:
    """Every IPv4/IPv6 TCP, UDP, ICMP and ICMPv6 packet of a pcap or pcapng file, and what was skipped.

    Raises :class:`CaptureError` for a file that cannot be used: missing, unreadable, not a
    capture, truncated, or without a frame on a supported link type.
    """
    data = check_capture(path)
    capture = Capture(path, "pcapng" if data[:4] == PCAPNG_SHB else "pcap")
    for frame in frames(data, path):
        capture.frames += 1
        capture.linktypes[frame.linktype] += 1
        payload, reason = _ip_payload(frame.linktype, frame.data)
        parsed = _parse_ip(frame.index, payload) if payload is not None else reason or "not IP"
        if isinstance(parsed, Packet):
            capture.packets.append(parsed)
        else:
            capture.skipped[parsed] += 1
    usable = [t for t in capture.linktypes if t in SUPPORTED_LINKTYPES]
    if capture.frames and not usable:
        found = ", ".join(linktype_name(t) for t in sorted(capture.linktypes))
        raise CaptureError(f"--pcap {path}: no frame on a supported link type (this capture has link type {found}); "
                           f"supported: {_supported_list()}")
    return capture


def read_packets(path: Path) -> list[Packet]:
    """Every IPv4/IPv6 TCP, UDP, ICMP and ICMPv6 packet in a pcap or pcapng file."""
    return read_capture(path).packets


def to_event(packet: Packet, local: Network) -> Event | None:
    """The transport-layer event for ``packet``, or None when neither end is local."""
    outbound = packet.source in local
    if not outbound and packet.destination not in local:
        return None
    direction = "outbound" if outbound else "inbound"
    if outbound:
        local_address, local_port = packet.source, packet.source_port
        remote_address, remote_port = packet.destination, packet.destination_port
    else:
        local_address, local_port = packet.destination, packet.destination_port
        remote_address, remote_port = packet.source, packet.source_port
    if packet.protocol in ICMP:
        # WFP's ICMP_TYPE is IP_LOCAL_PORT and ICMP_CODE is IP_REMOTE_PORT in both directions.
        local_port, remote_port = packet.source_port, packet.destination_port
    values: dict[str, object] = {
        "ip_protocol": packet.protocol,
        "ip_local_address": local_address,
        "ip_local_port": local_port,
        "ip_remote_address": remote_address,
        "ip_remote_port": remote_port,
    }
    return Event(packet, f"{direction}_transport_v{packet.version}", values)


def parse_network(text: str) -> Network:
    """``--local``: an address or a network, v4 or v6."""
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise CaptureError(f"--local {text!r}: not an IPv4 or IPv6 address or network; for example 10.0.0.0/8, "
                           "192.168.1.20 or fd00::/8") from None
