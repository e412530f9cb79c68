"""Sorted string tables: immutable, sorted, checksummed files (docs/format/sstable.md)."""
