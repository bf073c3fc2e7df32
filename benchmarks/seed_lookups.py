"""The tables of ``benchmarks.seed_data`` as named flat arrays, the form the seeding SQL reads.

A weighted choice becomes a "picker": an array whose entry ``floor(u * size)`` is the 1-based index
that a uniform ``u`` falls on, so SQL picks in O(1) by indexing. A list of lists becomes one flat
array with 0-based offsets and lengths ("ragged"). Arrays of ints are stored in ``nums``, of strings
in ``strs`` (see ``seed_sql.Gen.with_clause``).
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from benchmarks import seed_data as data

PICK = 16384  # entries of a picker: the smallest weight used still gets a few
HOUR_PICK = 65536
Lookups = dict[str, list[str] | list[int]]


def picker(weights: Sequence[float], size: int = PICK) -> list[int]:
    """A weighted choice as an array of 1-based indices."""
    total, bounds, running = sum(weights), [], 0.0
    for weight in weights:
        running += weight
        bounds.append(running / total)
    out, index = [], 0
    for slot in range(size):
        while (slot + 0.5) / size > bounds[index] and index < len(weights) - 1:
            index += 1
        out.append(index + 1)
    return out


def ragged(lists: Sequence[Sequence[str]]) -> tuple[list[str], list[int], list[int]]:
    """Lists of strings as one flat array with 0-based offsets and lengths."""
    flat: list[str] = []
    offsets, lengths = [], []
    for items in lists:
        offsets.append(len(flat))
        lengths.append(len(items))
        flat.extend(items)
    return flat, offsets, lengths


def hour_weights(start: dt.datetime, hours: int, seed: int) -> list[float]:
    """Weight of each UTC hour of the range: the site's day and week, a slow growth, daily noise."""
    zone, rnd = ZoneInfo(data.SITE_TIMEZONE), random.Random(seed)
    noise: dict[dt.date, float] = {}
    weights = []
    for h in range(hours):
        local = (start + dt.timedelta(hours=h)).astimezone(zone)
        day = noise.setdefault(local.date(), rnd.uniform(0.9, 1.1))
        weights.append(data.DIURNAL[local.hour] * data.WEEKLY[local.weekday()] * (1 + 0.15 * h / hours) * day)
    return weights


def places() -> list[tuple[str, int, str, str, str, str, float]]:
    """(country, shift, subdivision code, subdivision, city, language, weight): unlocated visitors,
    then per country those with no city, then its cities."""
    rows = [("", 0, "", "", "", "en-US", data.UNLOCATED_SHARE)]
    for country, shift, language, share, cities in data.COUNTRIES:
        total = sum(city[3] for city in cities)
        rows.append((country, shift, "", "", "", language, share * data.NO_CITY_SHARE))
        rows += [(country, shift, code, region, city, data.CITY_LANGUAGES.get(city, language),
                  share * (1 - data.NO_CITY_SHARE) * weight / total) for code, region, city, weight in cities]
    return rows


def lookups(start: dt.datetime, hours: int, seed: int) -> Lookups:
    """Every array the seeding queries read, by the name they read it under."""
    cities, agents, events, mix = places(), data.AGENTS, data.EVENTS, data.CONSENT_MIX
    pages = data.pages(seed)
    paths = [path for path, _ in pages]
    campaigns = data.CAMPAIGNS
    # Campaigns are referrers too: one row each after the others, pointing at their campaign.
    referrers = [*data.REFERRERS, *(("campaign", c[2], c[5], c[6], c[7]) for c in campaigns)]
    out: Lookups = {
        "hour_pick": [i - 1 for i in picker(hour_weights(start, hours, seed), HOUR_PICK)],
        "city_pick": picker([c[6] for c in cities]), "city_shift": [c[1] for c in cities],
        "city_countries": [c[0] for c in cities], "city_codes": [c[2] for c in cities],
        "city_regions": [c[3] for c in cities], "city_names": [c[4] for c in cities],
        "city_languages": [c[5] for c in cities], "other_languages": list(data.OTHER_LANGUAGES),
        "agent_pick": picker([a[8] for a in agents]), "agent_pick_cn": picker([a[9] for a in agents]),
        "agent_device": [a[0] for a in agents], "agent_browser": [a[1] for a in agents],
        "agent_os": [a[3] for a in agents], "agent_model": [a[6] for a in agents],
        "agent_family": [a[7] for a in agents],
        "paths": paths, "titles": [title for _, title in pages],
        "ref_pick": picker([r[3] for r in referrers]), "ref_pick_cn": picker([r[4] for r in referrers]),
        "ref_type": [r[0] for r in referrers], "ref_name": [r[1] for r in referrers],
        "ref_host": [r[2] for r in referrers],
        "ref_campaign": [0] * len(data.REFERRERS) + list(range(1, len(campaigns) + 1)),
        "camp_source": [c[0] for c in campaigns], "camp_medium": [c[1] for c in campaigns],
        "camp_name": [c[2] for c in campaigns], "camp_term": [c[3] for c in campaigns],
        "camp_hosts": [c[5] for c in campaigns],
        "camp_landing": [paths.index(c[4]) + 1 if c[4] else 0 for c in campaigns],
        "websites": data.websites(seed), "cn_websites": list(data.CN_WEBSITES),
        "social_paths": list(data.SOCIAL_PATHS), "outlinks": list(data.OUTLINKS),
        "downloads": list(data.DOWNLOADS),
        "ev_pick": picker([e[3] for e in events]), "ev_pick_product": picker([e[4] for e in events]),
        "ev_category": [e[0] for e in events], "ev_action": [e[1] for e in events],
        "consent_pick": picker([m[3] for m in mix], 1024),
        "consent_action": [m[0] for m in mix], "consent_source": [m[2] for m in mix],
    }
    for name, lists in (("bver", [a[2].split() for a in agents]),
                        ("osver", [a[4].split() or [""] for a in agents]),
                        ("brand", [data.BRANDS[a[5]] for a in agents]),
                        ("screens", [data.SCREENS[a[0]] for a in agents]),
                        ("ev_name", [e[2] for e in events]),
                        ("keywords", [data.SEARCH_KEYWORDS[g] for g in data.KEYWORD_GROUPS]),
                        ("consent_categories", [m[1] for m in mix])):
        out[name], out[f"{name}_off"], out[f"{name}_len"] = ragged(lists)
    return out
