"""Keep-warm windows: local wall-clock times in an IANA zone, as a person reads them in cdk.json.

``{"days": "mon-fri", "from": "08:00", "to": "18:00", "tz": "Europe/Berlin"}`` holds a model up from
08:00 to 18:00 Berlin time on each weekday. The rules, for the cases a clock makes ambiguous:

- ``days`` are the days a window *starts* on. A window whose ``to`` is not after its ``from``
  (``22:00``-``02:00``) runs over midnight into the next day: ``fri 22:00-02:00`` ends Saturday 02:00.
  ``to`` may be ``24:00`` (the end of the start day).
- A window starts the first moment the clock shows ``from`` and ends the first moment after that the
  clock shows ``to``. So on the night clocks skip an hour, a time that does not exist (``02:30`` in
  Berlin on the last Sunday of March) is reached when the clock jumps past it: at 03:00. On the night
  an hour repeats, a time that occurs twice (``02:30`` on the last Sunday of October) means its first
  occurrence. An 08:00-18:00 window is 08:00-18:00 on the clock on both days.

Pure standard library (zoneinfo): the CDK app imports this module to check the config at synth, and
the Lambdas to decide at run time. Zones come from the system database or, where there is none (the
Lambda runtime does not promise one), from the ``tzdata`` package pinned in requirements.txt, which the
Lambda asset must carry; a zone that cannot be loaded fails the function's settings at cold start,
naming the key, rather than silently ignoring a window.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
END_OF_DAY = "24:00"
WINDOW_KEYS = ("days", "from", "to", "tz")
# How far around ``now`` occurrences are generated: a window can start up to 7 days ahead, and one
# that started the day before may still run.
LOOKBACK_DAYS = 2
LOOKAHEAD_DAYS = 8


class WindowError(ValueError):
    """A keep-warm window is malformed; the message names the field (days, from, to, tz)."""


@dataclass(frozen=True, kw_only=True)
class Window:
    # Weekday numbers the window starts on, Monday 0.
    days: frozenset[int]
    days_text: str
    start: time
    # None for 24:00, the end of the start day.
    end: time | None
    tz: str

    @property
    def label(self) -> str:
        end = END_OF_DAY if self.end is None else self.end.strftime("%H:%M")
        return f"{self.days_text} {self.start.strftime('%H:%M')}-{end} {self.tz}"

    @property
    def over_midnight(self) -> bool:
        return self.end is None or self.end <= self.start

    def as_json(self) -> dict[str, str]:
        end = END_OF_DAY if self.end is None else self.end.strftime("%H:%M")
        return {"days": self.days_text, "from": self.start.strftime("%H:%M"), "to": end, "tz": self.tz}


@dataclass(frozen=True, kw_only=True)
class Occurrence:
    window: Window
    start: float
    end: float


def parse_days(text: object) -> frozenset[int]:
    """``mon-fri``, ``sat,sun``, ``fri-mon`` (wraps), ``daily``; raises WindowError naming ``days``."""
    example = "use e.g. 'mon-fri', 'sat,sun', 'fri-mon' or 'daily'"
    if not isinstance(text, str) or not text.strip():
        raise WindowError(f"days: expected a day spec, got {text!r}; {example}")
    spec = text.strip().lower()
    if spec == "daily":
        return frozenset(range(7))
    days: set[int] = set()
    for part in spec.split(","):
        first, dash, last = part.strip().partition("-")
        names = [first.strip(), last.strip()] if dash else [first.strip()]
        if any(name not in DAY_NAMES for name in names):
            raise WindowError(f"days: {text!r} is not a day spec ({part.strip()!r}); {example}")
        a, b = DAY_NAMES.index(names[0]), DAY_NAMES.index(names[-1])
        days.update((a + i) % 7 for i in range((b - a) % 7 + 1))
    return frozenset(days)


def parse_time(text: object, *, field: str, allow_end_of_day: bool = False) -> time | None:
    if allow_end_of_day and text == END_OF_DAY:
        return None
    if not isinstance(text, str) or not TIME.match(text):
        extra = " or 24:00" if allow_end_of_day else ""
        raise WindowError(f"{field}: {text!r} is not a time HH:MM (00:00 to 23:59{extra})")
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def zone(name: object) -> ZoneInfo:
    if not isinstance(name, str) or not name or name != name.strip():
        raise WindowError(f"tz: {name!r} is not an IANA time zone such as 'Europe/Berlin' or 'UTC'")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise WindowError(
            f"tz: {name!r} is not a known IANA time zone (e.g. 'Europe/Berlin', 'America/New_York', 'UTC')"
        ) from None


def parse_window(raw: object) -> Window:
    """One window from its config object; raises WindowError naming the field at fault."""
    if not isinstance(raw, Mapping):
        raise WindowError(f"expected an object {{days, from, to, tz}}, got {type(raw).__name__}")
    unknown = sorted(set(raw) - set(WINDOW_KEYS))
    if unknown:
        raise WindowError(f"{unknown[0]}: unknown key; allowed keys: {', '.join(WINDOW_KEYS)}")
    missing = [key for key in WINDOW_KEYS if key not in raw]
    if missing:
        raise WindowError(f"{missing[0]}: required (a window has {', '.join(WINDOW_KEYS)})")
    days = parse_days(raw["days"])
    start = parse_time(raw["from"], field="from")
    end = parse_time(raw["to"], field="to", allow_end_of_day=True)
    if end == start:
        raise WindowError(
            f"to: equals from ({raw['from']}); a window needs a length (00:00 to 24:00 for a whole day)"
        )
    zone(raw["tz"])
    return Window(days=days, days_text=str(raw["days"]).strip().lower(), start=start, end=end, tz=raw["tz"])


def parse_windows(raw: object) -> tuple[Window, ...]:
    """A list of windows; errors name the index: ``[1].tz: ...``."""
    if not isinstance(raw, list | tuple):
        raise WindowError(f"expected a list of windows, got {type(raw).__name__}")
    windows = []
    for index, item in enumerate(raw):
        try:
            windows.append(parse_window(item))
        except WindowError as error:
            raise WindowError(f"[{index}].{error}") from None
    return tuple(windows)


def wall_clock_instant(day: date, at: time, tz: ZoneInfo) -> float:
    """Epoch seconds of the first moment the clock in ``tz`` shows ``day at`` or, in a skipped hour,
    the moment the clock jumps past it."""
    naive = datetime.combine(day, at)
    earliest = naive.replace(tzinfo=tz, fold=0)
    if earliest.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == naive:
        return earliest.timestamp()
    # The time falls in a gap. fold=1 and fold=0 map it to the instants one gap-length either side
    # of the jump; the jump is the first instant whose wall clock reads past ``naive``.
    low, high = sorted((naive.replace(tzinfo=tz, fold=1).timestamp(), earliest.timestamp()))
    low, high = int(low), int(high)
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, tz).replace(tzinfo=None) >= naive:
            high = middle
        else:
            low = middle
    return float(high)


def _occurrence(window: Window, day: date) -> Occurrence:
    tz = ZoneInfo(window.tz)
    start = wall_clock_instant(day, window.start, tz)
    end_day = day + timedelta(days=1) if window.over_midnight else day
    end = wall_clock_instant(end_day, window.end or time(0), tz)
    return Occurrence(window=window, start=start, end=end)


def occurrences(windows: Iterable[Window], now: float) -> list[Occurrence]:
    """Every occurrence that starts from two days before ``now`` to eight days after, by start."""
    found = []
    for window in windows:
        today = datetime.fromtimestamp(now, ZoneInfo(window.tz)).date()
        for offset in range(-LOOKBACK_DAYS, LOOKAHEAD_DAYS + 1):
            day = today + timedelta(days=offset)
            if day.weekday() in window.days:
                found.append(_occurrence(window, day))
    return sorted(found, key=lambda o: (o.start, o.end))


def active(windows: Iterable[Window], now: float, *, lead_seconds: float = 0.0) -> Occurrence | None:
    """The occurrence holding ``now`` (counting ``lead_seconds`` before each start), ending last."""
    holding = [o for o in occurrences(windows, now) if o.start - lead_seconds <= now < o.end]
    return max(holding, key=lambda o: o.end) if holding else None


def held_until(windows: Iterable[Window], now: float, *, lead_seconds: float = 0.0) -> float | None:
    """When the windows stop holding the model, chaining windows that overlap or touch; None if none
    holds it at ``now``."""
    windows = tuple(windows)
    found = occurrences(windows, now)
    until = None
    moment = now
    while True:
        holding = [o.end for o in found if o.start - lead_seconds <= moment < o.end]
        if not holding or max(holding) <= moment:
            return until
        until = moment = max(holding)
        if moment >= found[-1].start:
            # Beyond the generated horizon: a window that holds a model a whole week is "always".
            return until


def next_start(windows: Iterable[Window], now: float) -> Occurrence | None:
    """The first occurrence starting after ``now``."""
    upcoming = [o for o in occurrences(windows, now) if o.start > now]
    return upcoming[0] if upcoming else None


def window_reason(windows: Iterable[Window], now: float, *, lead_seconds: float = 0.0) -> str | None:
    """``"window"`` while a window (or its warm lead) holds the model, else None."""
    return "window" if active(windows, now, lead_seconds=lead_seconds) is not None else None
