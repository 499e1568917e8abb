"""The readiness report (`crisis ready`): each defect a team can leave in its playbook is its own red or amber item
with its fix and where it is; the shipped scenarios are green; checking channels publishes nothing."""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from crisiscomms.readiness import channels as readiness_channels
from crisiscomms.readiness.check import readiness
from crisiscomms.readiness.clearance import clear, template_hash
from crisiscomms.readiness.report import Item, Readiness, markdown
from crisiscomms.stack.project import Project
from tests.unit.receivers import HttpReceiver, SmtpReceiver, free_port
from tests.unit.release_packs import DEMO_FACTS_EN

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
SHIPPED = sorted(path.stem for path in (ROOT / "playbooks").glob("*.yaml"))


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    root = tmp_path / "project"
    for part in ("playbooks", "templates", "data/demo", "data/drills"):  # the scenarios' sources are their replays
        shutil.copytree(ROOT / part, root / part)
    shutil.copy(ROOT / "prefect.yaml", root / "prefect.yaml")
    monkeypatch.delenv("CRISIS_STATE_DIR", raising=False)
    return Project(root)


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpReceiver]:
    with SmtpReceiver() as server:
        monkeypatch.setenv("CRISIS_SMTP_HOST", server.host)
        monkeypatch.setenv("CRISIS_SMTP_PORT", str(server.port))
        yield server


def check(project: Project, playbook: str, probe: bool = True) -> Readiness:
    loaded = project.check(project.playbook_file(playbook))
    return readiness(loaded, project.root, project.templates_dir, project.root / ".crisis" / "outbox", NOW,
                     probe=probe)


@pytest.mark.parametrize("playbook", SHIPPED)
def test_every_shipped_scenario_is_green_and_checking_it_sends_nothing(
        project: Project, smtp: SmtpReceiver, playbook: str) -> None:
    report = check(project, playbook)
    assert [i for i in report.items if i.status != "green"] == [] and report.status == "green"
    assert smtp.counts() == {}  # connected, greeted, NOOP: no message
    assert not [path for path in (project.root / ".crisis").rglob("*") if path.is_file()]


def broken(project: Project, monkeypatch: pytest.MonkeyPatch) -> str:
    """rappel-produit with one of each defect; `crisis validate` passes it: none of them is a schema error."""
    data: dict[str, Any] = yaml.safe_load((project.playbooks_dir / "rappel-produit.yaml").read_text("utf-8"))
    data["id"] = "casse"
    team = data["team"]
    del team["qualite"]["backup"]  # missing backup
    del team["juridique"]["members"][0]["email"]  # unreachable: no contact at all
    team["porte_parole"]["members"][0]["checked"] = "2025-01-15"  # stale contact
    data["channels"]["alerte"] = {"kind": "webhook", "url_env": "CRISIS_TEST_CLOSED", "audiences": ["salaries"]}
    data["channels"]["teams"] = {"kind": "webhook", "url_env": "CRISIS_TEST_UNSET", "audiences": ["salaries"]}
    monkeypatch.setenv("CRISIS_TEST_CLOSED", f"http://127.0.0.1:{free_port()}/hook")  # nothing listens there
    monkeypatch.delenv("CRISIS_TEST_UNSET", raising=False)  # the secret was never set
    data["communication"]["facts"]["translations"] = {"en": DEMO_FACTS_EN}  # the FAQ below is also in English
    data["communication"]["messages"] += [
        {"kind": "faq", "audiences": ["clients"], "channels": ["site_web"], "languages": ["fr", "en"]},
        {"kind": "internal_memo", "audiences": ["salaries"], "channels": ["alerte", "teams"]},
    ]
    english = project.templates_dir / "messages" / "faq.clients.en.md.j2"  # fails in English only
    english.write_text((project.templates_dir / "messages" / "faq.en.md.j2").read_text("utf-8")
                       + "\n## Next steps\n\nTODO\n", encoding="utf-8")
    chains = data["communication"]["approval"]["chains"]
    chains["p4"] = [{"roles": ["service_client"]}]  # only Emma Girard, who prepares the pack: self-approval
    chains["p3"] = [{"roles": ["service_client", "qualite"], "quorum": 2},  # 2 of 2, the author one of them
                    {"roles": ["juridique", "direction_generale"], "quorum": 2, "escalate_to": "porte_parole"}]
    (project.playbooks_dir / "casse.yaml").write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False),
                                                       encoding="utf-8")
    return "casse"


def one(report: Readiness, status: str, subject: str, finding: str) -> Item:
    found = [i for i in report.items if i.subject.startswith(subject) and finding in i.finding]
    assert len(found) == 1, [i for i in report.items if i.status != "green"]
    assert found[0].status == status and (status == "green" or found[0].fix), found[0]
    return found[0]


def test_each_seeded_defect_is_its_own_item_with_its_fix_and_where_it_is(
        project: Project, smtp: SmtpReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    report = check(project, broken(project, monkeypatch))
    file, line = one(report, "red", "role qualite", "no backup").where.rsplit(":", 1)
    assert Path(file).read_text("utf-8").splitlines()[int(line) - 1].strip() == "qualite:"
    assert "no contact" in one(report, "red", "Sophie Lefèvre (juridique)", "cannot be reached").finding
    assert "2025-01-15" in one(report, "amber", "Julien Roche's contact", "stale").finding
    language = one(report, "red", "faq for clients on site_web (en)", "placeholder")
    assert "faq.clients.en.md.j2" in language.fix
    assert not [i for i in report.items if i.subject == "faq for clients on site_web (fr)"]  # French renders
    one(report, "red", "channel alerte (webhook)", "not reachable")
    assert "CRISIS_TEST_UNSET" in one(report, "red", "channel teams (webhook)", "secret missing").fix
    assert "self-approval" in one(report, "red", "chain p4, stage 1", "Emma Girard").finding
    one(report, "red", "chain p3, stage 1", "quorum 2 cannot be met")
    one(report, "red", "chain p3, stage 2", "escalation to porte_parole")
    assert report.status == "red"
    assert smtp.counts() == {}


def test_a_channel_is_checked_with_a_request_that_publishes_nothing(
        project: Project, smtp: SmtpReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    data: dict[str, Any] = yaml.safe_load((project.playbooks_dir / "rappel-produit.yaml").read_text("utf-8"))
    data["channels"]["intranet"] = {"kind": "webhook", "url_env": "CRISIS_TEST_HOOK", "audiences": ["salaries"]}
    (project.playbooks_dir / "rappel-produit.yaml").write_text(yaml.safe_dump(data, allow_unicode=True),
                                                                encoding="utf-8")
    with HttpReceiver() as hook:
        monkeypatch.setenv("CRISIS_TEST_HOOK", hook.url)
        report = check(project, "rappel-produit")
    item = one(report, "green", "channel intranet (webhook)", "a server answers")
    assert hook.url not in item.finding and "CRISIS_TEST_HOOK" in item.finding  # where the URL is, never the URL
    assert hook.counts() == {} and smtp.counts() == {}


def test_without_probes_channels_are_amber_not_checked(project: Project, smtp: SmtpReceiver) -> None:
    report = check(project, "rappel-produit", probe=False)
    assert {i.subject for i in report.items if i.status == "amber"} == {
        "channel email_partenaires (email)", "approval requests by e-mail"}


def test_the_report_reads_red_first_and_the_cli_fails_on_red(
        project: Project, smtp: SmtpReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    name = broken(project, monkeypatch)
    text = markdown(check(project, name))
    assert text.startswith("# Readiness of casse v1.0.0: 🔴 red")
    assert text.index("🔴 | role qualite") < text.index("🟢 | role direction_communication")
    done = subprocess.run([sys.executable, "-m", "crisiscomms.stack.cli", "ready", name, "--no-probe", "--json"],
                          cwd=project.root, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    data = json.loads(done.stdout)
    assert data["status"] == "red" and data["counts"]["red"] >= 6
    written = project.root / ".crisis" / "readiness"
    assert sorted(p.name for p in written.iterdir()) == ["casse.json", "casse.md"]


# --- legal clearance of templates ---------------------------------------------------------------------------


def clearance(report: Readiness, template: str) -> Item:
    (item,) = [i for i in report.items if i.area == "clearance" and i.subject == template]
    return item


def test_an_edit_of_a_cleared_template_voids_its_clearance_until_it_is_cleared_again(
        project: Project, smtp: SmtpReceiver) -> None:
    name = "messages/press_release.fr.md.j2"
    assert "cleared by Sophie Lefèvre" in clearance(check(project, "rappel-produit"), name).finding
    path = project.templates_dir / name
    path.write_text(path.read_text("utf-8").replace("Nous", "Nous, avec regret,", 1), encoding="utf-8")
    voided = clearance(check(project, "rappel-produit"), name)
    assert voided.status == "red" and "voided: edited since Sophie Lefèvre" in voided.finding
    assert f"crisis clear {name} --by NAME" in voided.fix
    clear(project.templates_dir, name, "Sophie Lefèvre, Direction juridique", NOW.date())
    assert clearance(check(project, "rappel-produit"), name).status == "green"


def test_an_edit_of_a_template_it_includes_voids_the_clearance_too(project: Project) -> None:
    (project.templates_dir / "messages" / "legal.md.j2").write_text("Mentions légales.\n", encoding="utf-8")
    name = "messages/with_notice.fr.md.j2"
    (project.templates_dir / name).write_text('# Objet\n\n{% include "messages/legal.md.j2" %}\n', encoding="utf-8")
    before = template_hash(project.templates_dir, name)
    (project.templates_dir / "messages" / "legal.md.j2").write_text("Mentions légales, revues.\n", encoding="utf-8")
    assert template_hash(project.templates_dir, name) != before


def test_a_clearance_older_than_the_review_period_is_stale_and_a_missing_one_is_red(
        project: Project, smtp: SmtpReceiver) -> None:
    clear(project.templates_dir, "messages/correction.fr.md.j2", "Sophie Lefèvre", date(2025, 1, 10))
    record = project.templates_dir / "clearances.yaml"
    record.write_text(record.read_text("utf-8").replace("- template: messages/press_release.fr.md.j2",
                                                          "- template: messages/autre.fr.md.j2"), encoding="utf-8")
    report = check(project, "rappel-produit")
    stale = clearance(report, "messages/correction.fr.md.j2")
    assert stale.status == "amber" and "2025-01-10, longer ago than readiness.review_period" in stale.finding
    missing = clearance(report, "messages/press_release.fr.md.j2")
    assert missing.status == "red" and missing.finding.startswith("not cleared")


def test_a_clearance_record_that_is_not_yaml_is_red_naming_its_line(project: Project, smtp: SmtpReceiver) -> None:
    (project.templates_dir / "clearances.yaml").write_text("- template: x\n  by: [unclosed\n", encoding="utf-8")
    (item,) = [i for i in check(project, "rappel-produit").items if i.area == "clearance"]
    assert item.status == "red" and item.finding.startswith("templates/clearances.yaml:") and "not YAML" in item.finding


# --- what a hostile playbook or setting cannot do to the report --------------------------------------------------


def edited(project: Project, change: Any) -> str:
    data: dict[str, Any] = yaml.safe_load((project.playbooks_dir / "rappel-produit.yaml").read_text("utf-8"))
    change(data)
    (project.playbooks_dir / "rappel-produit.yaml").write_text(yaml.safe_dump(data, allow_unicode=True),
                                                                encoding="utf-8")
    return "rappel-produit"


def test_a_backup_that_is_the_role_itself_or_the_same_person_is_no_backup(project: Project,
                                                                          smtp: SmtpReceiver) -> None:
    def change(data: dict[str, Any]) -> None:
        data["team"]["juridique"]["backup"] = "juridique"
        data["team"]["qualite_bis"] = {"title": "Qualité (astreinte)", "backup": "qualite",
                                       "members": [{"name": "karim  BENALI", "email": "k@example.org",
                                                    "checked": "2026-11-30"}]}
    report = check(project, edited(project, change))
    one(report, "red", "role juridique", "its backup is itself")
    one(report, "red", "role qualite_bis", "held by the same person")


def test_a_confirmation_date_still_to_come_is_a_typo(project: Project, smtp: SmtpReceiver) -> None:
    report = check(project, edited(project, lambda d: d["team"]["juridique"]["members"][0].update(
        checked="2099-01-01")))
    one(report, "amber", "Sophie Lefèvre's contact", "a date still to come")


def test_a_name_cannot_break_the_report_table_or_the_terminal(project: Project, smtp: SmtpReceiver) -> None:
    report = check(project, edited(project, lambda d: d["team"]["juridique"]["members"][0].update(
        name="A | B\r\n# heading\n| x \x1b[31mred", email=None)))
    text = markdown(report)
    line = next(row for row in text.splitlines() if "cannot be reached" in row)
    assert "A \\| B" in line and "\\x1b" in line and "\x1b" not in text and "\r" not in text
    assert not any(row.startswith("# heading") for row in text.splitlines())


def test_a_failing_message_points_at_its_own_entry_and_a_length_problem_at_the_channel(
        project: Project, smtp: SmtpReceiver) -> None:
    report = check(project, edited(project, lambda d: d["channels"]["email_partenaires"].update(max_length=10)))
    item = one(report, "red", "update for distributeurs on email_partenaires (fr)", "the channel allows 10")
    assert "raise channel email_partenaires's `max_length`" in item.fix
    file, line = item.where.rsplit(":", 1)
    entry = Path(file).read_text("utf-8").splitlines()[int(line) - 1:int(line) + 7]  # the message's own entry
    assert "kind: update" in "\n".join(entry) and "email_partenaires" in "\n".join(entry), entry


@pytest.mark.parametrize(("variable", "value"), [("CRISIS_SMTP_PORT", "²"), ("CRISIS_SMTP_HOST", "exämple..com")])
def test_an_smtp_setting_python_cannot_use_is_a_red_item_not_a_traceback(
        project: Project, monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.setenv("CRISIS_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv(variable, value)
    report = check(project, "rappel-produit")
    (item,) = [i for i in report.items if i.subject == "approval requests by e-mail"]
    assert item.status == "red"


def test_a_server_that_answers_a_byte_at_a_time_is_red_within_the_deadline(
        project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        stop = threading.Event()

        def drip() -> None:
            while not stop.is_set():
                try:
                    server.settimeout(0.5)
                    peer, _ = server.accept()
                except OSError:
                    continue
                while not stop.wait(1.0):
                    with contextlib.suppress(OSError):
                        peer.send(b"2")
        threading.Thread(target=drip, daemon=True).start()
        monkeypatch.setattr(readiness_channels, "PROBE_DEADLINE", 3.0)
        monkeypatch.setenv("CRISIS_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("CRISIS_SMTP_PORT", str(server.getsockname()[1]))
        started = time.monotonic()
        report = check(project, "rappel-produit")
        stop.set()
    assert time.monotonic() - started < 15
    (item,) = [i for i in report.items if i.subject == "approval requests by e-mail"]
    assert item.status == "red" and "no complete answer within 3 s" in item.finding


def test_a_corrupt_monitoring_store_is_one_red_item_and_the_report_is_still_written(
        project: Project, smtp: SmtpReceiver) -> None:
    def rss(data: dict[str, Any]) -> None:
        data["monitoring"]["sources"].append({"id": "presse", "type": "rss", "url": "http://127.0.0.1:9/feed"})
    name = edited(project, rss)
    (project.root / ".crisis").mkdir(exist_ok=True)
    (project.root / ".crisis" / "monitoring.db").write_bytes(b"not a database" * 100)
    report = check(project, name)
    (item,) = [i for i in report.items if i.area == "monitoring" and i.status == "red"]
    assert "not a readable monitoring store" in item.finding
    assert [i for i in report.items if i.area == "actions"]  # the areas after it were checked
