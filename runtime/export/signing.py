"""Ed25519 keys for the edge bundle.

The private key comes from a file mounted from a secret (PEM PKCS#8, or the
raw 32-byte seed).  Without one, a throwaway key is generated for this run
and the bundle records ``key.kind: throwaway``: an edge runner configured
with the production public key rejects it, so a locally built bundle can
never pass for a published one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = ["SigningError", "SigningKey", "key_id", "load_public_key", "load_signing_key", "public_bytes"]


class SigningError(Exception):
    """The signing key cannot be read or is not an Ed25519 key."""


@dataclass(frozen=True)
class SigningKey:
    private: Ed25519PrivateKey
    kind: str  # "secret" | "throwaway"
    source: str | None  # the key file (never its content)

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()


def public_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey) -> str:
    return hashlib.sha256(public_bytes(key)).hexdigest()[:16]


def load_signing_key(path: str | None) -> SigningKey:
    if path is None:
        return SigningKey(Ed25519PrivateKey.generate(), "throwaway", None)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise SigningError(f"{path}: cannot read the signing key ({exc.strerror}); mount the secret or unset "
                           "signing_key_file for a throwaway key") from None
    if len(data) == 32:
        return SigningKey(Ed25519PrivateKey.from_private_bytes(data), "secret", path)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise SigningError(f"{path}: not an unencrypted PEM private key or a raw 32-byte Ed25519 seed ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningError(f"{path}: the key is {type(key).__name__}, not Ed25519")
    return SigningKey(key, "secret", path)


def load_public_key(data: bytes) -> Ed25519PublicKey:
    """A trusted public key: raw 32 bytes, their hex, or PEM SubjectPublicKeyInfo."""
    text = data.strip()
    if len(text) == 64 and all(c in b"0123456789abcdefABCDEF" for c in text):
        data = bytes.fromhex(text.decode())  # the hex form export-onnx writes beside the bundle
    try:
        if len(data) == 32:
            return Ed25519PublicKey.from_public_bytes(data)
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise SigningError(f"not an Ed25519 public key: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningError(f"the public key is {type(key).__name__}, not Ed25519")
    return key
