"""ClickHouse and the durable spool: where an answered hit is kept until it is stored.

``clickhouse`` connects to embedded chDB or a server by URL; ``schema`` and ``migrations`` own the
tables (``cluster`` rewrites the migrations for a replicated, sharded cluster); ``writer`` batches
rows into ClickHouse (``writer_batches``: the rows it holds; ``writer_insert``: one insert attempt;
``failures``: what an insert's error means) behind the ``spool``, where a hit is appended and fsynced
before it is answered (``spool_segments``: what a write does; ``spool_refusal``: a disk that refuses
writes, and how that ends; ``spool_replay``: the records replayed after a crash or an outage;
``spool_files``: the files; ``spool_format``: the bytes); ``permissions`` keeps the data folder
private; ``periodic`` runs background work on the database (retention, the visit summary).

Imports nothing else of the gateway: every other package may import it.
"""
