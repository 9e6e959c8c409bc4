from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from mivaorders import ConfigurationError, HmacAuth, SshAuth, TokenAuth
from mivaorders._auth import decode_signing_key

from .conftest import load_fixture_plain

VECTORS: list[dict[str, Any]] = load_fixture_plain("hmac_test_vectors.json")["vectors"]


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_header_matches_vector(vector: dict[str, Any]) -> None:
    body = vector["body"].encode("utf-8")
    if vector["digest"] is None:
        auth: TokenAuth | HmacAuth = TokenAuth(vector["access_token"])
    else:
        auth = HmacAuth(vector["access_token"], vector["signing_key_b64"], digest=vector["digest"])
        assert auth.signature(body) == vector["signature_b64"]
    assert auth.authorization(body) == vector["header"]


def test_unpadded_key_is_padded_before_decoding() -> None:
    vector = next(v for v in VECTORS if "signing_key_b64_padded" in v)
    assert decode_signing_key(vector["signing_key_b64"]) == base64.b64decode(vector["signing_key_b64_padded"])


def test_signature_changes_with_every_byte() -> None:
    auth = HmacAuth("tok", base64.b64encode(b"k" * 32).decode())
    assert auth.signature(b'{"a":1}') != auth.signature(b'{"a":2}')


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda: TokenAuth(""), "token is empty"),
        (lambda: TokenAuth("has space"), "whitespace"),
        (lambda: TokenAuth("a:b"), "':'"),
        (lambda: HmacAuth("tok", ""), "signing_key is empty"),
        (lambda: HmacAuth("tok", "not base64 !!"), "not valid base64"),
        (lambda: HmacAuth("tok", "a2V5", digest="md5"), "digest"),  # type: ignore[arg-type]
        (lambda: SshAuth("", "x"), "username"),
        (lambda: SshAuth("ops", "-----BEGIN NOTHING-----"), "PEM"),
    ],
)
def test_bad_credentials_fail_at_construction(make: Any, needle: str) -> None:
    with pytest.raises(ConfigurationError, match=needle) as info:
        make()
    assert isinstance(info.value, ValueError)


def test_bad_key_error_does_not_echo_the_key() -> None:
    secret = "c2VjcmV0LXZhbHVl$$$"
    with pytest.raises(ConfigurationError) as info:
        HmacAuth("tok", secret)
    assert secret not in str(info.value)


def test_reprs_hide_secrets() -> None:
    key = base64.b64encode(b"super-secret-signing-key").decode()
    for auth in (TokenAuth("tok-SECRET"), HmacAuth("tok-SECRET", key)):
        text = repr(auth)
        assert "tok-SECRET" not in text
        assert key not in text
        assert "redacted" in text


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.mark.parametrize(
    ("digest", "scheme", "algorithm"),
    [("sha256", "SSH-RSA-SHA2-256", hashes.SHA256()), ("sha512", "SSH-RSA-SHA2-512", hashes.SHA512())],
)
def test_ssh_auth_signs_the_body(
    rsa_key: rsa.RSAPrivateKey, digest: Any, scheme: str, algorithm: hashes.HashAlgorithm
) -> None:
    pem = rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    auth = SshAuth("ops_user", pem.decode(), digest=digest)
    body = b'{"Store_Code":"EXSTORE","Function":"OrderList_Load_Query","Miva_Request_Timestamp":1}'
    header = auth.authorization(body)
    name, _, credential = header.partition(" ")
    user, _, signature = credential.partition(":")
    assert name == scheme
    assert user == "b3BzX3VzZXI="  # base64("ops_user"), as in the reference
    rsa_key.public_key().verify(base64.b64decode(signature), body, padding.PKCS1v15(), algorithm)
    assert "ops_user" not in repr(auth)


def test_ssh_auth_accepts_a_loaded_key_and_pkcs1(rsa_key: rsa.RSAPrivateKey) -> None:
    pkcs1 = rsa_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    assert SshAuth("u", pkcs1).authorization(b"x").startswith("SSH-RSA-SHA2-256 ")
    assert SshAuth("u", rsa_key).authorization(b"x").startswith("SSH-RSA-SHA2-256 ")


def test_ssh_auth_refuses_non_rsa_keys() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(ConfigurationError, match="RSA"):
        SshAuth("u", pem)


def test_auth_also_works_as_httpx_auth() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    auth = HmacAuth("tok", base64.b64encode(b"key").decode())
    with httpx.Client(transport=httpx.MockTransport(handler), auth=auth) as http:
        http.post("https://example.com/mm5/json.mvc", content=b'{"a":1}')
    assert seen[0].headers["X-Miva-API-Authorization"] == auth.authorization(b'{"a":1}')
