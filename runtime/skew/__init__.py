"""Live training–serving skew: logged predictions' features recomputed by
the batch engine at the same instant and compared (``live``)."""

from runtime.skew.live import SkewMismatch, SkewReport, check_live_skew, sampled

__all__ = ["SkewMismatch", "SkewReport", "check_live_skew", "sampled"]
