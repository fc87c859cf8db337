"""Child processes that a test interrupts as a terminal's Ctrl-C would."""

from __future__ import annotations

import signal


def ctrl_c_reaches_it() -> None:
    """A `preexec_fn`: SIGINT back to its default in the child, so Python there installs its
    KeyboardInterrupt handler. A shell that starts a command in the background (a CI runner's
    job, `make test &`) has it ignore SIGINT, and a child inherits that: sent SIGINT, it would
    go on as if nothing happened."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
