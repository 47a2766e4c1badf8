"""Monitoring: the prediction log, drift, delayed labels and SLO evaluation."""
