"""Turn a packet capture into transport-layer classify events.

A small, self-contained pcap reader (classic libpcap format, Ethernet / raw IP / Linux
cooked link types) and IPv4/IPv6 + TCP/UDP/ICMP parser. The check compares what the
generated reader decodes with what an independent decoder (dpkt) reads from the same file,
so this module deliberately shares no code with that decoder.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from wfpgen.errors import WfpgenError

LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
TRANSPORTS = {1: "icmp", 6: "tcp", 17: "udp", 58: "icmpv6"}
ICMP = (1, 58)
#: IPv6 extension headers WFP's transport layers look past: hop-by-hop, routing, fragment,
#: authentication, destination options (ESP, 50, hides what follows).
IPV6_HOP_BY_HOP, IPV6_ROUTING, IPV6_FRAGMENT, IPV6_AH, IPV6_DESTINATION = 0, 43, 44, 51, 60
IPV6_EXTENSIONS = (IPV6_HOP_BY_HOP, IPV6_ROUTING, IPV6_FRAGMENT, IPV6_AH, IPV6_DESTINATION)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


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


@dataclass(frozen=True)
class Event:
    """A packet as the transport layer of one direction sees it."""

    packet: Packet
    layer: str  # inbound_transport_v4, outbound_transport_v6, ...
    values: dict[str, object]  # field name -> value (addresses as ipaddress objects)


def _frames(data: bytes) -> Iterator[tuple[int, bytes]]:
    if len(data) < 24:
        raise WfpgenError("not a pcap file: shorter than its 24-byte header")
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        raise WfpgenError("not a pcap file (pcapng is not supported: convert with editcap -F pcap)")
    linktype = struct.unpack_from(endian + "I", data, 20)[0] & 0x0FFFFFFF
    offset = 24
    while offset + 16 <= len(data):
        included = struct.unpack_from(endian + "I", data, offset + 8)[0]
        start = offset + 16
        if start + included > len(data):
            raise WfpgenError(f"truncated pcap record at byte {offset}")
        yield linktype, data[start:start + included]
        offset = start + included


def _ip_payload(linktype: int, frame: bytes) -> bytes | None:
    if linktype in (LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6):
        return frame
    if linktype == LINKTYPE_ETHERNET:
        offset, ethertype = 14, struct.unpack_from("!H", frame, 12)[0] if len(frame) >= 14 else 0
        while ethertype in (0x8100, 0x88A8) and len(frame) >= offset + 4:
            ethertype = struct.unpack_from("!H", frame, offset + 2)[0]
            offset += 4
        return frame[offset:] if ethertype in (0x0800, 0x86DD) else None
    if linktype == LINKTYPE_LINUX_SLL:
        ethertype = struct.unpack_from("!H", frame, 14)[0] if len(frame) >= 16 else 0
        return frame[16:] if ethertype in (0x0800, 0x86DD) else None
    raise WfpgenError(f"unsupported pcap link type {linktype}")


def _transport(protocol: int, payload: bytes) -> tuple[int, int] | None:
    if protocol in (6, 17) and len(payload) >= 4:
        source_port, destination_port = struct.unpack_from("!HH", payload, 0)
        return int(source_port), int(destination_port)
    if protocol in ICMP and len(payload) >= 2:
        return payload[0], payload[1]  # type and code (see to_event)
    return None


def _ipv6_payload(packet: bytes) -> tuple[int, bytes] | None:
    """The upper-layer protocol and payload past the extension headers; None for a later fragment."""
    protocol, offset = packet[6], 40
    while protocol in IPV6_EXTENSIONS:
        if len(packet) < offset + 8:
            return None
        following = packet[offset]
        if protocol == IPV6_FRAGMENT:
            if struct.unpack_from("!H", packet, offset + 2)[0] >> 3:
                return None  # later fragments carry no transport header
            length = 8
        elif protocol == IPV6_AH:
            length = (packet[offset + 1] + 2) * 4
        else:
            length = (packet[offset + 1] + 1) * 8
        protocol, offset = following, offset + length
    return protocol, packet[offset:]


def _parse_ip(index: int, packet: bytes) -> Packet | None:
    if not packet:
        return None
    version = packet[0] >> 4
    source: IPAddress
    destination: IPAddress
    if version == 4 and len(packet) >= 20:
        header = (packet[0] & 0x0F) * 4
        total = struct.unpack_from("!H", packet, 2)[0]
        if header < 20 or len(packet) < header:
            return None  # not a valid IPv4 header
        fragment = struct.unpack_from("!H", packet, 6)[0] & 0x1FFF
        if fragment:
            return None  # later fragments carry no transport header
        protocol = packet[9]
        source, destination = ipaddress.IPv4Address(packet[12:16]), ipaddress.IPv4Address(packet[16:20])
        payload = packet[header:total] if total else packet[header:]  # (0: segmentation offload)
    elif version == 6 and len(packet) >= 40:
        length = struct.unpack_from("!H", packet, 4)[0]
        source, destination = ipaddress.IPv6Address(packet[8:24]), ipaddress.IPv6Address(packet[24:40])
        upper = _ipv6_payload(packet[:40 + length] if length else packet)  # (0: jumbogram or offload)
        if upper is None:
            return None
        protocol, payload = upper
    else:
        return None
    if protocol not in TRANSPORTS:
        return None
    ports = _transport(protocol, payload)
    if ports is None:
        return None
    return Packet(index, version, protocol, source, destination, ports[0], ports[1])


def read_packets(path: Path) -> list[Packet]:
    """Every IPv4/IPv6 TCP, UDP, ICMP and ICMPv6 packet in a classic pcap file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise WfpgenError(f"{path}: cannot read: {exc.strerror or exc}") from None
    packets = []
    for index, (linktype, frame) in enumerate(_frames(data)):
        payload = _ip_payload(linktype, frame)
        packet = _parse_ip(index, payload) if payload is not None else None
        if packet is not None:
            packets.append(packet)
    return packets


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
        return ipaddress.ip_network(text, strict=False)
    except ValueError as exc:
        raise WfpgenError(f"--local {text!r}: not an address or network ({exc})") from None
