"""Store settings for the CLI: flags, then environment variables, then a TOML config file.

Secrets (token, signing key) are never echoed: errors name the setting and where it can come from,
never its value.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import math
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs

from mivaorders._auth import Auth, HmacAuth, TokenAuth
from mivaorders._client import Client, _is_loopback

from .console import EXIT_USAGE, CliError

__all__ = ["DEFAULT_CONFIG", "StoreSettings", "resolve_settings"]

logger = logging.getLogger("mivaorders")

DEFAULT_CONFIG = "mivaorders.toml"

# setting -> (flag, environment variable or None)
_SOURCES: dict[str, tuple[str, str | None]] = {
    "endpoint": ("--endpoint", "MIVA_ENDPOINT"),
    "store_code": ("--store-code", "MIVA_STORE_CODE"),
    "token": ("--token", "MIVA_API_TOKEN"),
    "signing_key": ("--signing-key", "MIVA_SIGNING_KEY"),
    "signing_digest": ("--signing-digest", "MIVA_SIGNING_DIGEST"),
    "timeout": ("--timeout", "MIVA_TIMEOUT"),
}
SECRET_SETTINGS = ("token", "signing_key")


def _toml_loads() -> Callable[[str], dict[str, Any]]:
    # tomllib is stdlib from 3.11; 3.10 needs the tomli backport (same API). Imported by name so that
    # mypy, checking for 3.10 on a newer interpreter, does not need tomli installed.
    name = "tomllib" if sys.version_info >= (3, 11) else "tomli"
    try:
        module = importlib.import_module(name)
    except ImportError:
        raise CliError("reading a config file on Python 3.10 needs the 'tomli' package") from None
    loads: Callable[[str], dict[str, Any]] = module.loads
    return loads


@attrs.frozen
class StoreSettings:
    """Where the store is and how to sign in. Secrets are left out of the repr."""

    endpoint: str
    store_code: str
    token: str = attrs.field(repr=False)
    signing_key: str | None = attrs.field(repr=False)
    signing_digest: str
    timeout: float | None
    origins: Mapping[str, str]  # setting -> "flag", "environment" or the config file's path
    allow_insecure_http: bool = False

    def secrets(self) -> tuple[str, ...]:
        return tuple(value for value in (self.token, self.signing_key) if value)

    def auth(self) -> Auth:
        if self.signing_key:
            if self.signing_digest == "sha1":
                return HmacAuth(self.token, self.signing_key, digest="sha1")
            return HmacAuth(self.token, self.signing_key)
        return TokenAuth(self.token)

    def client(self) -> Client:
        options: dict[str, Any] = {}
        if self.timeout is not None:
            options["timeout"] = self.timeout
        parts = urlsplit(self.endpoint)
        if parts.scheme == "http" and not self.allow_insecure_http and not _is_loopback(parts.hostname or ""):
            # Said here in the CLI's words: the library's message names its Python argument.
            raise CliError(
                f"the endpoint from {self.origins.get('endpoint', 'the settings')} uses plain http:// to a "
                "non-loopback host: the token would travel unencrypted. Use https://, or pass "
                "--allow-insecure-http if you really mean it"
            )
        return Client(
            self.endpoint,
            store_code=self.store_code,
            auth=self.auth(),
            allow_insecure_http=self.allow_insecure_http,
            **options,
        )


def _config_path(args: argparse.Namespace, environ: Mapping[str, str]) -> Path | None:
    explicit = getattr(args, "config", None) or environ.get("MIVA_CONFIG", "").strip()
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise CliError(f"config file {str(path)!r} does not exist")
        return path
    default = Path(DEFAULT_CONFIG)
    return default if default.is_file() else None


def _read_config(path: Path) -> dict[str, Any]:
    loads = _toml_loads()
    try:
        data = loads(path.read_text("utf-8"))
    except OSError as exc:
        raise CliError(f"cannot read config file {str(path)!r}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise CliError(f"config file {str(path)!r} is not UTF-8 text") from None
    except ValueError as exc:  # TOMLDecodeError: the message names line and column, not the content
        raise CliError(f"config file {str(path)!r} is not valid TOML: {exc}") from None
    store = data.get("store", {})
    if not isinstance(store, dict):
        raise CliError(f"config file {str(path)!r}: [store] must be a table")
    unknown = sorted(set(store) - set(_SOURCES))
    if unknown:
        raise CliError(f"config file {str(path)!r}: unknown key(s) in [store]: {', '.join(unknown)}")
    return store


def _missing(name: str, path: Path | None) -> CliError:
    flag, env = _SOURCES[name]
    where = str(path) if path is not None else f"./{DEFAULT_CONFIG}"
    return CliError(
        f"no {name.replace('_', ' ')} configured: "
        f"pass {flag}, set {env}, or add {name} to [store] in {where}",
        EXIT_USAGE,
    )


def resolve_settings(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> StoreSettings:
    """The store settings, by precedence: flag > environment > config file."""
    env = os.environ if environ is None else environ
    path = _config_path(args, env)
    file_values = _read_config(path) if path is not None else {}
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for name, (_, env_name) in _SOURCES.items():
        flag_value = getattr(args, name, None)
        env_value = env.get(env_name, "").strip() if env_name else ""
        if flag_value not in (None, ""):
            values[name], origins[name] = flag_value, "flag"
        elif env_value:
            values[name], origins[name] = env_value, "environment"
        elif file_values.get(name) not in (None, ""):
            values[name], origins[name] = file_values[name], str(path)
    for name in ("endpoint", "store_code", "token"):
        if name not in values:
            raise _missing(name, path)
    for name in ("endpoint", "store_code", "token", "signing_key", "signing_digest"):
        if name in values and not isinstance(values[name], str):
            raise CliError(f"{name} from {origins[name]} must be a string")
    digest = str(values.get("signing_digest", "sha256")).strip().lower()
    if digest not in ("sha256", "sha1"):
        raise CliError(f"signing_digest from {origins['signing_digest']} must be sha256 or sha1")
    timeout: float | None = None
    if "timeout" in values:
        try:
            timeout = float(values["timeout"])
        except (TypeError, ValueError):
            timeout = -1.0
        if not (timeout > 0 and math.isfinite(timeout)):
            raise CliError(f"timeout from {origins['timeout']} must be a finite number of seconds > 0")
    settings = StoreSettings(
        endpoint=values["endpoint"].strip(),
        store_code=values["store_code"].strip(),
        token=values["token"].strip(),
        signing_key=(values.get("signing_key") or "").strip() or None,
        signing_digest=digest,
        timeout=timeout,
        origins=origins,
        allow_insecure_http=bool(getattr(args, "allow_insecure_http", False)),
    )
    # Where each setting came from, never its value.
    logger.debug(
        "store settings: %s", ", ".join(f"{name} from {origin}" for name, origin in sorted(origins.items()))
    )
    return settings
