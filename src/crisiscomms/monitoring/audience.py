"""Audience segmentation: every mention gets exactly one audience of the playbook, and the reason why.

Who speaks is the author, or for a retweet ("RT @afpfr: …") the retweeted author: the crowd, and a comms team,
care about where the words come from, not who relayed them.

Evidence is weighed by kind, strongest first, and the first kind that matches decides:

    1. authors          the speaker's handle is listed                      (@afpfr)
    2. author_contains  the speaker's handle contains a listed part         (news, police, gouv)
    3. channels         the mention's channel or source id is listed        (presse, intranet)
    4. entities         the text names a listed entity                      (ARS, Croix-Rouge)
    5. keywords         the text has a listed word or phrase                (selon nos informations)
    6. links            the text carries a link (http://, https://, www.)   (links: true)

Links are the weakest evidence: headlines come with a link to the article and people mostly write without one,
but people share links too (measured on crowd-labelled crisis tweets: bench/README.md, "Audience and relevance").

Within one kind, the audience written first in the playbook wins. A mention nothing claims goes to the
`default: true` audience (or `unassigned` when the playbook names none). Terms compare case- and accent-blind;
keywords follow the watchlist's whole-word rules (crisiscomms.monitoring.watchlist).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from crisiscomms.monitoring.watchlist import ANY, Prepared, compile_watchlist, fold
from crisiscomms.playbook.assessment import AudienceRules
from crisiscomms.playbook.models import Audience
from crisiscomms.playbook.monitoring import Watchlist

UNASSIGNED = "unassigned"
# "RT @afpfr: …", "RT @afpfr …", also after a quote mark or a leading space.
_RETWEET = re.compile(r"^\W{0,3}RT\s+@(\w+)", re.IGNORECASE)
_LINK = re.compile(r"\b(?:https?://|www\.)\S", re.IGNORECASE)


@dataclass(frozen=True)
class Segment:
    audience: str
    reason: str


def speaker(author: str | None, text: str) -> tuple[str | None, str]:
    """(handle without @, how we know) of whoever the words come from; (None, "") when unknown."""
    retweet = _RETWEET.match(text or "")
    if retweet:
        return retweet.group(1), "retweeted author"
    handle = (author or "").strip().lstrip("@").strip()
    return (handle, "author") if handle else (None, "")


class Segmenter:
    """The playbook's audience rules, compiled once; `segment()` is pure and cheap (one pass over the text)."""

    def __init__(self, audiences: Mapping[str, Audience]) -> None:
        self.default = next((name for name, a in audiences.items() if a.default), UNASSIGNED)
        ruled = [(name, a.match) for name, a in audiences.items() if a.match is not None]
        rules: list[tuple[str, AudienceRules]] = [(n, r) for n, r in ruled if r is not None]
        self._authors = _first_claim((n, [t.strip().lstrip("@") for t in r.authors]) for n, r in rules)
        self._parts = [(n, fold(part)) for n, r in rules for part in r.author_contains if part.strip()]
        self._channels = _first_claim((n, r.channels) for n, r in rules)
        self._entities = _first_claim((n, r.entities) for n, r in rules)
        self._keyword_owner = _first_claim((n, list(r.keywords)) for n, r in rules)
        self._order = {name: i for i, name in enumerate(audiences)}
        self._links = next((name for name, r in rules if r.links), None)
        keywords = [k for _, r in rules for k in r.keywords]
        self._keywords = compile_watchlist({ANY: Watchlist(keywords=keywords)}) if keywords else None

    def segment(self, text: str, author: str | None = None, channel: str | None = None,
                source: str | None = None, entities: Sequence[str] = (), lang: str = "und",
                prepared: Prepared | None = None) -> Segment:
        """The audience of the strongest evidence found, or the default one (`prepared`: the text already
        prepared for the watchlist, so keywords cost only lookups)."""
        return (
            self._by_speaker(text, author)
            or self._by_channel(channel, source)
            or self._by_entity(entities)
            or self._by_keyword(text, lang, prepared)
            or self._by_link(text)
            or Segment(self.default, "no rule matched: default audience")
        )

    def _by_speaker(self, text: str, author: str | None) -> Segment | None:
        handle, role = speaker(author, text)
        if not handle:
            return None
        folded = fold(handle)
        if folded in self._authors:
            return Segment(self._authors[folded], f"{role} @{handle} is listed")
        for name, part in self._parts:
            if part in folded:
                return Segment(name, f"{role} @{handle} contains '{part}'")
        return None

    def _by_channel(self, channel: str | None, source: str | None) -> Segment | None:
        for where in (channel, source):
            if where and (name := self._channels.get(fold(where.strip()))):
                return Segment(name, f"channel '{where}' is listed")
        return None

    def _by_entity(self, entities: Sequence[str]) -> Segment | None:
        for entity in entities:
            if name := self._entities.get(fold(entity.strip())):
                return Segment(name, f"names the entity '{entity}'")
        return None

    def _by_keyword(self, text: str, lang: str, prepared: Prepared | None) -> Segment | None:
        if self._keywords is None:
            return None
        found = self._keywords.keywords(text, lang, prepared)
        claims = [(self._order[self._keyword_owner[fold(k)]], k) for k in found if fold(k) in self._keyword_owner]
        if not claims:
            return None
        _, keyword = min(claims)
        return Segment(self._keyword_owner[fold(keyword)], f"says '{keyword}'")

    def _by_link(self, text: str) -> Segment | None:
        if self._links and _LINK.search(text or ""):
            return Segment(self._links, "shares a link")
        return None


def _first_claim(claims: Iterable[tuple[str, list[str]]]) -> dict[str, str]:
    """Folded term → the first audience that lists it (playbook order decides ties)."""
    owner: dict[str, str] = {}
    for name, terms in claims:
        for term in terms:
            if term.strip():
                owner.setdefault(fold(term.strip()), name)
    return owner
