"""Read a YAML file into plain data, keeping the line and column of every node.

Playbooks are edited by people under stress, and come from people we do not control: the reader is
strict (UTF-8 only, printable characters only, size and depth bounded, no aliases, only the plain
YAML types, numbers bounded, no duplicate keys) and every refusal names the file, the line and, inside
the document, the path. Nothing here executes anything from the file: only PyYAML's safe composer is
used, and scalars are resolved with the YAML 1.1 core types only. Problems inside the document are
all reported at once; problems with the file as a whole (encoding, syntax, nesting) stop at the first.
"""

from __future__ import annotations

import math
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.reader import Reader

from crisiscomms.errors import Issue, PlaybookFileError, show

MAX_BYTES = 1_000_000
MAX_DEPTH = 32
# The largest integer JSON (and so Prefect's parameters and its UI's JavaScript) carries exactly; checked on the
# digits before any conversion, since CPython refuses to convert a decimal text of more than 4,300 digits.
MAX_INT = 2**53 - 1
_MAX_INT_DIGITS = len(str(MAX_INT))
Pos = tuple[int, int]
Loc = tuple[str | int, ...]

_CORE = "tag:yaml.org,2002:"
_SCALAR_TAGS = {f"{_CORE}{name}" for name in ("str", "int", "float", "bool", "null", "timestamp")}
_KIND_TAG = {yaml.MappingNode: f"{_CORE}map", yaml.SequenceNode: f"{_CORE}seq"}
_SAFE_TAGS = {*_SCALAR_TAGS, *_KIND_TAG.values()}
# libyaml (PyYAML's C extension) parses about seven times faster than PyYAML's Python parser, with the same marks;
# the Python parser still words syntax errors (libyaml's messages are terser), on the rare file that has one.
_FAST = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_WHAT = {"int": "a whole number", "float": "a number", "bool": "true or false", "timestamp": "a date or time",
         "null": "null"}


@dataclass
class Document:
    """Plain data read from one file plus where each part of it stands."""

    file: str
    data: Any
    positions: dict[Loc, Pos] = field(default_factory=dict)
    key_positions: dict[Loc, Pos] = field(default_factory=dict)
    constructor: yaml.SafeLoader = field(default_factory=lambda: yaml.SafeLoader(""), repr=False)
    problems: list[Issue] = field(default_factory=list, repr=False)
    raw: bytes = field(default=b"", repr=False)  # the bytes read: what the playbook's hash is taken over

    def position(self, loc: Loc) -> Pos:
        """Line and column of `loc`, or of its nearest ancestor that exists in the file."""
        for end in range(len(loc), -1, -1):
            if loc[:end] in self.positions:
                return self.positions[loc[:end]]
        return (1, 1)

    def issue(self, loc: Loc, message: str, at_key: bool = False) -> Issue:
        line, column = self.key_positions.get(loc) if at_key and loc in self.key_positions else self.position(loc)
        return Issue(self.file, line, column, format_loc(loc), message)

    def refuse(self, node: yaml.Node, loc: Loc, message: str) -> None:
        """Note a problem at `node` and go on reading: every problem of the document is reported at once."""
        mark = node.start_mark
        self.problems.append(Issue(self.file, mark.line + 1, mark.column + 1, format_loc(loc), message))


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
    doc = Document(name, None, raw=raw)
    doc.data = _build(root, (), doc)
    if doc.problems:
        raise PlaybookFileError(doc.problems)
    return doc


def _fail(file: str, line: int, column: int, message: str) -> PlaybookFileError:
    return PlaybookFileError([Issue(file, line, column, "", message)])


def _read_bytes(path: Path, name: str) -> bytes:
    """At most MAX_BYTES + 1 bytes of a regular file: a device (/dev/zero), a pipe or a folder is refused before
    any read, and a file that grows after its size was looked at cannot make the read endless."""
    try:
        # Non-blocking: opening a pipe (FIFO) for reading would otherwise wait for a writer forever.
        handle = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise _fail(name, 1, 1, f"cannot read the file: {exc.strerror}") from exc
    status = os.fstat(handle)
    if not stat.S_ISREG(status.st_mode):
        os.close(handle)
        raise _fail(name, 1, 1, "not a regular file (a device, a pipe or a folder): a playbook is a .yaml file")
    with os.fdopen(handle, "rb") as file:
        raw = file.read(MAX_BYTES + 1)
    if len(raw) > MAX_BYTES:
        size = max(status.st_size, len(raw))
        raise _fail(name, 1, 1, f"file is {size:,} bytes; a playbook may be at most {MAX_BYTES:,} bytes")
    return raw


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
    _check_printable(text, name)
    return text


def _looks_utf16(raw: bytes) -> bool:
    """ASCII text saved as UTF-16 without a byte-order mark: every other byte is NUL."""
    head = raw[:200]
    return len(head) >= 4 and (head[1::2].count(0) > 0.9 * len(head[1::2]) or
                               head[0::2].count(0) > 0.9 * len(head[0::2]))


def _check_printable(text: str, name: str) -> None:
    """Refuse the characters YAML forbids (ESC, DEL, most control characters) where they stand, before PyYAML's
    reader refuses them with a position in characters rather than a line."""
    found = Reader.NON_PRINTABLE.search(text)
    if found is None:
        return
    line = text.count("\n", 0, found.start()) + 1
    column = found.start() - (text.rfind("\n", 0, found.start()) + 1) + 1
    raise _fail(name, line, column, f"file contains the control character U+{ord(found[0]):04X}, which YAML does "
                                    "not allow: delete it (it is often invisible in editors)")


def _compose(text: str, name: str) -> yaml.Node:
    _check_depth(text, name)
    try:
        nodes = list(yaml.compose_all(text, Loader=_FAST))
    except yaml.YAMLError:
        nodes = _compose_in_python(text, name)
    if not nodes or nodes[0] is None:
        raise _fail(name, 1, 1, "file is empty (only comments): a playbook needs at least `id`, "
                                "`version` and `phases`")
    return nodes[0]


def _compose_in_python(text: str, name: str) -> list[yaml.Node]:
    _check_depth(text, name, yaml.SafeLoader)  # where libyaml stopped early, what follows is checked too
    try:
        return list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        raise _fail(name, line, column, f"not valid YAML: {problem}") from exc
    except yaml.YAMLError as exc:
        raise _fail(name, 1, 1, f"not valid YAML: {exc}") from exc


def _check_depth(text: str, name: str, loader: type[Any] = _FAST) -> None:
    """Refuse deep nesting and aliases from the event stream, before the recursive composer can blow the stack
    or an alias bomb (billion laughs) can be expanded."""
    depth = documents = 0
    try:
        for event in yaml.parse(text, Loader=loader):
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
        doc.refuse(node, loc, f"YAML tag {node.tag!r} is not allowed in playbooks")
        return None
    fitting = {_KIND_TAG[type(node)]} if type(node) in _KIND_TAG else _SCALAR_TAGS
    if node.tag not in fitting:  # `!!seq abc`, `!!str {a: 1}`: PyYAML would build something nobody wrote
        doc.refuse(node, loc, f"YAML tag {_short(node.tag)} does not fit this value: remove the tag")
        return None
    if isinstance(node, yaml.MappingNode):
        return _build_mapping(node, loc, doc)
    if isinstance(node, yaml.SequenceNode):
        return [_build(child, (*loc, i), doc) for i, child in enumerate(node.value)]
    return _scalar(node, loc, doc)


def _short(tag: str) -> str:
    return tag.replace(_CORE, "!!")


def _scalar(node: yaml.ScalarNode, loc: Loc, doc: Document) -> Any:
    """The value of a plain scalar, or None with a located problem when it cannot be one."""
    kind = node.tag.removeprefix(_CORE)
    if kind == "int" and sum(c.isdigit() for c in node.value) > _MAX_INT_DIGITS:
        digits = sum(c.isdigit() for c in node.value)
        doc.refuse(node, loc, f"a number of {digits:,} digits is too large: a playbook number is at most "
                              f"{MAX_INT:,}")
        return None
    try:
        value = doc.constructor.construct_object(node)
    except (ValueError, KeyError, TypeError, AttributeError, OverflowError, yaml.YAMLError) as exc:
        # PyYAML's constructors fail with whatever the conversion raised: `!!int abc`, `!!bool maybe`, 2024-02-30.
        plain = kind == "timestamp" and isinstance(exc, ValueError) and re.fullmatch(r"[\w .]+", str(exc))
        reason = f" ({exc})" if plain else ""  # "day is out of range for month"; not datetime's Python reprs
        doc.refuse(node, loc, f"{show(node.value)} is not {_WHAT.get(kind, 'a valid value')}{reason}")
        return None
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
        doc.refuse(node, loc, f"{show(node.value)} is too large: a playbook number is at most {MAX_INT:,}")
        return None
    if isinstance(value, float) and not math.isfinite(value):
        doc.refuse(node, loc, f"{show(node.value)} is not a finite number: a playbook number is at most "
                              f"{MAX_INT:,}")
        return None
    return value


def _build_mapping(node: yaml.MappingNode, loc: Loc, doc: Document) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = _key(key_node, loc, doc)
        if key is None:
            continue
        if key in out:
            doc.refuse(key_node, (*loc, key),
                       f"key {show(key)} appears twice in the same mapping ({format_loc(loc) or 'top level'})")
            continue
        doc.key_positions[(*loc, key)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
        out[key] = _build(value_node, (*loc, key), doc)
    return out


def _key(node: yaml.Node, loc: Loc, doc: Document) -> str | None:
    """A key as written (`on`, `1` and `null` are the words on, 1 and null), or None with a located problem."""
    if not isinstance(node, yaml.ScalarNode) or node.tag == f"{_CORE}merge":
        doc.refuse(node, loc, "keys must be plain words")
        return None
    plain = not node.style  # None from PyYAML's composer, '' from libyaml's
    written = doc.constructor.resolve(yaml.ScalarNode, node.value, (plain, not plain))
    if node.tag != written and node.tag != f"{_CORE}str":
        doc.refuse(node, (*loc, node.value), f"a key cannot carry a YAML tag ({_short(node.tag)}): write the "
                                             "plain word")
        return None
    if not node.value.strip():
        doc.refuse(node, loc, "empty key: write a name before the colon")
        return None
    return node.value
