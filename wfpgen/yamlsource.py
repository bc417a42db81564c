"""Load YAML into plain Python values while remembering where every value came from.

PyYAML silently keeps the last of two equal keys and happily expands alias bombs, so the
document is composed into nodes and converted here, with duplicate-key detection, a size
cap, a cap on alias expansion and a closed set of tags. Two more policies live here, because
only here is every character and every scalar's original text in view:

* no spec string (value or key) and no other part of the document holds an invisible or
  control character: C0/C1 controls, format characters (bidirectional overrides, isolates and
  marks, zero-width characters, U+FEFF), line and paragraph separators, surrogates, private-use
  and unassigned code points (:func:`forbidden_character`);
* a number is written the one way YAML 1.1 and YAML 1.2 read alike: ``0443`` (octal 291 in
  YAML 1.1), ``1:30`` (base 60), ``0b101`` and ``1_000`` are refused with what they were read
  as, and ``yes``/``no``/``on``/``off`` (booleans in YAML 1.1 only) likewise
  (:func:`ambiguous_scalar`).
"""

from __future__ import annotations

import datetime
import os
import re
import stat
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path as FilePath
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from wfpgen.errors import Diagnostic, SpecError

Path = tuple[str | int, ...]

MAX_BYTES = 256 * 1024
MAX_NODES = 20_000
MAX_DEPTH = 32

_STANDARD_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
    "tag:yaml.org,2002:timestamp",
}


#: Unicode categories no spec character may have: controls, format characters, surrogates,
#: private-use and unassigned code points (noncharacters included), line and paragraph separators.
FORBIDDEN_CATEGORIES = {
    "Cc": "a control character",
    "Cf": "an invisible formatting character",
    "Cs": "a surrogate",
    "Co": "a private-use character",
    "Cn": "an unassigned code point or noncharacter",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
}
#: Format characters that reorder the text around them when it is displayed (Trojan Source).
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
#: Names of the controls unicodedata leaves unnamed, for the diagnostics.
_CONTROL_NAMES = {0x00: "NULL", 0x09: "CHARACTER TABULATION", 0x0A: "LINE FEED", 0x0B: "LINE TABULATION",
                  0x0C: "FORM FEED", 0x0D: "CARRIAGE RETURN", 0x1B: "ESCAPE", 0x7F: "DELETE", 0x85: "NEXT LINE"}
ALLOWED_TEXT = ("visible characters and spaces (no control, invisible formatting, bidirectional, "
                "line or paragraph separator, private-use or unassigned characters)")
#: Where a document's line breaks are, as YAML counts them (the other YAML breaks are forbidden).
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def forbidden_character(text: str) -> int | None:
    """Index of the first character of ``text`` no spec string may hold, or None."""
    for index, ch in enumerate(text):
        if unicodedata.category(ch) in FORBIDDEN_CATEGORIES:
            return index
    return None


def describe_character(ch: str) -> str:
    """``U+202E RIGHT-TO-LEFT OVERRIDE, a bidirectional-text control ...``: what a forbidden character is."""
    code = ord(ch)
    name = _CONTROL_NAMES.get(code) or unicodedata.name(ch, "")
    label = f"U+{code:04X}" + (f" {name}" if name else "")
    if ch in BIDI_CONTROLS:
        return f"{label}, a bidirectional-text control that makes text display in another order than it is written"
    return f"{label}, {FORBIDDEN_CATEGORIES.get(unicodedata.category(ch), 'a character that is not text')}"


_DECIMAL = re.compile(r"[-+]?(?:0|[1-9][0-9]*)", re.ASCII)
_HEXADECIMAL = re.compile(r"[-+]?0x[0-9A-Fa-f]+", re.ASCII)
_BOOLEANS = {"true", "false"}
NUMBERS = "decimal numbers (443), 0x hexadecimal (0x1bb), or text in quotes"
BOOLEANS = "true, false, or text in quotes"


def ambiguous_scalar(text: str, value: object) -> tuple[str, str] | None:
    """Why the scalar ``text``, which YAML 1.1 read as ``value``, is refused, and what is allowed; None
    when it is fine.

    Only the decimal (and ``0x`` hexadecimal) spelling of a number, and ``true``/``false`` for a
    boolean, mean the same in YAML 1.1 (PyYAML) and YAML 1.2: ``0443`` is octal 291 in one and 443
    in the other, ``1:30`` base-60 90 in one and text in the other, ``on`` true in one and text in
    the other. Whoever wrote ``0443`` meant 443, so the message says so.
    """
    if isinstance(value, bool):
        if text.lower() in _BOOLEANS:
            return None
        message = (f"'{text}' is read by YAML 1.1 as the boolean {str(value).lower()} and by YAML 1.2 as text; "
                   f"write {str(value).lower()}, or '{text}' in quotes for the text")
        return message, BOOLEANS
    if isinstance(value, int):
        if _DECIMAL.fullmatch(text) or _HEXADECIMAL.fullmatch(text):
            return None
        digits = text.lstrip("+-")
        sign = "-" if text.startswith("-") else ""
        if "_" in digits:
            reading, meant = "a number with '_' separators", sign + digits.replace("_", "")
        elif ":" in digits:
            reading, meant = "a base-60 (sexagesimal) number", ""
        elif digits.startswith("0b"):
            reading, meant = "a binary number", ""
        else:
            reading, meant = "an octal number", sign + (digits.lstrip("0") or "0")
        write = f"write {meant}" if _DECIMAL.fullmatch(meant) else f"write it in decimal ({value})"
        message = (f"'{text}' is read by YAML 1.1 as {reading}, {value}, and differently by YAML 1.2; "
                   f"{write}, or '{text}' in quotes for the text")
        return message, NUMBERS
    if isinstance(value, float) and (":" in text or "_" in text):
        reading = "a base-60 (sexagesimal) number" if ":" in text else "a number with '_' separators"
        message = (f"'{text}' is read by YAML 1.1 as {reading}, {value}, and differently by YAML 1.2; "
                   f"write the number without them, or '{text}' in quotes for the text")
        return message, NUMBERS
    return None


@dataclass
class Source:
    """A loaded document: its data plus the position of every value and mapping key, and its bytes."""

    name: str
    data: Any
    values: dict[Path, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)
    raw: bytes = b""

    def where(self, path: Path, *, key: bool = False) -> tuple[int, int]:
        """Position of ``path`` (its key when ``key``), else of its nearest recorded ancestor."""
        table = self.keys if key else self.values
        probe = tuple(path)
        while probe:
            if probe in table:
                return table[probe]
            if probe in self.values:
                return self.values[probe]
            probe = probe[:-1]
        return self.values.get((), (1, 1))

    def diag(
        self,
        path: Path,
        message: str,
        *,
        key: bool = False,
        suggestion: str | None = None,
        allowed: str | None = None,
    ) -> Diagnostic:
        """A diagnostic located at ``path`` in this document."""
        line, column = self.where(path, key=key)
        return Diagnostic(self.name, line, column, message, suggestion, allowed)


class _Converter:
    def __init__(self, source: Source) -> None:
        self.source = source
        self.nodes = 0
        self.problems: list[Diagnostic] = []
        self.scalars = SafeConstructor()

    def at(self, node: Node) -> tuple[int, int]:
        return node.start_mark.line + 1, node.start_mark.column + 1

    def fail(self, node: Node, message: str, allowed: str | None = None) -> None:
        line, column = self.at(node)
        self.problems.append(Diagnostic(self.source.name, line, column, message, None, allowed))

    def convert(self, node: Node, path: Path, depth: int) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _TooBig(node, f"document expands to more than {MAX_NODES} values (alias expansion?)")
        if depth > MAX_DEPTH:
            raise _TooBig(node, f"document nests deeper than {MAX_DEPTH} levels")
        self.source.values[path] = self.at(node)
        if node.tag not in _STANDARD_TAGS:
            self.fail(node, f"unsupported YAML tag '{node.tag}'", "plain YAML values without tags")
            return None
        if isinstance(node, MappingNode):
            return self.mapping(node, path, depth)
        if isinstance(node, SequenceNode):
            return [self.convert(item, path + (i,), depth + 1) for i, item in enumerate(node.value)]
        assert isinstance(node, ScalarNode)
        try:
            value = self.scalars.construct_object(node)
        except Exception as exc:  # noqa: BLE001 - an explicit tag on text it cannot hold: !!int x, !!bool x
            detail = f": {exc}" if isinstance(exc, ValueError) else ""
            self.fail(node, f"cannot read {node.value!r} as {node.tag.rsplit(':', 1)[-1]}{detail}",
                      "a value its tag can hold, or no tag")
            return None
        if isinstance(value, (datetime.date, datetime.datetime)):
            return str(node.value)
        if isinstance(value, str):
            return self.text(node, path, value)
        problem = ambiguous_scalar(str(node.value), value)
        if problem is not None:
            self.fail(node, *problem)
            return None
        return value

    def text(self, node: Node, path: Path, value: str) -> str | None:
        """``value`` if it holds only characters a spec string may hold."""
        if _has_surrogate(value):
            self.fail(node, "string holds a lone UTF-16 surrogate (a \\uD800-\\uDFFF escape)",
                      "text of whole Unicode characters")
            return None
        index = forbidden_character(value)
        if index is not None:
            self.fail(node, f"{_what(path)} contains {describe_character(value[index])}", ALLOWED_TEXT)
            return None
        return value

    def mapping(self, node: MappingNode, path: Path, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        seen: dict[str, tuple[int, int]] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                self.fail(key_node, "YAML merge keys ('<<') are not supported", "explicit keys")
                continue
            if not isinstance(key_node, ScalarNode) or key_node.tag != "tag:yaml.org,2002:str":
                self.fail(key_node, "mapping keys must be plain strings")
                continue
            key = str(key_node.value)
            if _has_surrogate(key):
                self.fail(key_node, "key holds a lone UTF-16 surrogate", "text of whole Unicode characters")
                continue
            index = forbidden_character(key)
            if index is not None:
                self.fail(key_node, f"a key in {_what(path)} contains {describe_character(key[index])}",
                          ALLOWED_TEXT)
                continue
            if key in seen:
                line, column = seen[key]
                self.fail(key_node, f"duplicate key '{key}' (first defined at line {line}, column {column})",
                          "each key once per mapping")
                continue
            seen[key] = self.at(key_node)
            self.source.keys[path + (key,)] = self.at(key_node)
            result[key] = self.convert(value_node, path + (key,), depth + 1)
        return result


def _what(path: Path) -> str:
    """``'driver.description'``, ``'layers[1].layer'`` or ``the top level``: a path for messages."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else ("." if text else "") + part
    return f"'{text}'" if text else "the top level"


def _has_surrogate(text: str) -> bool:
    """Whether ``text`` holds a lone surrogate (YAML's ``"\\uD800"``), which no later stage can encode."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


class _TooBig(Exception):
    def __init__(self, node: Node, message: str) -> None:
        super().__init__(message)
        self.node = node


def _check_depth(text: str, name: str) -> None:
    """Refuse a document nesting deeper than MAX_DEPTH, from the parser's (non-recursive) event stream."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                mark = event.start_mark
                line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
                raise SpecError([Diagnostic(name, line, column, f"document nests deeper than {MAX_DEPTH} levels")])
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


_FILE_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)
_LIMIT = f"a regular file of at most {MAX_BYTES} bytes"


def _not_regular(mode: int) -> str:
    return next((kind for test, kind in _FILE_KINDS if test(mode)), "not a regular file")


def read_spec_bytes(path: FilePath, name: str) -> bytes:
    """The bytes of the spec at ``path``: a regular file of at most MAX_BYTES, read once and never more.

    The file is opened without blocking (a FIFO would wait for a writer) and checked through its
    descriptor, so what is checked is what is read; at most MAX_BYTES + 1 bytes are read, so a
    file that grows after the check is still refused without being held in memory.
    """

    def fail(message: str, allowed: str | None = _LIMIT) -> SpecError:
        return SpecError([Diagnostic(name, 1, 1, message, None, allowed)])

    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        descriptor = os.open(path, flags)
    except OSError as exc:
        try:
            kind = _not_regular(os.stat(path).st_mode)
        except OSError:
            kind = ""
        if kind and kind != "not a regular file":
            raise fail(f"the spec is {kind}, not a regular file") from None
        raise fail(f"cannot read the spec: {exc.strerror or exc}", None) from None
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise fail(f"the spec is {_not_regular(info.st_mode)}, not a regular file")
        if info.st_size > MAX_BYTES:
            raise fail(f"file is {info.st_size} bytes, larger than the {MAX_BYTES}-byte limit")
        chunks: list[bytes] = []
        left = MAX_BYTES + 1
        while left > 0:
            chunk = os.read(descriptor, left)
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    except OSError as exc:
        raise fail(f"cannot read the spec: {exc.strerror or exc}", None) from None
    finally:
        os.close(descriptor)
    data = b"".join(chunks)
    if len(data) > MAX_BYTES:
        raise fail(f"file grew beyond the {MAX_BYTES}-byte limit while it was read")
    return data


def _position(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of ``text[index]``, counting line breaks as YAML does."""
    line, start = 1, 0
    for match in _LINE_BREAK.finditer(text, 0, index):
        line, start = line + 1, match.end()
    return line, index - start + 1


def _check_characters(text: str, name: str) -> None:
    """Refuse forbidden characters anywhere in the document, comments included (the project keeps a
    copy of the spec); tab, carriage return and line feed are YAML's own whitespace."""
    problems: list[Diagnostic] = []
    lines: set[int] = set()
    for index, ch in enumerate(text):
        if ch in "\t\r\n" or unicodedata.category(ch) not in FORBIDDEN_CATEGORIES:
            continue
        line, column = _position(text, index)
        if line in lines:
            continue
        lines.add(line)
        problems.append(Diagnostic(name, line, column, f"file contains {describe_character(ch)}", None, ALLOWED_TEXT))
        if len(problems) == 20:
            break
    if problems:
        raise SpecError(problems)


def load_yaml(text: bytes, name: str) -> Source:
    """Parse one YAML document into a :class:`Source`; raise :class:`SpecError` on any problem."""
    source = Source(name, None, raw=text)
    if len(text) > MAX_BYTES:
        raise SpecError([Diagnostic(name, 1, 1, f"file is {len(text)} bytes, larger than the {MAX_BYTES}-byte limit",
                                    None, _LIMIT)])
    try:
        decoded = text.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SpecError([Diagnostic(name, 1, 1, f"file is not valid UTF-8 (byte offset {exc.start})")]) from None
    _check_characters(decoded, name)
    try:
        _check_depth(decoded, name)  # before compose, whose recursion a deep document exhausts
        node = yaml.compose(decoded, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise SpecError([Diagnostic(name, line, column, f"invalid YAML: {exc.problem or exc.context}")]) from None
    except yaml.YAMLError as exc:
        raise SpecError([Diagnostic(name, 1, 1, f"invalid YAML: {exc}")]) from None
    if node is None:
        raise SpecError([Diagnostic(name, 1, 1, "the spec is empty", None, "a mapping with 'version: 1'")])
    converter = _Converter(source)
    try:
        source.data = converter.convert(node, (), 0)
    except _TooBig as exc:
        line, column = converter.at(exc.node)
        raise SpecError([Diagnostic(name, line, column, str(exc))]) from None
    if converter.problems:
        raise SpecError(converter.problems)
    return source
