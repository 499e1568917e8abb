"""readiness.check: the readiness report of the run's playbook, as an artifact and a file."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from crisiscomms import clock
from crisiscomms.errors import CrisisError
from crisiscomms.monitoring.store import state_dir
from crisiscomms.playbook.context import StepContext
from crisiscomms.playbook.loader import LoadedPlaybook, load_playbook
from crisiscomms.playbook.readiness_steps import ReadinessCheck, ReadinessRecord
from crisiscomms.playbook.yamlfile import Document
from crisiscomms.readiness.check import readiness
from crisiscomms.readiness.report import markdown, write
from crisiscomms.stack.project import Project
from tasks.release import read_secret


@task(name="readiness.check", persist_result=True)
def check_readiness(step: ReadinessCheck, context: StepContext) -> ReadinessRecord:
    return publish(_located(context), Path(context.root), step.probe, step.fail_on_red)


@task(name="readiness.report")
def report_readiness(playbook: str, root: str, probe: bool = True, fail_on_red: bool = False) -> ReadinessRecord:
    """The `readiness` deployment's one task: the playbook as it is now in the project."""
    project = Project(Path(root))
    return publish(project.check(project.playbook_file(playbook)), project.root, probe, fail_on_red)


def publish(loaded: LoadedPlaybook, root: Path, probe: bool, fail_on_red: bool) -> ReadinessRecord:
    """Check, write `.crisis/readiness/<id>.md|json`, publish the Markdown artifact; fail on red if asked."""
    state = state_dir(root)
    playbook = loaded.playbook.id
    report = readiness(loaded, root, root / "templates", state / "outbox", clock.now(), read_secret, probe)
    path = write(state / "readiness", report)
    create_markdown_artifact(markdown(report), key=f"{playbook}-readiness".replace("_", "-").lower(),
                             description=f"{playbook}: readiness report ({report.status})")
    get_run_logger().info("readiness of %s: %s (%d red, %d amber) — %s", playbook, report.status,
                          report.count("red"), report.count("amber"), path)
    if fail_on_red and report.status == "red":
        raise CrisisError(f"{playbook} is not ready: {report.count('red')} red item(s), see {path}")
    return ReadinessRecord(status=report.status, red=report.count("red"), amber=report.count("amber"),
                           green=report.count("green"), report=str(path),
                           items=[{k: str(v) for k, v in asdict(item).items()}
                                  for item in report.items if item.status != "green"])


def _located(context: StepContext) -> LoadedPlaybook:
    """The run's own playbook, with the lines of its file when the file is still the one the run loaded."""
    source = Path(context.source)
    display = str(source.relative_to(context.root)) if source.is_relative_to(context.root) else str(source)
    try:
        loaded = load_playbook(source, display)
    except (CrisisError, OSError):
        loaded = None
    if loaded is not None and loaded.sha256 == context.sha256:
        return LoadedPlaybook(context.playbook, loaded.document, source, context.sha256)
    return LoadedPlaybook(context.playbook, Document(str(source), None), source, context.sha256)
