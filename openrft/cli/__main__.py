"""`python -m openrft.cli` runs the `openrft` command."""

from openrft.cli.main import main

main()
