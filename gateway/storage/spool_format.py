"""The spool's bytes on disk: the record codec, the framing, and the scan that reads a segment back.

On disk, little-endian:
  spool-<n>.log = MAGIC frame*              frame = u32 len | u32 crc32(body) | body
  body = "S" u32 schema | JSON {"t": table, "c": [columns]}   (a table's columns, once per segment)
       | "R" u64 seq | u32 schema | u32 row count | JSON [[value, ...], ...]
       | "A" (u64 first seq | u32 count)*                      (acknowledged records)
Values are JSON where JSON fits (str, int, float, bool, null, lists for Arrays); every JSON object
is a tag: {"d": µs since 1970} a tz-aware datetime, read back as UTC (clickhouse-connect would
shift a naive one by the local zone), {"n": iso} a naive one, {"D": iso} a date, {"u": hex} a UUID,
{"m": {...}} a Map. Maps are always wrapped, so no key of a Map can pass for a tag. Nothing but
the rows, their table and column names is written: the caller hands in rows already free of IPs.

A write cut short (a crash, a full disk) leaves at most one partial frame, at the end: the scan
reports it as ``torn`` and recovery cuts it off; every whole frame before it reads as written, its
CRC checked. Damage with whole frames after it is ``corrupt``: the rest of that segment is lost.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import struct
import uuid
import zlib
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from gateway.storage.schema import TableSpec

MAGIC = b"CGSPOOL\x01"
HEAD = struct.Struct("<II")     # body length, crc32 of the body
RECORD = struct.Struct("<cQII")  # "R", seq, schema, row count
SCHEMA = struct.Struct("<cI")   # "S", schema
RANGE = struct.Struct("<QI")    # first seq, count

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)
_PLAIN = frozenset({str, int, float, bool, type(None)})
dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode
_SHAPES: dict[tuple[type, ...], tuple[tuple[int, ...], tuple[int, ...]]] = {}  # value types -> (tags, floats)
_CONTAINERS = frozenset({dict, list, tuple})
_MAX_SHAPES = 256  # the tables' rows come in a handful of shapes (NULL or not); a bound all the same


# --- the record codec -------------------------------------------------------------------------

def encode_rows(rows: Sequence[Sequence[Any]]) -> bytes:
    """Rows as compact JSON; TypeError for a value the spool cannot keep exactly."""
    # On every hit's path: only the values that need a tag (or a check) are touched in Python, where
    # they are looked up once per row shape, and orjson writes the rest, ~8x faster than the json module.
    try:
        return orjson.dumps([_tagged(row) for row in rows])
    except TypeError:  # NaN (orjson would write null), lone surrogates, integers past 64 bits: the exact way
        return dumps([[v if type(v) in _PLAIN else _tag(v) for v in row] for row in rows]).encode(
            "utf-8", "surrogatepass")


def _tagged(row: Sequence[Any]) -> Sequence[Any]:
    kinds = tuple(map(type, row))
    shape = _SHAPES.get(kinds)
    if shape is None:
        shape = (tuple(i for i, kind in enumerate(kinds) if kind not in _PLAIN),
                 tuple(i for i, kind in enumerate(kinds) if kind is float))
        if len(_SHAPES) < _MAX_SHAPES:
            _SHAPES[kinds] = shape
    tags, floats = shape
    for i in floats:
        if not math.isfinite(row[i]):
            raise _Inexact
    if not tags:
        return row
    values = list(row)
    for i in tags:
        value = values[i]
        if type(value) in _CONTAINERS and value and not _finite(value):
            raise _Inexact
        values[i] = _tag(value)
    return values


class _Inexact(TypeError):
    """A value orjson would not write as the json module does: encoded the exact way instead."""


def _finite(value: Any) -> bool:
    items = value.values() if type(value) is dict else value
    return all(math.isfinite(v) if type(v) is float else type(v) not in _CONTAINERS or _finite(v)
               for v in items)


def decode_rows(payload: bytes) -> list[list[Any]]:
    rows: list[list[Any]] = json.loads(payload.decode("utf-8", "surrogatepass"))
    for row in rows:
        for i, value in enumerate(row):
            if type(value) is dict or type(value) is list:
                row[i] = _untag(value)
    return rows


def _tag(value: Any) -> Any:
    kind = type(value)
    if kind is dt.datetime:
        if value.utcoffset() is None:
            return {"n": value.isoformat()}
        return {"d": (value - _EPOCH) // _MICROSECOND}  # exact, and the same instant whatever the zone
    if kind is uuid.UUID:
        return {"u": value.hex}
    if kind is dict:
        if not value:
            return {"m": {}}
        if not all(type(key) is str for key in value):
            raise TypeError("the spool keeps Maps with str keys only")
        return {"m": {k: v if type(v) in _PLAIN else _tag(v) for k, v in value.items()}}
    if kind is list or kind is tuple:
        return [v if type(v) in _PLAIN else _tag(v) for v in value]
    if kind is dt.date:
        return {"D": value.isoformat()}
    raise TypeError(f"the spool cannot keep a {kind.__name__} value")


def _untag(value: Any) -> Any:
    if type(value) is list:
        return [_untag(v) if type(v) is dict or type(v) is list else v for v in value]
    [(tag, inner)] = value.items()
    if tag == "d":
        return _EPOCH + inner * _MICROSECOND
    if tag == "u":
        return uuid.UUID(hex=inner)
    if tag == "m":
        return {k: _untag(v) if type(v) is dict or type(v) is list else v for k, v in inner.items()}
    if tag == "n":
        return dt.datetime.fromisoformat(inner)
    if tag == "D":
        return dt.date.fromisoformat(inner)
    raise ValueError(f"unknown tag {tag!r} in a spool record")


# --- frames -------------------------------------------------------------------------------------

def frame(body: bytes) -> bytes:
    return HEAD.pack(len(body), zlib.crc32(body)) + body


def record_head(seq: int, schema: int, count: int, payload: bytes) -> bytes:
    """The bytes before ``payload`` in its record's frame (the two are written one after the other:
    no copy of the payload on the hit's path)."""
    head = RECORD.pack(b"R", seq, schema, count)
    return HEAD.pack(len(head) + len(payload), zlib.crc32(payload, zlib.crc32(head))) + head


def schema_frame(schema: int, table: TableSpec) -> bytes:
    return frame(SCHEMA.pack(b"S", schema) + dumps({"t": table.name, "c": table.columns}).encode())


def ack_frame(seqs: list[int]) -> bytes:
    """Acknowledged seqs as (first, count) runs: a writer flush acknowledges long runs at once."""
    runs: list[tuple[int, int]] = []
    for seq in sorted(seqs):
        if runs and runs[-1][0] + runs[-1][1] == seq:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((seq, 1))
    return frame(b"A" + b"".join(RANGE.pack(first, count) for first, count in runs))


# --- reading segments back ----------------------------------------------------------------------

@dataclass(slots=True)
class Scan:
    """What a segment holds, read without decoding any row."""

    seqs: array[int] = field(default_factory=lambda: array("Q"))
    offsets: array[int] = field(default_factory=lambda: array("Q"))  # of each record's frame
    counts: array[int] = field(default_factory=lambda: array("I"))   # rows in each record
    acks: list[tuple[int, int]] = field(default_factory=list)        # (first seq, count)
    schemas: dict[int, TableSpec] = field(default_factory=dict)
    end: int = 0            # where the last whole frame ends
    torn: bool = False      # the rest is an interrupted write: cut it off
    corrupt: bool = False   # damage with data after it: the rest of the segment cannot be framed


def scan_segment(data: bytes) -> Scan:
    scan = Scan()
    if not data.startswith(MAGIC):
        scan.torn = MAGIC.startswith(data)  # created, header not yet written
        scan.corrupt = not scan.torn
        return scan
    pos = scan.end = len(MAGIC)
    view = memoryview(data)
    while pos < len(data):
        if pos + HEAD.size > len(data):
            scan.torn = True  # the write stopped inside a frame's header
            return scan
        length, crc = HEAD.unpack_from(data, pos)
        end = pos + HEAD.size + length
        if end > len(data):
            scan.torn = True  # ... or its body (or the length is damaged: nothing after it can be framed)
            return scan
        body = view[pos + HEAD.size:end]
        if not (length and zlib.crc32(body) == crc and _read_body(scan, body, pos)):
            # A bad last frame, or zeros to the end (a crash can leave a file longer than what was
            # written), is a write that never finished; anything else is damage in the middle.
            scan.torn = end == len(data) or data.count(0, pos) == len(data) - pos
            scan.corrupt = not scan.torn
            return scan
        pos = scan.end = end
    return scan


def _read_body(scan: Scan, body: memoryview, offset: int) -> bool:
    kind = body[:1].tobytes()
    try:
        if kind == b"R":
            _, seq, _schema, count = RECORD.unpack_from(body)
            scan.seqs.append(seq)
            scan.offsets.append(offset)
            scan.counts.append(count)
        elif kind == b"A":
            scan.acks.extend(RANGE.iter_unpack(body[1:]))
        elif kind == b"S":
            _, schema = SCHEMA.unpack_from(body)
            spec = json.loads(body[SCHEMA.size:].tobytes())
            scan.schemas[schema] = TableSpec(spec["t"], tuple(spec["c"]))
        else:
            return False
    except (struct.error, ValueError, KeyError, TypeError):
        return False
    return True


def read_record(data: bytes, offset: int) -> tuple[int, int, list[list[Any]]]:
    """(seq, schema, rows) of the record frame at ``offset`` of a scanned segment."""
    length, _ = HEAD.unpack_from(data, offset)
    start = offset + HEAD.size
    _, seq, schema, _count = RECORD.unpack_from(data, start)
    return seq, schema, decode_rows(data[start + RECORD.size:start + length])
