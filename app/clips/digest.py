"""A SHA-256 whose running state can be saved with an upload and continued by any process.

The server fingerprints every clip with SHA-256. Hashing the bytes as they arrive
costs nothing extra, but a resumable upload's chunks reach different app processes,
and hashlib's objects cannot be saved. OpenSSL's ``SHA256_CTX`` can: it is a plain
public struct (``<openssl/sha.h>``), so its bytes are stored beside the upload's
offset and the next PATCH, in whatever process, continues from them. Without that the
whole clip would be read back from storage when its last byte arrives (a second pass
over up to 4 GiB inside one request), which is what happens where libcrypto's
SHA-256 functions cannot be loaded (:func:`available` is False) or a saved state
comes from an incompatible build: the caller then hashes the clip from storage.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import sys

_MAGIC = b"SHA256CTXv1" + sys.byteorder[0].encode()


class _Sha256Ctx(ctypes.Structure):
    # typedef struct SHA256state_st { SHA_LONG h[8]; SHA_LONG Nl, Nh; SHA_LONG data[16];
    #                                 unsigned int num, md_len; } SHA256_CTX;
    _fields_ = [("h", ctypes.c_uint32 * 8), ("Nl", ctypes.c_uint32), ("Nh", ctypes.c_uint32),
                ("data", ctypes.c_uint32 * 16), ("num", ctypes.c_uint), ("md_len", ctypes.c_uint)]


STATE_SIZE = len(_MAGIC) + ctypes.sizeof(_Sha256Ctx)


def _load():
    name = ctypes.util.find_library("crypto")
    if not name:
        return None
    try:
        lib = ctypes.CDLL(name)  # CDLL calls release the GIL while OpenSSL hashes
        for fn, args in (("SHA256_Init", [ctypes.c_void_p]),
                         ("SHA256_Update", [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]),
                         ("SHA256_Final", [ctypes.c_char_p, ctypes.c_void_p])):
            getattr(lib, fn).argtypes = args
            getattr(lib, fn).restype = ctypes.c_int
    except (OSError, AttributeError):
        return None
    return lib


_lib = _load()


class ResumableSha256:
    """SHA-256 with ``state()`` to save and ``ResumableSha256(state)`` to continue."""

    def __init__(self, state: bytes | None = None) -> None:
        if _lib is None:
            raise RuntimeError("libcrypto's SHA-256 functions are not available")
        self._ctx = _Sha256Ctx()
        if state is None:
            _lib.SHA256_Init(ctypes.byref(self._ctx))
        else:
            if len(state) != STATE_SIZE or not state.startswith(_MAGIC):
                raise ValueError("not a saved SHA-256 state of this build")
            ctypes.memmove(ctypes.byref(self._ctx), state[len(_MAGIC):], ctypes.sizeof(_Sha256Ctx))

    @property
    def length(self) -> int:
        """Bytes hashed so far."""
        return ((self._ctx.Nh << 32) | self._ctx.Nl) // 8

    def update(self, data: bytes) -> None:
        if data:
            _lib.SHA256_Update(ctypes.byref(self._ctx), data, len(data))

    def state(self) -> bytes:
        return _MAGIC + ctypes.string_at(ctypes.byref(self._ctx), ctypes.sizeof(_Sha256Ctx))

    def hexdigest(self) -> str:
        """The digest of everything so far; the running state is left as it was."""
        ctx = _Sha256Ctx()
        ctypes.memmove(ctypes.byref(ctx), ctypes.byref(self._ctx), ctypes.sizeof(_Sha256Ctx))
        out = ctypes.create_string_buffer(32)
        _lib.SHA256_Final(out, ctypes.byref(ctx))
        return out.raw.hex()


def _self_test() -> bool:
    if _lib is None:
        return False
    try:
        first = ResumableSha256()
        first.update(b"porch" * 100)
        second = ResumableSha256(first.state())
        second.update(b"light" * 100)
        return second.hexdigest() == hashlib.sha256(b"porch" * 100 + b"light" * 100).hexdigest()
    except (ValueError, OSError):
        return False


_available = _self_test()


def available() -> bool:
    return _available


def resume(state: bytes | None, offset: int) -> ResumableSha256 | None:
    """The running hash of an upload's first ``offset`` bytes, or None when it must be read from storage."""
    if not _available:
        return None
    if offset == 0:
        return ResumableSha256()
    if state is None:
        return None
    try:
        running = ResumableSha256(state)
    except ValueError:
        return None
    # A state that does not cover exactly the committed bytes is no use: read them instead.
    return running if running.length == offset else None
