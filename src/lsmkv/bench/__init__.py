"""`lsmkv bench`: benchmarks beside the engine (public and introspection API only).

Placeholder so `lsmkv.bench.queue` imports; the bench suite replaces it.
"""
