"""Clip storage: one interface (:mod:`app.storage.base`), backends chosen by CLIP_STORAGE_BACKEND.

``local`` (the default) keeps files under CLIP_STORAGE_ROOT; an S3-compatible
backend can join BACKENDS without any caller changing.
"""
from __future__ import annotations

from collections.abc import Callable

from flask import Flask, current_app

from app.storage.base import (
    Appender,
    ClipStorage,
    InvalidKey,
    ObjectMissing,
    StorageBusy,
    StorageError,
    new_key,
)
from app.storage.local import LocalDiskStorage

BACKENDS: dict[str, Callable[[Flask], ClipStorage]] = {
    "local": lambda app: LocalDiskStorage(app.config["CLIP_STORAGE_ROOT"]),
}


def get_storage(app: Flask | None = None) -> ClipStorage:
    """The app's clip storage, built once per app from its configuration."""
    app = app or current_app._get_current_object()
    storage = app.extensions.get("porchlight.clip_storage")
    if storage is None:
        name = app.config.get("CLIP_STORAGE_BACKEND") or "local"
        try:
            factory = BACKENDS[name]
        except KeyError:
            raise RuntimeError(f"CLIP_STORAGE_BACKEND must be one of {sorted(BACKENDS)}, got {name!r}") from None
        storage = app.extensions["porchlight.clip_storage"] = factory(app)
    return storage


__all__ = ["Appender", "ClipStorage", "InvalidKey", "ObjectMissing", "StorageBusy", "StorageError",
           "LocalDiskStorage", "get_storage", "new_key"]
