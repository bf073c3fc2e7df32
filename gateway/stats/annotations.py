"""Chart annotations: a dated note on a site's chart, written by a dashboard user ("new pricing live").

Stored in ClickHouse (``annotations``, schema migration 7), not in a file, so a note added through one
worker or instance is on every other's chart at once. Rows are versions: adding, editing and deleting
each insert one (a delete with ``deleted`` = 1, and nothing of the note but its id and day), and a
read takes each id's latest version, so no ``ALTER ... UPDATE`` mutation, which would be applied later
and per replica, stands between a click and what every instance shows. An edit reads the current
version first and writes the next, keeping who created the note and when; earlier versions go when
ClickHouse merges the table's parts. Who may edit or delete a note is the dashboard's call
(``gateway.dashboard.annotations_views``: its author or an admin).

Notes are plain text on one line, at most ``MAX_NOTE`` characters; the date is the site's local day.
What the notes say is the site owner's business; the only person they name is their author, by
dashboard user name (docs/privacy.md). Bad input raises ``AnnotationError`` (a 400 at the edge), an
id that is not this site's ``AnnotationNotFound`` (a 404): another site's note is as unknown as none.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gateway.storage.schema import ANNOTATIONS_TABLE

MAX_NOTE = 200
MAX_PER_SITE = 5000  # a bound on what one chart lists, far above what anyone writes by hand
FIRST_DAY, LAST_DAY = dt.date(2000, 1, 1), dt.date(2100, 12, 31)
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)  # a deleted note's creation time: none kept
_SPACES = re.compile(r"\s+")

_LATEST = """
SELECT id, argMax(day, version) AS d, argMax(note, version), argMax(author, version), min(created),
       max(version), argMax(deleted, version) AS gone
FROM annotations WHERE site_id = {site:UInt32}%s GROUP BY id HAVING gone = 0%s
"""


class AnnotationError(ValueError):
    """A note or a date that cannot be stored; the message names the field and is safe to show."""


class AnnotationNotFound(LookupError):
    """No annotation of this site has that id (never written, deleted, or another site's)."""


class TooManyAnnotations(AnnotationError):
    """The site already has ``MAX_PER_SITE`` annotations."""


@dataclass(frozen=True, slots=True)
class Annotation:
    id: uuid.UUID
    site_id: int
    day: dt.date
    note: str
    author: str
    created: dt.datetime  # aware, UTC
    version: int

    def as_json(self, *, author: bool = True) -> dict[str, Any]:
        """The note for a JSON answer; ``author=False`` leaves the author out (a user name, perhaps an
        e-mail address, which only logged-in dashboard users are shown)."""
        out = {"id": str(self.id), "date": self.day.isoformat(), "note": self.note, "author": self.author,
               "created": self.created.isoformat(timespec="seconds")}
        if not author:
            del out["author"]
        return out


def clean_note(raw: str) -> str:
    """The note as stored: control characters and line breaks become spaces, runs of space one, and
    the ends are trimmed (a note is one line on the chart's list)."""
    text = "".join(" " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in raw)
    note = _SPACES.sub(" ", text).strip()
    if not note:
        raise AnnotationError("note: write a few words (it is empty)")
    if len(note) > MAX_NOTE:
        raise AnnotationError(f"note: at most {MAX_NOTE} characters, this one has {len(note)}")
    return note


def parse_day(raw: str) -> dt.date:
    """A date as a date input sends it (``2026-11-21``), within ``FIRST_DAY`` and ``LAST_DAY``."""
    text = raw.strip()
    try:
        if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
            raise ValueError
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise AnnotationError(f"date: not a date (YYYY-MM-DD): {text[:20]!r}") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise AnnotationError(f"date: must be from {FIRST_DAY} to {LAST_DAY}")
    return day


def parse_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw.strip()[:40])
    except ValueError:
        raise AnnotationNotFound(raw[:40]) from None


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _version(now: dt.datetime, after: int = 0) -> int:
    """A version above ``after``: the microsecond of ``now``, or one more when clocks disagree."""
    return max(int(now.timestamp() * 1_000_000), after + 1)


def _read(db: Any, site_id: int, *, where: str = "", having: str = "",
          params: dict[str, Any] | None = None) -> list[Annotation]:
    rows = db.query(_LATEST % (where, having) + " ORDER BY d, min(created), id",
                    {"site": site_id, **(params or {})})
    return [Annotation(uuid.UUID(str(i)), site_id, day, note, author, _utc(created), int(version))
            for i, day, note, author, created, version, _ in rows]


def list_annotations(db: Any, site_id: int, start: dt.date | None = None,
                end: dt.date | None = None) -> list[Annotation]:
    """The site's annotations, oldest day first; only those from ``start`` to ``end`` (local days,
    inclusive) when given."""
    if start is None or end is None:
        return _read(db, site_id)
    return _read(db, site_id, having=" AND d BETWEEN {start:Date} AND {end:Date}",
                 params={"start": start, "end": end})


def get(db: Any, site_id: int, annotation_id: uuid.UUID) -> Annotation:
    found = _read(db, site_id, where=" AND id = {id:UUID}", params={"id": annotation_id})
    if not found:
        raise AnnotationNotFound(str(annotation_id))
    return found[0]


def _write(db: Any, a: Annotation, *, deleted: bool = False) -> None:
    row = {"site_id": a.site_id, "id": a.id, "day": a.day, "note": a.note, "author": a.author,
           "created": a.created, "version": a.version, "deleted": int(deleted)}
    columns = ANNOTATIONS_TABLE.columns
    db.insert(ANNOTATIONS_TABLE.name, [[row[c] for c in columns]], columns)


def count(db: Any, site_id: int) -> int:
    rows = db.query("SELECT count() FROM (" + _LATEST % ("", "") + ")", {"site": site_id})
    return int(rows[0][0])


def add(db: Any, site_id: int, day: dt.date, note: str, author: str, now: dt.datetime) -> Annotation:
    """A new note by ``author`` (a dashboard user name); ``note`` is cleaned (``clean_note``)."""
    text = clean_note(note)
    if count(db, site_id) >= MAX_PER_SITE:
        raise TooManyAnnotations(f"this site has {MAX_PER_SITE} annotations already: delete some first")
    created = _utc(now).replace(microsecond=now.microsecond // 1000 * 1000)  # as stored
    annotation = Annotation(uuid.uuid4(), site_id, day, text, author, created, _version(created))
    _write(db, annotation)
    return annotation


def edit(db: Any, site_id: int, annotation_id: uuid.UUID, day: dt.date, note: str,
         now: dt.datetime) -> Annotation:
    """The note with a new date and text; its author and creation time stay."""
    text = clean_note(note)
    current = get(db, site_id, annotation_id)
    changed = Annotation(current.id, site_id, day, text, current.author, current.created,
                         _version(now, current.version))
    _write(db, changed)
    return changed


def delete(db: Any, site_id: int, annotation_id: uuid.UUID, now: dt.datetime) -> Annotation:
    """Delete the note (a last version marked deleted); returns what it was.

    The deleted version is what ReplacingMergeTree keeps for good (a merge folds the earlier versions,
    text and author included, into it, and keeps it, deleted flag set), so it holds no text, no author
    and no creation time: only the id, site, day, version and flag (docs/privacy.md)."""
    current = get(db, site_id, annotation_id)
    gone = Annotation(current.id, site_id, current.day, "", "", EPOCH, _version(now, current.version))
    _write(db, gone, deleted=True)
    return current


def by_bucket(notes: Sequence[Annotation], labels: Sequence[str], unit: str) -> list[list[Annotation]]:
    """The notes of each chart bucket (``gateway.stats.timeseries`` labels): a day's notes on its day,
    or in an hourly chart on the day's first hour. A day without a bucket (still to come) has none."""
    index: dict[str, int] = {}
    for i, label in enumerate(labels):
        index.setdefault(label[:10] if unit == "hour" else label, i)
    out: list[list[Annotation]] = [[] for _ in labels]
    for note in notes:
        at = index.get(note.day.isoformat())
        if at is not None:
            out[at].append(note)
    return out
