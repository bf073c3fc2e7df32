"""Queries over stored events: visits now; the dashboards' reports build on them."""
