"""The dashboards' queries over stored events and consents.

query (parse URL parameters) -> engine (hit rows or visit rows, filtered; visits cut at query time
as visits.py defines them) -> overview / timeseries / reports (figures, chart, breakdowns declared as
data in pages, sources, locations, devices, behaviour, run by table) ; realtime and consent read
their tables directly. dims holds what every filter and report column means in SQL.

May import ``gateway.config`` (sites and their time zones) and nothing else of the gateway: the
queries get a ClickHouse client from the caller. The dashboard imports it.
"""
