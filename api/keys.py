"""API keys: generated at random, shown once, stored as a keyed hash.

A key reads `lk_<key id>_<secret>`: the key id (12 hex characters) finds the stored row, the
secret is 32 random bytes (base64url). Such a key has 256 bits of entropy, so a slow password
hash buys nothing; what is stored is HMAC-SHA256(pepper, key), with the pepper only in the
server's environment: a stolen table alone cannot be used to check guesses.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from typing import Final

KEY_PREFIX: Final = "lk_"
_KEY_RE: Final = re.compile(r"^lk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")


class KeyFormatError(ValueError):
    """Not something this server issued."""


def new_key() -> tuple[str, str]:
    """(key id, full key)."""
    key_id = secrets.token_hex(6)
    secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    return key_id, f"{KEY_PREFIX}{key_id}_{secret}"


def key_id_of(key: str) -> str:
    match = _KEY_RE.match(key)
    if match is None:
        raise KeyFormatError("malformed API key")
    return match.group(1)


def hash_key(key: str, pepper: bytes) -> str:
    return hmac.new(pepper, key.encode(), hashlib.sha256).hexdigest()


def key_matches(key: str, stored_hash: str, pepper: bytes) -> bool:
    return hmac.compare_digest(hash_key(key, pepper), stored_hash)


def new_webhook_secret() -> str:
    """A Standard Webhooks signing secret: `whsec_` + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
