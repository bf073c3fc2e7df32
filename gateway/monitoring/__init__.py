"""What the operator sees: counters, health, Prometheus and the shared metrics.

``counters`` holds the per-process counters every package increments (no label carries personal
data); ``metrics`` answers ``/-/metrics`` with them summed over the workers (``share``) in
Prometheus's format (``prometheus``); ``health`` answers ``/-/health`` with ok or degraded and the
reason, and ``/-/ready`` for a readiness probe; ``operator_token`` decides who sees the details.

``counters`` imports nothing, so every layer may count; the rest may import ``gateway.web`` and is
imported by the app alone.
"""
