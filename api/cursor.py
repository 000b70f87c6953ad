"""Opaque polling cursors: clients store and send them back, never build them."""

from __future__ import annotations

import base64
from typing import Final

_PREFIX: Final = "c1"


class CursorError(ValueError):
    pass


def encode(seq: int) -> str:
    raw = seq.to_bytes(8, "big")
    return _PREFIX + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode(cursor: str | None) -> int:
    if not cursor:
        return 0
    if not cursor.startswith(_PREFIX) or len(cursor) != len(_PREFIX) + 11:
        raise CursorError("not a cursor this server issued")
    try:
        raw = base64.urlsafe_b64decode(cursor[len(_PREFIX) :] + "=")
    except ValueError as exc:
        raise CursorError("not a cursor this server issued") from exc
    value = int.from_bytes(raw, "big")
    if len(raw) != 8 or value >= 2**63:
        raise CursorError("not a cursor this server issued")
    return value
