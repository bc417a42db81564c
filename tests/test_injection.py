"""Hostile spec text cannot break out of the context it is printed in.

Every spec string that reaches the generated project (the three descriptions, the application-id
condition value, and the spec's file name, which every file header names) is set, one at a time,
to a break-out payload: quotes, backslashes, comment and CDATA terminators, format directives,
shell and PowerShell expansions, Jinja syntax, Markdown and HTML, non-ASCII and astral characters.
Each project is compared with the same spec carrying harmless text:

* C and headers: the token stream is unchanged once string literals and comments are set aside
  (so the payload sits only inside a literal or a comment), the wide literals decode back to the
  payload, no trigraph appears, and every changed source compiles with the host compile of
  ``test_c_compiles.py``;
* XML (.vcxproj, .filters, .props, packages.config): parses, same elements and text;
* .sln, .gitattributes, .clang-format, PowerShell: the only changed line is the header comment;
* INF: the only changed lines are the header comment and one ``[Strings]`` value, still a single
  quoted string with every ``%`` and ``"`` doubled;
* Markdown: the same block and inline structure (no new headings, links or HTML), payload shown
  as text;
* Python: compiles, the same AST once string constants are blanked, and the description
  constant equals the payload (so Jinja syntax was printed, not evaluated);
* YAML, TOML, JSON: parse to the same data apart from the spec name.

Text that generated code hands to a formatting function is tested where it is formatted: the
reader's ``--help`` (argparse %-formats its description) and the driver's DbgPrintEx formats
(compiled and run through printf). Control, invisible and bidirectional characters are refused
by the spec with a located error instead, in every spec string and anywhere in the file.
"""

from __future__ import annotations

import ast
import functools
import importlib
import json
import re
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

from wfpgen.errors import SpecError
from wfpgen.hostsim import INCLUDE_DIR
from wfpgen.model import c_comment, xml_comment
from wfpgen.pipeline import generate

try:
    tomllib: Any = importlib.import_module("tomllib")
except ModuleNotFoundError:  # Python 3.10: the TOML file is then checked line by line only
    tomllib = None

GCC = shutil.which("gcc")
GCC_FLAGS = ["-std=c11", "-fshort-wchar", "-Wall", "-Wextra", "-Werror", "-fsyntax-only"]

PAYLOADS: dict[str, str] = {
    "double-quote": 'a "quoted" b',
    "single-quote": "it's 'x'",
    "typographic-quotes": "it\u2019s \u2018x\u2019 \u201ay\u201b \u201cz\u201d",
    "backslashes": "a\\b\\\\c\\\"d\\x41\\u0041",
    "trailing-backslash": "ends with \\",
    "comment-close": "x */ int injected; /* y",
    "comment-open": "/* x",
    "line-comment": "// x \\",
    "string-break": '"; int injected; char *s = "',
    "wide-string-break": '" L"; int injected; wchar_t *s = L"',
    "xml-comment-close": "x --> <!-- y --",
    "cdata-close": "]]> <![CDATA[ x",
    "percent": "100% %ServiceDescription% %1",
    "format-directives": "%s%n%d%%%",
    "ps-subexpression": "$(Remove-Item C:\\ -Recurse)",
    "ps-variables": "${x} $env:PATH @args",
    "backticks": "`whoami` `n `$x",
    "jinja-expression": "{{ 7*7 }} {{ m.name }}",
    "jinja-statement": "{% if true %}yes{% endif %} {# c #} {%- raw %}",
    "hash": "# heading",
    "directive": "#error injected",
    "semicolon": "; comment ;x",
    "ampersand": "a & b &amp; &#60; &lt;",
    "html": "<script>alert(1)</script> <b>x</b>",
    "pipe": "a | b || c",
    "markdown": "[link](http://evil.example) ![i](x.png) **b** _i_ ~s~ <http://x> www.example.com",
    "trigraphs": "what??/ ??= ??' ??!",
    "hex-after-non-ascii": "\u00e9abc \u00e9123",
    "python-break": "\"\"\" + __import__('os').system('x') + '''",
    "non-ascii": "\u00dcberwachung \u2013 na\u00efve \u65e5\u672c\u8a9e",
    "astral": "emoji \U0001f600 \U0001d54f",
    "argparse-prog": "%(prog)s",
    "argparse-keys": "%(x)s %(prog) %(prog)d 100%",
    "dollar-math": "$x^2$ costs $5 and $$y = 1$$",
    "leading-spaces": "    indented like code",
    "trailing-spaces": "two trailing spaces  ",
    "setext": "===",
    "gfm-extras": "[^1] - [ ] task :smile: @user #12 ~~gone~~ ^sup^ a_b_c",
}

FIELDS = ("driver.description", "provider.description", "sublayer.description", "app_id", "spec_name")
PLAIN = "plain"


def _spec(field: str, text: str) -> dict[str, Any]:
    app_id = "\\device\\" + (text if field == "app_id" else PLAIN)
    return {
        "version": 1,
        "driver": {"name": "Inj", "description": text if field == "driver.description" else PLAIN},
        "provider": {"description": text if field == "provider.description" else PLAIN},
        "sublayer": {"description": text if field == "sublayer.description" else PLAIN},
        "layers": [
            "inbound_transport_v4",
            {"layer": "ale_auth_connect_v4", "metadata": ["process_id", "process_path"],
             "conditions": [{"field": "ale_app_id", "value": app_id}]},
        ],
        "sink": {"kind": "ring"},
    }


def _usable(field: str, text: str) -> str | None:
    """The payload as ``field`` can carry it, or None when the field cannot hold it at all."""
    if field == "app_id":
        text = text.lower()
        return text if all(0x20 <= ord(c) < 0x7F for c in text) else None
    if field == "spec_name":
        return None if "/" in text or len(text.encode()) > 200 else text
    return text


@functools.cache
def _workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="wfpgen-injection-"))


def _render(field: str, text: str) -> tuple[str, dict[str, bytes]]:
    """(spec file name, files) of the project with ``text`` in ``field``."""
    directory = Path(tempfile.mkdtemp(dir=_workdir()))
    name = f"spec{text}.yaml" if field == "spec_name" else "spec.yaml"
    path = directory / name
    path.write_text(yaml.safe_dump(_spec(field, text), allow_unicode=True, sort_keys=False), encoding="utf-8")
    _, files = generate(path)
    return name, files


@functools.cache
def _baseline(field: str, length: int = 0) -> tuple[str, dict[str, bytes]]:
    """The project with harmless text; for the application id, of the payload's length (its size is
    a number in the C)."""
    return _render(field, "p" * length if field == "app_id" else PLAIN)


# -- C ------------------------------------------------------------------------------------------

C_TOKEN = re.compile(
    r"""(?P<comment>/\*.*?\*/|//[^\n]*)
      |(?P<string>(?:L|u8|u|U)?"(?:[^"\\\n]|\\.)*")
      |(?P<char>(?:L|u|U)?'(?:[^'\\\n]|\\.)*')
      |(?P<ws>\s+)
      |(?P<ident>[A-Za-z_]\w*)
      |(?P<number>\.?\d(?:[eEpP][+-]|[\w.])*)
      |(?P<punct>.)""",
    re.DOTALL | re.VERBOSE,
)
TRIGRAPH = re.compile(r"\?\?[=/'()!<>\-]")


def c_tokens(text: str) -> tuple[list[tuple[str, str]], list[list[str]]]:
    """The tokens of ``text`` without comments, each run of adjacent string literals as one token;
    and those runs."""
    assert not TRIGRAPH.search(text), "a trigraph in generated C"
    text = text.replace("\\\n", "")  # translation phase 2
    tokens: list[tuple[str, str]] = []
    runs: list[list[str]] = []
    for match in C_TOKEN.finditer(text):
        kind = match.lastgroup
        assert kind is not None
        if kind in ("comment", "ws"):
            continue
        if kind == "string":
            if tokens and tokens[-1][0] == "string":
                runs[-1].append(match.group())
                continue
            runs.append([match.group()])
            tokens.append(("string", ""))
            continue
        tokens.append((kind, match.group()))
    return tokens, runs


def decode_c_literals(run: list[str]) -> str:
    """The text of adjacent C string literals (wide ones as UTF-16, surrogate pairs joined)."""
    units: list[int] = []
    for literal in run:
        wide = literal.startswith("L")
        body = literal[literal.index('"') + 1:-1]
        i = 0
        while i < len(body):
            ch = body[i]
            if ch != "\\":
                units.append(ord(ch))
                i += 1
                continue
            nxt = body[i + 1]
            if nxt == "x":
                hex_digits = re.match(r"[0-9A-Fa-f]+", body[i + 2:])
                assert hex_digits, literal
                value = int(hex_digits.group(), 16)
                assert value <= (0xFFFF if wide else 0xFF), f"hex escape out of range in {literal}"
                units.append(value)
                i += 2 + len(hex_digits.group())
            else:
                simple = {"n": 10, "t": 9, "r": 13, "0": 0, "\\": 92, '"': 34, "'": 39, "?": 63}
                assert nxt in simple, literal
                units.append(simple[nxt])
                i += 2
    raw = b"".join(u.to_bytes(2, "little") for u in units)
    return raw.decode("utf-16-le", "surrogatepass").encode("utf-16-le", "surrogatepass").decode("utf-16-le")


def _check_c(path: str, old: bytes, new: bytes, field: str, text: str) -> None:
    old_tokens, _ = c_tokens(old.decode())
    new_tokens, new_runs = c_tokens(new.decode())
    assert new_tokens == old_tokens, f"{path}: the payload changed the C token stream"
    decoded = {decode_c_literals(run) for run in new_runs}
    if field in ("provider.description", "sublayer.description") and path == "driver/callouts.c":
        assert text in decoded, f"{path}: the wide literal does not decode to the payload"
    if field == "app_id" and path == "driver/callouts.c":
        assert "\\device\\" + text in decoded, f"{path}: the application id does not decode to the payload"


def _compile(files: dict[str, bytes], old: dict[str, bytes]) -> None:
    if GCC is None:
        return
    changed = [p for p in files if p.startswith("driver/") and p.endswith((".c", ".h")) and files[p] != old.get(p)]
    if not changed:
        return
    with tempfile.TemporaryDirectory(dir=_workdir()) as tmp:
        driver = Path(tmp) / "driver"
        driver.mkdir()
        for path, data in files.items():
            if path.startswith("driver/") and path.endswith((".c", ".h")):
                (Path(tmp) / path).write_bytes(data)
        if any(p.endswith(".h") for p in changed):
            sources = sorted(str(Path(tmp) / p) for p in files if p.startswith("driver/") and p.endswith(".c"))
        else:
            sources = [str(Path(tmp) / p) for p in changed]
        for source in sources:
            result = subprocess.run([GCC, *GCC_FLAGS, "-I", str(driver), "-I", str(INCLUDE_DIR), source],
                                    capture_output=True, text=True, check=False)
            assert result.returncode == 0, f"{source} does not compile:\n{result.stderr}"


# -- the other formats --------------------------------------------------------------------------

def _lines(data: bytes) -> list[str]:
    return data.decode("utf-8-sig").replace("\r\n", "\n").split("\n")


def _changed_lines(path: str, old: bytes, new: bytes) -> list[tuple[int, str]]:
    """The lines that differ; the payload must not add or remove lines."""
    a, b = _lines(old), _lines(new)
    assert len(a) == len(b), f"{path}: the payload changed the number of lines"
    return [(i, y) for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]


def _only_header_comment(path: str, old: bytes, new: bytes, marker: str) -> None:
    for index, line in _changed_lines(path, old, new):
        assert line.startswith(f"{marker} Generated by wfpgen from "), f"{path}:{index + 1}: changed: {line!r}"


def _xml_shape(data: bytes) -> list[tuple[Any, ...]]:
    parser = ET.XMLParser(target=ET.TreeBuilder(insert_comments=True))
    root = ET.fromstring(data, parser=parser)
    shape: list[tuple[Any, ...]] = []
    for element in root.iter():
        if element.tag is ET.Comment:  # type: ignore[comparison-overlap]
            shape.append(("comment",))
        else:
            shape.append((element.tag, sorted(element.attrib.items()), (element.text or "").strip(),
                          (element.tail or "").strip()))
    return shape


class _Comments(ET.TreeBuilder):
    """A tree builder that also keeps the comments outside the root element."""

    def __init__(self) -> None:
        super().__init__()
        self.comments: list[str] = []

    def comment(self, text: str) -> None:  # type: ignore[override]
        self.comments.append(text)


def _xml_comments(data: bytes) -> list[str]:
    target = _Comments()
    ET.fromstring(data, parser=ET.XMLParser(target=target))
    return target.comments


def _check_xml(path: str, old: bytes, new: bytes, spec_name: str) -> None:
    assert _xml_shape(new) == _xml_shape(old), f"{path}: the payload changed the XML"
    expected = f"Generated by wfpgen from {xml_comment(spec_name)}."
    assert any(expected in c for c in _xml_comments(new)), f"{path}: the header comment lost the spec name"


INF_VALUE = re.compile(r'^ServiceDescription = "((?:[^"]|"")*)"$')


def _check_inf(path: str, old: bytes, new: bytes, field: str, text: str) -> None:
    for index, line in _changed_lines(path, old, new):
        if line.startswith("; Generated by wfpgen from "):
            continue
        match = INF_VALUE.match(line)
        assert match, f"{path}:{index + 1}: changed line is not the quoted ServiceDescription: {line!r}"
        value = match.group(1)
        assert "%" not in value.replace("%%", ""), f"{path}: a lone % in {line!r}"
        shown = value.replace('""', '"').replace("%%", "%")
        expected = "".join(c if 0x20 <= ord(c) < 0x7F else "_" for c in text)
        assert field == "driver.description" and shown == expected, f"{path}: {shown!r} != {expected!r}"
    sections = [line for line in _lines(new) if line.startswith("[")]
    assert sections == [line for line in _lines(old) if line.startswith("[")]


def _md_structure(data: bytes) -> list[str]:
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark").enable(["table", "strikethrough"])
    kinds: list[str] = []
    for token in md.parse(data.decode()):
        kinds.append(token.type)
        kinds += [child.type for child in token.children or [] if child.type not in ("text", "softbreak")]
    return kinds


def _md_html(data: bytes) -> str:
    from markdown_it import MarkdownIt

    return str(MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(data.decode()))


def _check_markdown(path: str, old: bytes, new: bytes, field: str, text: str) -> None:
    from markdown_it.common.utils import escapeHtml

    assert _md_structure(new) == _md_structure(old), f"{path}: the payload changed the Markdown structure"
    html = _md_html(new)
    if field == "driver.description":
        assert escapeHtml(text) in html, f"{path}: the description is not shown as text"
    if field == "app_id" and path == "README.md":
        assert escapeHtml(c_comment(f"ale_app_id equal \\device\\{text}")) in html


@pytest.mark.parametrize("key", sorted(PAYLOADS))
def test_markdown_text_renders_as_the_text(key: str) -> None:
    """As a paragraph of its own (the driver README) and inside a sentence and a table cell (the reader
    README, the layer table): one paragraph or cell whose text is the payload, spaces at either end
    included; and no raw ``$``, which GitHub would read as math."""
    from markdown_it import MarkdownIt
    from markdown_it.common.utils import escapeHtml

    from wfpgen.model import markdown_text

    text = PAYLOADS[key]
    shown = markdown_text(text)
    assert "$" not in shown
    md = MarkdownIt("commonmark").enable(["table", "strikethrough"])
    assert md.render(f"# T\n\n{shown}\n\nafter\n") == f"<h1>T</h1>\n<p>{escapeHtml(text)}</p>\n<p>after</p>\n"
    assert md.render(f"Reads ({shown}) from\n") == f"<p>Reads ({escapeHtml(text)}) from</p>\n"
    table = md.render(f"| a | b |\n| --- | --- |\n| x | {shown} |\n")
    assert f"<td>{escapeHtml(text.strip(' '))}</td>" in table or f"<td>{escapeHtml(text)}</td>" in table, table


def _blank_strings(tree: ast.AST) -> str:
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            node.value = ""
    return ast.dump(tree)


def _check_python(path: str, old: bytes, new: bytes, field: str, text: str) -> None:
    compile(new, path, "exec")
    new_tree = ast.parse(new)
    if field == "driver.description" and path.endswith("/layout.py"):
        found = [node for node in ast.walk(new_tree)
                 if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                 and node.target.id == "DESCRIPTION"]
        assert len(found) == 1 and isinstance(found[0].value, ast.Call)
        literal = found[0].value.args[0]
        assert isinstance(literal, ast.Constant) and isinstance(literal.value, str)
        joined = literal.value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
        assert joined == text, f"{path}: DESCRIPTION is {joined!r}"
    assert _blank_strings(new_tree) == _blank_strings(ast.parse(old)), f"{path}: the payload changed the code"
    _changed_lines(path, old, new)


def _check_file(path: str, old: bytes, new: bytes, field: str, text: str, spec_name: str) -> None:
    if old == new:
        return
    suffix = Path(path).suffix
    name = Path(path).name
    if suffix in (".c", ".h"):
        _check_c(path, old, new, field, text)
    elif suffix in (".vcxproj", ".filters", ".props") or name == "packages.config":
        _check_xml(path, old, new, spec_name)
    elif suffix in (".sln", ".ps1") or name in (".gitattributes", ".clang-format"):
        _only_header_comment(path, old, new, "#")
    elif suffix == ".yml":
        _only_header_comment(path, old, new, "#")
        assert yaml.safe_load(new) == yaml.safe_load(old)
    elif suffix == ".toml":
        _only_header_comment(path, old, new, "#")
        if tomllib is not None:
            assert tomllib.loads(new.decode()) == tomllib.loads(old.decode())
    elif suffix == ".inf":
        _check_inf(path, old, new, field, text)
    elif suffix == ".md":
        _check_markdown(path, old, new, field, text)
    elif suffix == ".py":
        _check_python(path, old, new, field, text)
    elif name == "wfpgen-manifest.json":
        document = json.loads(new)
        assert document["spec"] == spec_name
    elif name == "wfpgen.yaml":
        pass  # the spec itself, byte for byte
    else:
        raise AssertionError(f"{path}: changed by the payload and not checked by this test")


CASES = [pytest.param(field, key, id=f"{field}-{key}") for field in FIELDS for key in PAYLOADS]


@pytest.mark.parametrize(("field", "key"), CASES)
def test_payload_stays_inside_its_context(field: str, key: str) -> None:
    text = _usable(field, PAYLOADS[key])
    if text is None:
        pytest.skip(f"{field} cannot hold this payload (the spec or the file system refuses it)")
    _, old = _baseline(field, len(text))
    spec_name, new = _render(field, text)
    assert set(new) == set(old)
    for path in sorted(new):
        _check_file(path, old[path], new[path], field, text, spec_name)
    assert any(new[p] != old[p] for p in new if p not in ("wfpgen.yaml", "wfpgen-manifest.json")), \
        f"{field} reaches no generated file"
    _compile(new, old)


@pytest.mark.parametrize("text", ["a\nb", "a\rb", "\n#error injected\n", "x\ty"], ids=["lf", "cr", "directive", "tab"])
def test_spec_name_with_control_characters_stays_in_comments(text: str) -> None:
    """A file name may hold newlines: in every header they become ``?``."""
    _, old = _baseline("spec_name")
    spec_name, new = _render("spec_name", text)
    for path in sorted(new):
        _check_file(path, old[path], new[path], "spec_name", text, spec_name)
    _compile(new, old)


# -- characters no spec string may hold ------------------------------------------------------------

#: Every string of a spec, as a placeholder in a document whose other values are valid.
SPEC_TEXT = """version: 1
driver:
  name: {name}
  description: {description}
  version: {version}
  target: {target}
provider:
  description: {provider}
  key: {key}
sublayer:
  description: {sublayer}
layers:
  - {layer_shorthand}
  - layer: {layer}
    fields: [{field}]
    metadata: [{metadata}]
    conditions:
      - {{field: {condition_field}, value: {app_id}}}
      - {{field: flags, match: {flag_match}, value: [{flag}]}}
    action: {action}
sink:
  kind: {sink}
"""
SPEC_VALUES = {
    "name": "Demo", "description": "plain", "version": "1.0.0.0", "target": "win10",
    "provider": "plain", "key": "6a3c0e5e-1f2d-4c3b-9a8e-7d6c5b4a3f21", "sublayer": "plain",
    "layer_shorthand": "inbound_transport_v4", "layer": "ale_auth_connect_v4", "field": "ip_remote_port",
    "metadata": "process_id", "condition_field": "ale_app_id", "app_id": "\\device\\x", "flag_match": "flags_all_set",
    "flag": "is_loopback", "action": "block", "sink": "ring",
}
#: Controls, format characters (bidirectional controls, zero-width characters, U+FEFF, soft hyphen,
#: tags), line and paragraph separators, private-use, noncharacters.
FORBIDDEN = ["\x00", "\x01", "\x08", "\t", "\n", "\x0b", "\x0c", "\r", "\x1b", "\x7f", "\x80", "\x85", "\x9f",
             "\u00ad", "\u061c", "\u180e", "\u200b", "\u200c", "\u200d", "\u200e", "\u200f", "\u2028", "\u2029",
             "\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2060", "\u2066", "\u2067", "\u2068", "\u2069",
             "\ufeff", "\ufff9", "\ufffe", "\uffff", "\ue000", "\U000e0041", "\U000f0000"]


def _document(key: str | None, value: str | None) -> str:
    return SPEC_TEXT.format(**{k: (value if k == key else v) for k, v in SPEC_VALUES.items()})


def _messages(text: str) -> list[str]:
    from wfpgen.spec import parse_spec
    from wfpgen.yamlsource import load_yaml

    try:
        parse_spec(load_yaml(text.encode("utf-8", "surrogatepass"), "spec.yaml"))
    except SpecError as error:
        return [d.format() for d in error.diagnostics]
    return []


def test_every_spec_string_is_reachable_and_valid() -> None:
    from wfpgen.catalog import load_catalog
    from wfpgen.spec import parse_spec
    from wfpgen.validate import resolve
    from wfpgen.yamlsource import load_yaml

    source = load_yaml(_document(None, None).encode(), "spec.yaml")
    resolve(parse_spec(source), source, load_catalog())


def _position(text: str, needle: str) -> tuple[int, int]:
    index = text.index(needle)
    return text.count("\n", 0, index) + 1, index - (text.rfind("\n", 0, index) + 1) + 1


@pytest.mark.parametrize("char", FORBIDDEN, ids=[f"U+{ord(c):04X}" for c in FORBIDDEN])
def test_forbidden_characters_are_refused_in_every_spec_string(char: str) -> None:
    """Written as a YAML escape (the parser makes the character) and written raw (the file holds it):
    one located diagnostic naming the character, for every value and for a key."""
    code = f"U+{ord(char):04X}"
    for key, value in SPEC_VALUES.items():
        escaped = '"' + value[:2].replace("\\", "\\\\") + f"\\U{ord(char):08X}" + value[2:].replace("\\", "\\\\") + '"'
        text = _document(key, escaped)
        messages = _messages(text)
        line, column = _position(text, escaped)
        assert len(messages) == 1, (key, messages)
        assert messages[0].startswith(f"spec.yaml:{line}:{column}: error: "), (key, messages[0])
        assert code in messages[0] and "; allowed: visible characters" in messages[0], messages[0]
        if char in "\n\r\t":
            continue  # raw, these are YAML's own whitespace, not part of a plain value
        raw = value[:2] + char + value[2:]
        text = _document(key, raw)
        messages = _messages(text)
        line, column = _position(text, raw)
        column += 2
        assert len(messages) == 1, (key, messages)
        assert messages[0].startswith(f"spec.yaml:{line}:{column}: error: "), (key, messages[0])
        assert code in messages[0], messages[0]
    text = _document(None, None).replace("  description: plain", f'  "descr\\U{ord(char):08X}iption": plain', 1)
    [message] = _messages(text)
    assert code in message and "a key in 'driver'" in message, message


@pytest.mark.parametrize("char", ["\u202e", "\u2066", "\u200b", "\x1b"])
def test_forbidden_characters_are_refused_in_comments(char: str) -> None:
    """The project keeps a copy of the spec: a comment must not hide reordered text either."""
    text = _document(None, None).replace("sink:\n", f"sink:  # note {char}here\n")
    [message] = _messages(text)
    line, column = _position(text, f"note {char}")
    assert message.startswith(f"spec.yaml:{line}:{column + 5}: error: file contains U+{ord(char):04X}"), message


@pytest.mark.parametrize("header", ["|", "|+", ">", ">+", "|2"])
@pytest.mark.parametrize("key", ["name", "version", "description", "layer_shorthand", "key", "target", "sink"])
def test_block_scalars_keep_their_newline_and_are_refused(key: str, header: str) -> None:
    """``name: |`` then ``Evil`` is "Evil\\n": a newline no whole-string check may let through."""
    value = SPEC_VALUES[key]
    text = _document(key, f"{header}\n      {value}\n")
    messages = _messages(text)
    assert len(messages) == 1 and "U+000A LINE FEED" in messages[0], messages


@pytest.mark.parametrize("key", ["name", "version", "key", "layer_shorthand"])
def test_block_scalars_without_a_newline_are_the_plain_value(key: str) -> None:
    assert _messages(_document(key, f"|-\n      {SPEC_VALUES[key]}\n")) == []


# -- text a generated tool formats -------------------------------------------------------------------

FORMAT_PAYLOADS = ["%(prog)s", "%(x)s", "%(prog)", "%(prog)d", "100%", "%", "%%", "%s %d %n %*s %.9999f",
                   "a %(prog)s b 50% c", "%(prog)s%(prog)s%%", "{prog} {0} {x!r}", "$x$ %(prog)s \U0001f600"]


@pytest.mark.parametrize("text", FORMAT_PAYLOADS)
def test_argparse_shows_descriptions_as_written(text: str) -> None:
    import argparse

    from wfpgen.model import argparse_text

    parser = argparse.ArgumentParser(prog="prog", description=argparse_text(text), epilog=argparse_text(text),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    shown = parser.format_help()
    assert shown.count(text) == 2, shown


def _reader_help(files: dict[str, bytes]) -> str:
    import os
    import sys

    with tempfile.TemporaryDirectory(dir=_workdir()) as tmp:
        for path, data in files.items():
            if path.startswith("reader/"):
                target = Path(tmp) / path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
        package = next(p.parent.name for p in Path(tmp, "reader").glob("*/cli.py"))
        env = dict(os.environ, PYTHONPATH=str(Path(tmp) / "reader"), COLUMNS="100000")
        result = subprocess.run([sys.executable, "-m", package, "--help"], capture_output=True, text=True,
                                env=env, check=False, timeout=60)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    return result.stdout


@pytest.mark.parametrize("text", FORMAT_PAYLOADS + [PAYLOADS["jinja-expression"], PAYLOADS["python-break"],
                                                    PAYLOADS["backslashes"], PAYLOADS["non-ascii"]])
def test_reader_help_shows_the_description_as_written(text: str) -> None:
    """argparse %-formats the description the generated reader's --help prints."""
    _, files = _render("driver.description", text)
    shown = " ".join(_reader_help(files).split())
    assert f"Reads the records of the Inj driver ({' '.join(text.split())})." in shown, shown


def _printf(literal: str, *, plain: bool = False) -> str:
    """What printf prints for the C format ``literal`` followed by the conversions ``"%d|"``, 7; with
    ``plain``, for the format ``"%s%d|"`` and ``literal`` as its string."""
    assert GCC is not None
    call = f'printf("%s%d|", {literal}, 7)' if plain else f'printf({literal} "%d|", 7)'
    with tempfile.TemporaryDirectory(dir=_workdir()) as tmp:
        source = Path(tmp) / "f.c"
        source.write_text(f'#include <stdio.h>\nint main(void) {{ {call}; return 0; }}\n')
        binary = Path(tmp) / "f"
        build = subprocess.run([GCC, "-std=c11", "-Wall", "-Wextra", "-Wformat=2", "-Werror", "-o", str(binary),
                                str(source)], capture_output=True, text=True, check=False)
        assert build.returncode == 0, build.stderr
        return subprocess.run([str(binary)], capture_output=True, check=True).stdout.decode("ascii")


@pytest.mark.skipif(GCC is None, reason="no gcc")
@pytest.mark.parametrize("text", FORMAT_PAYLOADS + [PAYLOADS["trigraphs"], PAYLOADS["string-break"],
                                                    PAYLOADS["backslashes"], PAYLOADS["astral"]])
def test_c_format_literals_print_as_written(text: str) -> None:
    """c_format_literal, and the DbgPrintEx formats the model builds with it, print spec text as it is
    (non-ASCII as '_'): no conversion is taken from it, whatever name reaches the model."""
    import dataclasses

    from wfpgen.model import c_format_literal
    from wfpgen.pipeline import model_for

    plain = "".join(c if 0x20 <= ord(c) < 0x7F else "_" for c in text)
    assert _printf(c_format_literal(text)) == plain + "7|"
    model = dataclasses.replace(model_for(Path(__file__).parents[1] / "specs" / "monitor-dbgprint.yaml"), name=text)
    log = model.log_format("failed: ")
    assert log.endswith('\\n"')
    assert _printf(log[:-3] + '"') == f"{plain}: failed: 7|"
    assert _printf(model.line_prefix_c, plain=True) == f"[{plain}] [7|"  # plain text, not a format


def test_dbgprint_formats_take_the_name_through_c_format_literal() -> None:
    """Every DbgPrintEx in the driver templates prints spec text through the model, never raw."""
    root = Path(__file__).parents[1] / "templates" / "driver"
    for template in sorted(root.glob("*.c.j2")):
        text = template.read_text(encoding="utf-8")
        for call in re.finditer(r"DbgPrintEx\((?:[^;]|\n)*?;", text):
            literal = re.findall(r'"(?:[^"\\]|\\.)*"', call.group())
            assert all("{{" not in piece for piece in literal), f"{template.name}: spec text in a format: {call.group()}"


def test_c_literal_decoder_reads_what_c_wide_literal_writes() -> None:
    from wfpgen.model import c_wide_literal

    for text in PAYLOADS.values():
        literal = c_wide_literal(text)
        runs = c_tokens(literal + ";")[1]
        assert len(runs) == 1 and decode_c_literals(runs[0]) == text


PS_QUOTES = "'\u2018\u2019\u201a\u201b"


def _ps_single_quoted_value(source: str) -> tuple[str, str]:
    """(value, rest) of the PowerShell single-quoted literal at the start of ``source``: any single
    quotation mark, typographic ones included, ends it unless another one follows."""
    assert source[0] in PS_QUOTES
    value, i = [], 1
    while True:
        ch = source[i]
        if ch in PS_QUOTES:
            if i + 1 < len(source) and source[i + 1] in PS_QUOTES:
                value.append(ch)
                i += 2
                continue
            return "".join(value), source[i + 1:]
        value.append(ch)
        i += 1


@pytest.mark.parametrize("key", sorted(PAYLOADS))
def test_powershell_literal_ends_where_it_should(key: str) -> None:
    from wfpgen.model import ps_single_quoted

    text = PAYLOADS[key]
    value, rest = _ps_single_quoted_value(ps_single_quoted(text) + "; Invoke-Next")
    assert value == text and rest == "; Invoke-Next"
