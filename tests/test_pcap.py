"""The capture reader of ``wfpgen check --pcap`` and the validation that runs before any build.

Captures are built here, byte by byte: classic pcap in both byte orders with and without the
FCS bits of the link-type field, pcapng with several sections, interfaces and link types,
MPLS label stacks, VLAN tags, loopback and Linux cooked frames. No compiler is needed: a bad
``--pcap`` or ``--local`` must be refused before anything is built.
"""

from __future__ import annotations

import ipaddress
import struct
import sys
import time
import zlib
from pathlib import Path

import pytest
from conftest import ROOT
from typer.testing import CliRunner

from wfpgen.checks import pcap
from wfpgen.cli import app

runner = CliRunner()

HOST, FAR = "10.20.30.40", "93.184.216.34"
HOST6, FAR6 = "fd00:10::40", "2001:db8::443"


# -- frames, built by hand ---------------------------------------------------------------------


def udp(sport: int, dport: int, payload: bytes = b"ping") -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def tcp(sport: int, dport: int) -> bytes:
    return struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 5 << 4, 0x02, 65535, 0, 0)


def ipv4(source: str, destination: str, protocol: int, payload: bytes, options: bytes = b"") -> bytes:
    ihl = 5 + len(options) // 4
    header = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, 4 * ihl + len(payload), 1, 0, 64, protocol, 0,
                         ipaddress.IPv4Address(source).packed, ipaddress.IPv4Address(destination).packed)
    return header + options + payload


def ipv6(source: str, destination: str, protocol: int, payload: bytes) -> bytes:
    return (struct.pack("!IHBB", 6 << 28, len(payload), protocol, 64) + ipaddress.IPv6Address(source).packed
            + ipaddress.IPv6Address(destination).packed + payload)


def ethernet(payload: bytes, ethertype: int, vlans: tuple[int, ...] = ()) -> bytes:
    head = b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02"
    for vlan in vlans:
        head += struct.pack("!HH", 0x8100, vlan)
    return head + struct.pack("!H", ethertype) + payload


def mpls(payload: bytes, labels: tuple[int, ...] = (16,), vlans: tuple[int, ...] = ()) -> bytes:
    """An Ethernet frame carrying ``payload`` under an MPLS label stack (the last label at the bottom)."""
    stack = b"".join(struct.pack("!I", (label << 12) | ((i == len(labels) - 1) << 8) | 64)
                     for i, label in enumerate(labels))
    return ethernet(stack + payload, 0x8847, vlans)


def fcs(frame: bytes) -> bytes:
    return frame + struct.pack("<I", zlib.crc32(frame))


# -- files --------------------------------------------------------------------------------------


def write_pcap(path: Path, frames: list[bytes], linktype: int = 1, fcs_words: int | None = None,
               endian: str = "<", nano: bool = False, originals: list[int] | None = None) -> Path:
    """A classic pcap file; ``fcs_words`` sets the FCS bits of the link-type field."""
    field = linktype | (0x04000000 | fcs_words << 28 if fcs_words is not None else 0)
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    data = struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, 65535, field)
    for index, frame in enumerate(frames):
        original = originals[index] if originals else len(frame)
        data += struct.pack(endian + "IIII", 1_700_000_000 + index, 0, len(frame), original) + frame
    path.write_bytes(data)
    return path


def block(kind: int, body: bytes, endian: str = "<") -> bytes:
    body += b"\x00" * (-len(body) % 4)
    return struct.pack(endian + "II", kind, 12 + len(body)) + body + struct.pack(endian + "I", 12 + len(body))


def option(code: int, value: bytes, endian: str = "<") -> bytes:
    return struct.pack(endian + "HH", code, len(value)) + value + b"\x00" * (-len(value) % 4)


def section(endian: str = "<") -> bytes:
    return block(0x0A0D0D0A, struct.pack(endian + "IHHq", 0x1A2B3C4D, 1, 0, -1), endian)


def interface(linktype: int, endian: str = "<", fcslen: int | None = None, snaplen: int = 0) -> bytes:
    options = option(13, bytes([fcslen]), endian) + option(0, b"", endian) if fcslen is not None else b""
    return block(1, struct.pack(endian + "HHI", linktype, 0, snaplen) + options, endian)


def enhanced(iface: int, frame: bytes, endian: str = "<", flags: int | None = None) -> bytes:
    body = struct.pack(endian + "IIIII", iface, 0, 0, len(frame), len(frame)) + frame + b"\x00" * (-len(frame) % 4)
    if flags is not None:
        body += option(2, struct.pack(endian + "I", flags), endian) + option(0, b"", endian)
    return block(6, body, endian)


def simple(frame: bytes, endian: str = "<") -> bytes:
    return block(3, struct.pack(endian + "I", len(frame)) + frame, endian)


def obsolete(iface: int, frame: bytes, endian: str = "<") -> bytes:
    return block(2, struct.pack(endian + "HHIIII", iface, 0, 0, 0, len(frame), len(frame)) + frame, endian)


def read(path: Path) -> pcap.Capture:
    return pcap.read_capture(path)


def flows(capture: pcap.Capture) -> list[tuple[int, str, str, int, int]]:
    return [(p.protocol, str(p.source), str(p.destination), p.source_port, p.destination_port)
            for p in capture.packets]


# -- classic pcap --------------------------------------------------------------------------------


@pytest.mark.parametrize("endian", ["<", ">"], ids=["little-endian", "big-endian"])
@pytest.mark.parametrize("nano", [False, True], ids=["usec", "nsec"])
def test_classic_pcap_in_either_byte_order(tmp_path: Path, endian: str, nano: bool) -> None:
    frames = [ethernet(ipv4(HOST, FAR, 6, tcp(50000, 443)), 0x0800),
              ethernet(ipv6(FAR6, HOST6, 17, udp(53, 5000)), 0x86DD, vlans=(7,))]
    capture = read(write_pcap(tmp_path / "c.pcap", frames, endian=endian, nano=nano))
    assert capture.format == "pcap" and capture.frames == 2
    assert flows(capture) == [(6, HOST, FAR, 50000, 443), (17, FAR6, HOST6, 53, 5000)]


def test_fcs_bits_of_the_link_type_field_strip_the_fcs(tmp_path: Path) -> None:
    """Bit 26 of the link-type field marks bits 28-31 valid: the FCS length in 16-bit words."""
    plain = [ethernet(ipv4(HOST, FAR, 6, tcp(50000, 443)), 0x0800),
             ethernet(ipv4(HOST, FAR, 17, udp(5353, 53)), 0x0800),
             # IPv4 with a total length of 0 (segmentation offload) and a UDP header cut to 2 bytes:
             # with the FCS left on, its 4 bytes would read as ports.
             ethernet(ipv4(HOST, FAR, 17, b"")[:2] + b"\x00\x00" + ipv4(HOST, FAR, 17, b"")[4:] + b"\x13\x88",
                      0x0800)]
    path = write_pcap(tmp_path / "fcs.pcap", [fcs(f) for f in plain], fcs_words=2)
    assert [frame.data for frame in pcap.frames(path.read_bytes(), path)] == plain
    capture = read(path)
    assert flows(capture) == [(6, HOST, FAR, 50000, 443), (17, HOST, FAR, 5353, 53)]
    assert capture.skipped == {"truncated (UDP header)": 1}
    # Without the bits the same frames keep their last 4 bytes: the offload frame gets "ports".
    unmarked = read(write_pcap(tmp_path / "unmarked.pcap", [fcs(f) for f in plain]))
    assert len(unmarked.packets) == 3


def test_fcs_cut_off_by_the_snap_length_is_not_stripped_twice(tmp_path: Path) -> None:
    frame = ethernet(ipv4(HOST, FAR, 6, tcp(50000, 443)), 0x0800)
    cut = fcs(frame)[:-3]  # the capture kept one byte of the FCS
    path = write_pcap(tmp_path / "snap.pcap", [cut, frame[:40]], fcs_words=2,
                      originals=[len(frame) + 4, len(frame) + 4])
    assert [f.data for f in pcap.frames(path.read_bytes(), path)] == [frame, frame[:40]]


# -- pcapng ---------------------------------------------------------------------------------------


def test_pcapng_with_several_interfaces_link_types_and_sections(tmp_path: Path) -> None:
    """Wireshark's format: each packet names its interface, and each interface its link type."""
    data = (section()
            + interface(1) + interface(101) + interface(105)  # Ethernet, raw IP, IEEE 802.11
            + enhanced(0, ethernet(ipv4(HOST, FAR, 6, tcp(50000, 443)), 0x0800))
            + enhanced(1, ipv6(HOST6, FAR6, 17, udp(5000, 53)))
            + enhanced(2, b"\x08\x02" + b"\x00" * 30)
            + obsolete(0, ethernet(ipv4(FAR, HOST, 1, b"\x00\x00\x00\x00"), 0x0800))
            + block(4, b"\x00" * 8)  # a name resolution block: not a packet
            # A second section, big-endian, whose interface 0 is Linux cooked v2 with a 4-byte FCS.
            + section(">") + interface(276, ">", fcslen=32)
            + enhanced(0, fcs(struct.pack("!HHiHBB8s", 0x0800, 0, 2, 1, 4, 6, b"")
                              + ipv4(HOST, FAR, 17, udp(123, 123))), ">")
            + simple(fcs(struct.pack("!HHiHBB8s", 0x86DD, 0, 2, 1, 0, 6, b"")
                         + ipv6(FAR6, HOST6, 58, b"\x81\x00\x00\x00")), ">"))
    path = tmp_path / "multi.pcapng"
    path.write_bytes(data)
    capture = read(path)
    assert capture.format == "pcapng" and capture.frames == 6
    assert flows(capture) == [(6, HOST, FAR, 50000, 443), (17, HOST6, FAR6, 5000, 53), (1, FAR, HOST, 0, 0),
                              (17, HOST, FAR, 123, 123), (58, FAR6, HOST6, 129, 0)]
    assert capture.skipped == {"link type 105 (IEEE 802.11): not supported": 1}
    assert "6 frames: 5 TCP/UDP/ICMP packets, 1 skipped (1 link type 105 (IEEE 802.11): not supported)" in \
        capture.summary()


def test_pcapng_fcs_length_from_the_interface_or_the_packet_flags(tmp_path: Path) -> None:
    frame = ethernet(ipv4(HOST, FAR, 17, udp(5353, 53)), 0x0800)
    data = (section() + interface(1, fcslen=4) + interface(1)
            + enhanced(0, fcs(frame))  # if_fcslen 4 (bytes)
            + enhanced(1, fcs(frame), flags=4 << 5)  # epb_flags: a 4-byte FCS on this packet
            + enhanced(1, frame))
    path = tmp_path / "fcs.pcapng"
    path.write_bytes(data)
    assert [f.data for f in pcap.frames(data, path)] == [frame, frame, frame]


# -- encapsulations ------------------------------------------------------------------------------


def test_mpls_label_stacks_vlans_loopback_and_linux_cooked(tmp_path: Path) -> None:
    options = b"\x01\x01\x01\x00"  # three NOPs and an end of options: IHL 6
    ethernet_frames = [
        mpls(ipv4(HOST, FAR, 6, tcp(50000, 443))),
        mpls(ipv6(HOST6, FAR6, 6, tcp(50001, 443)), labels=(16, 17, 18)),
        mpls(ipv4(HOST, FAR, 17, udp(5353, 53), options), vlans=(7,)),  # options: not 0x45
        mpls(b"\x00\x00\x00\x00" + ethernet(ipv4(HOST, FAR, 6, tcp(1, 2)), 0x0800)),  # a pseudowire
        ethernet(ipv4(HOST, FAR, 6, tcp(50002, 80)), 0x0800, vlans=(7, 8, 9)),
        mpls(b"", labels=(16,))[:-2],  # a label stack cut short
    ]
    capture = read(write_pcap(tmp_path / "mpls.pcap", ethernet_frames))
    assert flows(capture) == [(6, HOST, FAR, 50000, 443), (6, HOST6, FAR6, 50001, 443), (17, HOST, FAR, 5353, 53),
                              (6, HOST, FAR, 50002, 80)]
    assert capture.skipped == {"MPLS pseudowire (payload not IPv4 or IPv6): not supported": 1,
                               "truncated (inside an MPLS label stack)": 1}
    loopback = [struct.pack("<I", 2) + ipv4(HOST, FAR, 17, udp(1, 2)),
                struct.pack("<I", 30) + ipv6(HOST6, FAR6, 17, udp(3, 4)),
                struct.pack("<I", 7) + b"\x00" * 20]
    capture = read(write_pcap(tmp_path / "null.pcap", loopback, linktype=0))
    assert flows(capture) == [(17, HOST, FAR, 1, 2), (17, HOST6, FAR6, 3, 4)]
    assert capture.skipped == {"not IP (loopback address family 7)": 1}
    cooked = [struct.pack("!HHH8sH", 4, 1, 6, b"", 0x0800) + ipv4(HOST, FAR, 6, tcp(7, 8)),
              struct.pack("!HHH8sH", 4, 1, 6, b"", 0x0806) + b"\x00" * 28]
    capture = read(write_pcap(tmp_path / "sll.pcap", cooked, linktype=113))
    assert flows(capture) == [(6, HOST, FAR, 7, 8)]
    assert capture.skipped == {"not IP (ethertype 0x0806 ARP)": 1}


def test_skipped_frames_are_counted_by_reason(tmp_path: Path) -> None:
    frames = [
        ethernet(ipv4(HOST, FAR, 47, b"\x00" * 8), 0x0800),
        ethernet(ipv4(HOST, FAR, 47, b"\x00" * 8), 0x0800),
        ethernet(b"\x00" * 28, 0x0806),
        b"\x01\x80\xc2\x00\x00\x00" + b"\x02" * 6 + struct.pack("!H", 38) + b"\x42\x42\x03" + b"\x00" * 35,
        b"\x02\x00\x00\x00",
        ethernet(ipv4(HOST, FAR, 17, b"\x00" * 16)[:6] + b"\x00\xb9" + ipv4(HOST, FAR, 17, b"\x00" * 16)[8:],
                 0x0800),
        ethernet(ipv6(HOST6, FAR6, 132, b"\x00" * 12), 0x86DD),
        ethernet(b"\x11\x00\x00\x01\x00\x16\x00\x21" + ipv4(HOST, FAR, 6, tcp(1, 2)), 0x8864),  # PPPoE
    ]
    capture = read(write_pcap(tmp_path / "skip.pcap", frames))
    assert capture.packets == []
    assert capture.skipped == {
        "IP protocol 47 (GRE)": 2,
        "not IP (ethertype 0x0806 ARP)": 1,
        "not IP (802.3 LLC frame)": 1,
        "truncated (shorter than an Ethernet header)": 1,
        "later IP fragment (no transport header)": 1,
        "IP protocol 132 (SCTP)": 1,
        "PPPoE session (ethertype 0x8864): not supported": 1,
    }
    assert capture.skipped_text().startswith("2 IP protocol 47 (GRE), 1 ")


# -- refusals -------------------------------------------------------------------------------------


def refused(path: Path, *words: str) -> None:
    with pytest.raises(pcap.CaptureError) as caught:
        pcap.read_capture(path)
    message = str(caught.value)
    assert caught.value.exit_code == 2 and "\n" not in message
    assert all(word in message for word in words), message


def test_unusable_captures_are_refused_with_one_line(tmp_path: Path) -> None:
    refused(tmp_path / "missing.pcap", "no such file")
    refused(tmp_path, "a directory")
    (tmp_path / "empty.pcap").write_bytes(b"")
    refused(tmp_path / "empty.pcap", "empty")
    (tmp_path / "text.pcap").write_text("hello, world\n")
    refused(tmp_path / "text.pcap", "not a pcap or pcapng capture", "68 65 6c 6c")
    (tmp_path / "gz.pcap").write_bytes(b"\x1f\x8b\x08\x00" + b"\x00" * 30)
    refused(tmp_path / "gz.pcap", "gzip")
    whole = write_pcap(tmp_path / "whole.pcap", [ethernet(ipv4(HOST, FAR, 6, tcp(1, 2)), 0x0800)]).read_bytes()
    (tmp_path / "cut.pcap").write_bytes(whole[:-5])
    refused(tmp_path / "cut.pcap", "truncated", "byte 24")
    write_pcap(tmp_path / "wifi.pcap", [b"\x08\x02" + b"\x00" * 30], linktype=105)
    refused(tmp_path / "wifi.pcap", "no frame on a supported link type", "105 (IEEE 802.11)", "Ethernet (1)")
    (tmp_path / "orphan.pcapng").write_bytes(section() + enhanced(3, b"\x00" * 20))
    refused(tmp_path / "orphan.pcapng", "names interface 3")
    (tmp_path / "badlen.pcapng").write_bytes(section() + struct.pack("<II", 1, 13) + b"\x00" * 8)
    refused(tmp_path / "badlen.pcapng", "invalid length 13")


@pytest.mark.skipif(sys.platform == "win32" or not hasattr(sys, "getuid") or sys.getuid() == 0,
                    reason="root reads any file")
def test_an_unreadable_capture_is_refused(tmp_path: Path) -> None:
    path = write_pcap(tmp_path / "secret.pcap", [])
    path.chmod(0)
    refused(path, "cannot read", "Permission denied")


def test_local_must_be_an_address_or_network() -> None:
    assert pcap.parse_network(" 192.168.1.20 ") == ipaddress.ip_network("192.168.1.20/32")
    assert pcap.parse_network("fd00::/8") == ipaddress.ip_network("fd00::/8")
    for text in ("10.0.0.300", "local", "10.0.0.0/33", ""):
        with pytest.raises(pcap.CaptureError, match="not an IPv4 or IPv6 address or network"):
            pcap.parse_network(text)


# -- before any build -------------------------------------------------------------------------------

MONITOR = ROOT / "specs" / "monitor.yaml"


def check(*args: str) -> tuple[int, str, float]:
    start = time.perf_counter()
    result = runner.invoke(app, ["check", *args])
    return result.exit_code, result.output, time.perf_counter() - start


@pytest.mark.parametrize("args, says", [
    (["--pcap", "missing.pcap", "--local", "10.0.0.0/8"], "missing.pcap: no such file"),
    (["--pcap", ".", "--local", "10.0.0.0/8"], "a directory"),
    (["--pcap", "text.pcap", "--local", "10.0.0.0/8"], "not a pcap or pcapng capture"),
    (["--pcap", "good.pcap", "--local", "10.0.0.300"], "--local '10.0.0.300': not an IPv4 or IPv6 address"),
    (["--pcap", "good.pcap"], "--pcap needs --local NET"),
    (["--local", "10.0.0.0/8"], "give --pcap FILE too"),
], ids=["missing", "directory", "not-a-capture", "bad-local", "no-local", "local-alone"])
def test_bad_pcap_arguments_exit_2_before_building(args: list[str], says: str, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "text.pcap").write_text("not a capture\n")
    write_pcap(tmp_path / "good.pcap", [ethernet(ipv4(HOST, FAR, 6, tcp(1, 2)), 0x0800)])
    code, output, seconds = check(str(MONITOR), "--out", str(tmp_path / "out"), *args)
    assert code == 2, output
    assert output.strip().splitlines() == [output.strip()] and output.startswith("error: "), output
    assert says in output
    assert "Traceback" not in output and "build" not in output
    assert not (tmp_path / "out").exists()  # refused before anything was rendered or built
    assert seconds < 5


def test_pcap_needs_a_ring_sink_and_a_transport_layer(tmp_path: Path) -> None:
    good = write_pcap(tmp_path / "good.pcap", [ethernet(ipv4(HOST, FAR, 6, tcp(1, 2)), 0x0800)])
    for spec, says in (("monitor-dbgprint.yaml", "dbgprint sink"), ("ale-connect.yaml", "hooks none")):
        code, output, _ = check(str(ROOT / "specs" / spec), "--out", str(tmp_path / spec), "--pcap", str(good),
                                "--local", "10.0.0.0/8")
        assert code == 2 and says in output, output
        assert "PASS" not in output and "build" not in output


def test_pcap_without_dpkt_exits_2_with_the_install_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "dpkt", None)  # import dpkt raises ImportError
    good = write_pcap(tmp_path / "good.pcap", [ethernet(ipv4(HOST, FAR, 6, tcp(1, 2)), 0x0800)])
    code, output, _ = check(str(MONITOR), "--out", str(tmp_path / "out"), "--pcap", str(good), "--local", "10.0.0.0/8")
    assert code == 2, output
    assert output.startswith("error: --pcap compares the replay with dpkt, which is not installed: ")
    assert "-m pip install dpkt" in output and "Traceback" not in output
