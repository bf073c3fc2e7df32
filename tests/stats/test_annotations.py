"""Chart annotations in ClickHouse: written, edited and deleted as versions that every reader sees at
once, per site, with their author; notes and dates checked; placed on the chart's buckets."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from gateway.stats import annotations as store
from gateway.storage.clickhouse import Database, connect
from gateway.storage.migrations import migrate

NOW = dt.datetime(2026, 11, 21, 9, 30, tzinfo=dt.UTC)  # notes have no TTL: any fixed moment will do
LATER = NOW + dt.timedelta(hours=2)


@pytest.fixture
def notes_db(db: Database) -> Database:
    migrate(db)
    return db


def test_a_note_is_listed_with_its_author_and_creation_time(notes_db: Database) -> None:
    added = store.add(notes_db, 1, dt.date(2026, 11, 20), "New pricing page live", "anna", NOW)
    [listed] = store.list_annotations(notes_db, 1)
    assert listed.as_json() == {"id": str(added.id), "date": "2026-11-20", "note": "New pricing page live",
                                "author": "anna", "created": "2026-11-21T09:30:00+00:00"}
    assert listed.as_json(author=False) == {"id": str(added.id), "date": "2026-11-20", "note": "New pricing "
                                            "page live", "created": "2026-11-21T09:30:00+00:00"}
    assert store.list_annotations(notes_db, 2) == []  # per site


def test_an_edit_and_a_delete_are_seen_at_once_by_another_connection(notes_db: Database,
                                                                     clickhouse_url: str) -> None:
    """Another instance reads the same table: it sees the edit and the delete without waiting for a
    merge, and the edit keeps who wrote the note and when."""
    other = connect(clickhouse_url)
    try:
        added = store.add(notes_db, 1, dt.date(2026, 11, 20), "Newsletter sent", "anna", NOW)
        store.edit(notes_db, 1, added.id, dt.date(2026, 11, 19), "Newsletter sent (spring)", LATER)
        [seen] = store.list_annotations(other, 1)
        assert (seen.day, seen.note, seen.author, seen.created) == (
            dt.date(2026, 11, 19), "Newsletter sent (spring)", "anna", NOW)
        store.delete(other, 1, added.id, LATER)
        assert store.list_annotations(notes_db, 1) == []
        assert store.count(notes_db, 1) == 0
    finally:
        other.close()


def test_a_deleted_notes_text_and_author_are_not_kept(notes_db: Database) -> None:
    """ReplacingMergeTree keeps a deleted note's last version for good: after a merge, no row of the
    table holds what the note said or who wrote it, nor when (docs/privacy.md)."""
    added = store.add(notes_db, 1, dt.date(2026, 11, 20), "Call with Jane Doe", "jane@example.org", NOW)
    store.edit(notes_db, 1, added.id, dt.date(2026, 11, 20), "Call with Jane Doe, again", LATER)
    store.delete(notes_db, 1, added.id, LATER)
    notes_db.command("OPTIMIZE TABLE annotations FINAL")
    rows = notes_db.query("SELECT site_id, id, day, note, author, toUnixTimestamp(created), deleted "
                          "FROM annotations")
    assert [tuple(r) for r in rows] == [(1, added.id, dt.date(2026, 11, 20), "", "", 0, 1)]
    assert store.list_annotations(notes_db, 1) == []


def test_the_latest_edit_wins_even_when_its_clock_is_behind(notes_db: Database) -> None:
    added = store.add(notes_db, 1, dt.date(2026, 11, 20), "first", "anna", LATER)
    store.edit(notes_db, 1, added.id, dt.date(2026, 11, 20), "second", NOW)  # an instance whose clock lags
    store.edit(notes_db, 1, added.id, dt.date(2026, 11, 20), "third", NOW)
    assert [n.note for n in store.list_annotations(notes_db, 1)] == ["third"]


def test_another_sites_note_is_not_found(notes_db: Database) -> None:
    added = store.add(notes_db, 1, dt.date(2026, 11, 20), "site one's", "anna", NOW)
    with pytest.raises(store.AnnotationNotFound):
        store.edit(notes_db, 2, added.id, dt.date(2026, 11, 20), "taken over", LATER)
    with pytest.raises(store.AnnotationNotFound):
        store.delete(notes_db, 2, added.id, LATER)
    with pytest.raises(store.AnnotationNotFound):
        store.get(notes_db, 1, uuid.uuid4())
    store.delete(notes_db, 1, added.id, LATER)
    with pytest.raises(store.AnnotationNotFound):  # deleted: gone for an edit too
        store.edit(notes_db, 1, added.id, dt.date(2026, 11, 20), "back", LATER)


def test_a_range_lists_its_days_notes_oldest_first(notes_db: Database) -> None:
    for day, text in ((12, "c"), (1, "a"), (30, "e"), (15, "d"), (2, "b")):
        store.add(notes_db, 1, dt.date(2026, 11, day), text, "anna", NOW)
    store.add(notes_db, 1, dt.date(2026, 10, 31), "october", "anna", NOW)
    inside = store.list_annotations(notes_db, 1, dt.date(2026, 11, 1), dt.date(2026, 11, 30))
    assert [n.note for n in inside] == ["a", "b", "c", "d", "e"]
    assert [n.note for n in store.list_annotations(notes_db, 1, dt.date(2026, 11, 12), dt.date(2026, 11, 12))
            ] == ["c"]
    assert len(store.list_annotations(notes_db, 1)) == 6


def test_a_site_holds_a_bounded_number_of_notes(notes_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store, "MAX_PER_SITE", 2)
    first = store.add(notes_db, 1, dt.date(2026, 11, 20), "one", "anna", NOW)
    store.add(notes_db, 1, dt.date(2026, 11, 20), "two", "anna", NOW)
    with pytest.raises(store.TooManyAnnotations):
        store.add(notes_db, 1, dt.date(2026, 11, 20), "three", "anna", NOW)
    store.add(notes_db, 2, dt.date(2026, 11, 20), "another site's", "anna", NOW)
    store.delete(notes_db, 1, first.id, LATER)
    store.add(notes_db, 1, dt.date(2026, 11, 20), "three", "anna", LATER)  # room again


@pytest.mark.parametrize(("raw", "stored"), [
    ("  Launch\n day \t ", "Launch day"),
    ("Prix : 20 € → 25 €", "Prix : 20 € → 25 €"),
    ("<b>bold</b>", "<b>bold</b>"),  # plain text: kept as typed, escaped where shown
    ("a\x00b\u2028c", "a b c"),
    ("x" * store.MAX_NOTE, "x" * store.MAX_NOTE),
])
def test_a_note_is_one_line_of_plain_text(raw: str, stored: str) -> None:
    assert store.clean_note(raw) == stored


@pytest.mark.parametrize(("raw", "message"), [
    ("", "empty"), (" \n\t", "empty"), ("x" * (store.MAX_NOTE + 1), f"at most {store.MAX_NOTE} characters"),
])
def test_an_empty_or_long_note_is_refused(raw: str, message: str) -> None:
    with pytest.raises(store.AnnotationError, match=message):
        store.clean_note(raw)


@pytest.mark.parametrize("raw", ["", "21.11.2026", "2026-02-30", "2026-1-5", "1999-12-31", "2101-01-01",
                                 "２０２６-11-21", "2026-11-21T10:00"])
def test_a_bad_date_is_refused(raw: str) -> None:
    with pytest.raises(store.AnnotationError, match="date"):
        store.parse_day(raw)


def test_a_date_is_a_day() -> None:
    assert store.parse_day(" 2026-11-21 ") == dt.date(2026, 11, 21)
    with pytest.raises(store.AnnotationNotFound):
        store.parse_id("not-an-id")


def _note(day: dt.date, text: str) -> store.Annotation:
    return store.Annotation(uuid.uuid4(), 1, day, text, "anna", NOW, 1)


def test_notes_sit_on_their_day_or_their_days_first_hour() -> None:
    days = ["2026-11-19", "2026-11-20", "2026-11-21"]
    notes = [_note(dt.date(2026, 11, 20), "a"), _note(dt.date(2026, 11, 20), "b"),
             _note(dt.date(2026, 11, 22), "still to come")]
    assert [[n.note for n in b] for b in store.by_bucket(notes, days, "day")] == [[], ["a", "b"], []]
    hours = ["2026-11-20T00:00", "2026-11-20T01:00", "2026-11-20T02:00"]
    assert [[n.note for n in b] for b in store.by_bucket(notes, hours, "hour")] == [["a", "b"], [], []]
