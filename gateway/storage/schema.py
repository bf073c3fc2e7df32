"""The ClickHouse schema, as numbered migrations.

Migrations are data: each is a version, a name and the statements to run. They are applied in
order by ``gateway.storage.migrations`` and also emitted as SQL files under
``deploy/clickhouse/`` (``consent-gateway migrate --emit-sql``), so the two never drift apart.
Applied migrations are never edited; a change is a new migration.

Privacy by construction: no column holds an IP address (a test inspects the live schema), and
geography stops at the city.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

EVENT_TYPES = ("pageview", "event", "site_search", "outlink", "download", "ping", "goal", "content")
REFERRER_TYPES = ("direct", "search", "social", "campaign", "website")
CONSENT_ACTIONS_V1 = ("grant", "refuse", "update", "withdraw")  # frozen: migration 1 was written with these
CONSENT_ACTIONS_V4 = (*CONSENT_ACTIONS_V1, "erase")  # frozen: migration 4 was written with these
# "undelivered" follows a decision that never took effect: a grant the visitor was answered 503 for,
# though an insert may have stored it, or a decision from a cross-site page (gateway/consent/record.py).
CONSENT_ACTIONS = (*CONSENT_ACTIONS_V4, "undelivered")
RIGHTS_KINDS = ("export", "erase")
RIGHTS_SUBJECTS = ("consent", "uid")
RIGHTS_REQUESTERS = ("visitor", "site-token", "cli", "dashboard")
CONSENT_SOURCES_V1 = ("banner", "gpc", "api")  # frozen: migration 1 was written with these
CONSENT_SOURCES = (*CONSENT_SOURCES_V1, "regime", "dnt")


def _enum(values: tuple[str, ...], start: int = 1) -> str:
    return "Enum8(" + ", ".join(f"'{v}' = {i}" for i, v in enumerate(values, start)) + ")"


@dataclass(frozen=True, slots=True)
class TableSpec:
    """A table as the writer sees it: its name and the columns an insert supplies."""

    name: str
    columns: tuple[str, ...]

    @classmethod
    def from_ddl(cls, ddl: str) -> TableSpec:
        """The columns of a CREATE TABLE, less those filled by a DEFAULT, in declaration order."""
        name = re.search(r"CREATE TABLE IF NOT EXISTS (\w+)", ddl)
        assert name is not None, "DDL must start with CREATE TABLE IF NOT EXISTS name"
        body = ddl[ddl.index("(") + 1:ddl.rindex(")")]
        columns = [m.group(1) for m in re.finditer(r"^\s{4}(\w+)\s+(?!TYPE)(.*?),?$", body, re.M)
                   if m.group(1) not in ("INDEX", "CONSTRAINT") and " DEFAULT " not in f" {m.group(2)} "]
        return cls(name.group(1), tuple(columns))


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


# Why these choices:
# - ORDER BY (site_id, toDate(ts), visitor_id, ts): every dashboard query filters one site and a
#   date range; visitor_id next keeps one visitor's hits together for visit/bounce computation.
# - retention_days is stored per row from the site's setting, so one TTL serves per-site retention
#   without a table per site. The TTL is the last guard, not the first: reports read nothing older
#   than the site's current retention whenever the TTL merge comes, and an hourly sweep deletes
#   those rows and retags the rest when the setting changes (gateway/rights/retention.py).
# - non_replicated_deduplication_window: the writer tags every batch with a deduplication token,
#   so a retried insert whose first attempt did land is not stored twice.
# - Enum8 for closed sets, with a CHECK: clickhouse-connect encodes an unknown name as 0 instead of
#   failing, and 0 is no member, so without the constraint a bad value would be stored as garbage.
EVENTS = f"""
CREATE TABLE IF NOT EXISTS events
(
    site_id             UInt32,
    ts                  DateTime64(3, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    visitor_id          UInt64,
    visit_id            UInt64,
    event_type          {_enum(EVENT_TYPES)},
    pageview_id         String,
    url_host            LowCardinality(String),
    url_path            String,
    url_query           String,
    title               String,
    link_url            String,
    referrer_type       {_enum(REFERRER_TYPES)},
    referrer_host       LowCardinality(String),
    referrer_path       String,
    referrer_name       LowCardinality(String),
    referrer_keyword    String,
    campaign_source     LowCardinality(String),
    campaign_medium     LowCardinality(String),
    campaign_name       LowCardinality(String),
    campaign_term       String,
    campaign_content    String,
    country_code        LowCardinality(String),
    subdivision_code    LowCardinality(String),
    subdivision_name    LowCardinality(String),
    city_name           LowCardinality(String),
    city_name_local     LowCardinality(String),
    isp                 LowCardinality(String),
    browser_name        LowCardinality(String),
    browser_version     LowCardinality(String),
    os_name             LowCardinality(String),
    os_version          LowCardinality(String),
    device_type         LowCardinality(String),
    device_brand        LowCardinality(String),
    device_model        LowCardinality(String),
    screen_width        UInt16,
    screen_height       UInt16,
    language            LowCardinality(String),
    event_category      LowCardinality(String),
    event_action        LowCardinality(String),
    event_name          String,
    event_value         Nullable(Float64),
    search_keyword      String,
    search_category     LowCardinality(String),
    search_count        Nullable(UInt32),
    goal_id             UInt32,
    revenue             Float64,
    dimensions          Map(LowCardinality(String), String),
    consent_id          UUID,
    ingested_at         DateTime64(3, 'UTC') DEFAULT now64(3),
    retention_days      UInt16,
    CONSTRAINT event_type_known CHECK CAST(event_type, 'Int8') != 0,
    CONSTRAINT referrer_type_known CHECK CAST(referrer_type, 'Int8') != 0,
    CONSTRAINT retention_set CHECK retention_days > 0
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (site_id, toDate(ts), visitor_id, ts)
TTL toDateTime(ts) + toIntervalDay(retention_days)
SETTINGS non_replicated_deduplication_window = 1000, ttl_only_drop_parts = 0
"""

# The consent log is proof for the site owner, so it has no TTL: a row's age does not say when it
# may go. A consent id's decisions are kept for the site's proof period after its last one, then
# deleted by the sweep in gateway/rights/retention.py. Lookups by consent id are served by a
# bloom-filter skip index; counts per site and day by the sort key.
CONSENT_LOG = f"""
CREATE TABLE IF NOT EXISTS consent_log
(
    consent_id          UUID,
    site_id             UInt32,
    ts                  DateTime64(3, 'UTC'),
    action              {_enum(CONSENT_ACTIONS_V1)},
    categories          Array(LowCardinality(String)),
    policy_version      LowCardinality(String),
    banner_version      LowCardinality(String),
    language            LowCardinality(String),
    source              {_enum(CONSENT_SOURCES_V1)},
    country_code        LowCardinality(String),
    browser_family      LowCardinality(String),
    gateway_instance    LowCardinality(String),
    ingested_at         DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX consent_id_bloom consent_id TYPE bloom_filter(0.001) GRANULARITY 4,
    CONSTRAINT action_known CHECK CAST(action, 'Int8') != 0,
    CONSTRAINT source_known CHECK CAST(source, 'Int8') != 0
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (site_id, toDate(ts), consent_id, ts)
SETTINGS non_replicated_deduplication_window = 1000
"""

# What a visitor was shown: each distinct banner configuration (texts, categories, policy links) is
# stored under the hash the consent log records, so a decision can be proven with its wording. Plain
# MergeTree: the gateway inserts a configuration only when its hash is missing, and the proof reads
# min(first_seen), which no merge can move.
CONSENT_CONFIGS = """
CREATE TABLE IF NOT EXISTS consent_configs
(
    site_id             UInt32,
    config_hash         String,
    policy_version      LowCardinality(String),
    payload             String,
    first_seen          DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
ORDER BY (site_id, config_hash)
"""

# Visits are derived when queried, not when hits arrive (see gateway/stats/visits.py): any worker or
# instance may receive any hit, late hits (a tracker's queue, cdt) arrive out of order, and a stored
# visit id would depend on which process saw the visitor last. The hit only records what it knows:
# ``new_visit`` when the tracker asked for a new visit (new_visit=1) or a campaign arrived.
# ``user_id`` is a keyed hash of the site's own user id (never the raw value).
EVENTS_V3_ADD = (
    ("new_visit", "UInt8", "visitor_id"),
    ("user_id", "String", "new_visit"),
)
EVENTS_V3_DROP = ("visit_id",)

# Visitors' rights (gateway/rights/): an erasure is a decision in the consent log, and every export or
# erasure is kept in an audit table with its counts and who asked, never the visitor's data: the
# consent id (pseudonymous, the visitor reads it from their receipt) and nothing else about them. A
# request by the site's own user id records no id at all (consent_id is the nil UUID).
# The skip indexes let an export or an erasure find one visitor's rows without reading every
# granule of ``events``, whose sort key serves the dashboards, not a consent id.
RIGHTS_REQUESTS = f"""
CREATE TABLE IF NOT EXISTS rights_requests
(
    request_id          UUID,
    site_id             UInt32,
    ts                  DateTime64(3, 'UTC'),
    kind                {_enum(RIGHTS_KINDS)},
    subject             {_enum(RIGHTS_SUBJECTS)},
    consent_id          UUID,
    requested_by        {_enum(RIGHTS_REQUESTERS)},
    operator            LowCardinality(String),
    events              UInt64,
    decisions           UInt32,
    gateway_instance    LowCardinality(String),
    ingested_at         DateTime64(3, 'UTC') DEFAULT now64(3),
    CONSTRAINT kind_known CHECK CAST(kind, 'Int8') != 0,
    CONSTRAINT subject_known CHECK CAST(subject, 'Int8') != 0,
    CONSTRAINT requester_known CHECK CAST(requested_by, 'Int8') != 0
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (site_id, ts)
"""

# The visit summary (gateway/stats/summary.py): one row per visit of a closed local day, cut by the
# dashboards' own query and stored so that long ranges need not cut them again. Visits are rebuilt a
# day at a time as a new generation (``build``): a late hit may merge two visits, whose old row no
# per-visit key could replace; ``visit_builds`` names each day's current build and the fingerprint of
# the hits it was built from. The dimension columns are named by their dashboard keys (stats/dims.py);
# the arrays hold the values of the visit's pages, events, searches and clicks (stats/summary.py).
# ``consent_id`` lets an erasure delete a visitor's visits at once; no IP, as everywhere. The TTL is a
# day longer than the events': ``day`` is a local date, read by ClickHouse as a UTC one, and a site west
# of UTC still shows its oldest kept day after that date's end in UTC (the sweep deletes by local day).
VISITS = """
CREATE TABLE IF NOT EXISTS visits
(
    site_id             UInt32,
    day                 Date,
    build               UInt64,
    visitor_id          UInt64,
    consent_id          UUID,
    v_first             UInt64,
    v_last              UInt64,
    actions             UInt32,
    pageviews           UInt32,
    entry_page          LowCardinality(String),
    exit_page           LowCardinality(String),
    referrer_type       LowCardinality(String),
    source              LowCardinality(String),
    utm_source          LowCardinality(String),
    utm_medium          LowCardinality(String),
    utm_campaign        LowCardinality(String),
    country             LowCardinality(String),
    region              LowCardinality(String),
    city                LowCardinality(String),
    browser             LowCardinality(String),
    browser_version     LowCardinality(String),
    os                  LowCardinality(String),
    os_version          LowCardinality(String),
    device              LowCardinality(String),
    screen              LowCardinality(String),
    language            LowCardinality(String),
    pv_pages            Array(LowCardinality(String)),
    ev_category         Array(LowCardinality(String)),
    ev_action           Array(LowCardinality(String)),
    ev_name             Array(String),
    searches            Array(String),
    outlinks            Array(String),
    downloads           Array(String),
    retention_days      UInt16,
    INDEX consent_id_bloom consent_id TYPE bloom_filter(0.001) GRANULARITY 1,
    CONSTRAINT retention_set CHECK retention_days > 0
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (site_id, day, build, visitor_id, v_first)
TTL day + toIntervalDay(retention_days + 1)
"""

VISIT_BUILDS = """
CREATE TABLE IF NOT EXISTS visit_builds
(
    site_id             UInt32,
    day                 Date,
    build               UInt64,
    timezone            LowCardinality(String),
    timeout             UInt32,
    formula             UInt16,
    events              UInt64,
    fingerprint         UInt64,
    visits              UInt64,
    built_at            DateTime64(3, 'UTC')
)
ENGINE = MergeTree
ORDER BY (site_id, day, build)
"""

# Chart annotations (gateway/stats/annotations.py): a dated note on a site's chart, by a dashboard user.
# An edit or a delete is a new row of the same id with a higher ``version`` (a delete: ``deleted`` = 1),
# and readers take each id's latest row (argMax), so every worker sees a change once its insert returns,
# merged or not (on a cluster, other replicas a moment later); the engine folds old versions away in its
# own time. ``day`` is the
# site's local date. No TTL: a note is the site owner's, and names no one but its author.
ANNOTATIONS = """
CREATE TABLE IF NOT EXISTS annotations
(
    site_id             UInt32,
    id                  UUID,
    day                 Date,
    note                String,
    author              String,
    created             DateTime64(3, 'UTC'),
    version             UInt64,
    deleted             UInt8
)
ENGINE = ReplacingMergeTree(version, deleted)
ORDER BY (site_id, id)
"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "events and consent log", (EVENTS.strip(), CONSENT_LOG.strip())),
    Migration(2, "consent configs and sources", (
        CONSENT_CONFIGS.strip(),
        f"ALTER TABLE consent_log MODIFY COLUMN IF EXISTS source {_enum(CONSENT_SOURCES)}",
    )),
    Migration(3, "visits at query time and hashed user id", (
        *(f"ALTER TABLE events ADD COLUMN IF NOT EXISTS {name} {kind} AFTER {after}"
          for name, kind, after in EVENTS_V3_ADD),
        *(f"ALTER TABLE events DROP COLUMN IF EXISTS {name}" for name in EVENTS_V3_DROP),
    )),
    Migration(4, "visitors rights", (
        f"ALTER TABLE consent_log MODIFY COLUMN IF EXISTS action {_enum(CONSENT_ACTIONS_V4)}",
        RIGHTS_REQUESTS.strip(),
        "ALTER TABLE events ADD INDEX IF NOT EXISTS consent_id_bloom consent_id TYPE bloom_filter(0.001) "
        "GRANULARITY 1",
        "ALTER TABLE events ADD INDEX IF NOT EXISTS user_id_bloom user_id TYPE bloom_filter(0.001) "
        "GRANULARITY 1",
        "ALTER TABLE events MATERIALIZE INDEX consent_id_bloom",
        "ALTER TABLE events MATERIALIZE INDEX user_id_bloom",
    )),
    Migration(5, "undelivered grants", (
        f"ALTER TABLE consent_log MODIFY COLUMN IF EXISTS action {_enum(CONSENT_ACTIONS)}",
    )),
    Migration(6, "visit summary", (VISITS.strip(), VISIT_BUILDS.strip())),
    Migration(7, "chart annotations", (ANNOTATIONS.strip(),)),
)

MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations
(
    version     UInt32,
    name        String,
    checksum    String,
    applied_at  DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(applied_at)
ORDER BY version
""".strip()



def _altered(spec: TableSpec, add: tuple[tuple[str, str, str], ...], drop: tuple[str, ...]) -> TableSpec:
    """A table's columns after ADD COLUMN ... AFTER and DROP COLUMN, in the table's own order."""
    columns = list(spec.columns)
    for name, _, after in add:
        columns.insert(columns.index(after) + 1, name)
    return TableSpec(spec.name, tuple(c for c in columns if c not in drop))


EVENTS_TABLE = _altered(TableSpec.from_ddl(EVENTS), EVENTS_V3_ADD, EVENTS_V3_DROP)
CONSENT_LOG_TABLE = TableSpec.from_ddl(CONSENT_LOG)
CONSENT_CONFIGS_TABLE = TableSpec.from_ddl(CONSENT_CONFIGS)
RIGHTS_REQUESTS_TABLE = TableSpec.from_ddl(RIGHTS_REQUESTS)
VISITS_TABLE = TableSpec.from_ddl(VISITS)
VISIT_BUILDS_TABLE = TableSpec.from_ddl(VISIT_BUILDS)
ANNOTATIONS_TABLE = TableSpec.from_ddl(ANNOTATIONS)
