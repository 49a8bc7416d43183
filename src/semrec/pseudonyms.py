"""Shoppers are stored under pseudonyms: a keyed hash of their id, with the server's secret."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets

from semrec.store.protocol import Store

SECRET_VARIABLE = "SEMREC_PSEUDONYM_SECRET"


def pseudonym(secret: bytes, user_id: str) -> str:
    """The key a shopper's data is stored under (raw ids are never written)."""
    return hmac.new(secret, user_id.encode(), hashlib.sha256).hexdigest()[:32]


def store_secret(store: Store, configured: str | None = None) -> bytes:
    """The secret the server pseudonymises with: the configured one (setting or environment), or the
    one generated once and kept in the store."""
    configured = configured if configured is not None else os.environ.get(SECRET_VARIABLE)
    if configured:
        return configured.encode()
    return store.setdefault_meta("pseudonym_secret", secrets.token_hex(32)).encode()
