"""Keep-warm windows as a person reads them: local wall clock, over midnight, across both DST switches.

Europe/Berlin in 2026 moves its clocks on Sunday 29 March (02:00 CET -> 03:00 CEST, at 01:00 UTC) and
on Sunday 25 October (03:00 CEST -> 02:00 CET, at 01:00 UTC).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from seqserve_common.keep_warm import (
    WindowError,
    active,
    held_until,
    next_start,
    parse_days,
    parse_window,
    parse_windows,
    window_reason,
)


def utc(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


def window(days: str, start: str, end: str, tz: str = "Europe/Berlin"):
    return parse_window({"days": days, "from": start, "to": end, "tz": tz})


def span(windows, now: float) -> tuple[float, float] | None:
    found = active(windows, now)
    return None if found is None else (found.start, found.end)


@pytest.mark.parametrize(
    ("day", "start", "end"),
    [
        # The Saturday before each switch, the switch Sunday and the Monday after: always 08:00-18:00
        # on the clock, so the UTC times move by an hour with the offset.
        ((2026, 3, 28), (2026, 3, 28, 7), (2026, 3, 28, 17)),
        ((2026, 3, 29), (2026, 3, 29, 6), (2026, 3, 29, 16)),
        ((2026, 3, 30), (2026, 3, 30, 6), (2026, 3, 30, 16)),
        ((2026, 10, 24), (2026, 10, 24, 6), (2026, 10, 24, 16)),
        ((2026, 10, 25), (2026, 10, 25, 7), (2026, 10, 25, 17)),
        ((2026, 10, 26), (2026, 10, 26, 7), (2026, 10, 26, 17)),
    ],
)
def test_a_day_window_is_wall_clock_time_on_both_dst_switches(day, start, end):
    windows = (window("daily", "08:00", "18:00"),)
    assert span(windows, utc(*start)) == (utc(*start), utc(*end))
    assert span(windows, utc(*end) - 1) == (utc(*start), utc(*end))
    assert span(windows, utc(*start) - 1) is None
    assert span(windows, utc(*end)) is None


def test_a_window_over_midnight_ends_on_the_next_day():
    windows = (window("fri", "22:00", "02:00"),)
    # Friday 2 October 2026, CEST: 20:00 UTC to Saturday 00:00 UTC.
    assert span(windows, utc(2026, 10, 3, 0) - 1) == (utc(2026, 10, 2, 20), utc(2026, 10, 3, 0))
    assert span(windows, utc(2026, 10, 3, 0)) is None
    # The Thursday before is not a start day, and Saturday night is not either.
    assert span(windows, utc(2026, 10, 1, 21)) is None
    assert span(windows, utc(2026, 10, 3, 21)) is None


def test_over_midnight_into_the_skipped_hour_ends_when_the_clock_jumps():
    # 22:00 CET Saturday; 02:00 Sunday does not exist (the clock goes from 01:59:59 to 03:00).
    windows = (window("sat", "22:00", "02:00"),)
    assert span(windows, utc(2026, 3, 28, 21)) == (utc(2026, 3, 28, 21), utc(2026, 3, 29, 1))
    assert span(windows, utc(2026, 3, 29, 1)) is None


def test_over_midnight_into_the_repeated_hour_ends_at_the_first_0200():
    # 22:00 CEST Saturday to the first 02:00 (CEST) Sunday; the second 02:00 (CET) comes an hour later.
    windows = (window("sat", "22:00", "02:00"),)
    assert span(windows, utc(2026, 10, 24, 20)) == (utc(2026, 10, 24, 20), utc(2026, 10, 25, 0))
    assert span(windows, utc(2026, 10, 25, 0, 30)) is None
    assert span(windows, utc(2026, 10, 25, 1, 30)) is None


def test_a_start_in_the_skipped_hour_begins_when_the_clock_passes_it():
    # 02:30 on 29 March does not exist in Berlin: the window starts at the jump, 03:00 CEST = 01:00 UTC.
    windows = (window("daily", "02:30", "04:00"),)
    assert span(windows, utc(2026, 3, 29, 1)) == (utc(2026, 3, 29, 1), utc(2026, 3, 29, 2))
    assert span(windows, utc(2026, 3, 29, 1) - 1) is None
    # The days either side: 02:30 CET = 01:30 UTC, and 02:30 CEST = 00:30 UTC.
    assert span(windows, utc(2026, 3, 28, 1, 30)) == (utc(2026, 3, 28, 1, 30), utc(2026, 3, 28, 3))
    assert span(windows, utc(2026, 3, 30, 0, 30)) == (utc(2026, 3, 30, 0, 30), utc(2026, 3, 30, 2))


def test_a_start_in_the_repeated_hour_is_its_first_occurrence():
    # 02:30 happens twice on 25 October: first at 00:30 UTC (CEST), again at 01:30 UTC (CET).
    windows = (window("daily", "02:30", "04:00"),)
    assert span(windows, utc(2026, 10, 25, 0, 30)) == (utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 3))
    assert span(windows, utc(2026, 10, 25, 0, 30) - 1) is None


def test_warm_lead_counts_before_the_start_only():
    windows = (window("mon-fri", "08:00", "18:00"),)
    start = utc(2026, 12, 7, 7)  # Monday 08:00 CET
    assert window_reason(windows, start - 600, lead_seconds=600) == "window"
    assert window_reason(windows, start - 601, lead_seconds=600) is None
    assert window_reason(windows, start - 1) is None
    assert window_reason(windows, utc(2026, 12, 7, 17), lead_seconds=600) is None


def test_next_start_skips_the_weekend():
    windows = (window("mon-fri", "08:00", "18:00"),)
    friday_evening = utc(2026, 12, 4, 17)
    assert next_start(windows, friday_evening).start == utc(2026, 12, 7, 7)
    assert next_start((), friday_evening) is None


def test_held_until_chains_windows_that_touch_or_overlap():
    windows = (window("daily", "08:00", "12:00", "UTC"), window("daily", "12:00", "14:00", "UTC"))
    assert held_until(windows, utc(2026, 12, 2, 9)) == utc(2026, 12, 2, 14)
    assert held_until(windows, utc(2026, 12, 2, 15)) is None
    # A 24-hour daily window never lets go: held to the end of what was looked at, not forever wrong.
    always = (window("daily", "00:00", "24:00", "UTC"),)
    assert held_until(always, utc(2026, 12, 2, 9)) >= utc(2026, 12, 8, 0)


def test_a_window_in_new_york_uses_new_yorks_switch():
    # US DST starts 8 March 2026: 08:00 EST = 13:00 UTC on the 7th, 08:00 EDT = 12:00 UTC on the 9th.
    windows = (window("daily", "08:00", "09:00", "America/New_York"),)
    assert span(windows, utc(2026, 3, 7, 13)) == (utc(2026, 3, 7, 13), utc(2026, 3, 7, 14))
    assert span(windows, utc(2026, 3, 9, 12)) == (utc(2026, 3, 9, 12), utc(2026, 3, 9, 13))


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("mon-fri", {0, 1, 2, 3, 4}),
        ("sat,sun", {5, 6}),
        ("fri-mon", {4, 5, 6, 0}),
        ("daily", set(range(7))),
        ("Mon, wed", {0, 2}),
    ],
)
def test_day_specs(text, days):
    assert parse_days(text) == frozenset(days)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"days": "mon-fry", "from": "08:00", "to": "18:00", "tz": "UTC"}, "days: 'mon-fry' is not a day"),
        ({"days": "", "from": "08:00", "to": "18:00", "tz": "UTC"}, "days: expected a day spec"),
        ({"days": "mon", "from": "8:00", "to": "18:00", "tz": "UTC"}, "from: '8:00' is not a time"),
        ({"days": "mon", "from": "08:00", "to": "25:00", "tz": "UTC"}, "to: '25:00' is not a time"),
        ({"days": "mon", "from": "08:00", "to": "08:00", "tz": "UTC"}, "to: equals from"),
        ({"days": "mon", "from": "08:00", "to": "09:00", "tz": "Mars/Olympus"}, "tz: 'Mars/Olympus' is not"),
        ({"days": "mon", "from": "08:00", "to": "09:00"}, "tz: required"),
        ({"days": "mon", "from": "08:00", "to": "09:00", "tz": "UTC", "x": 1}, "x: unknown key"),
    ],
)
def test_bad_windows_are_refused_naming_the_field(raw, message):
    with pytest.raises(WindowError, match="^" + message.replace("(", r"\(")):
        parse_window(raw)


def test_window_list_errors_name_the_index():
    good = {"days": "mon", "from": "08:00", "to": "09:00", "tz": "UTC"}
    with pytest.raises(WindowError, match=r"^\[1\]\.tz: "):
        parse_windows([good, {**good, "tz": "Nowhere/Land"}])


def test_end_of_day_and_json_round_trip():
    parsed = window("sat,sun", "00:00", "24:00", "UTC")
    assert parse_window(parsed.as_json()) == parsed
    assert span((parsed,), utc(2026, 12, 5, 23, 59)) == (utc(2026, 12, 5), utc(2026, 12, 6))
