"""A scripted crisis for the review test: mentions with a known curve, and the times at which the script acts.

Everything is placed two days in the past (monitoring refuses mentions from the future), on 5-minute windows:
- 7 h of calm: exactly 3 mentions a window, mildly positive (the baseline the detector learns: median 3);
- the rise, from ONSET: 12, 25, 45, 70, 90 mentions a window, negative — the first alert comes from it;
- the crisis: volume falling back over 5 h, negative until SENTIMENT_BACK, positive after;
- 6 h after the all-clear: calm again.
One mention in each of a few windows repeats the declared false claim (below its threshold of 2 a window: no
automation starts a correction on its own), some before the correction and some after.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

WINDOW = timedelta(minutes=5)


def start_of_script(now: datetime) -> datetime:
    """T0: two days ago, on a window boundary."""
    t0 = now.astimezone(UTC) - timedelta(days=2)
    return t0.replace(minute=t0.minute - t0.minute % 5, second=0, microsecond=0)


class Script:
    def __init__(self, t0: datetime) -> None:
        self.t0 = t0
        self.onset = t0 - 5 * WINDOW  # the first window of the rise
        self.first_pass = t0 + timedelta(minutes=10)  # monitoring reads the rise: the alert
        self.pack = t0 + timedelta(minutes=15)  # the communication run: its pack and stage 1
        self.stage_1 = t0 + timedelta(minutes=27)  # legal approves: stage 2 opens
        self.stage_2 = t0 + timedelta(minutes=35)  # communications approves: the release
        self.update = t0 + timedelta(hours=2, minutes=5)  # the update's run (promised 2 h after the release)
        self.update_1 = t0 + timedelta(hours=2, minutes=11)
        self.update_2 = t0 + timedelta(hours=2, minutes=20)
        self.correction = t0 + timedelta(hours=3)
        self.correction_1 = t0 + timedelta(hours=3, minutes=6)
        self.correction_2 = t0 + timedelta(hours=3, minutes=10)
        self.second_pass = t0 + timedelta(hours=7, minutes=50)
        self.all_clear = t0 + timedelta(hours=8)
        self.all_clear_1 = t0 + timedelta(hours=8, minutes=5)
        self.all_clear_2 = t0 + timedelta(hours=8, minutes=12)  # the release: the crisis closes
        self.lessons = t0 + timedelta(hours=9)
        self.sentiment_back = t0 + timedelta(hours=5)
        self.end = t0 + timedelta(hours=14)

    def volumes(self) -> list[tuple[datetime, int, str]]:
        """(window start, mentions, tone) of every window."""
        rows = []
        at = self.onset - timedelta(hours=7)
        while at < self.onset:
            rows.append((at, 3, "calm"))
            at += WINDOW
        for volume in (12, 25, 45, 70, 90):
            rows.append((at, volume, "angry"))
            at += WINDOW
        falling = [80, 70, 60, 50, 40, 32, 26, 20, 16, 12, 10, 8]
        while at < self.end:
            step = (at - self.t0) // WINDOW
            volume = falling[step] if step < len(falling) else 6 if at < self.sentiment_back else 3
            rows.append((at, volume, "angry" if at < self.sentiment_back else "calm"))
            at += WINDOW
        return rows

    def mentions(self, until: datetime | None = None, since: datetime | None = None) -> list[dict[str, str]]:
        out = []
        for start, volume, tone in self.volumes():
            if (until and start >= until) or (since and start < since):
                continue
            for i in range(volume):
                at = start + timedelta(seconds=int(i * 300 / volume))
                claim = tone == "angry" and i == 0 and (start - self.t0) // WINDOW % 6 == 0
                out.append({"id": f"s-{start:%d%H%M}-{i}", "created_at": at.isoformat().replace("+00:00", "Z"),
                            "text": _text(tone, claim, i), "channel": "twitter", "author": f"@client{i % 40}",
                            "lang": "fr"})
        return out


_CALM = ["J'adore le yaourt nature de la Laiterie Duval, excellent ce matin.",
         "Merci Laiterie Duval, toujours un très bon yaourt bio, super qualité.",
         "Le yaourt Laiterie Duval au petit-déjeuner, un vrai plaisir, bravo."]
_ANGRY = ["Rappel du yaourt Laiterie Duval : contamination, mon enfant est malade, c'est scandaleux.",
          "Laiterie Duval : yaourt contaminé, intoxication, honteux et dangereux, boycott !",
          "Goût bizarre et malade après un yaourt Laiterie Duval, rappel #rappelconso, inadmissible."]
_CLAIM = "Toute la production de la Laiterie Duval est contaminée, ne mangez plus rien de chez eux !"


def _text(tone: str, claim: bool, i: int) -> str:
    if claim:
        return _CLAIM
    return (_CALM if tone == "calm" else _ANGRY)[i % 3]


def write(path: Path, mentions: list[dict[str, str]], append: bool = False) -> None:
    with path.open("a" if append else "w", encoding="utf-8") as out:
        for mention in mentions:
            out.write(json.dumps(mention, ensure_ascii=False) + "\n")
