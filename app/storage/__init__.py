"""Clip storage: one interface (:mod:`app.storage.base`), the backend chosen by configuration.

``STORAGE_URL=s3://bucket/prefix`` keeps clips in an S3-compatible object store
(app/storage/s3.py, with the S3_* settings); unset, clips are files under
CLIP_STORAGE_ROOT (app/storage/local.py). CLIP_STORAGE_BACKEND (``local`` or ``s3``)
still names the backend, and ``s3`` needs STORAGE_URL.
"""
from __future__ import annotations

from collections.abc import Callable

from flask import Flask, current_app

from app.extensions import db
from app.storage import s3
from app.storage.base import (
    Appender,
    ClipStorage,
    InvalidKey,
    ObjectMissing,
    StorageBusy,
    StorageError,
    StorageUnavailable,
    new_key,
)
from app.storage.local import LocalDiskStorage
from app.storage.locks import database_locks


def _s3(app: Flask) -> ClipStorage:
    if not app.config.get("STORAGE_URL"):
        raise RuntimeError("CLIP_STORAGE_BACKEND=s3 needs STORAGE_URL=s3://bucket/prefix")

    def engine():
        with app.app_context():
            return db.engine

    return s3.from_config(app.config, database_locks(engine))


BACKENDS: dict[str, Callable[[Flask], ClipStorage]] = {
    "local": lambda app: LocalDiskStorage(app.config["CLIP_STORAGE_ROOT"]),
    "s3": _s3,
}


def backend_name(app: Flask) -> str:
    """``s3`` when STORAGE_URL is set, else CLIP_STORAGE_BACKEND (``local`` by default)."""
    return "s3" if app.config.get("STORAGE_URL") else app.config.get("CLIP_STORAGE_BACKEND") or "local"


def get_storage(app: Flask | None = None) -> ClipStorage:
    """The app's clip storage, built once per app from its configuration."""
    app = app or current_app._get_current_object()
    storage = app.extensions.get("porchlight.clip_storage")
    if storage is None:
        name = backend_name(app)
        try:
            factory = BACKENDS[name]
        except KeyError:
            raise RuntimeError(f"CLIP_STORAGE_BACKEND must be one of {sorted(BACKENDS)}, got {name!r}") from None
        storage = app.extensions["porchlight.clip_storage"] = factory(app)
    return storage


__all__ = ["Appender", "ClipStorage", "InvalidKey", "ObjectMissing", "StorageBusy", "StorageError",
           "StorageUnavailable", "LocalDiskStorage", "backend_name", "get_storage", "new_key"]
