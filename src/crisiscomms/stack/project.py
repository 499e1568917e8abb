"""A crisiscomms project on disk: playbooks/, templates/, prefect.yaml — and validating it.

The project root is the folder holding `prefect.yaml` and `playbooks/`; commands find it from the
working directory upwards, like git does.
"""

from __future__ import annotations

import errno
import logging
import subprocess
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from crisiscomms.errors import Issue, PlaybookError, ProjectError

if TYPE_CHECKING:  # imported where used: `crisis pending`, `outbox`, `halt` … need the root, not the playbook models
    from crisiscomms.playbook.frozen import FrozenPlaybook
    from crisiscomms.playbook.inspect import Catalog
    from crisiscomms.playbook.loader import LoadedPlaybook
    from crisiscomms.playbook.plan import Plan

log = logging.getLogger(__name__)
PLAYBOOK_SUFFIXES = (".yaml", ".yml")


def find_root(start: Path | None = None) -> Path:
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "prefect.yaml").is_file() and (candidate / "playbooks").is_dir():
            return candidate
    raise ProjectError(f"no crisiscomms project (prefect.yaml + playbooks/) in {here} or above it")


@dataclass
class Project:
    root: Path
    _cache: dict[Path, LoadedPlaybook | PlaybookError] = field(default_factory=dict, repr=False)
    _checked: dict[Path, list[Issue]] = field(default_factory=dict, repr=False)

    @classmethod
    def find(cls, start: Path | None = None) -> Project:
        return cls(find_root(start))

    @property
    def playbooks_dir(self) -> Path:
        return self.root / "playbooks"

    @property
    def templates_dir(self) -> Path:
        return self.root / "templates"

    @cached_property
    def catalog(self) -> Catalog:
        from crisiscomms.playbook.inspect import Catalog

        return Catalog(self.templates_dir, self._loaded_or_none)

    def playbook_ids(self) -> list[str]:
        return sorted(p.stem for p in playbook_files(self.playbooks_dir))

    def path_of(self, playbook_id: str) -> Path:
        for suffix in PLAYBOOK_SUFFIXES:
            path = self.playbooks_dir / f"{playbook_id}{suffix}"
            if path.is_file():
                return path
        raise ProjectError(f"no playbook '{playbook_id}' in {self.playbooks_dir} "
                           f"(available: {', '.join(self.playbook_ids()) or 'none'})")

    def playbook_file(self, reference: str) -> Path:
        """The file of a playbook given by id (`rappel-produit`) or by path (`playbooks/rappel-produit.yaml`).

        A path must lead into the project's playbooks/ folder: runs, deployments and `playbook.call` find a
        playbook there by its id, so a file anywhere else could be checked but never run as itself.
        """
        if "/" not in reference and "\\" not in reference and not reference.endswith(PLAYBOOK_SUFFIXES):
            return self.path_of(reference)
        path = Path.cwd() / Path(reference).expanduser()  # the file as listed: a link is judged by check()
        if path.parent.resolve() != self.playbooks_dir.resolve():
            raise ProjectError(f"{reference}: not in this project's playbooks/ folder ({self.playbooks_dir}): a "
                               "playbook runs from there, by its id; move or copy the file there")
        path = path.parent.resolve() / path.name
        if path.suffix not in PLAYBOOK_SUFFIXES or not (path.is_file() or path.is_symlink()):
            raise ProjectError(f"{reference}: no such playbook file in {self.playbooks_dir} "
                               f"(available: {', '.join(self.playbook_ids()) or 'none'})")
        return path

    def load(self, playbook_id: str) -> LoadedPlaybook:
        """The playbook, checked: raises PlaybookError with every issue if it is not usable."""
        return self.check(self.path_of(playbook_id))

    def plan(self, loaded: LoadedPlaybook) -> Plan:
        from crisiscomms.playbook.plan import build_plan

        return build_plan(loaded.playbook, self.templates_dir)

    def freeze(self, playbook_id: str) -> FrozenPlaybook:
        """What a run uses from start to end: the playbook read, checked and planned once."""
        from crisiscomms.playbook.frozen import FrozenPlaybook

        loaded = self.load(playbook_id)
        return FrozenPlaybook(loaded, self.plan(loaded), self.catalog, self.root)

    def parsed(self, playbook_id: str) -> LoadedPlaybook:
        """The playbook read and validated as data (its model), without the checks across files (templates,
        sub-playbooks): what a Run form needs of it. Raises PlaybookError if it does not parse."""
        loaded = self._parse(self.path_of(playbook_id))
        if isinstance(loaded, PlaybookError):
            raise loaded
        return loaded

    def check(self, path: Path) -> LoadedPlaybook:
        """The file parsed and inspected, once per Project: a run makes one Project and reads each file once."""
        from crisiscomms.playbook.inspect import inspect_playbook

        loaded = self._parse(path)
        if isinstance(loaded, PlaybookError):
            raise loaded
        if loaded.path not in self._checked:
            self._checked[loaded.path] = inspect_playbook(loaded, self.catalog)
        if self._checked[loaded.path]:
            raise PlaybookError(self._checked[loaded.path])
        return loaded

    def _parse(self, path: Path) -> LoadedPlaybook | PlaybookError:
        """Parsed once per file as listed (a link is not its target: its name must be the id it holds)."""
        from crisiscomms.errors import PlaybookFileError
        from crisiscomms.playbook.loader import load_playbook

        path = path.parent.resolve() / path.name
        if path not in self._cache:
            shown = str(Path(self.display(path.parent)) / path.name)
            try:
                real = path.resolve(strict=True)
                if path.is_symlink() and path.parent == self.playbooks_dir.resolve() and \
                        not real.is_relative_to(path.parent):
                    raise PlaybookFileError([Issue(shown, 1, 1, "", "a link leading outside playbooks/: copy the "
                                                   "playbook into playbooks/ instead")])
                self._cache[path] = load_playbook(path, shown)
            except PlaybookError as exc:
                self._cache[path] = exc
            except (OSError, RuntimeError) as exc:  # a link to nowhere, or links leading round in a loop
                loop = isinstance(exc, RuntimeError) or getattr(exc, "errno", None) == errno.ELOOP
                why = "a link leading round in a loop: point it at a playbook file" if loop else \
                    f"cannot read the file: {getattr(exc, 'strerror', exc)}"
                self._cache[path] = PlaybookFileError([Issue(shown, 1, 1, "", why)])
        return self._cache[path]

    def _loaded_or_none(self, playbook_id: str) -> LoadedPlaybook | None:
        try:
            found = self._parse(self.path_of(playbook_id))
        except ProjectError:
            return None
        return None if isinstance(found, PlaybookError) else found

    def display(self, path: Path) -> str:
        try:
            return str(path.resolve().relative_to(Path.cwd().resolve()))
        except ValueError:
            return str(path)


def playbook_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix in PLAYBOOK_SUFFIXES and p.is_file())


def validate(paths: list[Path], project: Project) -> tuple[int, list[Issue]]:
    """Check files and folders of playbooks; return how many files were read and every issue."""
    files: list[Path] = []
    for given in paths:
        # A folder's playbooks as listed, links leading nowhere or round in a loop too: refused, never skipped.
        broken = [f for f in given.iterdir() if f.suffix in PLAYBOOK_SUFFIXES and f.is_symlink() and not f.exists()
                  ] if given.is_dir() else []
        files += sorted({*playbook_files(given), *broken}) if given.is_dir() else [given]
    issues: list[Issue] = []
    for file in files:
        try:
            project.check(file)
        except PlaybookError as exc:
            issues += exc.issues
    return len(files), issues


def git_revision(path: Path) -> str:
    """The commit of `path` (with `+dirty` if it differs from it), or `unversioned`."""
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=path.parent, capture_output=True, text=True, timeout=10)
        return done.stdout.strip() if done.returncode == 0 else ""

    try:
        commit = git("log", "-1", "--format=%H", "--", path.name)
        dirty = git("status", "--porcelain", "--", path.name)
    except (OSError, subprocess.SubprocessError):
        return "unversioned"
    if not commit:
        return "unversioned"
    return f"{commit}+dirty" if dirty else commit
