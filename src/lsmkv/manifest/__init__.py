"""The version set: which SSTables are live, at which level, recorded in the manifest."""
