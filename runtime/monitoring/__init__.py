"""Monitoring: what the serving path logged, judged against the spec's objectives."""
