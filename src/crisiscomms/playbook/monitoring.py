"""The `monitoring:` section of a playbook: what to watch, where to read it, how sensitive to be.

    monitoring:
      languages: [fr, en]                 # analysed; others are flagged `analysed: false`
      watch:
        any: {brands: [Laiterie Duval], handles: ["@LaiterieDuval"]}
        fr: {keywords: [rappel, contamination], hashtags: ["#rappelconso"], context: [malades, hospitalisés]}
        en: {keywords: [recall]}
      sources:
        - {id: demo, type: file, path: data/demo/mentions.jsonl}
        - {id: presse, type: rss, url: "https://…/feed.xml"}
      detection: {sensitivity: medium, window: 5m}
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field, field_validator, model_validator

from crisiscomms.playbook.steps import Duration, Name, Spec

Language = Annotated[str, Field(pattern=r"^[a-z]{2}$")]


class Watchlist(Spec):
    """Terms of one language (or `any`): matched accent- and case-insensitively, hashtags/handles whole."""

    keywords: list[str] = Field(default_factory=list, description="Words or phrases announcing a crisis.")
    hashtags: list[str] = Field(default_factory=list, description="With or without the leading #.")
    handles: list[str] = Field(default_factory=list, description="Accounts, with or without the leading @.")
    brands: list[str] = Field(default_factory=list, description="Brand, product and executive names.")
    context: list[str] = Field(default_factory=list, description="Words of any crisis (victims, evacuated, death "
                               "toll): never a match alone; beside a watched term they make the mention more relevant.")


class _Source(Spec):
    id: Name
    title: str = ""
    timeout: Duration = Field(30, description="Seconds before a read counts as failed (`30s`, `2m`).")
    retries: int = Field(3, ge=0, le=10)


MENTION_FIELDS = ("id", "created_at", "text", "author", "channel", "url", "lang", "reach")


def _check_mapping(mapping: dict[str, str]) -> dict[str, str]:
    unknown = sorted(set(mapping) - set(MENTION_FIELDS))
    if unknown:
        raise ValueError(f"mapping keys must be mention fields ({', '.join(MENTION_FIELDS)}); "
                         f"not {', '.join(unknown)}")
    return mapping


class FileSource(_Source):
    """A JSONL or CSV file (path relative to the project), read incrementally as it grows — or, with
    `replay_speed`, replayed as a live stream for a drill (records re-stamped onto the present)."""

    type: Literal["file"]
    path: str
    format: Literal["jsonl", "csv"] = "jsonl"
    mapping: dict[str, str] = Field(default_factory=dict, description="Our field → the file's column.")
    replay_speed: float | None = Field(None, ge=0.001, le=100_000, description="Drill: replay the file as if it "
                                       "happened now, this many times faster (60: an hour of the crisis a minute).")
    settle: Duration = Field(60, ge=1, le=86400, description="A last line without a newline is read once the file "
                             "has not changed for this long (`60s`): its writer has finished it.")

    _mapping = field_validator("mapping")(classmethod(lambda cls, v: _check_mapping(v)))


class RssSource(_Source):
    """An RSS or Atom feed."""

    type: Literal["rss"]
    url: str = Field(pattern=r"^https?://")


class HttpSource(_Source):
    """A JSON endpoint: items under `items` (dotted path), fields through `mapping`, pages by `next`."""

    type: Literal["http"]
    url: str = Field(pattern=r"^https?://")
    items: str = Field("items", description="Dotted path to the list of items in the response (`.`: the "
                       "response itself is the list).")
    mapping: dict[str, str] = Field(default_factory=dict, description="Our field → dotted path in an item.")
    next: str | None = Field(None, description="Dotted path to the next page URL (absent/null: last page).")
    headers_env: dict[str, str] = Field(
        default_factory=dict, description="Header → name of the environment variable holding its value."
    )
    max_pages: int = Field(50, ge=1, le=10_000)

    _mapping = field_validator("mapping")(classmethod(lambda cls, v: _check_mapping(v)))


Source = Annotated[Union[FileSource, RssSource, HttpSource], Field(discriminator="type")]  # noqa: UP007

SENSITIVITY_PRESETS: dict[str, dict[str, float]] = {
    # Tail z-scores (see crisiscomms.monitoring.detection): z 6 ≈ a one-in-a-billion count if nothing were happening.
    # Measured with the default 5-minute windows on five real crisis curves and quiet synthetic streams
    # (bench/README.md, "Detection"). `alert` starts the automated assessment, so it sits one point above `watch`:
    # at 9 (tuned with 1-minute windows) West Texas reached it 12 minutes after its onset and Savar 16 days after.
    "low": {"watch": 7.0, "alert": 8.0, "crisis": 16.0},
    "medium": {"watch": 6.0, "alert": 7.0, "crisis": 14.0},
    "high": {"watch": 5.0, "alert": 6.0, "crisis": 11.0},
}


class Thresholds(Spec):
    watch: float = Field(gt=0)
    alert: float = Field(gt=0)
    crisis: float = Field(gt=0)

    @model_validator(mode="after")
    def _increasing(self) -> Thresholds:
        if not self.watch < self.alert < self.crisis:
            raise ValueError("thresholds must increase: watch < alert < crisis")
        return self


class Detection(Spec):
    """How a spike is told from noise. Explicit `thresholds` override the `sensitivity` preset."""

    sensitivity: Literal["low", "medium", "high"] = "medium"
    thresholds: Thresholds | None = None
    window: Duration = Field(300, description="Window length: `1m`, `5m`, `15m` …")
    baseline: Duration = Field(21600, description="How much normal history the present is compared with (`6h`): "
                               "the latest windows judged normal, however long ago.")
    warmup: Duration = Field(300, description="Stream time seen before any alert can be raised (`5m`): until the "
                             "detector has its own history, `usual_volume` stands in for it.")
    usual_volume: float = Field(10.0, gt=0, le=10_000_000, description="Mentions an hour on an ordinary day. "
                                "Expected while the detector's history is shorter than `baseline` (switched on, or "
                                "in the middle of a crisis), mixed with what it has seen in proportion to that "
                                "history. A busier stream needs it set, or its first hours raise alerts.")
    relearn: Duration = Field(43200, description="Windows judged at watch or above stay out of the baseline, so "
                              "that an ongoing crisis is never learned as normal — until the stream has been "
                              "abnormal this long (`12h`): then its level is the new normal.")
    min_volume: int = Field(5, ge=1, description="No alert below this many mentions in the span judged "
                            "(a window, the last 15 minutes, the last hour).")
    negative_share: float = Field(0.5, gt=0, le=1, description="Share of negative mentions that alerts.")
    cooldown: Duration = Field(1800, description="After an alert, same or lower level is not re-raised for this long.")

    @model_validator(mode="after")
    def _whole_windows(self) -> Detection:
        if self.baseline < 3 * self.window:
            raise ValueError("the baseline must span at least 3 windows")
        return self

    @property
    def baseline_windows(self) -> int:
        return self.baseline // self.window

    @property
    def warmup_windows(self) -> int:
        return max(1, self.warmup // self.window)

    @property
    def usual_per_window(self) -> float:
        """`usual_volume` as mentions per window."""
        return self.usual_volume * self.window / 3600

    def levels(self) -> Thresholds:
        return self.thresholds or Thresholds(**SENSITIVITY_PRESETS[self.sensitivity])


class Gate(Spec):
    """Data-quality bounds of the Great Expectations gate on every batch."""

    min_text_length: int = Field(1, ge=0)
    max_text_length: int = Field(10_000, ge=1)
    max_future_skew: Duration = Field(300, description="Tolerated clock skew for timestamps in the future.")
    max_age: Duration = Field(30 * 86400, ge=60, description="Mentions older than this when read are quarantined "
                              "`too_old` (`30d`): an old post resurfacing is not today's volume.")
    collapse_ratio: float = Field(0.1, ge=0, le=1, description="Batch volume below this share of the baseline "
                                  "raises a data-gap alert.")
    languages: list[str] = Field(default_factory=list, description="Known declared languages (empty: any ISO 639-1).")


class Monitoring(Spec):
    languages: list[Language] = Field(default_factory=lambda: ["fr", "en"], description="Languages analysed.")
    watch: dict[str, Watchlist] = Field(default_factory=dict, description="Per language code, or `any`.")
    sources: list[Source] = Field(default_factory=list)
    detection: Detection = Field(default_factory=Detection)
    gate: Gate = Field(default_factory=Gate)
    entities: bool = Field(True, description="Extract named entities (spaCy) from analysed mentions.")
    batch: int = Field(5000, ge=100, le=200_000, description="Records a scheduled pass reads, gates and commits at "
                       "a time: a backlog is worked through in bounded memory, each batch kept once done.")
    processes: int = Field(1, ge=1, le=64, description="Processes enriching a large batch (≥ 2 pays on "
                           "batches of thousands of mentions with as many free cores).")
