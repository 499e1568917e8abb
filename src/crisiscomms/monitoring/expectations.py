"""The Great Expectations suite `mention-batch`, run on each batch as read (the only Great Expectations import).

One row a record read, valid or not: what the records could not show one by one — the volume against the
baseline, null rates per column, the range of timestamps, text lengths, duplicate ids, garbled encodings. The
suite is built once per process in an ephemeral context, with its bounds as suite parameters filled per batch.
GE (≈ 1.9 s, ≈ 220 MB) and pandas are imported on the first batch, never by merely importing this module.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from crisiscomms.mention import Mention
from crisiscomms.monitoring.record import TEXT, WHOLE, kind, parse_time

if TYPE_CHECKING:
    import pandas as pd

MAX_GARBLED_SHARE = 0.05
# Before any social network: a zero or default date (epoch 0, year 1, seconds read as milliseconds), not a post.
OLDEST = datetime(2000, 1, 1, tzinfo=UTC)
_CP1252_HIGH = bytes(range(0x80, 0xA0)).decode("cp1252", errors="ignore")
# UTF-8 decoded as Latin-1/cp1252 ("EspaÃ±a", "â€¦"), or bytes already lost (U+FFFD).
MOJIBAKE = (f"[\u00c2\u00c3\u00e2\ufffd](?:(?<=\ufffd)|(?<=[\u00c2\u00c3])[\u0080-\u00bf{_CP1252_HIGH}]"
            f"|(?<=\u00e2)[\u0080-\u009f{_CP1252_HIGH}])")
REQUIRED = ("id", "created_at", "text")
OPTIONAL = ("author", "channel", "url", "lang", "reach")
COLUMNS = ("id", "created_at", "text", "text_length", *OPTIONAL)


def _param(name: str) -> dict[str, str]:
    return {"$PARAMETER": name}


@dataclass(frozen=True)
class Expectation:
    name: str
    describe: str  # plain words, for the report
    expectation: str  # class name in great_expectations.expectations
    kwargs: dict[str, Any]

    @property
    def column(self) -> str | None:
        return self.kwargs.get("column")


SUITE: tuple[Expectation, ...] = (
    Expectation("volume", "volume is neither silent nor collapsed against the baseline",
                "ExpectTableRowCountToBeBetween", {"min_value": _param("min_rows")}),
    *(Expectation(f"{name}_present", f"some records carry a usable {name}",
                  "ExpectColumnProportionOfNonNullValuesToBeBetween",
                  {"column": name, "min_value": 0, "strict_min": True}) for name in REQUIRED),
    # always met: they are here for their observed value, the share of records that fill each optional field
    *(Expectation(f"{name}_filled", f"share of records with a usable {name} (optional)",
                  "ExpectColumnProportionOfNonNullValuesToBeBetween", {"column": name, "min_value": 0})
      for name in OPTIONAL),
    Expectation("created_at_range", f"created_at is neither in the future nor before {OLDEST.year}",
                "ExpectColumnValuesToBeBetween",
                {"column": "created_at", "min_value": _param("oldest"), "max_value": _param("latest")}),
    Expectation("text_length", "text length is within the bounds", "ExpectColumnValuesToBeBetween",
                {"column": "text_length", "min_value": _param("text_min"), "max_value": _param("text_max")}),
    Expectation("id_unique", "ids are unique in the batch", "ExpectColumnValuesToBeUnique", {"column": "id"}),
    Expectation("text_encoding", f"at most {MAX_GARBLED_SHARE:.0%} of texts look garbled",
                "ExpectColumnValuesToNotMatchRegex",
                {"column": "text", "regex": MOJIBAKE, "mostly": 1 - MAX_GARBLED_SHARE}),
)


# ------------------------------------------------------------------------------------------- the frame


def row(mention: Mention) -> tuple[Any, ...]:
    return (mention.id, mention.created_at, mention.text, len(mention.text), mention.author, mention.channel,
            mention.url, mention.lang, mention.reach)


def loose_row(raw: Any) -> tuple[Any, ...]:
    """A quarantined record as far as it can be read: the batch's null rates and ranges count it too."""
    fields: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    text, reach = fields.get("text"), fields.get("reach")
    text = _loose(text, (TEXT,), strip=False)
    return (_loose(fields.get("id"), (TEXT, WHOLE)), parse_time(fields.get("created_at")), text,
            None if text is None else len(text), _loose(fields.get("author"), (TEXT, WHOLE)),
            _loose(fields.get("channel"), (TEXT,)), _loose(fields.get("url"), (TEXT,)),
            _loose(fields.get("lang"), (TEXT,)), reach if kind(reach) == WHOLE else None)


def _loose(value: Any, allowed: tuple[str, ...], strip: bool = True) -> str | None:
    if kind(value, blank_is_missing=strip) not in allowed:
        return None
    text = (value.strip() if strip else value) if isinstance(value, str) else str(value)
    return text.encode("utf-8", "replace").decode("utf-8")  # GE hashes the frame as UTF-8: no lone surrogates


def frame(rows: Sequence[tuple[Any, ...]]) -> pd.DataFrame:
    import pandas as pd

    # object dtype keeps None as the only null and every value as read; created_at gets a real datetime dtype
    # (microseconds: years 1–9999 fit) so GE compares it with the datetime bounds.
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in COLUMNS]
    data = {name: pd.Series(values, dtype=object) for name, values in zip(COLUMNS, columns, strict=True)}
    data["created_at"] = pd.Series(columns[1], dtype="datetime64[us, UTC]")
    data["text_length"] = pd.Series(columns[3], dtype="Int64")
    return pd.DataFrame(data, index=pd.RangeIndex(len(rows)))


# ---------------------------------------------------------------------------------- the engine, once


@dataclass(frozen=True)
class _Engine:
    context: Any
    definition: Any  # ValidationDefinition of the suite on a whole-dataframe batch


_LOCK = threading.Lock()  # one GE context per process; Prefect may run tasks in threads
_ENGINE: _Engine | None = None


def _build_engine() -> _Engine:
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    # tqdm bars on stderr would clutter worker logs (GE 1.24 has no environment switch for them)
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    batch = (context.data_sources.add_pandas("crisiscomms").add_dataframe_asset("mentions")
             .add_batch_definition_whole_dataframe("batch"))
    expectations = [getattr(gxe, e.expectation)(**e.kwargs, description=e.describe, meta={"check": e.name})
                    for e in SUITE]
    suite = context.suites.add(gx.ExpectationSuite(name="mention-batch", expectations=expectations))
    definition = gx.ValidationDefinition(name="mention-batch", data=batch, suite=suite)
    return _Engine(context, context.validation_definitions.add(definition))


def validate(rows: Sequence[tuple[Any, ...]], parameters: dict[str, Any]) -> dict[str, Outcome]:
    """The suite's result on these rows, per expectation name."""
    global _ENGINE
    data = frame(rows)
    with _LOCK:
        if _ENGINE is None:
            _ENGINE = _build_engine()
        engine = _ENGINE
        # BASIC: counts and observed values; the records were judged one by one already
        result = engine.definition.run(batch_parameters={"dataframe": data}, expectation_parameters=parameters,
                                       result_format={"result_format": "BASIC"})
        # The ephemeral context keeps every result in memory: a long-running monitor would grow without end.
        store = engine.context.validation_results_store
        for key in store.list_keys():
            store.remove_key(key)
    return _outcomes(result)


@dataclass(frozen=True)
class Outcome:
    success: bool
    unexpected: int | None
    unexpected_percent: float | None
    observed: Any
    error: str | None


def _error(info: Any) -> str | None:
    """GE reports exceptions either flat or per metric; a check that raised must not pass silently."""
    if not isinstance(info, Mapping):
        return None
    if info.get("raised_exception"):
        return str(info.get("exception_message") or "unknown error")
    nested = [_error(value) for value in info.values() if isinstance(value, Mapping)]
    return next((message for message in nested if message), None)


def _outcomes(result: Any) -> dict[str, Outcome]:
    outcomes = {}
    for item in result.results:
        details = item.result or {}
        percent, observed = details.get("unexpected_percent"), details.get("observed_value")
        if isinstance(observed, float) and math.isnan(observed):  # a share of no rows: JSON has no NaN
            observed = None
        outcomes[item.expectation_config.meta["check"]] = Outcome(
            success=bool(item.success), unexpected=details.get("unexpected_count"),
            unexpected_percent=None if percent is None else round(float(percent), 4),
            observed=observed if isinstance(observed, int | float | str | type(None)) else str(observed),
            error=_error(item.exception_info))
    return outcomes
