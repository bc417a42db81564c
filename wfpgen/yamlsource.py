"""Load YAML into plain Python values while remembering where every value came from.

PyYAML silently keeps the last of two equal keys and happily expands alias bombs, so the
document is composed into nodes and converted here, with duplicate-key detection, a size
cap, a cap on alias expansion and a closed set of tags.
"""

from __future__ import annotations

import datetime
import os
import stat
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
        value = self.scalars.construct_object(node)
        if isinstance(value, (datetime.date, datetime.datetime)):
            return str(node.value)
        if isinstance(value, str) and _has_surrogate(value):
            self.fail(node, "string holds a lone UTF-16 surrogate (a \\uD800-\\uDFFF escape)",
                      "text of whole Unicode characters")
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
            if key in seen:
                line, column = seen[key]
                self.fail(key_node, f"duplicate key '{key}' (first defined at line {line}, column {column})",
                          "each key once per mapping")
                continue
            seen[key] = self.at(key_node)
            self.source.keys[path + (key,)] = self.at(key_node)
            result[key] = self.convert(value_node, path + (key,), depth + 1)
        return result


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
    if "\x00" in decoded:
        line = decoded[: decoded.index("\x00")].count("\n") + 1
        raise SpecError([Diagnostic(name, line, 1, "file contains a NUL character")])
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
