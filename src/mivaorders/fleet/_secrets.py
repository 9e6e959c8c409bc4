"""Store credentials at rest: Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``) under the key in
``MIVAORDERS_FLEET_KEY``.

The key is a Fernet key (``Fleet.generate_key()``). Several keys, comma-separated, rotate: the first
encrypts, any of them decrypts. Credentials are decrypted only to build a client, in the process that
syncs; they never reach logs, reprs, ``status()`` or exception text.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from mivaorders._auth import Auth, HmacAuth, SshAuth, TokenAuth
from mivaorders._exceptions import ArgumentError, ConfigurationError

__all__ = ["KEY_VARIABLE", "Credentials", "auth_kind", "generate_key"]

KEY_VARIABLE = "MIVAORDERS_FLEET_KEY"


def generate_key() -> str:
    """A new random key for ``MIVAORDERS_FLEET_KEY`` (keep it in your secret store, not in the database)."""
    return Fernet.generate_key().decode("ascii")


def auth_kind(auth: Auth) -> str:
    if isinstance(auth, HmacAuth):
        return "hmac"
    if isinstance(auth, TokenAuth):
        return "token"
    if isinstance(auth, SshAuth):
        return "ssh"
    raise ArgumentError(
        f"auth must be TokenAuth, HmacAuth or SshAuth to be stored, not {type(auth).__name__}"
    )


def _material(auth: Auth) -> dict[str, str]:
    """The secrets an auth object holds, as JSON-able text (only ever encrypted afterwards)."""
    kind = auth_kind(auth)
    if isinstance(auth, HmacAuth):
        key = base64.b64encode(auth._key).decode("ascii")
        return {"kind": kind, "token": auth._token, "signing_key": key, "digest": auth.digest}
    if isinstance(auth, TokenAuth):
        return {"kind": kind, "token": auth._token}
    assert isinstance(auth, SshAuth)
    from cryptography.hazmat.primitives import serialization

    pem = auth._key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    user = base64.b64decode(auth._user).decode("utf-8")
    return {"kind": kind, "username": user, "private_key": pem.decode("ascii"), "digest": auth.digest}


def _auth(material: Mapping[str, Any]) -> Auth:
    kind = material.get("kind")
    if kind == "hmac":
        return HmacAuth(material["token"], material["signing_key"], material.get("digest", "sha256"))
    if kind == "token":
        return TokenAuth(material["token"])
    if kind == "ssh":
        return SshAuth(material["username"], material["private_key"], material.get("digest", "sha256"))
    raise ConfigurationError(f"stored credentials of unknown kind {kind!r}")


def secret_strings(auth: Auth) -> list[str]:
    """The texts that must never appear anywhere (to redact error messages)."""
    material = _material(auth)
    return [value for name, value in material.items() if name not in ("kind", "digest", "username")]


class Credentials:
    """Encrypts and decrypts store credentials with the fleet key."""

    __slots__ = ("_fernet",)

    def __init__(self, key: str | None = None) -> None:
        text = os.environ.get(KEY_VARIABLE, "") if key is None else key
        keys = [part.strip() for part in text.split(",") if part.strip()]
        if not keys:
            raise ConfigurationError(
                f"{KEY_VARIABLE} is not set: the fleet encrypts store credentials with it. Create one with "
                "`mivaorders fleet keygen` and give the same key to every worker"
            )
        try:
            self._fernet = MultiFernet([Fernet(k.encode("ascii")) for k in keys])
        except (ValueError, UnicodeEncodeError):
            raise ConfigurationError(
                f"{KEY_VARIABLE} is not a valid key (32 url-safe base64-encoded bytes; "
                "`mivaorders fleet keygen` makes one)"
            ) from None

    def __repr__(self) -> str:
        return "Credentials(key=<redacted>)"

    def seal(self, auth: Auth) -> bytes:
        return self._fernet.encrypt(json.dumps(_material(auth)).encode("utf-8"))

    def open(self, sealed: bytes) -> Auth:
        try:
            plain = self._fernet.decrypt(bytes(sealed))
        except InvalidToken:
            raise ConfigurationError(
                f"the stored credentials cannot be decrypted with {KEY_VARIABLE}: wrong key, or a key "
                "rotated out too early (keep the old key after the new one until `fleet rekey` ran)"
            ) from None
        return _auth(json.loads(plain))

    def reseal(self, sealed: bytes) -> bytes:
        """Re-encrypt under the first key (key rotation)."""
        return self._fernet.rotate(bytes(sealed))
