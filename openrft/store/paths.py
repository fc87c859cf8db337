"""Paths the store keeps (a fine-tuned model's and each checkpoint's directory), written
relative to `OPENRFT_HOME`, so a home that moves (`mv home home2`) still finds its models.

Guarantees: a path under the home is stored relative to it (POSIX separators) and read back
under wherever the home is now; a path outside the home stays absolute. Rows written before
this rule (absolute, or relative to the old working directory) are rewritten once by a
migration (`m010_relative_paths`), which finds the job's own folder (`jobs/<job id>/...`) in
the old path even when the old home is gone.
A message stored for a client (a job's `error`) has the home taken out of the paths it names
(`without_home`), so it holds no host path either and shows none.
What it does not do: follow symlinks (the home is compared as given, made absolute), or move
files; the store only ever names directories the home already holds.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePath, PurePosixPath

__all__ = ["in_home", "located", "stored", "without_home"]


def stored(home: Path, path: str | os.PathLike[str]) -> str:
    """What the store keeps for `path`: relative to `home` when under it, else absolute."""
    absolute = Path(os.path.abspath(path))
    try:
        return absolute.relative_to(os.path.abspath(home)).as_posix()
    except ValueError:
        return str(absolute)


def without_home(home: Path, text: str) -> str:
    """`text` with paths under `home` made relative to it (`/srv/h/jobs/x` -> `jobs/x`) and
    the home itself named `OPENRFT_HOME`."""
    absolute = os.path.abspath(home)
    return text.replace(absolute + os.sep, "").replace(absolute, "OPENRFT_HOME")


def located(home: Path, value: str) -> Path:
    """Where a stored path is now: under `home` when relative."""
    path = Path(value)
    return path if path.is_absolute() else Path(os.path.abspath(home)) / path


def in_home(value: str, job_id: str, home: Path | None) -> str:
    """A path an older version stored, made relative to the home where possible: under
    `home` (the home as it is now), or from the job's own `jobs/<job_id>/` folder on, wherever
    the old home was; anything else is kept as it is."""
    path = PurePath(value)
    if home is not None and path.is_absolute():
        try:
            return path.relative_to(os.path.abspath(home)).as_posix()
        except ValueError:
            pass
    parts = path.parts
    for start in range(len(parts) - 2, -1, -1):  # the last `jobs/<id>` (a home might sit
        if parts[start : start + 2] == ("jobs", job_id):  # under a folder called `jobs`)
            return PurePosixPath(*parts[start:]).as_posix()
    return value
