"""Read a YAML file into plain data, keeping the line and column of every node.

Playbooks are edited by people under stress, and come from people we do not control: the reader is
strict (UTF-8 only, size and depth bounded, no tags, no aliases, no duplicate keys) and every refusal
names the file and the line. Nothing here executes anything from the file: only PyYAML's safe
composer is used, and scalars are resolved with the YAML 1.1 core types only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from crisiscomms.errors import Issue, PlaybookFileError

MAX_BYTES = 1_000_000
MAX_DEPTH = 32
Pos = tuple[int, int]
Loc = tuple[str | int, ...]

_SAFE_TAGS = {
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
class Document:
    """Plain data read from one file plus where each part of it stands."""

    file: str
    data: Any
    positions: dict[Loc, Pos] = field(default_factory=dict)
    key_positions: dict[Loc, Pos] = field(default_factory=dict)
    constructor: yaml.SafeLoader = field(default_factory=lambda: yaml.SafeLoader(""), repr=False)

    def position(self, loc: Loc) -> Pos:
        """Line and column of `loc`, or of its nearest ancestor that exists in the file."""
        for end in range(len(loc), -1, -1):
            if loc[:end] in self.positions:
                return self.positions[loc[:end]]
        return (1, 1)

    def issue(self, loc: Loc, message: str, at_key: bool = False) -> Issue:
        line, column = self.key_positions.get(loc) if at_key and loc in self.key_positions else self.position(loc)
        return Issue(self.file, line, column, format_loc(loc), message)


def format_loc(loc: Loc) -> str:
    """`("phases", "communication", "steps", 2, "after", 0)` → `phases.communication.steps[2].after[0]`."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def read_document(path: Path, display: str | None = None) -> Document:
    name = display or str(path)
    raw = _read_bytes(path, name)
    text = _decode(raw, name)
    root = _compose(text, name)
    doc = Document(name, None)
    doc.data = _build(root, (), doc)
    return doc


def _fail(file: str, line: int, column: int, message: str) -> PlaybookFileError:
    return PlaybookFileError([Issue(file, line, column, "", message)])


def _read_bytes(path: Path, name: str) -> bytes:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise _fail(name, 1, 1, f"cannot read the file: {exc.strerror}") from exc
    if size > MAX_BYTES:
        raise _fail(name, 1, 1, f"file is {size:,} bytes; a playbook may be at most {MAX_BYTES:,} bytes")
    return path.read_bytes()


def _decode(raw: bytes, name: str) -> str:
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")) or _looks_utf16(raw):
        raise _fail(name, 1, 1, "file is not UTF-8 (it looks like UTF-16, e.g. Notepad's 'Unicode'); "
                                "save it as UTF-8")
    if b"\x00" in raw:
        line = raw[: raw.index(b"\x00")].count(b"\n") + 1
        raise _fail(name, line, 1, "file contains NUL bytes: it is binary, not a YAML playbook")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise _fail(
            name, line, column, f"file is not UTF-8 (byte 0x{raw[exc.start]:02x}); save it as UTF-8"
        ) from exc
    if not text.strip():
        raise _fail(name, 1, 1, "file is empty: a playbook needs at least `id`, `version` and `phases`")
    return text


def _looks_utf16(raw: bytes) -> bool:
    """ASCII text saved as UTF-16 without a byte-order mark: every other byte is NUL."""
    head = raw[:200]
    return len(head) >= 4 and (head[1::2].count(0) > 0.9 * len(head[1::2]) or
                               head[0::2].count(0) > 0.9 * len(head[0::2]))


def _compose(text: str, name: str) -> yaml.Node:
    _check_depth(text, name)
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        raise _fail(name, line, column, f"not valid YAML: {problem}") from exc
    except yaml.YAMLError as exc:
        raise _fail(name, 1, 1, f"not valid YAML: {exc}") from exc
    if not nodes or nodes[0] is None:
        raise _fail(name, 1, 1, "file is empty (only comments): a playbook needs at least `id`, "
                                "`version` and `phases`")
    return nodes[0]


def _check_depth(text: str, name: str) -> None:
    """Refuse deep nesting from the event stream, before the recursive composer can blow the stack."""
    depth = documents = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    mark = event.start_mark
                    raise _fail(name, mark.line + 1, mark.column + 1,
                                "a playbook file must hold exactly one YAML document")
            elif isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    mark = event.start_mark
                    raise _fail(
                        name, mark.line + 1, mark.column + 1,
                        f"YAML nested more than {MAX_DEPTH} levels deep; a playbook never needs that",
                    )
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
            elif isinstance(event, yaml.AliasEvent):
                mark = event.start_mark
                raise _fail(
                    name, mark.line + 1, mark.column + 1,
                    "YAML aliases (*name) are not allowed in playbooks: write the value out",
                )
    except yaml.MarkedYAMLError:
        return  # the composer reports syntax errors with their position


def _build(node: yaml.Node, loc: Loc, doc: Document) -> Any:
    doc.positions[loc] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if node.tag not in _SAFE_TAGS:
        line, column = doc.positions[loc]
        raise _fail(doc.file, line, column, f"YAML tag {node.tag!r} is not allowed in playbooks")
    if isinstance(node, yaml.MappingNode):
        return _build_mapping(node, loc, doc)
    if isinstance(node, yaml.SequenceNode):
        return [_build(child, (*loc, i), doc) for i, child in enumerate(node.value)]
    return doc.constructor.construct_object(node)


def _build_mapping(node: yaml.MappingNode, loc: Loc, doc: Document) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
            mark = key_node.start_mark
            raise _fail(doc.file, mark.line + 1, mark.column + 1, "keys must be plain words")
        key = str(doc.constructor.construct_object(key_node))
        if key in out:
            mark = key_node.start_mark
            raise _fail(
                doc.file, mark.line + 1, mark.column + 1,
                f"key {key!r} appears twice in the same mapping ({format_loc(loc) or 'top level'})",
            )
        doc.key_positions[(*loc, key)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
        out[key] = _build(value_node, (*loc, key), doc)
    return out

