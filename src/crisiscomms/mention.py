"""Records of monitoring: what a source reads, what enrichment adds, what is set aside, what is raised.

Input format (JSONL, one object a line; the format of the bundled CrisisLex data):
    id, created_at (ISO 8601), text, and optional author, channel, url, lang; other fields ignored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import TypedDict

AlertLevel = Literal["watch", "alert", "crisis"]
AlertKind = Literal["volume", "negative", "data_gap"]


class Entity(TypedDict):
    """A named entity; `start`/`end` are character offsets in the text: text[start:end] == entity text."""

    text: str
    label: str  # PER, ORG, LOC, MISC, PRODUCT
    start: int
    end: int


class _Post(BaseModel):
    """Fields a mention keeps from its source to its analysis."""

    id: str
    created_at: datetime
    text: str
    author: str | None = None
    channel: str | None = None
    url: str | None = None
    source: str | None = None
    reach: int | None = Field(None, ge=0, le=10**12, description="Followers or views, when the source gives them")


class Mention(_Post):
    """One post, article or message about the watched subject, as a source delivers it."""

    # Numeric ids are common in exports (tweet ids): accept them, keep them as text.
    model_config = ConfigDict(frozen=True, extra="ignore", coerce_numbers_to_str=True)

    lang: str | None = None


class EnrichedMention(_Post):
    """A mention after analysis; one line of `crisis monitor --out`."""

    model_config = ConfigDict(frozen=True)

    lang: str = Field(description="ISO 639-1 code, or `und` when undetermined")
    analysed: bool = Field(description="False for languages the playbook does not analyse")
    sentiment: float | None = Field(None, ge=-1, le=1, description="−1..1; null when not analysed")
    keywords: list[str] = Field(default_factory=list)
    hashtags: list[str] = Field(default_factory=list)
    handles: list[str] = Field(default_factory=list)
    relevance: float = Field(ge=0, le=1, description="How likely the mention is about the watched subject")
    entities: list[Entity] = Field(default_factory=list, description="People, organisations, places, products")
    segment: str = Field("unassigned", description="The audience the mention comes from (playbook `audiences`)")
    segment_reason: str = ""


class Quarantined(BaseModel):
    """A record that could not be processed, kept with why (nothing read is ever dropped silently)."""

    model_config = ConfigDict(frozen=True)

    source: str
    position: str = Field(description="Where it was read: `file.jsonl:12`, a URL and page, an item id")
    reasons: list[str]
    raw: str = Field(description="The record as read (truncated to 2 000 characters)")


class Alert(BaseModel):
    """A detected change worth a human look; one line of `crisis monitor --alerts`."""

    model_config = ConfigDict(frozen=True)

    kind: AlertKind
    level: AlertLevel
    window_start: datetime
    window_end: datetime
    volume: int
    baseline: float
    score: float
    negative_share: float | None = None
    top_keywords: list[tuple[str, int]] = Field(default_factory=list)
    top_hashtags: list[tuple[str, int]] = Field(default_factory=list)
    samples: list[dict[str, Any]] = Field(default_factory=list)
    reason: str = ""
