"""Files that are not playbooks at all: each is refused with ONE issue naming the file and a line.

The files are written into tmp_path by the tests (no 5 MB file in the repository).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from crisiscomms.errors import Issue, PlaybookError, PlaybookFileError
from crisiscomms.playbook.loader import load_playbook

VALID_START = "id: crise\nversion: 1.0.0\ntitle: Crise\n"


def refusal(path: Path, content: str | bytes, kind: type[PlaybookError] = PlaybookError) -> Issue:
    """Write `content` to `path`, load it, and return the single issue it must be refused with."""
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    with pytest.raises(kind) as caught:
        load_playbook(path)
    assert len(caught.value.issues) == 1, caught.value.issues
    issue = caught.value.issues[0]
    assert issue.file == str(path)
    assert str(issue).startswith(f"{path}:{issue.line}:{issue.column}: ")
    return issue


def file_refusal(path: Path, content: str | bytes) -> Issue:
    """Same, for files refused before any playbook model is tried (PlaybookFileError)."""
    return refusal(path, content, PlaybookFileError)


@pytest.fixture
def crise(tmp_path: Path) -> Path:
    return tmp_path / "crise.yaml"


def test_text_that_is_not_yaml_points_at_the_first_bad_character(crise: Path) -> None:
    issue = file_refusal(crise, "{{{{ :: ]\n")
    assert (issue.line, issue.column) == (1, 6)
    assert issue.message == "not valid YAML: expected the node content, but found ':'"


def test_an_unclosed_bracket_in_a_playbook_is_located(crise: Path) -> None:
    issue = file_refusal(crise, VALID_START.replace("title: Crise", "title: [Crise") + "phases: {}\n")
    assert (issue.line, issue.column) == (4, 7)
    assert issue.message.startswith("not valid YAML: ")


def test_a_binary_file_is_refused_as_binary(crise: Path) -> None:
    issue = file_refusal(crise, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x10")
    assert issue.line == 3  # the first NUL byte follows two newlines
    assert issue.message == "file contains NUL bytes: it is binary, not a YAML playbook"


@pytest.mark.parametrize("content", ["", "   \n\n\t\n"], ids=["empty", "whitespace-only"])
def test_an_empty_file_says_what_a_playbook_needs(crise: Path, content: str) -> None:
    issue = file_refusal(crise, content)
    assert (issue.line, issue.column) == (1, 1)
    assert issue.message == "file is empty: a playbook needs at least `id`, `version` and `phases`"


def test_a_latin1_file_points_at_the_first_non_utf8_byte(crise: Path) -> None:
    issue = file_refusal(crise, "id: crise\ntitle: Crise caf\xe9\n".encode("latin-1"))
    assert (issue.line, issue.column) == (2, 17)
    assert issue.message == "file is not UTF-8 (byte 0xe9); save it as UTF-8"


def test_a_utf16_file_is_refused_as_not_utf8_rather_than_binary(crise: Path) -> None:
    # Fails today ("file contains NUL bytes: it is binary"): Windows Notepad's "Unicode" is UTF-16,
    # and the person needs to hear "save it as UTF-8", not that the playbook is binary.
    issue = file_refusal(crise, VALID_START.encode("utf-16"))
    assert issue.line == 1
    assert "not UTF-8" in issue.message
    assert "save it as UTF-8" in issue.message


def test_a_utf8_byte_order_mark_is_accepted(crise: Path) -> None:
    crise.write_text("\ufeff" + VALID_START + "phases: {}\n", encoding="utf-8")
    assert load_playbook(crise).playbook.id == "crise"


def test_a_5mb_file_is_refused_by_its_size_before_parsing(crise: Path) -> None:
    text = VALID_START + "description: " + "x" * 5_000_000 + "\nphases: {}\n"
    started = time.perf_counter()
    issue = file_refusal(crise, text)
    assert time.perf_counter() - started < 5
    assert issue.line == 1
    assert issue.message == f"file is {len(text):,} bytes; a playbook may be at most 1,000,000 bytes"


def test_ten_thousand_nested_brackets_are_refused_without_recursing(crise: Path) -> None:
    issue = file_refusal(crise, "[" * 10_000 + "]" * 10_000 + "\n")
    assert (issue.line, issue.column) == (1, 33)  # the 33rd bracket
    assert issue.message == "YAML nested more than 32 levels deep; a playbook never needs that"


def test_deeply_nested_mappings_are_refused_at_the_level_too_deep(crise: Path) -> None:
    text = "".join("  " * level + f"k{level}:\n" for level in range(40)) + "  " * 40 + "fin\n"
    issue = file_refusal(crise, text)
    assert issue.line == 33
    assert "nested more than 32 levels" in issue.message


def test_a_python_tag_is_refused_and_never_executed(crise: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    issue = file_refusal(crise, f'id: !!python/object/apply:os.system ["touch {marker}"]\n')
    assert not marker.exists()
    assert (issue.line, issue.column) == (1, 5)
    assert issue.message == (
        "YAML tag 'tag:yaml.org,2002:python/object/apply:os.system' is not allowed in playbooks"
    )


def test_a_python_tag_on_the_whole_document_is_refused_and_never_executed(
    crise: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    issue = file_refusal(crise, f'!!python/object/apply:os.system ["touch {marker}"]\n')
    assert not marker.exists()
    assert (issue.line, issue.column) == (1, 1)
    assert "is not allowed in playbooks" in issue.message


def test_a_custom_tag_is_refused(crise: Path) -> None:
    issue = file_refusal(crise, VALID_START + "description: !secret mot_de_passe\n")
    assert (issue.line, issue.column) == (4, 14)
    assert issue.message == "YAML tag '!secret' is not allowed in playbooks"


def test_a_top_level_list_is_not_a_playbook(crise: Path) -> None:
    issue = refusal(crise, "- id: crise\n- id: autre\n")
    assert (issue.line, issue.column) == (1, 1)
    assert issue.message == "a playbook is a mapping of keys (id, version, phases …)"


def test_billion_laughs_aliases_are_refused_at_the_first_alias(crise: Path) -> None:
    lines = ['lol0: &lol0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"lol{i}: &lol{i} [" + ", ".join([f"*lol{i - 1}"] * 9) + "]" for i in range(1, 10)]
    started = time.perf_counter()
    issue = file_refusal(crise, "\n".join(lines) + "\n")
    assert time.perf_counter() - started < 5
    assert (issue.line, issue.column) == (2, 14)
    assert issue.message == "YAML aliases (*name) are not allowed in playbooks: write the value out"


def test_a_merge_key_is_refused(crise: Path) -> None:
    issue = file_refusal(crise, VALID_START + "team:\n  coordination:\n    <<: {title: Coordination}\n")
    assert (issue.line, issue.column) == (6, 5)
    assert issue.message == "keys must be plain words"


def test_a_duplicate_top_level_key_points_at_the_second_one(crise: Path) -> None:
    issue = file_refusal(crise, VALID_START + "id: autre\nphases: {}\n")
    assert (issue.line, issue.column) == (4, 1)
    assert issue.message == "key 'id' appears twice in the same mapping (top level)"


def test_a_duplicate_key_in_a_step_names_the_step(crise: Path) -> None:
    step = ("phases:\n  preparation:\n    steps:\n      - id: convocation\n        type: checklist.item\n"
            "        item: Convoquer\n        owner: coordination\n        owner: juridique\n")
    issue = file_refusal(crise, VALID_START + step)
    assert (issue.line, issue.column) == (11, 9)
    assert issue.message == "key 'owner' appears twice in the same mapping (phases.preparation.steps[0])"


def test_two_yaml_documents_are_refused_at_the_second(crise: Path) -> None:
    # Fails today: the issue is at line 1, not at the `---` that starts the second document (line 5).
    issue = file_refusal(crise, VALID_START + "phases: {}\n---\nid: autre\n")
    assert issue.line == 5
    assert issue.message == "a playbook file must hold exactly one YAML document"


def test_a_missing_file_is_refused_with_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    with pytest.raises(PlaybookFileError) as caught:
        load_playbook(path)
    [issue] = caught.value.issues
    assert (issue.file, issue.line) == (str(path), 1)
    assert issue.message == "cannot read the file: No such file or directory"
