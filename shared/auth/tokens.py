"""API tokens: ``ctr_<token_id>_<secret>``, stored as a salted scrypt hash of the whole token.

``token_id`` (12 characters of ``[a-z0-9]``) finds the stored row; the secret
(32 random bytes, URL-safe base64) is never stored. scrypt's cost is kept to a
few milliseconds per verify: the secret has 256 bits of entropy, so the hash
needs no work factor against guessing, and services cache a verified
credential for a few seconds anyway.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from dataclasses import dataclass

PREFIX = "ctr_"
TOKEN_ID_LENGTH = 12
_ALPHABET = string.ascii_lowercase + string.digits
_TOKEN = re.compile(r"^ctr_([a-z0-9]{12})_([A-Za-z0-9_\-]{43})$")

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**12, 8, 1
SALT_BYTES = 16


class MalformedToken(ValueError):
    """The text is not a Contrail API token."""


@dataclass(frozen=True)
class NewToken:
    token: str
    """The whole token: shown once, in the answer that creates it."""
    token_id: str
    hash: str
    salt: bytes


def looks_like_token(credential: str) -> bool:
    return credential.startswith(PREFIX)


def token_id_of(token: str) -> str:
    """The token's id, or ``MalformedToken``."""
    found = _TOKEN.match(token)
    if found is None:
        raise MalformedToken(
            "the token is not ctr_<12 characters a-z0-9>_<43 characters of URL-safe base64>"
        )
    return found.group(1)


def new_token_id() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(TOKEN_ID_LENGTH))


def hash_token(
    token: str, salt: bytes, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P
) -> str:
    """``scrypt$n$r$p$<hex>``: the parameters travel with the hash, so they may change later."""
    digest = hashlib.scrypt(token.encode(), salt=salt, n=n, r=r, p=p, dklen=32)
    return f"scrypt${n}${r}${p}${digest.hex()}"


def verify_token(token: str, stored_hash: str, salt: bytes) -> bool:
    try:
        scheme, n, r, p, _ = stored_hash.split("$")
        if scheme != "scrypt":
            return False
        expected = hash_token(token, salt, int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(expected, stored_hash)


def new_token() -> NewToken:
    token_id = new_token_id()
    token = f"{PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
    salt = secrets.token_bytes(SALT_BYTES)
    return NewToken(token, token_id, hash_token(token, salt), salt)
