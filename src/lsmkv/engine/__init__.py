"""The engine: write path, read path, background work and recovery, wired by db.py."""
