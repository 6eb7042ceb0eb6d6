"""Reading a setting of the running app (config.py holds each default, docs/DEPLOY.md says what it does)."""
from __future__ import annotations

from flask import Flask, current_app


def setting(name: str, app: Flask | None = None) -> int:
    """The integer setting ``name`` of ``app`` (default: the current app)."""
    return int((app or current_app).config[name])
