"""`crisis validate` on mutated playbooks: it never crashes, and every issue it prints reads well.

A seeded generator (hypothesis is not a dependency) mutates the shipped playbooks and the fixture playbooks, one
to three mutations a case: keys deleted, duplicated, renamed; values of the wrong type; huge numbers; impossible
dates; explicit YAML tags, on values and on keys; anchors and aliases, alias bombs included; control characters;
deeply nested Jinja and `when:` conditions; bad encodings; template paths to binary files. Each case goes through
`validate()`, the function behind `crisis validate`; a sample also goes through the CLI itself.

    CRISIS_FUZZ_SEED=1234 pytest tests/unit/test_validate_fuzz.py    # replay a run (the seed is printed)
    CRISIS_FUZZ_SEED=random CRISIS_FUZZ_CASES=5000 pytest …           # explore further
"""

from __future__ import annotations

import os
import random
import re
import shutil
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crisiscomms.errors import Issue, PlaybookError
from crisiscomms.playbook.yamlfile import read_document
from crisiscomms.stack.cli import app
from crisiscomms.stack.project import Project, validate

REPO = Path(__file__).resolve().parents[2]
SOURCES = sorted([*REPO.glob("playbooks/*.yaml"), *REPO.glob("tests/fixtures/*/playbooks/*.yaml")])
CASES = int(os.environ.get("CRISIS_FUZZ_CASES", "1000"))
CLI_SAMPLE = 30
_SEED = os.environ.get("CRISIS_FUZZ_SEED", "20260312")
SEED = random.SystemRandom().randrange(10**9) if _SEED == "random" else int(_SEED)

# --- the mutations -----------------------------------------------------------------------------------------------

KEY_LINE = re.compile(r"^(?P<indent> *)(?P<dash>- )?(?P<key>[A-Za-z_][\w-]*):(?P<rest>(?: .*)?)$")
Text = str | bytes


@dataclass(frozen=True)
class KeyLine:
    index: int
    indent: int  # column of the key itself (after any `- `)
    key: str
    dash: bool


def key_lines(lines: list[str]) -> list[KeyLine]:
    found = []
    for i, line in enumerate(lines):
        match = KEY_LINE.match(line)
        if match:
            indent = len(match["indent"]) + (2 if match["dash"] else 0)
            found.append(KeyLine(i, indent, match["key"], bool(match["dash"])))
    return found


def block_end(lines: list[str], at: KeyLine) -> int:
    """Index after the key's block: the lines below it indented deeper than the key (or blank)."""
    end = at.index + 1
    while end < len(lines) and (not lines[end].strip() or len(lines[end]) - len(lines[end].lstrip()) > at.indent):
        end += 1
    return end


def set_value(lines: list[str], at: KeyLine, value: str, key: str | None = None) -> list[str]:
    """`key: value` in place of the key's line and block (the same key unless another is given)."""
    head = lines[at.index][: at.indent]  # the indentation, and the `- ` of a list item's first key
    return [*lines[: at.index], f"{head}{key or at.key}: {value}", *lines[block_end(lines, at):]]


def pick(rng: random.Random, lines: list[str], wanted: Callable[[KeyLine], bool] = lambda k: True) -> KeyLine | None:
    candidates = [k for k in key_lines(lines) if wanted(k)]
    return rng.choice(candidates) if candidates else None


def delete_key(rng: random.Random, lines: list[str]) -> list[str]:
    at = pick(rng, lines)
    if at is None:
        return lines
    rest = lines[block_end(lines, at):]
    if at.dash and rest and rest[0][: at.indent].strip() == "":  # the item's next key takes its `- `
        rest = [lines[at.index][: at.indent] + rest[0][at.indent:], *rest[1:]]
    return [*lines[: at.index], *rest]


def duplicate_key(rng: random.Random, lines: list[str]) -> list[str]:
    at = pick(rng, lines, lambda k: not k.dash)
    if at is None:
        return lines
    end = block_end(lines, at)
    return [*lines[:end], *lines[at.index: end], *lines[end:]]


RENAMES = ["null", "~", "1", "true", "on", "no", "'quoted key'", "clé", "Title", "k e y", '"a.b"', "'[0]'",
           '"x\\u202e"', '"tab\\there"', "_", "-", "a" * 70, "ÉTAPE", "type", "id", "'1.5'", "2024-02-29"]


def rename_key(rng: random.Random, lines: list[str]) -> list[str]:
    at = pick(rng, lines)
    if at is None:
        return lines
    key = at.key
    typo = key[:-1] if len(key) > 1 and rng.random() < 0.3 else rng.choice(RENAMES)
    line = lines[at.index]
    return [*lines[: at.index], line[: at.indent] + typo + line[at.indent + len(key):], *lines[at.index + 1:]]


WRONG = ["[1, 2]", "{a: 1}", "true", "null", "~", "3.5", "-1", "0", '""', "[]", "{}", '"text"', "0o17", "0x1F",
         "1_000", "12:30", "[[[]]]", "[{}]", "'{{ inputs.x }}'", "yes", "- a", "|\n  block", ">-\n  folded"]


def wrong_type(rng: random.Random, lines: list[str]) -> list[str]:
    at = pick(rng, lines)
    return lines if at is None else set_value(lines, at, rng.choice(WRONG))


HUGE = ["9" * 5000, "-" + "9" * 5000, "9" * 4301, "1" + "0" * 300 + ".5", "1.0e+400", "-1.0e+400", ".inf",
        "-.inf", ".nan", str(2**64), str(2**53), "0x" + "f" * 3000, "0b" + "1" * 5000, "[" + "9" * 5000 + "]",
        "99999999999999999d", "9" * 5000 + "s", "366d", "367d", "527041m", "1e400"]


def huge_number(rng: random.Random, lines: list[str]) -> list[str]:
    wanted = ["retries", "timeout", "period", "quorum", "threshold", "max_length", "window", "top", "min_count",
              "version", "default", "pause_poll", "cooldown", "weight", "full", "processes", "max_pages"]
    at = pick(rng, lines, lambda k: k.key in wanted and rng.random() < 0.8) or pick(rng, lines)
    return lines if at is None else set_value(lines, at, rng.choice(HUGE))


DATES = ["2024-02-30", "2024-13-01", "2023-02-29", "2024-02-29", "2024-00-10", "0000-01-01", "2024-02-03 25:00:00",
         "2024-02-03T23:61:00Z", "2024-02-03T10:00:00+25:00", "9999-12-31T23:59:59-01:00", "25:00", "2024-2-3",
         "2024-02-03t10:00:00.123456789Z", "[2024-02-30]"]


def bad_date(rng: random.Random, lines: list[str]) -> list[str]:
    at = pick(rng, lines)
    return lines if at is None else set_value(lines, at, rng.choice(DATES))


TAGS = ["!!int abc", "!!bool maybe", "!!float x", "!!int 1.5", "!!null x", "!!timestamp nope", "!!str 12", "!!seq abc",
        "!!map abc", "!!binary aGVsbG8=", "!!set {a}", "!!omap [a: 1]", "!!python/object:os.system x",
        '!!python/object/apply:os.system ["true"]', "!!python/name:os.system ''", "!custom x",
        "!<tag:example.com,2000:x> y", "!!str {a: 1}", "!!map [1]", "!!seq {a: 1}", "!!merge x", "!!value x"]


def explicit_tag(rng: random.Random, lines: list[str]) -> list[str]:
    if rng.random() < 0.1:
        return [rng.choice(["--- !!python/object:os.system", "--- !!seq", "--- !!str"]), *lines]
    at = pick(rng, lines)
    return lines if at is None else set_value(lines, at, rng.choice(TAGS))


KEY_TAGS = ["!!int", "!!python/name:os.system", "!!str", "!custom", "!!bool", "!!null", "!!timestamp", "!!float"]


def tag_on_key(rng: random.Random, lines: list[str]) -> list[str]:
    at = pick(rng, lines)
    if at is None:
        return lines
    line = lines[at.index]
    return [*lines[: at.index], f"{line[: at.indent]}{rng.choice(KEY_TAGS)} {line[at.indent:]}", *lines[at.index + 1:]]


def billion_laughs(levels: int) -> list[str]:
    out = ['lol0: &lol0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    return out + [f"lol{i}: &lol{i} [" + ", ".join([f"*lol{i - 1}"] * 9) + "]" for i in range(1, levels)]


def anchor_alias(rng: random.Random, lines: list[str]) -> list[str]:
    choice = rng.randrange(5)
    if choice == 0:  # a bomb, which must be refused before it is expanded
        return [*lines, *billion_laughs(rng.choice([10, 20, 30]))]
    at = pick(rng, lines, lambda k: lines[k.index].rstrip().endswith(":") is False)
    if at is None:
        return lines
    line = lines[at.index]
    value = line[line.index(":", at.indent) + 1:].strip()
    if choice == 1:  # an anchor alone is harmless
        return [*lines[: at.index], f"{line[: at.indent]}{at.key}: &a {value}", *lines[at.index + 1:]]
    if choice == 2:  # an alias to a real anchor elsewhere
        other = pick(rng, lines)
        anchored = [*lines[: at.index], f"{line[: at.indent]}{at.key}: &a {value}", *lines[at.index + 1:]]
        return anchored if other is None else set_value(anchored, other, "*a") if other.index > at.index else anchored
    if choice == 3:
        return set_value(lines, at, rng.choice(["*nope", "&a [*a]", "{<<: *a}", "&a {b: *a}"]))
    return [*lines, "base: &base {title: x}", "autre:", "  <<: *base"]


CONTROL = ["\x7f", "\x1b", "\x07", "\x08", "\x0b", "\x0c", "\x1f", "\x85", "\u2028", "\ufeff", "\ufffe", "\u202e",
           "\u200b", "\x9b", "\x01", "\r"]
ESCAPED = ['"a\\x1b[31mb"', '"\\0"', '"\\u202e"', '"\\x7f"', '"\\e[2J"', '"\\N"', '"\\L"', '"\\x00x"', '"a\\nb"']


def control_char(rng: random.Random, lines: list[str]) -> list[str]:
    if rng.random() < 0.5:
        at = pick(rng, lines)
        if at is not None:
            return set_value(lines, at, rng.choice(ESCAPED))
    i = rng.randrange(len(lines))
    column = rng.randrange(len(lines[i]) + 1)
    return [*lines[:i], lines[i][:column] + rng.choice(CONTROL) + lines[i][column:], *lines[i + 1:]]


def deep_jinja() -> list[str]:
    return [
        "{% if true %}" * 17 + "x" + "{% endif %}" * 17,
        "{% if true %}" * 500 + "x" + "{% endif %}" * 500,
        "{% for i in [1] %}" * 30 + "x" + "{% endfor %}" * 30,
        "{{ " + "(" * 300 + "1" + ")" * 300 + " }}",
        "{{ " + "[" * 100 + "]" * 100 + " }}",
        "{{ inputs" + ".x" * 2000 + " }}",
        "{{ 1" + " + 1" * 2000 + " }}",
        "{{ inputs.marque" + " | upper" * 2000 + " }}",
        "{% if %}",
        "{{ inputs.x.__class__.__mro__ }}",
        "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}",
        "{{ 'a' * 10**9 }}",
        "{% raw %}" * 50,
    ]


TEXT_KEYS = {"text", "claim", "truth", "author", "mentions", "drill", "item", "title"}


def nested_jinja(rng: random.Random, lines: list[str]) -> list[str]:
    at = pick(rng, lines, lambda k: k.key in TEXT_KEYS) or pick(rng, lines)
    if at is None:
        return lines
    source = rng.choice(deep_jinja())
    return set_value(lines, at, "'" + source.replace("'", "''") + "'")


def deep_conditions() -> list[str]:
    return [
        "(" * 33 + "inputs.gravite >= haute" + ")" * 33,
        "(" * 100 + "inputs.gravite >= haute" + ")" * 100,
        "(" * 199 + "inputs.x" + ")" * 199,
        "(" * 240 + "x" + ")" * 240,
        "(" * 100,
        "not " * 120 + "inputs.x",
        "inputs.x in " + "[" * 150 + "1" + "]" * 150,
        "-" * 200 + "1 == inputs.x",
        "a." * 240 + "b",
        "inputs.x == 1 and " * 25 + "inputs.y",
        "inputs.x in " + "(" * 80 + "1," + ")" * 80,
    ]


def nested_parens(rng: random.Random, lines: list[str]) -> list[str]:
    condition = "'" + rng.choice(deep_conditions()) + "'"
    at = pick(rng, lines, lambda k: k.key == "when")
    if at is not None:
        return set_value(lines, at, condition)
    step = pick(rng, lines, lambda k: k.dash and k.key == "id")
    if step is None:
        return lines
    return [*lines[: step.index + 1], " " * step.indent + f"when: {condition}", *lines[step.index + 1:]]


def bad_encoding(rng: random.Random, text: str) -> bytes:
    data = text.encode("utf-8")
    at = rng.randrange(len(data) + 1)
    choices: list[Callable[[], bytes]] = [
        lambda: text.encode("utf-16"),
        lambda: text.encode("utf-16-le"),
        lambda: text.encode("utf-32"),
        lambda: text.encode("latin-1", errors="replace"),
        lambda: data[:at] + b"\xff" + data[at:],
        lambda: data[:at] + b"\xc3" + data[at:],
        lambda: data[:at] + b"\xed\xa0\x80" + data[at:],
        lambda: data[:at] + b"\x00" + data[at:],
        lambda: b"\xef\xbb\xbf" + data,
        lambda: data.replace(b"\n", b"\r\n"),
        lambda: data[: max(1, at)],
        lambda: b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + data,
    ]
    return rng.choice(choices)()


BINARY_TEMPLATES = ["/bin/ls", "../../../../../bin/ls", "notes/binary.png", "notes/latin1.fr.md.j2",
                    "notes/deep.fr.md.j2", "/dev/null", "notes/", "notes/../../prefect.yaml", "/bin"]


def binary_template(rng: random.Random, lines: list[str]) -> list[str]:
    name = rng.choice(BINARY_TEMPLATES)
    at = pick(rng, lines, lambda k: k.key in ("text", "template"))
    if at is not None:
        return set_value(lines, at, name, key="template")
    message = pick(rng, lines, lambda k: k.dash and k.key == "kind")
    if message is None:
        return lines
    return [*lines[: message.index + 1], " " * message.indent + f"template: {name}", *lines[message.index + 1:]]


LINE_MUTATIONS: dict[str, Callable[[random.Random, list[str]], list[str]]] = {
    "delete_key": delete_key, "duplicate_key": duplicate_key, "rename_key": rename_key, "wrong_type": wrong_type,
    "huge_number": huge_number, "bad_date": bad_date, "explicit_tag": explicit_tag, "tag_on_key": tag_on_key,
    "anchor_alias": anchor_alias, "control_char": control_char, "nested_jinja": nested_jinja,
    "nested_parens": nested_parens, "binary_template": binary_template,
}
KINDS = [*LINE_MUTATIONS, "bad_encoding"]


@dataclass(frozen=True)
class Case:
    number: int
    source: Path
    kinds: tuple[str, ...]
    content: Text


def make_case(rng: random.Random, number: int) -> Case:
    kind = KINDS[number % len(KINDS)]  # every kind in turn, then one or two more drawn at random
    kinds = [kind, *rng.sample(list(LINE_MUTATIONS), rng.choice([0, 0, 1, 2]))]
    source = rng.choice(SOURCES)
    lines = source.read_text(encoding="utf-8").splitlines()
    for each in [k for k in kinds if k != "bad_encoding"]:
        lines = LINE_MUTATIONS[each](rng, lines)
    text = "\n".join(lines) + "\n"
    return Case(number, source, tuple(kinds), bad_encoding(rng, text) if "bad_encoding" in kinds else text)


# --- what every issue must look like -------------------------------------------------------------------------------

# Issues about the file as a whole carry no path; every other one names the field it is about.
FILE_LEVEL = ("file ", "not valid YAML", "YAML nested", "YAML aliases", "a playbook file must", "a playbook is a mapping",
              "keys must be plain words", "YAML tag")
PYTHON_REPRS = re.compile(r"datetime\.|date\(|<class|Decimal\(| object at 0x|<function|<built-in|Traceback|Error\("
                          r"|\{'[^']*': |\['[^']*'(, |\])")
DOUBLED = re.compile(r"(?:^|\.)([^.\[\]]+)\.\1(?:$|[.\[])")


def problems_with(issue: Issue, file: Path) -> list[str]:
    line = str(issue)
    found = []
    if not re.fullmatch(rf"{re.escape(issue.file)}:[1-9]\d*:[1-9]\d*: .+", line) or Path(issue.file).name != file.name:
        found.append("not located as file:line:col")
    if "\n" in line or "\r" in line:
        found.append("spans several lines")
    if not issue.path and not issue.message.startswith(FILE_LEVEL) and not re.search(r"'\w+'", issue.message):
        found.append("names no field")  # a top-level field may be named by the message alone (missing 'id')
    if re.search(r"\bNone\b", line):
        found.append("says None")
    if DOUBLED.search(issue.path):
        found.append("doubled path")
    if PYTHON_REPRS.search(issue.message):
        found.append("Python repr")
    return found


@dataclass
class Outcome:
    case: Case
    issues: list[Issue]
    crash: str | None
    seconds: float
    readable: bool = False  # the YAML reader accepted the file: the models and the checks saw it


def run_case(project_root: Path, case: Case) -> Outcome:
    target = project_root / "playbooks" / case.source.name
    original = target.read_bytes()
    if isinstance(case.content, bytes):
        target.write_bytes(case.content)
    else:
        target.write_text(case.content, encoding="utf-8")
    started = time.perf_counter()
    try:
        _, issues = validate([target], Project(project_root))
        return Outcome(case, issues, None, time.perf_counter() - started, _readable(target))
    except Exception as exc:
        return Outcome(case, [], crash_summary(exc), time.perf_counter() - started)
    finally:
        target.write_bytes(original)


def _readable(path: Path) -> bool:
    try:
        read_document(path)
    except PlaybookError:
        return False
    return True


def crash_summary(exc: BaseException) -> str:
    """Where it broke: the innermost frames of the project's code, then of the library that raised."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "site-packages" not in f.filename and "/lib/python" not in f.filename]
    shown = traceback.format_list([*ours[-4:], *[f for f in frames[-2:] if f not in ours[-4:]]])
    return "".join(shown) + "".join(traceback.format_exception_only(exc))


@pytest.fixture(scope="module")
def fuzz_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One project holding every source playbook (ids are unique across the fixtures) and all their templates."""
    root = tmp_path_factory.mktemp("fuzz")
    shutil.copy(REPO / "prefect.yaml", root)
    (root / "playbooks").mkdir()
    for source in SOURCES:
        shutil.copy(source, root / "playbooks" / source.name)
    for templates in [REPO / "templates", *REPO.glob("tests/fixtures/*/templates")]:
        shutil.copytree(templates, root / "templates", dirs_exist_ok=True)
    notes = root / "templates" / "notes"
    notes.mkdir(parents=True, exist_ok=True)
    (notes / "binary.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x10\xff\xfe")
    (notes / "latin1.fr.md.j2").write_bytes("Crise : caf\xe9 {{ inputs.marque }}\n".encode("latin-1"))
    (notes / "deep.fr.md.j2").write_text("{% if true %}" * 400 + "x" + "{% endif %}" * 400 + "\n", encoding="utf-8")
    return root


def test_a_thousand_mutated_playbooks_never_crash_validate_and_every_issue_reads_well(fuzz_project: Path) -> None:
    print(f"\nfuzz seed {SEED} ({CASES} cases): replay with CRISIS_FUZZ_SEED={SEED}")
    rng = random.Random(SEED)
    started = time.perf_counter()
    outcomes = [run_case(fuzz_project, make_case(rng, n)) for n in range(CASES)]
    elapsed = time.perf_counter() - started
    kinds = Counter(kind for o in outcomes for kind in o.case.kinds)
    deep = sum(o.readable for o in outcomes)
    print(f"{len(outcomes)} cases in {elapsed:.1f} s; {sum(bool(o.issues) for o in outcomes)} with issues; {deep} "
          f"read as YAML and checked by the models and the rules; kinds: {dict(sorted(kinds.items()))}")
    crashes = [f"case {o.case.number} {o.case.kinds} of {o.case.source.name}:\n{o.crash}" for o in outcomes if o.crash]
    unreadable = [f"case {o.case.number} {o.case.kinds}: {', '.join(p)}: {i}" for o in outcomes for i in o.issues
                  if (p := problems_with(i, o.case.source))]
    slowest = max(outcomes, key=lambda o: o.seconds)
    assert crashes == [], f"seed {SEED}: {len(crashes)} crash(es); first:\n{crashes[0]}"
    assert unreadable == [], f"seed {SEED}: {len(unreadable)} unreadable issue(s):\n" + "\n".join(unreadable[:20])
    assert set(kinds) == set(KINDS) and min(kinds.values()) >= CASES // (2 * len(KINDS))
    assert deep >= CASES // 5  # not only the YAML reader: the models and the semantic checks get mutants too
    assert slowest.seconds < 5, f"case {slowest.case.number} {slowest.case.kinds} took {slowest.seconds:.1f} s"


def test_alias_bombs_are_refused_at_once_and_never_expanded(fuzz_project: Path) -> None:
    text = "id: rappel-produit\n" + "\n".join(billion_laughs(30)) + "\n"
    outcome = run_case(fuzz_project, Case(0, REPO / "playbooks" / "rappel-produit.yaml", ("anchor_alias",), text))
    assert outcome.crash is None
    assert [(i.line, i.message) for i in outcome.issues] == [
        (3, "YAML aliases (*name) are not allowed in playbooks: write the value out")]
    assert outcome.seconds < 1  # 9^30 copies if anything expanded it


def test_a_sample_of_mutated_playbooks_through_the_cli_exits_0_or_1_with_one_line_per_issue(
    fuzz_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(SEED + 1)
    monkeypatch.chdir(fuzz_project)
    runner = CliRunner()
    exits: Counter[int] = Counter()
    for number in range(CLI_SAMPLE):
        case = make_case(rng, number)
        target = fuzz_project / "playbooks" / case.source.name
        original = target.read_bytes()
        target.write_bytes(case.content if isinstance(case.content, bytes) else case.content.encode("utf-8"))
        try:
            result = runner.invoke(app, ["validate", f"playbooks/{case.source.name}"])
        finally:
            target.write_bytes(original)
        where = f"seed {SEED + 1}, CLI case {number} {case.kinds} of {case.source.name}"
        assert result.exception is None or isinstance(result.exception, SystemExit), f"{where}: {result.exception!r}"
        assert result.exit_code in (0, 1), f"{where}: exit {result.exit_code}\n{result.output}"
        assert "Traceback" not in result.output, where
        lines = result.stdout.splitlines()
        assert (result.exit_code == 1) == bool(lines), where
        assert all(re.fullmatch(rf"playbooks/{re.escape(case.source.name)}:\d+:\d+: .+", line) for line in lines), (
            f"{where}:\n{result.stdout}")
        exits[result.exit_code] += 1
    assert exits[1] > 0
