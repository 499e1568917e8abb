"""What `crisis validate` and `crisis run` do with files that are not plain playbook files: devices, pipes, links.

A device (/dev/zero) or a pipe used to hang validation (its size read as 0, then read to the end); a link that
leads round in a loop gave a traceback; a link named `alias.yaml` to `ok.yaml` validated although its name is not
its id; a link out of playbooks/ was reported under the outside file's name. Each is now one located line.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from crisiscomms.errors import Issue, PlaybookError, PlaybookFileError, printable, show
from crisiscomms.playbook.yamlfile import read_document
from crisiscomms.stack.project import Project, validate

CRISIS = Path(sys.executable).parent / "crisis"
PLAYBOOK = "id: {id}\nversion: 1.0.0\ntitle: Essai\nphases: {{}}\n"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A project with one valid playbook `ok`, links beside it, and a playbook outside the project."""
    (tmp_path / "prefect.yaml").write_text("name: x\n", encoding="utf-8")
    playbooks = tmp_path / "playbooks"
    playbooks.mkdir()
    (playbooks / "ok.yaml").write_text(PLAYBOOK.format(id="ok"), encoding="utf-8")
    (tmp_path / "dehors.yaml").write_text(PLAYBOOK.format(id="dehors"), encoding="utf-8")
    (playbooks / "loop1.yaml").symlink_to("loop2.yaml")
    (playbooks / "loop2.yaml").symlink_to("loop1.yaml")
    (playbooks / "alias.yaml").symlink_to("ok.yaml")
    (playbooks / "dehors.yaml").symlink_to(tmp_path / "dehors.yaml")
    (playbooks / "nulle-part.yaml").symlink_to("absent.yaml")
    return tmp_path


def crisis(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"COLUMNS", "LINES"}}
    return subprocess.run([str(CRISIS), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def refusal(path: Path) -> str:
    with pytest.raises(PlaybookFileError) as caught:
        read_document(path)
    [issue] = caught.value.issues
    return issue.message


def test_a_device_is_refused_without_being_read() -> None:
    assert refusal(Path("/dev/zero")) == "not a regular file (a device, a pipe or a folder): a playbook is a .yaml file"


def test_a_pipe_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "tube.yaml"
    os.mkfifo(fifo)
    found: list[str] = []
    reader = threading.Thread(target=lambda: found.append(refusal(fifo)), daemon=True)
    reader.start()
    reader.join(timeout=10)
    assert found == ["not a regular file (a device, a pipe or a folder): a playbook is a .yaml file"]


def test_a_folder_given_as_a_file_is_refused(tmp_path: Path) -> None:
    assert refusal(tmp_path) == "not a regular file (a device, a pipe or a folder): a playbook is a .yaml file"


def test_validating_the_folder_refuses_each_bad_link_on_one_line(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(root)
    count, issues = validate([root / "playbooks"], Project(root))
    assert count == 6
    assert [str(i) for i in issues] == [
        "playbooks/alias.yaml:1:5: id: id 'ok' must equal the file name 'alias'",
        "playbooks/dehors.yaml:1:1: a link leading outside playbooks/: copy the playbook into playbooks/ instead",
        "playbooks/loop1.yaml:1:1: a link leading round in a loop: point it at a playbook file",
        "playbooks/loop2.yaml:1:1: a link leading round in a loop: point it at a playbook file",
        "playbooks/nulle-part.yaml:1:1: cannot read the file: No such file or directory",
    ]


def test_a_link_is_checked_under_its_own_name_and_its_target_under_its_own(root: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(root)
    project = Project(root)
    with pytest.raises(PlaybookError, match="must equal the file name 'alias'"):
        project.check(root / "playbooks" / "alias.yaml")
    assert project.check(root / "playbooks" / "ok.yaml").playbook.id == "ok"


def test_a_looping_link_given_by_path_is_a_located_refusal_not_a_traceback(root: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(root)
    project = Project(root)
    path = project.playbook_file("playbooks/loop1.yaml")
    with pytest.raises(PlaybookFileError) as caught:
        project.check(path)
    assert [str(i) for i in caught.value.issues] == [
        "playbooks/loop1.yaml:1:1: a link leading round in a loop: point it at a playbook file"]


def test_the_cli_refuses_a_looping_link_in_one_line_and_exits_1(root: Path) -> None:
    for command in (["validate", "playbooks/loop1.yaml"], ["run", "playbooks/loop1.yaml"]):
        done = crisis(*command, cwd=root)
        assert done.returncode == 1, done.stderr
        assert "Traceback" not in done.stderr
        assert "playbooks/loop1.yaml:1:1: a link leading round in a loop: point it at a playbook file" in \
            done.stdout + done.stderr


def test_validating_a_file_that_does_not_exist_exits_1_saying_so(root: Path) -> None:
    done = crisis("validate", "nope", cwd=root)
    assert done.returncode == 1
    assert "no such file or folder: nope" in done.stderr


@pytest.mark.parametrize(("raw", "escaped"), [
    ("gra\u200bvite", "gra\\u200bvite"),  # zero-width space
    ("a\u2060b\u00adc", "a\\u2060b\\xadc"),  # word joiner, soft hyphen
    ("x\U000e0041", "x\\U000e0041"),  # a tag character, beyond the basic plane
    ("\x1b[2J", "\\x1b[2J"),
    ("Crise à Noël", "Crise à Noël"),
])
def test_invisible_format_characters_are_escaped_like_control_characters(raw: str, escaped: str) -> None:
    assert printable(raw) == escaped
    assert show(raw) == f"'{escaped}'"
    assert str(Issue("f.yaml", 1, 2, "inputs", f"unknown input {raw}")) == f"f.yaml:1:2: inputs: unknown input {escaped}"
