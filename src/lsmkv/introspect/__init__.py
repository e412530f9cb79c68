"""Introspection: verify, where, explain and dumps. Reads the engine's structures and
returns plain data; the CLI and the replay render it."""
