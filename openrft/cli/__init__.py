"""The `openrft` command line: one module per command group, errors as one line."""
