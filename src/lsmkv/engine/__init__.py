"""The engine: write path, read path, background work and recovery, one module per
concept; db.py's `DB` is the facade that inherits them (see engine/base.py).

base.py       the shared fields and checks, and the mixins' common base
commit.py     group commit: the write queue's Writer and how a group is formed
writes.py     the commit path, the lone unsynced write, the memtable switch
stalls.py     write back-pressure: slowdown and stop
read.py       the point lookup over a SuperVersion (pure functions)
get.py        reads at a snapshot, multi_get, traced gets
scan.py       range scans: sources, merge, tally
snapshots.py  the sequence numbers open snapshots pin
flush.py      an immutable memtable becomes a level-0 table
background.py the flush thread and compaction threads: what runs next, manual requests, hints
obsolete.py   deleting files nothing needs any more
recovery.py   open: create or recover a store
closing.py    close, and a simulated power loss
stats.py      the figures of stats()
state.py      SuperVersion: what a reader sees, swapped whole
tables.py     the cache of open table readers
"""
