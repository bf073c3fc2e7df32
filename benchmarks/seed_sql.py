"""The seeding queries: visits planned from ``numbers(visitors)``, then one events row per planned hit.

Randomness is ``cityHash64(seed, tag, keys...)`` scaled to [0, 1): the same seed, tag and keys give
the same number, so the data is reproducible and each choice independent of the others. Every
table of ``seed_lookups`` is bound by a ``WITH (SELECT ... FROM seed_lookup ...) AS name`` scalar,
evaluated once per query. Only numbers we make are formatted into the SQL, never outside input.
"""

from __future__ import annotations

from collections.abc import Collection

from benchmarks import seed_data as data
from benchmarks.seed_lookups import HOUR_PICK, PICK
from gateway.storage.schema import CONSENT_LOG_TABLE, EVENTS_TABLE

PAGEVIEW, EVENT, SEARCH, OUTLINK, DOWNLOAD, PING = 1, 2, 3, 4, 5, 6
KINDS = ("pageview", "event", "site_search", "outlink", "download", "ping")
VISIT_GAP_MS = 100 * 60_000  # > the 30 minutes' timeout + the longest visit (an hour)
GOOGLE = {"DE": "de", "AT": "at", "CH": "ch", "FR": "fr", "GB": "co.uk", "NL": "nl", "IT": "it", "ES": "es",
          "PL": "pl", "BE": "be", "CZ": "cz", "DK": "dk", "SE": "se", "TR": "com.tr", "IN": "co.in",
          "JP": "co.jp", "BR": "com.br", "CA": "ca", "AU": "com.au"}


class Gen:
    """SQL snippets for one seed: uniforms, picks, Zipf ranks and a visitor's attributes."""

    def __init__(self, seed: int, names: Collection[str], numeric: Collection[str]) -> None:
        self.seed = seed
        self.names = names
        self.numeric = numeric
        self.search_page = [path for path, _ in data.pages(seed)].index(data.SEARCH_PATH) + 1

    def u(self, tag: str, *keys: str) -> str:
        """A uniform in [0, 1) from the seed, a tag and some key columns."""
        return f"(cityHash64({self.seed}, '{tag}', {', '.join(keys)}) / 18446744073709551616.0)"

    def pick(self, table: str, tag: str, *keys: str, size: int = PICK) -> str:
        return f"{table}[1 + toUInt32({self.u(tag, *keys)} * {size})]"

    @staticmethod
    def zipf(length: str, u: str) -> str:
        """A rank in 1..length with P(r) ~ log((r+1)/r): the first few take much of it."""
        return f"toUInt32(least({length} * 1.0, floor(pow({length} + 1, {u}))))"

    def ragged(self, name: str, entry: str, tag: str, *keys: str, steep: bool = True) -> str:
        """One item of entry ``entry`` of a ragged table; ``steep``: the first even more often."""
        u = self.u(tag, *keys)
        rank = self.zipf(f"{name}_len[{entry}]", f"{u} * {u}" if steep else u)
        return f"{name}[{name}_off[{entry}] + {rank}]"

    def with_clause(self) -> str:
        return "WITH " + ",\n".join(f"(SELECT {'nums' if name in self.numeric else 'strs'} FROM seed_lookup "
                                    f"WHERE name = '{name}') AS {name}" for name in self.names)

    def visitor(self, key: str) -> str:
        """Columns city, is_cn, agent and language of the visitor numbered ``key``."""
        china, elsewhere = self.pick("agent_pick_cn", "agent", key), self.pick("agent_pick", "agent", key)
        agent = f"if(is_cn, {china}, {elsewhere})"
        other = f"other_languages[{self.zipf('length(other_languages)', self.u('other', key))}]"
        return (f"{self.pick('city_pick', 'city', key)} AS city, city_countries[city] = 'CN' AS is_cn, "
                f"{agent} AS agent, if({self.u('lang', key)} < {data.OTHER_LANGUAGE_SHARE}, {other}, "
                "city_languages[city]) AS language")

    def instant(self, key: str, start_ms: int, span_ms: int) -> str:
        """A moment (ms) drawn from the weighted hours, shifted into the visitor's own day."""
        hour = self.pick("hour_pick", "hour", key, size=HOUR_PICK)
        at = f"{hour} * 3600000 + toUInt32({self.u('minute', key)} * 3600000) + city_shift[city] * 3600000"
        return f"{start_ms} + ((({at}) % {span_ms}) + {span_ms}) % {span_ms}"


def visits_sql(g: Gen, *, visitors: int, start_ms: int, end_ms: int, ping_rate: float) -> str:
    """One row per visit: who, when, from where, and its hits as (kind, offset ms, page, pageview #).
    ``eligible``: pages open long enough for heartbeat pings, to size ``ping_rate`` (pings per page)."""
    u, zipf, span = g.u, g.zipf, end_ms - start_ms
    whole, part = int(ping_rate), ping_rate - int(ping_rate)
    kj = ("k", "j")

    def hit(kind: int, at: str) -> str:
        return f"[(toUInt8({kind}), toUInt32({at}), toUInt16(p), toUInt16(i))]"

    product = "startsWith(paths[p], '/parts/')"
    ref = f"if(is_cn, {g.pick('ref_pick_cn', 'ref', *kj)}, {g.pick('ref_pick', 'ref', *kj)})"
    web = (f"multiIf(rtype != 'website', 0, ref_name[ref] = 'cn', "
           f"{zipf('length(cn_websites)', u('web', *kj))}, {zipf('length(websites)', u('web', *kj))})")
    bounce_rate = ("multiIf(rtype = 'direct', 0.46, rtype = 'search', 0.5, rtype = 'social', 0.63, "
                   "rtype = 'campaign', 0.58, 0.48) - if(j > 1, 0.08, 0)")
    return f"""
{g.with_clause()}
SELECT k, j, visitor_id, vstart, city, agent, language, ref, web, hits, length(hits) AS n, eligible
FROM
(
    SELECT k, j, vstart, city, agent, language, is_cn,
        cityHash64({g.seed}, 'visitor', k) AS visitor_id,
        -- returning visitors come direct more often
        if(j > 1 AND {u('return', *kj)} < 0.5, 1, {ref}) AS ref,
        ref_type[ref] AS rtype, ref_campaign[ref] AS camp, {web} AS web,
        {u('bounce', *kj)} < {bounce_rate} AS bounce,
        if(bounce OR {u('single', *kj)} < 0.12, 1,
           toUInt32(least(40.0, 1 + floor(pow(1 - {u('npv', *kj)}, -1 / 1.25))))) AS npv,
        multiIf(camp > 0 AND camp_landing[camp] > 0, camp_landing[camp],
                camp > 0, 12 + {zipf('length(paths) - 12', u('landing', *kj))},
                rtype = 'direct' AND {u('home', *kj)} < 0.45, 1,
                {zipf('length(paths)', u('entry', *kj))}) AS entry,
        arrayMap(i -> if(i = 0, entry, {zipf('length(paths)', u('page', *kj, 'i'))}), range(npv)) AS pv_pages,
        arrayMap(i -> 4000 + least(600000.0, 15000 * pow(1 - {u('dwell', *kj, 'i')}, -1 / 1.3)),
                 range(npv)) AS dwell_raw,
        -- a visit lasts at most an hour, so the next one (>= 100 minutes later) is a new visit
        arrayMap(d -> toUInt32(d * least(1.0, 3600000 / arraySum(dwell_raw))), dwell_raw) AS dwell,
        arrayCumSum(arrayPushFront(arrayPopBack(dwell), toUInt32(0))) AS pv_at,
        -- heartbeat pings only while a page stays open longer than the tracker's 15 s
        arrayMap((d, i) -> if(d > 15000, toUInt32({whole} + ({u('ping', *kj, 'i')} < {part})), 0),
                 dwell, range(npv)) AS pings,
        arrayFilter(h -> vstart + h.2 < {end_ms}, arrayFlatten(arrayMap((i, p, at, d, m) -> arrayConcat(
            {hit(PAGEVIEW, 'at')},
            if(p = {g.search_page}, {hit(SEARCH, 'at + 400')}, []),
            if(NOT bounce AND ({u('event', *kj, 'i')} < if({product}, 0.3, 0.15) OR npv = 1),
               {hit(EVENT, 'at + d * 0.4')}, []),
            if(NOT bounce AND {u('outlink', *kj, 'i')} < 0.02, {hit(OUTLINK, 'at + d * 0.9')}, []),
            if(NOT bounce AND {u('download', *kj, 'i')} < if({product}, 0.04, 0.01),
               {hit(DOWNLOAD, 'at + d * 0.8')}, []),
            arrayMap(q -> (toUInt8({PING}), toUInt32(at + intDiv(d * q, m + 1)), toUInt16(p), toUInt16(i)),
                     range(1, m + 1))
        ), range(npv), pv_pages, pv_at, dwell, pings))) AS hits,
        arrayCount((d, at) -> d > 15000 AND vstart + at < {end_ms}, dwell, pv_at) AS eligible
    FROM
    (
        SELECT number AS k, {g.visitor('k')},
            toUInt32(least(60.0, floor(pow(1 - {u('visits', 'k')}, -1 / 2.0)))) AS c,
            arraySort(arrayMap(x -> {g.instant('k, x', start_ms, span)}, range(c))) AS sorted,
            arrayMap((t, x) -> t + x * {VISIT_GAP_MS}, sorted, range(c)) AS starts
        FROM numbers({visitors})
    )
    ARRAY JOIN starts AS vstart, arrayEnumerate(starts) AS j
    WHERE vstart < {end_ms}
)"""


def event_columns(g: Gen, site_id: int) -> dict[str, str]:
    """The SQL of every column of ``events``, over the columns ``hits_sql``'s inner query makes."""
    u, zipf, first = g.u, g.zipf, "i = 1"
    kjp = ("k", "j", "pv")
    hosts = [f"www.google.{tld}" for tld in GOOGLE.values()]
    google = f"transform(country, {list(GOOGLE)}, {hosts}, 'www.google.com')"
    forum = f"['forum', 'thread', 'blog', 'news', 't', 'article'][1 + cityHash64({g.seed}, 'rp', k, j) % 6]"
    web_path = f"concat('/', {forum}, '/', toString(cityHash64({g.seed}, 'rn', k, j) % 90000 + 1000))"
    social_path = f"social_paths[{zipf('length(social_paths)', u('sp', 'k', 'j'))}]"
    engines_with_keywords = "('Bing', 'Baidu', 'Sogou', '360 Search', 'Shenma', 'Yahoo')"
    campaign = f"{first} AND camp > 0"
    utm = ("concat('utm_source=', camp_source[camp], '&utm_medium=', camp_medium[camp], '&utm_campaign=', "
           "encodeURLComponent(cname))")
    datasheet = "concat('https://parts.example/docs/', splitByChar('/', path)[-1], '-datasheet.pdf')"
    return {
        "site_id": str(site_id),
        "ts": "fromUnixTimestamp64Milli(toInt64(vstart + offset), 'UTC')",
        "visitor_id": "visitor_id",
        "new_visit": f"toUInt8({first} AND rtype = 'campaign')",
        "user_id": "''",
        "event_type": f"{list(KINDS)}[kind]",
        "pageview_id": f"substring(lower(hex(cityHash64({g.seed}, 'pv', k, j, pv))), 1, 6)",
        "url_host": f"'{data.HOST}'",
        "url_path": "path",
        "url_query": f"multiIf(p = {g.search_page}, concat('q=', encodeURLComponent(keyword)), "
                     f"{campaign}, {utm}, '')",
        "title": f"if(kind = {PAGEVIEW}, titles[p], '')",
        "link_url": f"multiIf(kind = {OUTLINK}, outlinks[{zipf('length(outlinks)', u('out', *kjp))}], "
                    f"kind = {DOWNLOAD} AND product AND {u('sheet', *kjp)} < 0.6, {datasheet}, "
                    f"kind = {DOWNLOAD}, downloads[{zipf('length(downloads)', u('dl', *kjp))}], '')",
        # A visit's referrer (or campaign) is on its first hit only; later hits are internal: direct.
        "referrer_type": f"if({first}, rtype, 'direct')",
        "referrer_host": f"if({first}, multiIf(rtype = 'website', web_host, camp > 0, camp_hosts[camp], "
                         f"ref_name[ref] = 'Google', {google}, ref_host[ref]), '')",
        "referrer_path": f"if({first}, multiIf(rtype = 'website', {web_path}, "
                         f"rtype = 'social', {social_path}, rtype = 'search', '/', "
                         "camp > 0 AND camp_hosts[camp] != '', '/', ''), '')",
        "referrer_name": f"if({first}, multiIf(rtype = 'website', replaceRegexpOne(web_host, '^www[.]', ''), "
                         "camp > 0, cname, ref_name[ref]), '')",
        "referrer_keyword": f"if({first}, multiIf(camp > 0, camp_term[camp], ref_name[ref] IN "
                            f"{engines_with_keywords} AND {u('kwref', 'k', 'j')} < 0.4, keyword, ''), '')",
        "campaign_source": f"if({campaign}, camp_source[camp], '')",
        "campaign_medium": f"if({campaign}, camp_medium[camp], '')",
        "campaign_name": f"if({campaign}, cname, '')",
        "campaign_term": f"if({campaign}, camp_term[camp], '')",
        "campaign_content": f"if({campaign} AND camp_medium[camp] = 'cpc', "
                            f"['ad-a', 'ad-b', 'ad-c'][1 + cityHash64({g.seed}, 'ad', k, j) % 3], '')",
        "country_code": "country",
        "subdivision_code": "city_codes[city]",
        "subdivision_name": "city_regions[city]",
        "city_name": "city_names[city]",
        "city_name_local": "''",
        "isp": "''",
        "browser_name": "agent_browser[agent]",
        "browser_version": g.ragged("bver", "agent", "bver", "k"),
        "os_name": "agent_os[agent]",
        "os_version": g.ragged("osver", "agent", "osver", "k"),
        "device_type": "agent_device[agent]",
        "device_brand": g.ragged("brand", "agent", "brand", "k", steep=False),
        "device_model": "agent_model[agent]",
        "screen_width": "toUInt16OrZero(splitByChar('x', screen)[1])",
        "screen_height": "toUInt16OrZero(splitByChar('x', screen)[2])",
        "language": "language",
        "event_category": f"if(kind = {EVENT}, ev_category[ev], '')",
        "event_action": f"if(kind = {EVENT}, ev_action[ev], '')",
        "event_name": f"if(kind = {EVENT}, if(ev_label = '*', splitByChar('/', path)[-1], ev_label), '')",
        "event_value": f"if(kind = {EVENT} AND ev_category[ev] = 'Cart' AND ev_action[ev] = 'Add', "
                       f"toNullable(round(4.9 + 250 * pow({u('value', *kjp)}, 2), 2)), NULL)",
        "search_keyword": f"if(kind = {SEARCH}, keyword, '')",
        "search_category": f"if(kind = {SEARCH} AND {u('scat', *kjp)} < 0.3, 'parts', '')",
        "search_count": f"if(kind = {SEARCH}, toNullable(toUInt32(if({u('none', *kjp)} < 0.08, 0, "
                        f"1 + 240 * pow({u('found', *kjp)}, 2)))), NULL)",
        "goal_id": "0",
        "revenue": "0",
        "dimensions": "CAST(map(), 'Map(LowCardinality(String), String)')",
        "consent_id": consent_uuid(g, "k"),
        "retention_days": "395",
    }


def hits_sql(g: Gen, *, events: int, site_id: int) -> str:
    """The INSERT of one events row per planned hit; a running sum over the visits stops it at
    exactly ``events`` rows (when the plan has that many)."""
    columns = event_columns(g, site_id)
    assert tuple(columns) == EVENTS_TABLE.columns, set(columns) ^ set(EVENTS_TABLE.columns)
    kjp = ("k", "j", "pv")
    week = "concat(toString(toISOYear(visit_day)), '-w', leftPad(toString(toISOWeek(visit_day)), 2, '0'))"
    groups = list(data.KEYWORD_GROUPS)
    kw_group = f"if(indexOf({groups}, substring(language, 1, 2)) = 0, {groups.index('en') + 1}, " \
               f"indexOf({groups}, substring(language, 1, 2)))"
    event = (f"if(kind = {EVENT}, if(product, {g.pick('ev_pick_product', 'ev', *kjp)}, "
             f"{g.pick('ev_pick', 'ev', *kjp)}), 0)")
    running = "sum(n) OVER (ORDER BY k, j ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) - n"
    return f"""
INSERT INTO events ({', '.join(columns)})
{g.with_clause()}
SELECT {', '.join(f'{sql} AS {name}' for name, sql in columns.items())}
FROM
(
    SELECT k, j, visitor_id, vstart, city, agent, language, ref, web, i,
        hit.1 AS kind, hit.2 AS offset, hit.3 AS p, hit.4 AS pv,
        paths[p] AS path, startsWith(path, '/parts/') AS product,
        ref_type[ref] AS rtype, ref_campaign[ref] AS camp, city_countries[city] AS country,
        toDate(fromUnixTimestamp64Milli(vstart), '{data.SITE_TIMEZONE}') AS visit_day,
        if(camp > 0, replaceOne(camp_name[camp], '{{week}}', {week}), '') AS cname,
        multiIf(rtype != 'website', '', ref_name[ref] = 'cn', cn_websites[web], websites[web]) AS web_host,
        {kw_group} AS kw_group,
        {g.ragged('keywords', 'kw_group', 'kw', *kjp, steep=False)} AS keyword,
        {event} AS ev,
        {g.ragged('ev_name', 'ev', 'evn', *kjp, steep=False)} AS ev_label,
        {g.ragged("screens", "agent", "screen", "k")} AS screen
    FROM (SELECT *, {running} AS first FROM seed_visits)
    ARRAY JOIN hits AS hit, arrayEnumerate(hits) AS i
    WHERE first + i <= {events}
)"""


def consent_uuid(g: Gen, key: str) -> str:
    """A visitor's consent id: a UUID from two hashes of the visitor's number."""
    halves = [f"leftPad(hex(cityHash64({g.seed}, '{tag}', {key})), 16, '0')" for tag in ("c1", "c2")]
    return f"toUUID(UUIDNumToString(toFixedString(unhex(concat({halves[0]}, {halves[1]})), 16)))"


def consent_sql(g: Gen, *, decisions: int, visitors: int, site_id: int, start_ms: int, end_ms: int) -> str:
    """Decisions by visitors drawn at random, at the site's busy hours; a new policy after two thirds."""
    policy_ms = start_ms + (end_ms - start_ms) * 2 // 3
    return f"""
INSERT INTO consent_log ({', '.join(CONSENT_LOG_TABLE.columns)})
{g.with_clause()}
SELECT {consent_uuid(g, 'vk')}, {site_id}, fromUnixTimestamp64Milli(toInt64(t), 'UTC'), consent_action[m],
    arraySlice(consent_categories, consent_categories_off[m] + 1, consent_categories_len[m]),
    if(t < {policy_ms}, '1', '2'), if(t < {policy_ms}, 'b7e41c09d2a4', '4d2a9f3e8c17'), language,
    consent_source[m], city_countries[city], agent_family[agent], 'gw-1'
FROM
(
    SELECT number AS d, toUInt64({g.u('cvisitor', 'd')} * {visitors}) AS vk, {g.visitor('vk')},
        {g.instant('vk, d', start_ms, end_ms - start_ms)} AS t,
        {g.pick('consent_pick', 'cmix', 'd', size=1024)} AS m
    FROM numbers({decisions})
)"""
