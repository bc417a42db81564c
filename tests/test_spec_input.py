"""Hostile spec input refused at the door: each class by one rule, attacked with many payloads.

* whole-string checks use ``fullmatch`` (``$`` also matches before a trailing newline) and ASCII
  patterns (``\\d`` and ``int()`` take Arabic-Indic or fullwidth digits);
* addresses in one spelling (no zone, no netmask, ASCII digits);
* the spec file is a regular file within the size cap, checked before it is read;
* numbers written the way YAML 1.1 and 1.2 read differently (``0443``, ``1:30``, ``1_000``, ``on``);
* driver names Windows already uses;
* unknown keys named exactly, whatever characters they hold; every catalog layer in one spec.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT
from typer.testing import CliRunner

from wfpgen import spec as spec_module
from wfpgen import validate as validate_module
from wfpgen import yamlsource
from wfpgen.catalog import load_catalog
from wfpgen.cli import app
from wfpgen.errors import SpecError
from wfpgen.pipeline import generate, resolve_spec
from wfpgen.spec import MAX_LAYERS, parse_spec
from wfpgen.validate import resolve
from wfpgen.windows_names import INBOX_SERVICE_NAMES
from wfpgen.yamlsource import MAX_BYTES, load_yaml

runner = CliRunner()


def messages(text: str) -> list[str]:
    """Every diagnostic for the spec ``text``, formatted; [] when it resolves."""
    try:
        source = load_yaml(text.encode("utf-8"), "spec.yaml")
        resolve(parse_spec(source), source, load_catalog())
    except SpecError as error:
        return [d.format() for d in error.diagnostics]
    return []


def one(text: str) -> str:
    found = messages(text)
    assert len(found) == 1, found
    return found[0]


BASE = "version: 1\ndriver:\n  name: Demo\n"

# -- whole-string patterns ---------------------------------------------------------------------------


@pytest.mark.parametrize("module", [spec_module, validate_module, yamlsource])
def test_input_patterns_are_ascii_and_whole_string(module: Any) -> None:
    """Every pattern that checks spec input is ASCII-only, has no ``\\d`` or trailing ``$``, and is
    never used with ``match``/``search`` (which accept a prefix, or a trailing newline before ``$``)."""
    source = Path(module.__file__).read_text(encoding="utf-8")
    patterns = {name: value for name, value in vars(module).items() if isinstance(value, re.Pattern)}
    assert patterns or module is yamlsource
    for name, pattern in patterns.items():
        if name == "_LINE_BREAK":
            continue  # finds line breaks; checks nothing
        assert pattern.flags & re.ASCII, f"{module.__name__}.{name} lacks re.ASCII"
        assert "\\d" not in pattern.pattern and not pattern.pattern.endswith("$"), name
        assert f"{name}.match(" not in source and f"{name}.search(" not in source, name
        assert f"{name}.fullmatch(" in source, f"{name} is never used with fullmatch"
    assert "re.match(" not in source and "re.search(" not in source


UNICODE_DIGITS = {
    "arabic-indic": "\u0661\u0660\u0663",  # ١٠٣
    "extended-arabic-indic": "\u06f1\u06f0\u06f3",
    "devanagari": "\u0967\u0966\u0969",
    "fullwidth": "\uff11\uff10\uff13",
    "mathematical-bold": "\U0001d7cf\U0001d7ce\U0001d7d1",
    "superscript": "\u00b9\u2070\u00b3",
}


@pytest.mark.parametrize("digits", list(UNICODE_DIGITS.values()), ids=list(UNICODE_DIGITS))
def test_unicode_digits_are_not_numbers(digits: str) -> None:
    one_digit = digits[0]
    cases = {
        "version": BASE + f"  version: {one_digit}.0.0.0\n",
        "version-last": BASE + f"  version: 1.0.0.{digits}\n",
        "weight": BASE + f"sublayer: {{weight: '{digits}'}}\n",
        "capacity": BASE + f"sink: {{capacity: {digits}}}\n",
        "max_blob": BASE + f"sink: {{max_blob: {digits}}}\n",
        "port": BASE + f"conditions: [{{field: ip_remote_port, value: {digits}}}]\n",
        "port-range": BASE + f"conditions: [{{field: ip_remote_port, match: range, value: [1, {digits}]}}]\n",
        "protocol": BASE + f"conditions: [{{field: ip_protocol, value: '{digits}'}}]\n",
        "v4": BASE + f"conditions: [{{field: ip_remote_address, value: '{digits}.0.0.1'}}]\n",
        "v4-prefix": BASE + f"conditions: [{{field: ip_remote_address, value: '10.0.0.0/{one_digit}'}}]\n",
        "v4-range": BASE + f"conditions: [{{field: ip_remote_address, match: range, value: ['1.0.0.0', '{digits}.0.0.1']}}]\n",
        "v6": BASE + "layers: [{layer: inbound_transport_v6, fields: [ip_remote_address], conditions: "
                     f"[{{field: ip_remote_address, value: '{digits}::1'}}]}}]\n",
        "v6-prefix": BASE + "layers: [{layer: inbound_transport_v6, fields: [ip_remote_address], conditions: "
                            f"[{{field: ip_remote_address, value: '2001:db8::/{one_digit}'}}]}}]\n",
        "v6-embedded-v4": BASE + "layers: [{layer: inbound_transport_v6, fields: [ip_remote_address], conditions: "
                                 f"[{{field: ip_remote_address, value: '::ffff:{digits}.0.0.1'}}]}}]\n",
        "version-key": f"version: {one_digit}\ndriver: {{name: Demo}}\n",
    }
    for case, text in cases.items():
        found = messages(text)
        assert len(found) == 1, (case, found)


@pytest.mark.parametrize("version", ["0.0.0.0", "1.0.0.0", "65535.65535.65535.65535", "10.0.22621.1"])
def test_driver_versions_that_are_fine(version: str) -> None:
    assert messages(BASE + f"  version: {version}\n") == []


@pytest.mark.parametrize("version", ["1.0.0", "1.0.0.0.0", "01.0.0.0", "1.00.0.0", "65536.0.0.0", "1.0.0.99999",
                                     "'1.0.0.0 '", "' 1.0.0.0'", "+1.0.0.0", "1.0.0.-1", "1..0.0", "1.0.0.0a",
                                     "'1.0.0.0\\n'", "\"1.0.0.0\\n\"", "\"1.0.0.0\\t\"", "\uff11.0.0.0",
                                     "1.0.0.\u0660", "1.0.0.\U0001d7ce"])
def test_driver_versions_that_are_refused(version: str) -> None:
    message = one(BASE + f"  version: {version}\n")
    assert message.startswith("spec.yaml:4:12: error: ") and ("driver version" in message or "U+" in message), \
        message


@pytest.mark.parametrize("name", ["Evil\\n", "Evil\\r", "Evil\\t", "Evil\\u2028", "\\uFEFFEvil", "Evil\\u00A0",
                                  "\\uFF25vil", "Ev\\u0131l", "Ev\\u212Al", "Evi\\u006C\\u0307"])
def test_driver_names_are_ascii_identifiers_only(name: str) -> None:
    message = one(f'version: 1\ndriver:\n  name: "{name}"\n')
    assert message.startswith("spec.yaml:3:9: error: ") and ("C identifier" in message or "U+" in message), message


@pytest.mark.parametrize("key", ["6a3c0e5e-1f2d-4c3b-9a8e-7d6c5b4a3f21\\n", "6a3c0e5e-1f2d-4c3b-9a8e-7d6c5b4a3f2\\uFF11",
                                 "{6a3c0e5e-1f2d-4c3b-9a8e-7d6c5b4a3f21}", "6a3c0e5e1f2d4c3b9a8e7d6c5b4a3f21",
                                 "urn:uuid:6a3c0e5e-1f2d-4c3b-9a8e-7d6c5b4a3f21", " 6a3c0e5e-1f2d-4c3b-9a8e-7d6c5b4a3f21"])
def test_provider_keys_are_one_spelling(key: str) -> None:
    message = one(BASE + f'provider:\n  key: "{key}"\n')
    assert message.startswith("spec.yaml:5:8: error: "), message


# -- addresses ---------------------------------------------------------------------------------------

V6 = "layers: [{layer: inbound_transport_v6, fields: [ip_remote_address], conditions: [%s]}]\n"


@pytest.mark.parametrize("condition", [
    "{field: ip_remote_address, value: 'fe80::1%eth0'}",
    "{field: ip_remote_address, value: 'fe80::1%1'}",
    "{field: ip_remote_address, value: 'fe80::1%25eth0'}",
    "{field: ip_remote_address, value: 'fe80::%1/64'}",
    "{field: ip_remote_address, match: not_equal, value: 'fe80::1%eth0'}",
    "{field: ip_remote_address, match: range, value: ['fe80::1%eth0', 'fe80::ffff']}",
    "{field: ip_remote_address, match: range, value: ['fe80::1', 'fe80::ffff%2']}",
])
def test_ipv6_zones_are_refused(condition: str) -> None:
    message = one(BASE + V6 % condition)
    assert "zone" in message and "without a zone" in message, message


@pytest.mark.parametrize("value", ["'10.0.0.1%eth0'", "'10.0.0.0/255.0.0.0'", "'10.0.0.0/0.255.255.255'",
                                   "'10.0.0.0/08'", "'10.0.0.0/ 8'", "'10.0.0.0/+8'", "'10.0.0.0/8\\n'",
                                   "'010.0.0.1'", "'10.0.0.1 '", "'0x0a.0.0.1'", "'10.1'", "'167772161'"])
def test_ipv4_values_have_one_spelling(value: str) -> None:
    message = one(BASE + f"conditions: [{{field: ip_remote_address, value: {value}}}]\n")
    assert "ip_remote_address" in message, message


@pytest.mark.parametrize("value", ["'2001:db8::/032'", "'2001:db8::/ffff::'", "'2001:db8::1 '", "'[2001:db8::1]'",
                                   "'2001:db8::g'", "'::ffff:010.0.0.1'"])
def test_ipv6_values_have_one_spelling(value: str) -> None:
    message = one(BASE + V6 % f"{{field: ip_remote_address, value: {value}}}")
    assert "ip_remote_address" in message, message


@pytest.mark.parametrize("value", ["'10.0.0.0/8'", "'10.0.0.1'", "'0.0.0.0/0'"])
def test_ipv4_values_that_are_fine(value: str) -> None:
    assert messages(BASE + f"conditions: [{{field: ip_remote_address, value: {value}}}]\n") == []


@pytest.mark.parametrize("value", ["'2001:db8::/32'", "'::1'", "'::ffff:10.0.0.1'", "'FE80::1'", "'::/0'"])
def test_ipv6_values_that_are_fine(value: str) -> None:
    assert messages(BASE + V6 % f"{{field: ip_remote_address, value: {value}}}") == []


@pytest.mark.parametrize("value", ["'\uff34\uff23\uff30'", "'tcp\\u200b'", "'TCP'", "'t\u0441p'"])
def test_protocol_names_are_ascii(value: str) -> None:
    found = messages(BASE + f"conditions: [{{field: ip_protocol, value: {value}}}]\n")
    assert found == [] if value == "'TCP'" else len(found) == 1, found


# -- what the spec file is ------------------------------------------------------------------------------

def _validate(path: Path | str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``wfpgen validate PATH`` in a process of its own, so a hang fails the test instead of stalling it."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-m", "wfpgen", "validate", str(path)], capture_output=True, text=True,
                          env=env, check=False, timeout=timeout)


def _refused(result: subprocess.CompletedProcess[str], path: Path | str, what: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"{path}:1:1: error: {what}"), lines
    assert lines[1:] == ["1 error; nothing was written"] and "Traceback" not in result.stderr


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes")
def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "spec.yaml"
    os.mkfifo(fifo)
    _refused(_validate(fifo, timeout=30), fifo, "the spec is a named pipe (FIFO), not a regular file")
    link = tmp_path / "link.yaml"
    link.symlink_to(fifo)
    _refused(_validate(link, timeout=30), link, "the spec is a named pipe (FIFO), not a regular file")


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_dev_zero_is_refused_without_reading_it() -> None:
    _refused(_validate("/dev/zero", timeout=30), "/dev/zero", "the spec is a character device, not a regular file")


def test_a_directory_is_refused(tmp_path: Path) -> None:
    _refused(_validate(tmp_path, timeout=30), tmp_path, "the spec is a directory, not a regular file")


def test_a_huge_sparse_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    with path.open("wb") as handle:
        handle.truncate(64 * 1024**3)  # 64 GiB of holes
    _refused(_validate(path, timeout=30), path, f"file is {64 * 1024**3} bytes, larger than the {MAX_BYTES}-byte")


def test_the_cap_is_exact(tmp_path: Path) -> None:
    body = BASE.encode()
    at_cap = tmp_path / "at.yaml"
    at_cap.write_bytes(body + b"#" * (MAX_BYTES - len(body) - 1) + b"\n")
    assert resolve_spec(at_cap, "at.yaml")[1] == at_cap.read_bytes()
    over = tmp_path / "over.yaml"
    over.write_bytes(body + b"#" * (MAX_BYTES - len(body)) + b"\n")
    _refused(_validate(over), over, f"file is {MAX_BYTES + 1} bytes, larger than the {MAX_BYTES}-byte limit")


def test_new_writes_nothing_for_a_special_file(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["new", str(tmp_path), "-o", str(out)])
    assert result.exit_code == 2 and "is a directory, not a regular file" in result.stderr
    assert not out.exists()


def test_a_file_that_grows_after_the_check_is_read_only_to_the_cap(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """fstat says small, the file holds more: at most MAX_BYTES + 1 bytes are asked for, then refused."""
    path = tmp_path / "spec.yaml"
    path.write_bytes(b"#" * (4 * MAX_BYTES))
    real_fstat, real_read = os.fstat, os.read
    asked: list[int] = []

    class Small:
        def __init__(self, info: os.stat_result) -> None:
            self.st_mode, self.st_size = info.st_mode, 10

    def fstat(descriptor: int) -> Any:
        return Small(real_fstat(descriptor))

    def read(descriptor: int, count: int) -> bytes:
        asked.append(count)
        return real_read(descriptor, count)

    monkeypatch.setattr(yamlsource.os, "fstat", fstat)
    monkeypatch.setattr(yamlsource.os, "read", read)
    with pytest.raises(SpecError) as caught:
        yamlsource.read_spec_bytes(path, "spec.yaml")
    assert "grew beyond the" in caught.value.diagnostics[0].message
    assert sum(asked) <= MAX_BYTES + 1 + max(asked), asked
    assert asked and asked[0] == MAX_BYTES + 1


def test_the_project_copies_the_bytes_it_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The spec is read once: the copy in the project and the manifest's hash are of the bytes validated."""
    path = tmp_path / "spec.yaml"
    path.write_text(BASE, encoding="utf-8")
    reads: list[Path] = []
    real = yamlsource.read_spec_bytes

    def counting(target: Path, name: str) -> bytes:
        reads.append(target)
        return real(target, name)

    monkeypatch.setattr(spec_module, "read_spec_bytes", counting)
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail(f"{self} read a second time"))
    _, files = generate(path)
    assert reads == [path] and files["wfpgen.yaml"] == BASE.encode()


# -- YAML 1.1 numbers and booleans -------------------------------------------------------------------

AMBIGUOUS = [
    # (as written, what YAML 1.1 read, what the message tells to write)
    ("0443", "291", "write 443"),
    ("-0443", "-291", "write -443"),
    ("00", "0", "write 0"),
    ("0777", "511", "write 777"),
    ("1:30", "90", "write it in decimal (90)"),
    ("1:30:00", "5400", "write it in decimal (5400)"),
    ("0b101", "5", "write it in decimal (5)"),
    ("1_000", "1000", "write 1000"),
    ("0x_1F", "31", "write it in decimal (31)"),
    ("1_0.5", "10.5", "write the number without them"),
    ("190:20:30.15", "685230.15", "write the number without them"),
    ('!!int "0443"', "291", "write 443"),
]


@pytest.mark.parametrize(("written", "read", "advice"), AMBIGUOUS, ids=[a[0] for a in AMBIGUOUS])
@pytest.mark.parametrize("where", ["version", "weight", "capacity", "max_blob", "port", "range", "description"])
def test_yaml11_numbers_are_refused_with_what_they_were_read_as(written: str, read: str, advice: str,
                                                                 where: str) -> None:
    text = {
        "version": f"version: {written}\ndriver: {{name: Demo}}\n",
        "weight": BASE + f"sublayer:\n  weight: {written}\n",
        "capacity": BASE + f"sink:\n  capacity: {written}\n",
        "max_blob": BASE + f"sink:\n  max_blob: {written}\n",
        "port": BASE + f"conditions:\n  - field: ip_remote_port\n    value: {written}\n",
        "range": BASE + f"conditions:\n  - field: ip_remote_port\n    match: range\n    value: [0, {written}]\n",
        "description": BASE + f"  description: {written}\n",
    }[where]
    message = one(text)
    assert "read by YAML 1.1 as" in message and f", {read}, " in message and advice in message, message
    assert f"or '{written.split()[-1].strip(chr(34))}' in quotes" in message, message
    line = next(i for i, row in enumerate(text.splitlines(), 1) if written in row)
    assert message.startswith(f"spec.yaml:{line}:"), message


@pytest.mark.parametrize("written", ["yes", "No", "ON", "off", "Yes", "NO"])
def test_yaml11_booleans_are_refused(written: str) -> None:
    message = one(BASE + f"action: {written}\n")
    assert message.startswith("spec.yaml:4:9: error: ") and "YAML 1.1 as the boolean" in message, message
    assert f"'{written}' in quotes" in message


@pytest.mark.parametrize("written", ["443", "+443", "0x1bb", "0x1BB", "0"])
def test_unambiguous_numbers_are_read(written: str) -> None:
    assert messages(BASE + f"conditions: [{{field: ip_remote_port, value: {written}}}]\n") == []


def test_text_that_looks_like_a_number_stays_text_when_quoted() -> None:
    assert messages(BASE + "  description: '0443'\n") == []
    assert messages(BASE + "  description: \"1:30 on\"\n") == []


@pytest.mark.parametrize(("tagged", "read"), [("!!int 'one'", "'one' as int"), ("!!int ''", "'' as int"),
                                              ("!!bool 'maybe'", "'maybe' as bool"), ("!!float 'x'", "'x' as float"),
                                              ("!!timestamp 'x'", "'x' as timestamp"),
                                              ("!!timestamp '2001-13-45'", "'2001-13-45' as timestamp")])
def test_an_explicit_tag_on_text_it_cannot_hold_is_an_error(tagged: str, read: str) -> None:
    message = one(f"version: {tagged}\ndriver: {{name: Demo}}\n")
    assert message.startswith(f"spec.yaml:1:10: error: cannot read {read}"), message


# -- names Windows uses ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["Tcpip", "tcpip", "TCPIP6", "Afd", "NDIS", "BFE", "Netio", "fwpkclnt", "Http",
                                  "MpsDrv", "wfplwfs", "Dnscache", "DHCP", "NsiProxy", "Nsi", "Monitor", "Null",
                                  "GLOBALROOT", "Tcp", "PolicyAgent", "WinDefend", "Wdf01000", "Ntfs", "ACPI"])
def test_windows_service_names_are_refused(name: str) -> None:
    message = one(f"version: 1\ndriver:\n  name: '{name}'\n")
    assert message.startswith(f"spec.yaml:3:9: error: '{name}' is taken by Windows ("), message
    assert "uninstall.ps1 would stop and delete" in message and "; allowed: a name no Windows" in message


@pytest.mark.parametrize("name", ["TcpipMonitor", "MyAfd", "Http2", "NdisWatch", "MonitorNetwork", "Demo"])
def test_names_that_contain_a_service_name_are_fine(name: str) -> None:
    assert messages(f"version: 1\ndriver:\n  name: {name}\n") == []


def test_the_windows_name_list_is_lower_case_identifiers() -> None:
    assert len(INBOX_SERVICE_NAMES) > 200
    for name in INBOX_SERVICE_NAMES:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", name), name
    for spec in (ROOT / "specs").glob("*.yaml"):
        assert yaml.safe_load(spec.read_text())["driver"]["name"].lower() not in INBOX_SERVICE_NAMES


# -- unknown keys, whatever they hold -------------------------------------------------------------------

@pytest.mark.parametrize("key", ["x[1]", "[", "a]", "list[str]", "function-after[x]", "function-before", "a.b"])
@pytest.mark.parametrize("where", ["top", "driver", "layer", "condition", "sink"])
def test_unknown_keys_are_named_and_located(key: str, where: str) -> None:
    quoted = f"'{key}'"
    text = {
        "top": BASE + f"{quoted}: 1\n",
        "driver": BASE + f"  {quoted}: 1\n",
        "layer": BASE + f"layers:\n  - layer: inbound_transport_v4\n    {quoted}: 1\n",
        "condition": BASE + f"conditions:\n  - field: ip_remote_port\n    value: 1\n    {quoted}: 1\n",
        "sink": BASE + f"sink:\n  kind: ring\n  {quoted}: 1\n",
    }[where]
    message = one(text)
    line = len(text.splitlines())
    column = text.splitlines()[-1].index(quoted) + 1
    assert message.startswith(f"spec.yaml:{line}:{column}: error: unknown key '{key}' in "), message


# -- every catalog layer ---------------------------------------------------------------------------------

def test_a_spec_may_hook_every_catalog_layer(tmp_path: Path) -> None:
    catalog = load_catalog()
    assert MAX_LAYERS >= len(catalog.layers)
    layers = []
    for layer in catalog.layers.values():
        field = next(f.name for f in layer.fields if f.extractable)
        layers.append({"layer": layer.name, "fields": [field]})
    spec = {"version": 1, "driver": {"name": "Everything", "target": catalog.versions[-1].id}, "layers": layers}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    model, files = generate(path)
    assert len(model.layers) == len(catalog.layers)
    assert re.search(rf"#define EVERYTHING_LAYER_COUNT +{len(catalog.layers)}u ", files["driver/records.h"].decode())


def test_more_layers_than_the_cap_are_refused() -> None:
    text = BASE + "layers: [" + ", ".join(["inbound_transport_v4"] * (MAX_LAYERS + 1)) + "]\n"
    message = one(text)
    assert f"at most {MAX_LAYERS} items" in message, message
