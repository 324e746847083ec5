"""Secrets at rest: a provider's stored API token is Fernet ciphertext in its column.

The key is derived (HKDF-SHA256 under a fixed label) from GATEWAY_SECRETS_KEY, which defaults to
DJANGO_SECRET_KEY. Keys in GATEWAY_SECRETS_KEY_FALLBACKS still decrypt and the current key
encrypts, so a key can rotate while old ciphertext stays readable until its row is saved again
(https://cryptography.io/en/latest/fernet/#cryptography.fernet.MultiFernet).
"""

from __future__ import annotations

import base64
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import models

# Marks the stored form: a row written before encryption (no prefix) still reads as plaintext.
PREFIX = "fernet:"
# The HKDF label binds the derived key to this one use of GATEWAY_SECRETS_KEY
# (https://www.rfc-editor.org/rfc/rfc5869#section-3.2). Changing it loses every stored token.
KEY_INFO = b"ai-gateway provider api tokens v1"


def fernet_key(secret: str) -> bytes:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=KEY_INFO).derive(secret.encode())
    return base64.urlsafe_b64encode(derived)


@lru_cache(maxsize=8)
def _cipher(current: str, fallbacks: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(fernet_key(secret)) for secret in (current, *fallbacks)])


def cipher() -> MultiFernet:
    """The current key first (it encrypts), then the fallbacks (they only decrypt)."""
    return _cipher(settings.GATEWAY_SECRETS_KEY, tuple(settings.GATEWAY_SECRETS_KEY_FALLBACKS))


def is_encrypted(stored: str) -> bool:
    return stored.startswith(PREFIX)


def encrypt(plaintext: str) -> str:
    return PREFIX + cipher().encrypt(plaintext.encode()).decode("ascii")


def decrypt(stored: str) -> str:
    """The plaintext of a stored value; one saved before encryption is returned as it is.

    Raises InvalidToken when neither the current key nor a fallback opens it.
    """
    if not is_encrypted(stored):
        return stored
    return cipher().decrypt(stored[len(PREFIX) :].encode()).decode()


class UnreadableSecret(str):
    """A stored secret no configured key opens (the key was changed or lost).

    It reads as "" — no token, so nothing of it goes upstream — and a save writes the stored
    ciphertext back unchanged, so restoring the key brings the token back.
    """

    stored: str

    def __new__(cls, stored: str) -> UnreadableSecret:
        secret = super().__new__(cls, "")
        secret.stored = stored
        return secret

    def __repr__(self) -> str:
        return "UnreadableSecret()"  # never the ciphertext, in a traceback or a log line


class EncryptedTokenField(models.TextField):
    """Plaintext in Python, ciphertext in the column, whatever writes it: save(), queryset.update(),
    the admin. Text, not varchar: the ciphertext is about 1.4 times the plaintext plus 80 characters.

    Serialized (dumpdata, serializers.serialize) as ciphertext too: a fixture is a file on someone's
    disk. Loading one (loaddata) decrypts it through to_python, so the save encrypts it once again
    under the current key; one no configured key opens is written back as it was.
    """

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        if not value:
            return value
        try:
            return decrypt(value)
        except InvalidToken:
            return UnreadableSecret(value)

    def to_python(self, value: Any) -> Any:
        # Also runs in full_clean on whatever the attribute holds: plaintext passes as it is.
        value = super().to_python(value)
        if not isinstance(value, str) or isinstance(value, UnreadableSecret) or not is_encrypted(value):
            return value
        try:
            return decrypt(value)
        except InvalidToken:
            return UnreadableSecret(value)

    def value_to_string(self, obj: models.Model) -> str:
        value = self.value_from_object(obj)
        if isinstance(value, UnreadableSecret):
            return value.stored
        return encrypt(value) if value else ""

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if isinstance(value, UnreadableSecret):
            return value.stored
        return encrypt(value) if value else value
