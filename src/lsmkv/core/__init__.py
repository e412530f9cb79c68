"""Foundations every layer shares: keys, entry kinds, file names, counters, tracing."""
