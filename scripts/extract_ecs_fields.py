#!/usr/bin/env python3
"""Extract the Elastic Common Schema facts wfpgen needs into ``wfpgen/data/ecs_fields.json``.

Usage::

    python scripts/extract_ecs_fields.py FIELDS_CSV [--flat ECS_FLAT_YML] [--out FILE] [--check]

``FIELDS_CSV`` is ``generated/csv/fields.csv`` of Elastic's ``elastic/ecs`` repository at a
release tag (the committed table comes from ``v8.17.0``), ``ECS_FLAT_YML`` the same release's
``generated/ecs/ecs_flat.yml``. Only facts are kept, none of Elastic's text (descriptions,
examples):

* the ECS version the CSV states (one version for every row, or the script stops);
* per field name: its type (``keyword``, ``long``, ``ip``, ``date``, ...), level (``core``,
  ``extended``, ``custom``), normalizations (``array``: the field holds a list), whether it
  is indexed, and whether it is a multi-field (``process.executable.text``: a second mapping
  of its parent's value that Elasticsearch derives, never a key of a document);
* the field sets: every ``Field_Set`` of the CSV and, from the YAML, the reusable field sets
  that appear only nested (``geo``, ``hash``, ``os``, ...). A custom top-level name must be
  none of them;
* from the YAML: the allowed values of the fields that have a closed list (``event.kind``,
  ``event.category``, ``event.type``, ``event.outcome``), the event types each category
  expects, and the expected values of the fields that list them (``network.direction``).

Output is deterministic: ``json.dumps(obj, indent=1, sort_keys=True) + "\\n"``. ``--check``
compares with the file instead of writing it (exit code 1 when they differ). Anything
unexpected (a missing column, two versions, a field listed twice) stops the script.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "wfpgen" / "data" / "ecs_fields.json"
COLUMNS = ("ECS_Version", "Indexed", "Field_Set", "Field", "Type", "Level", "Normalization")
# Types whose fields hold other fields rather than a value of their own.
CONTAINER_TYPES = frozenset({"object", "nested", "flattened"})


def fail(message: str) -> SystemExit:
    return SystemExit(f"extract_ecs_fields: {message}")


def _split(text: str) -> list[str]:
    """The CSV's comma-separated list (``array``, or several normalizations) as a sorted list."""
    return sorted(part.strip() for part in text.split(",") if part.strip())


def _bool(text: str, where: str) -> bool:
    if text not in ("true", "false"):
        raise fail(f"{where}: Indexed is {text!r}, not true or false")
    return text == "true"


def read_csv(path: Path) -> tuple[str, dict[str, dict[str, Any]], set[str]]:
    """The version, the fields and the field sets of ``fields.csv``."""
    with path.open(encoding="utf-8", newline="") as stream:
        rows = list(csv.DictReader(stream))
    if not rows:
        raise fail(f"{path}: no rows")
    missing = [column for column in COLUMNS if column not in rows[0]]
    if missing:
        raise fail(f"{path}: missing columns {missing}")
    versions = {row["ECS_Version"] for row in rows}
    if len(versions) != 1:
        raise fail(f"{path}: more than one ECS version: {sorted(versions)}")
    fields: dict[str, dict[str, Any]] = {}
    for number, row in enumerate(rows, 2):
        name = row["Field"]
        where = f"{path}:{number}"
        if not name or not row["Type"] or not row["Field_Set"]:
            raise fail(f"{where}: a row without a field name, type or field set")
        if name in fields:
            raise fail(f"{where}: {name} is listed twice")
        fields[name] = {"type": row["Type"], "level": row["Level"], "normalize": _split(row["Normalization"]),
                        "indexed": _bool(row["Indexed"], where)}
    for name, field in fields.items():
        parent = fields.get(name.rpartition(".")[0])
        field["multi_field"] = parent is not None and parent["type"] not in CONTAINER_TYPES
    return versions.pop(), fields, {row["Field_Set"] for row in rows}


def _names(entries: Iterable[Mapping[str, Any]]) -> list[str]:
    return [str(entry["name"]) for entry in entries]


def read_flat(path: Path) -> dict[str, Any]:
    """Allowed and expected values, expected event types per category, and reusable field sets."""
    with path.open(encoding="utf-8") as stream:
        flat = yaml.safe_load(stream)
    if not isinstance(flat, dict):
        raise fail(f"{path}: not a mapping of field names")
    allowed: dict[str, list[str]] = {}
    expected: dict[str, list[str]] = {}
    event_types: dict[str, list[str]] = {}
    fieldsets: set[str] = set()
    for name, field in flat.items():
        if field.get("allowed_values"):
            allowed[name] = _names(field["allowed_values"])
        if field.get("expected_values"):
            expected[name] = [str(value) for value in field["expected_values"]]
        if field.get("original_fieldset"):
            fieldsets.add(str(field["original_fieldset"]))
    for entry in flat.get("event.category", {}).get("allowed_values", []):
        event_types[str(entry["name"])] = [str(kind) for kind in entry.get("expected_event_types", [])]
    return {"allowed_values": allowed, "expected_values": expected, "expected_event_types": event_types,
            "fieldsets": fieldsets}


def extract(fields_csv: Path, flat_yml: Path | None) -> dict[str, Any]:
    """The table as it is written: plain JSON types only."""
    version, fields, fieldsets = read_csv(fields_csv)
    flat = read_flat(flat_yml) if flat_yml else {"allowed_values": {}, "expected_values": {},
                                                 "expected_event_types": {}, "fieldsets": set()}
    unknown = sorted(set(flat["allowed_values"]) - set(fields))
    if unknown:
        raise fail(f"{flat_yml}: allowed values for fields the CSV lacks: {unknown}")
    sources = ["generated/csv/fields.csv"] + (["generated/ecs/ecs_flat.yml"] if flat_yml else [])
    return {
        "source": {"repository": "https://github.com/elastic/ecs", "files": sources},
        "ecs_version": version,
        "fieldsets": sorted(fieldsets | flat["fieldsets"]),
        "fields": fields,
        "allowed_values": flat["allowed_values"],
        "expected_values": flat["expected_values"],
        "expected_event_types": flat["expected_event_types"],
    }


def dump(table: Mapping[str, Any]) -> str:
    """The file's text: sorted keys, one space of indent, a final newline."""
    return json.dumps(table, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("fields_csv", type=Path, help="generated/csv/fields.csv of an ECS release")
    parser.add_argument("--flat", type=Path, help="generated/ecs/ecs_flat.yml of the same release")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"default: {DEFAULT_OUT.relative_to(REPO_ROOT)}")
    parser.add_argument("--check", action="store_true", help="fail if the file differs instead of writing it")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    text = dump(extract(args.fields_csv, args.flat))
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.is_file() else None
        if current != text:
            print(f"{args.out} differs from what {args.fields_csv} gives", file=sys.stderr)
            return 1
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8", newline="\n")
    table = json.loads(text)
    print(f"wrote {args.out}: ECS {table['ecs_version']}, {len(table['fields'])} fields, "
          f"{len(table['fieldsets'])} field sets")
    return 0


if __name__ == "__main__":
    sys.exit(main())
