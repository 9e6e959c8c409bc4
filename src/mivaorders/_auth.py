"""Credentials: turn the exact request body bytes into an ``X-Miva-API-Authorization`` value.

Each scheme validates its material at construction (a clear :class:`ConfigurationError` that names the
problem, never the secret) and signs whatever bytes it is given, so the client can serialise a body once and
send exactly the bytes it signed. Every ``repr`` hides the secrets.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Generator
from typing import TYPE_CHECKING, ClassVar, Literal, Protocol, runtime_checkable

import httpx

from ._exceptions import ConfigurationError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

__all__ = ["Auth", "HmacAuth", "SshAuth", "TokenAuth"]

AUTH_HEADER = "X-Miva-API-Authorization"


@runtime_checkable
class Auth(Protocol):
    """What a client needs from credentials: the header value for a body."""

    def authorization(self, body: bytes) -> str:
        """The ``X-Miva-API-Authorization`` value for exactly these body bytes."""
        ...


class _HttpxAuth(httpx.Auth):
    """Lets our credentials also sign requests sent with a plain ``httpx.Client(auth=...)``."""

    requires_request_body = True

    def authorization(self, body: bytes) -> str:
        raise NotImplementedError

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers[AUTH_HEADER] = self.authorization(request.content)
        yield request


def _check_token(token: object, *, what: str = "token") -> str:
    if not isinstance(token, str):
        raise ConfigurationError(f"{what} must be a string, not {type(token).__name__}")
    if not token:
        raise ConfigurationError(f"{what} is empty")
    if any(ch.isspace() for ch in token) or ":" in token:
        # The server splits the header on spaces and colons, so such a token can never authenticate.
        raise ConfigurationError(f"{what} contains whitespace or ':'; copy it again from the Miva admin")
    return token


def decode_signing_key(signing_key: object) -> bytes:
    """Base64-decode a signing key as Miva shows it, padding it with ``=`` first (some keys lack it)."""
    if not isinstance(signing_key, str):
        raise ConfigurationError(f"signing_key must be a base64 string, not {type(signing_key).__name__}")
    text = signing_key.strip()
    if not text:
        raise ConfigurationError("signing_key is empty; use TokenAuth for a token without a signing key")
    padded = text + "=" * (-len(text) % 4)
    try:
        key = base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigurationError("signing_key is not valid base64") from None
    if not key:
        raise ConfigurationError("signing_key decodes to no bytes")
    return key


class TokenAuth(_HttpxAuth):
    """``MIVA <token>``: the token alone, for API tokens that require no signature."""

    __slots__ = ("_token",)

    def __init__(self, token: str) -> None:
        self._token = _check_token(token)

    def authorization(self, body: bytes) -> str:
        return f"MIVA {self._token}"

    def __repr__(self) -> str:
        return "TokenAuth(token=<redacted>)"


class _SigningAuth(_HttpxAuth):
    """What the schemes that sign the body share: the digest they sign with, and a repr without secrets."""

    __slots__ = ("_digest",)

    _digest: str
    _hidden: ClassVar[str]  # the repr's stand-in for the secret arguments

    @property
    def digest(self) -> str:
        return self._digest

    def __repr__(self) -> str:
        # getattr: safe on a half-built object too (error reporters print the locals of failing frames)
        return f"{type(self).__name__}({self._hidden}, digest={getattr(self, '_digest', None)!r})"


class HmacAuth(_SigningAuth):
    """``MIVA-HMAC-SHA256 <token>:<signature>`` (or SHA1): an HMAC of the body with the signing key."""

    __slots__ = ("_key", "_scheme", "_token")
    _hidden = "token=<redacted>, signing_key=<redacted>"

    def __init__(self, token: str, signing_key: str, digest: Literal["sha256", "sha1"] = "sha256") -> None:
        self._token = _check_token(token)
        self._key = decode_signing_key(signing_key)
        if digest not in ("sha256", "sha1"):
            raise ConfigurationError(f"digest must be 'sha256' or 'sha1', not {digest!r}")
        self._digest: Literal["sha256", "sha1"] = digest
        self._scheme = "MIVA-HMAC-SHA256" if digest == "sha256" else "MIVA-HMAC-SHA1"

    def signature(self, body: bytes) -> str:
        """Standard base64 of the raw HMAC digest of ``body``."""
        mac = hmac.new(self._key, body, hashlib.sha256 if self._digest == "sha256" else hashlib.sha1)
        return base64.b64encode(mac.digest()).decode("ascii")

    def authorization(self, body: bytes) -> str:
        return f"{self._scheme} {self._token}:{self.signature(body)}"


class SshAuth(_SigningAuth):
    """``SSH-RSA-SHA2-256 <base64 user>:<signature>``: an admin user's RSA key signs the body.

    ``private_key`` is PEM text or bytes (PKCS#1 or PKCS#8) or a loaded ``cryptography`` RSA key. Needs the
    ``ssh`` extra (``pip install mivaorders[ssh]``). The store always requires a timestamp within 30 seconds
    for this scheme, which the client always sends.
    """

    __slots__ = ("_key", "_scheme", "_user")
    _hidden = "username=<redacted>, private_key=<redacted>"

    def __init__(
        self,
        username: str,
        private_key: str | bytes | RSAPrivateKey,
        digest: Literal["sha256", "sha512"] = "sha256",
        *,
        password: bytes | None = None,
    ) -> None:
        if not isinstance(username, str) or not username:
            raise ConfigurationError("username must be a non-empty string")
        if digest not in ("sha256", "sha512"):
            raise ConfigurationError(f"digest must be 'sha256' or 'sha512', not {digest!r}")
        try:
            from cryptography.hazmat.primitives import serialization
            from cryptography.hazmat.primitives.asymmetric import rsa
        except ImportError:  # pragma: no cover - exercised only without the extra
            raise ConfigurationError(
                "SshAuth needs the 'cryptography' package: pip install 'mivaorders[ssh]'"
            ) from None
        if isinstance(private_key, rsa.RSAPrivateKey):
            key = private_key
        else:
            data = private_key.encode("utf-8") if isinstance(private_key, str) else private_key
            try:
                loaded = serialization.load_pem_private_key(data, password=password)
            except (ValueError, TypeError):
                raise ConfigurationError(
                    "private_key is not a readable PEM private key (OpenSSH-format keys must be converted "
                    "to PKCS#8 first, e.g. ssh-keygen -p -m PKCS8)"
                ) from None
            if not isinstance(loaded, rsa.RSAPrivateKey):
                raise ConfigurationError("private_key must be an RSA key; Miva supports RSA only")
            key = loaded
        self._key = key
        self._user = base64.b64encode(username.encode("utf-8")).decode("ascii")
        self._digest: Literal["sha256", "sha512"] = digest
        self._scheme = "SSH-RSA-SHA2-256" if digest == "sha256" else "SSH-RSA-SHA2-512"

    def signature(self, body: bytes) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        algorithm = hashes.SHA256() if self._digest == "sha256" else hashes.SHA512()
        raw = self._key.sign(body, padding.PKCS1v15(), algorithm)
        return base64.b64encode(raw).decode("ascii")

    def authorization(self, body: bytes) -> str:
        return f"{self._scheme} {self._user}:{self.signature(body)}"
