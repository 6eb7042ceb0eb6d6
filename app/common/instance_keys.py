"""Keys a development or embedded install keeps in instance/ when none is configured.

Written whole to a temporary file, then linked into place: link() fails if another process
got there first, so every process (gunicorn's workers, the worker, a CLI command) ends up
with the same, complete key.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def read_or_create(path: Path, generate: Callable[[], str]) -> tuple[str, bool]:
    """The key text in ``path``, generated into it first when missing; and whether this call made it."""
    made = False
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
        try:
            with os.fdopen(fd, "w") as f:
                f.write(generate() + "\n")
            os.chmod(tmp, 0o600)
            try:
                os.link(tmp, path)
                made = True
            except FileExistsError:
                pass
        finally:
            os.unlink(tmp)
    return path.read_text(), made
