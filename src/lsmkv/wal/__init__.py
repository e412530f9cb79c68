"""The write-ahead log: every write is appended (and normally fsync'd) here first."""
