"""The lowest layer: the error classes, the durability setting and the on-disk names
that every other layer shares. It imports nothing of wfstore but the core."""
