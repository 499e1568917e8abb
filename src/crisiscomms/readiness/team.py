"""The team: every role held by named people with someone to stand in, every person reachable, contact details
confirmed recently; every approval chain able to decide without the pack's author."""

from __future__ import annotations

from datetime import date, timedelta

from crisiscomms.communication import approval, notify
from crisiscomms.playbook.communication import Stage
from crisiscomms.playbook.loader import LoadedPlaybook
from crisiscomms.playbook.models import Person, Playbook, Role
from crisiscomms.playbook.rendering import render_text
from crisiscomms.playbook.step_types import MessagePack
from crisiscomms.readiness.report import Item, where


def team_items(loaded: LoadedPlaybook, today: date) -> list[Item]:
    playbook = loaded.playbook
    items: list[Item] = []
    for name, role in playbook.team.items():
        items.append(_backup(loaded, name, role))
        for index, person in enumerate(role.members):
            at = where(loaded, "team", name, "members", index)
            items += [_contact(playbook, name, person, at), _confirmed(playbook, name, person, today, at)]
    return items


def _backup(loaded: LoadedPlaybook, name: str, role: Role) -> Item:
    """Two different people at least between the role and its backup role (names compared as approvals do)."""
    people = ", ".join(person.name for person in role.members)
    subject = f"role {name} ({role.title})"
    holders = {approval.who(person.name) for person in role.members}
    if len(holders) > 1:
        return Item("team", subject, "green", f"held by {people}: each stands in for the others")
    standby = loaded.playbook.team.get(role.backup or "") if role.backup != name else None
    others = [p.name for p in standby.members if approval.who(p.name) not in holders] if standby else []
    if others:
        return Item("team", subject, "green", f"held by {people}; backup: role {role.backup} ({', '.join(others)})")
    why = ("its backup is itself" if role.backup == name else
           f"its backup role {role.backup} is held by the same person" if standby else "no backup")
    return Item("team", subject, "red", f"only {people}, and {why}: if they cannot answer, nobody stands in",
                "add a second member, or `backup: <role>` naming a role held by someone else",
                where(loaded, "team", name))


def _contact(playbook: Playbook, role: str, person: Person, at: str) -> Item:
    member = approval.Member(person.name, role, person.email, person.notify)
    route = notify.route(playbook, member)
    subject = f"{person.name} ({role})"
    if route is None:
        found = f"a phone number only ({person.phone}): the product cannot call" if person.phone else "no contact"
        return Item("team", subject, "red", f"cannot be reached: {found}",
                    "add `email:`, or `notify:` naming an apprise or webhook channel that reaches them", at)
    how = f"by e-mail ({person.email})" if route.kind == "email" else f"through channel {person.notify}"
    return Item("team", subject, "green", f"reached {how}")


def _confirmed(playbook: Playbook, role: str, person: Person, today: date, at: str) -> Item:
    subject = f"{person.name}'s contact details"
    period = timedelta(seconds=playbook.readiness.review_period)
    if person.checked is None:
        return Item("team", subject, "amber", "never confirmed",
                    f"confirm them with {person.name} and write the date: `checked: {today.isoformat()}`", at)
    if person.checked > today:
        return Item("team", subject, "amber", f"confirmed on {person.checked.isoformat()}, a date still to come: a "
                    "typo?", f"write the day they were confirmed: `checked: {today.isoformat()}` at the latest", at)
    if today - person.checked > period:
        return Item("team", subject, "amber", f"stale: last confirmed {person.checked.isoformat()}, more than "
                    f"{period.days} days ago (readiness.review_period)",
                    f"confirm them with {person.name} and update `checked:`", at)
    return Item("team", subject, "green", f"confirmed {person.checked.isoformat()}")


# --- approval chains -------------------------------------------------------------------------------------


def approval_items(loaded: LoadedPlaybook, inputs: dict[str, object]) -> list[Item]:
    """Every stage of every chain: its people (the pack's author left out) can meet its quorum, and its
    escalation role, if any, can too."""
    playbook = loaded.playbook
    authors = _authors(playbook, inputs)
    settings = playbook.communication.approval
    chains = {**{priority: stages for priority, stages in settings.chains.items()},
              **({"default": settings.default} if settings.default else {})}
    items: list[Item] = []
    for priority, stages in chains.items():
        for index, stage in enumerate(stages):
            loc = ("communication", "approval", *(("default",) if priority == "default" else ("chains", priority)),
                   index)
            items.append(_stage(playbook, f"chain {priority}, stage {index + 1}", stage, authors,
                                where(loaded, *loc)))
    if not chains:
        items.append(Item("approval", "approval chains", "red", "no approval chain: no pack can ever be approved",
                          "declare `communication.approval.default` (or `chains`)", where(loaded, "communication")))
    return items


def _stage(playbook: Playbook, subject: str, stage: Stage, authors: set[str], at: str) -> Item:
    roles = ", ".join(stage.roles)
    for author in sorted(authors) or [""]:
        people = approval.members(playbook.team, stage.roles, author)
        if len(people) < stage.quorum:
            return Item("approval", subject, "red", _short(stage, roles, people, author),
                        "add people to these roles, lower the quorum, or have someone else prepare the pack", at)
        if stage.escalate_to:
            standby = approval.members(playbook.team, [stage.escalate_to], author)
            if len(standby) < stage.quorum:
                return Item("approval", subject, "red", f"escalation to {stage.escalate_to} cannot meet the quorum "
                            f"of {stage.quorum} ({len(standby)} possible approver(s)"
                            f"{' besides the author ' + author if author else ''})",
                            "add people to the escalation role or escalate to another", at)
    names = ", ".join(m.name for m in approval.members(playbook.team, stage.roles))
    return Item("approval", subject, "green", f"{roles}: {stage.quorum} of {names}"
                + (f"; escalates to {stage.escalate_to}" if stage.escalate_to else ""))


def _short(stage: Stage, roles: str, people: list[approval.Member], author: str) -> str:
    if author and not people:
        return f"{roles}: only {author}, who prepares the pack and may not approve it (self-approval)"
    return (f"{roles}: quorum {stage.quorum} cannot be met — {len(people)} possible approver(s)"
            + (f" once {author}, who prepares the pack, is left out" if author else ""))


def _authors(playbook: Playbook, inputs: dict[str, object]) -> set[str]:
    """Who prepares the packs, as the message.pack steps say with the playbook's default inputs."""
    found = set()
    for _, _, step in playbook.steps():
        if isinstance(step, MessagePack) and step.author:
            try:
                text = render_text(step.author, {"inputs": inputs}).strip()
            except Exception:  # a template error is validate's to report; here it names nobody
                continue
            if text:
                found.add(text)
    return found
