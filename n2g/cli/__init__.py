"""The command line: `n2g` and `n2g-search`."""
