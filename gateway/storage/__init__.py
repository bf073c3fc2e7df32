"""ClickHouse and the durable spool: where an answered hit is kept until it is stored.

``clickhouse`` connects to embedded chDB or a server by URL; ``schema`` and ``migrations`` own the
tables; ``writer`` batches rows into ClickHouse behind the ``spool`` (``spool_format``, ``spool_files``:
segments appended and fsynced before a hit is answered, replayed after a crash or an outage);
``failures`` classifies ClickHouse errors; ``permissions`` keeps the data folder private.

Imports nothing else of the gateway: every other package may import it.
"""
