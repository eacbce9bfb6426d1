"""When schedules fire: pure functions of (schedule, instant, zone, location).

No clock is read here: every function takes the instants it needs, aware and in UTC, and
returns UTC instants. :mod:`lightbox.edge.timers` runs these against the real clock.

Rules (the user-facing version is ``docs/schedules.md``):

- A time trigger fires at its wall-clock time in the schedule's zone (``schedule.timezone``,
  else the device's) on each listed weekday.
- A wall-clock time that does not exist (inside a spring-forward gap) fires shifted forward
  by the length of the gap: 02:30 on a day that jumps from 02:00 to 03:00 fires at 03:30.
  This is what PEP 495 gives for ``fold=0``, and keeps the trigger's distance from the
  neighbouring hours.
- A wall-clock time that occurs twice (fall-back) fires once, at its first occurrence.
- A sun trigger fires at sunrise or sunset (``astral``) at ``settings.location`` on each
  listed local date, plus ``offset_min``. ``days`` refers to the local date of the sun event
  itself, before the offset is added. A day on which the sun does not rise or set (polar
  night, midnight sun) has no fire; :func:`next_fire` looks at most 8 days ahead.
- :func:`due` lists the fires inside a window. A window longer than :data:`CATCH_UP_AFTER`
  (the device was off, or its clock jumped forward) gives only the latest missed fire of each
  schedule: "catch-up: the latest missed fire runs once at start-up".
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from astral import Observer
from astral.sun import sunrise, sunset

from lightbox.protocol.library import WEEKDAYS, Schedule, SunTrigger, TimeTrigger
from lightbox.protocol.settings import Location
from lightbox.protocol.timezones import check_timezone

__all__ = [
    "CATCH_UP_AFTER",
    "SEARCH_DAYS",
    "check_schedule",
    "due",
    "fires_between",
    "next_fire",
    "schedule_zone",
    "upcoming",
]

SEARCH_DAYS = 8
"""How many local days ahead :func:`next_fire` looks for an allowed day with an event."""

CATCH_UP_AFTER = timedelta(hours=24)
"""Windows longer than this keep only the latest fire of each schedule."""

_CATCH_UP_LOOKBACK = timedelta(days=SEARCH_DAYS)
"""How far back the catch-up looks for the latest missed fire."""


def schedule_zone(schedule: Schedule, device_tz: str) -> tzinfo:
    """The zone a schedule's wall-clock times and weekdays are read in."""
    return check_timezone(schedule.timezone or device_tz)


def check_schedule(schedule: Schedule, location: Location | None) -> None:
    """Raise ``ValueError`` when ``schedule`` can never fire with these settings."""
    trigger = schedule.trigger
    if isinstance(trigger, SunTrigger) and location is None:
        raise ValueError(
            f"schedule {schedule.id!r} uses {trigger.event} but settings.location is not set: "
            "set the device's latitude and longitude, or use a time trigger"
        )


def _require_utc(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime (UTC), got naive {value!r}")


def _local_fire(
    schedule: Schedule, day: date, zone: tzinfo, location: Location | None
) -> datetime | None:
    """The UTC instant ``schedule`` fires for local date ``day``, ignoring ``days``."""
    trigger = schedule.trigger
    if isinstance(trigger, TimeTrigger):
        hms = trigger.seconds()
        wall = time(hms // 3600, hms // 60 % 60, hms % 60)
        # fold=0: a repeated time is its first occurrence; a missing time is read with the
        # offset from before the gap, i.e. it lands shifted forward by the gap's length.
        return datetime.combine(day, wall, tzinfo=zone).astimezone(UTC)
    if location is None:
        return None
    observer = Observer(latitude=location.latitude, longitude=location.longitude)
    compute = sunrise if trigger.event == "sunrise" else sunset
    try:
        event: datetime = compute(observer, day, zone)
    except ValueError:  # the sun stays above or below the horizon all day
        return None
    return event.astimezone(UTC) + timedelta(minutes=trigger.offset_min)


def next_fire(
    schedule: Schedule, after: datetime, device_tz: str, location: Location | None
) -> datetime | None:
    """The first instant strictly after ``after`` at which ``schedule`` fires (UTC).

    ``None`` when the schedule is disabled, when it needs a location that is not set, or
    when no allowed day in the next :data:`SEARCH_DAYS` days has the sun event.
    """
    _require_utc("after", after)
    if not schedule.enabled:
        return None
    if isinstance(schedule.trigger, SunTrigger) and location is None:
        return None
    zone = schedule_zone(schedule, device_tz)
    allowed = {WEEKDAYS.index(day) for day in schedule.days}
    start = after.astimezone(zone).date()
    best: datetime | None = None
    best_day = start
    # From the day before (a sun offset of up to -12 h reaches back) to SEARCH_DAYS ahead.
    # Fires of consecutive days are increasing but for a few minutes of sun drift, so once
    # one is found, checking the next day as well is enough.
    for offset in range(-1, SEARCH_DAYS + 1):
        day = start + timedelta(days=offset)
        if day.weekday() in allowed:
            fire = _local_fire(schedule, day, zone, location)
            if fire is not None and fire > after and (best is None or fire < best):
                best, best_day = fire, day
        if best is not None and day > best_day:
            break
    return best


def fires_between(
    schedule: Schedule,
    start: datetime,
    end: datetime,
    device_tz: str,
    location: Location | None,
) -> list[datetime]:
    """Every fire of ``schedule`` with ``start < fire <= end``, in order."""
    fires: list[datetime] = []
    cursor = start
    while True:
        fire = next_fire(schedule, cursor, device_tz, location)
        if fire is None or fire > end:
            return fires
        fires.append(fire)
        cursor = fire


def due(
    schedules: Iterable[Schedule],
    last_check: datetime,
    now: datetime,
    device_tz: str,
    location: Location | None,
) -> list[tuple[Schedule, datetime]]:
    """Every ``(schedule, fire)`` with ``last_check < fire <= now``, in time order.

    When the window is longer than :data:`CATCH_UP_AFTER` (the device was off, or its clock
    jumped), each schedule contributes only its latest fire in the window, looked for in
    the last :data:`SEARCH_DAYS` days: the state the schedules would have left is restored
    without replaying days of history. Ties keep the order of ``schedules``.
    """
    _require_utc("last_check", last_check)
    _require_utc("now", now)
    if now <= last_check:
        return []
    catch_up = now - last_check > CATCH_UP_AFTER
    start = max(last_check, now - _CATCH_UP_LOOKBACK) if catch_up else last_check
    found: list[tuple[datetime, int, Schedule]] = []
    for position, schedule in enumerate(schedules):
        fires = fires_between(schedule, start, now, device_tz, location)
        if catch_up:
            fires = fires[-1:]
        found.extend((fire, position, schedule) for fire in fires)
    found.sort(key=lambda item: (item[0], item[1]))
    return [(schedule, fire) for fire, _, schedule in found]


def upcoming(
    schedules: Iterable[Schedule],
    now: datetime,
    device_tz: str,
    location: Location | None,
) -> tuple[Schedule, datetime] | None:
    """The schedule that fires next after ``now``, and when; the first listed wins a tie."""
    best: tuple[Schedule, datetime] | None = None
    for schedule in schedules:
        fire = next_fire(schedule, now, device_tz, location)
        if fire is not None and (best is None or fire < best[1]):
            best = (schedule, fire)
    return best
