"""Compaction: choosing tables to merge (picker), deciding what survives (retention),
and doing the I/O (job)."""
