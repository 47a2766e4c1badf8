"""The prediction log: every request outcome the predictor answers or
refuses, first in a write-ahead store that survives kill -9 (``store``),
then compacted to hive-partitioned Parquet (``parquet``), read back as one
table for monitoring (``reader``)."""

from runtime.predlog.store import LogError, PredictionLog

__all__ = ["LogError", "PredictionLog"]
