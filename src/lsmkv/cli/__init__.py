"""The `lsmkv` command line: renders what the public and introspection APIs return."""
