"""Persistent state under OPENRFT_HOME: uploaded files (and later jobs, events, checkpoints)."""
