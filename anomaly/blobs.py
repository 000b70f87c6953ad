"""Length-prefixed framing for the opaque state blobs the detection stage saves.

A vessel's saved state is one blob holding a named part per detector (and the stage's own and
the shared trail's), so the store keeps one row per vessel. Framing rather than JSON, because
the parts are bytes already (JSON inside, or packed arrays) and base64 would cost a third more.
A blob starts with a format byte so later versions can read older blobs.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Final

__all__ = ["BlobFormatError", "pack_named", "unpack_named"]

_VERSION: Final = 1
_LENGTH: Final = struct.Struct("<I")
_NAME: Final = struct.Struct("<B")


class BlobFormatError(ValueError):
    """Bytes that are not a state blob this code can read."""


def pack_named(parts: Mapping[str, bytes]) -> bytes:
    """`{name: bytes}` -> one blob (names of at most 255 UTF-8 bytes)."""
    out = bytearray((_VERSION,))
    for name, data in parts.items():
        encoded = name.encode()
        out += _NAME.pack(len(encoded))
        out += encoded
        out += _LENGTH.pack(len(data))
        out += data
    return bytes(out)


def unpack_named(blob: bytes) -> dict[str, bytes]:
    if not blob or blob[0] != _VERSION:
        raise BlobFormatError(f"unknown state blob format {blob[:1]!r}")
    parts: dict[str, bytes] = {}
    view = memoryview(blob)
    at = 1
    try:
        while at < len(blob):
            (size,) = _NAME.unpack_from(view, at)
            at += _NAME.size
            name = bytes(view[at : at + size]).decode()
            at += size
            (length,) = _LENGTH.unpack_from(view, at)
            at += _LENGTH.size
            if at + length > len(blob):
                raise BlobFormatError(f"part {name!r} runs past the end of the blob")
            parts[name] = bytes(view[at : at + length])
            at += length
    except (struct.error, UnicodeDecodeError) as exc:
        raise BlobFormatError(f"truncated or corrupt state blob: {exc}") from exc
    return parts
