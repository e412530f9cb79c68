"""Composable iterators: sources of internal entries, merged, then made user-facing."""
