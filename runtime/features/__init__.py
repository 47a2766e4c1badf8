"""Features computed once for training and serving.

One definition (``definition``), two engines: ``batch`` (DuckDB over
Parquet, point-in-time correct) builds training tables; ``online``
(incremental per-entity state in an ``OnlineStore``: in-process, SQLite or
Redis) serves.  ``parity`` proves they agree; ``training`` cuts the
point-in-time training table with labels joined by availability.
"""

__all__: list[str] = []
