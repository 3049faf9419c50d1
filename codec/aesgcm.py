"""AES-GCM payload codec with key ids, so keys can be rotated without losing old histories."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
from collections.abc import Mapping, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, PayloadCodec

ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
KEY_BYTES = 32
NONCE_BYTES = 12


class KeySpecError(ValueError):
    """A payload key setting that cannot be parsed (the message never contains key material)."""


class PayloadDecryptionError(ValueError):
    """An encrypted payload that cannot be decrypted."""


class UnknownKeyIdError(PayloadDecryptionError):
    """An encrypted payload names a key id this process does not hold."""


def new_key() -> str:
    """A fresh random 256-bit key, base64-encoded as the key setting expects."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode("ascii")


def load_keys(spec: str) -> tuple[dict[str, bytes], str]:
    """Parse ``"k2:BASE64,k1:BASE64"`` into keys by id and the current (first) key id."""
    keys: dict[str, bytes] = {}
    current: str | None = None
    for position, entry in enumerate(part.strip() for part in spec.split(",")):
        if not entry:
            continue
        key_id, sep, encoded = entry.partition(":")
        key_id = key_id.strip()
        if not sep or not key_id:
            raise KeySpecError(f"payload key #{position + 1} is not of the form KEY_ID:BASE64KEY")
        if key_id in keys:
            raise KeySpecError(f"payload key id {key_id!r} appears twice")
        try:
            key = base64.b64decode(encoded.strip(), validate=True)
        except binascii.Error:
            raise KeySpecError(f"payload key {key_id!r} is not valid base64") from None
        if len(key) != KEY_BYTES:
            raise KeySpecError(
                f"payload key {key_id!r} has {len(key)} bytes; AES-256 needs {KEY_BYTES}"
            )
        keys[key_id] = key
        current = current or key_id
    if current is None:
        raise KeySpecError("no payload keys given")
    return keys, current


class EncryptionCodec(PayloadCodec):
    """Encrypts every payload with the current key; decrypts with whichever key it names."""

    def __init__(self, keys: Mapping[str, bytes], current_key_id: str) -> None:
        if current_key_id not in keys:
            raise KeySpecError(f"current payload key id {current_key_id!r} has no key")
        for key_id, key in keys.items():
            if len(key) != KEY_BYTES:
                raise KeySpecError(f"payload key {key_id!r} must have {KEY_BYTES} bytes")
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self.current_key_id = current_key_id

    @classmethod
    def from_spec(cls, spec: str) -> EncryptionCodec:
        """A codec from a key setting such as ``"k2:BASE64,k1:BASE64"``."""
        return cls(*load_keys(spec))

    @property
    def key_ids(self) -> list[str]:
        """Every key id this codec can decrypt."""
        return list(self._ciphers)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Encrypt each payload, metadata included, with the current key."""
        return [self._encrypt(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Decrypt encrypted payloads; others pass through (histories from before encryption)."""
        return [
            self._decrypt(payload) if payload.metadata.get("encoding") == ENCODING else payload
            for payload in payloads
        ]

    def _encrypt(self, payload: Payload) -> Payload:
        key_id = self.current_key_id
        nonce = os.urandom(NONCE_BYTES)
        # The key id is authenticated data: a payload relabelled with another id fails to open.
        sealed = self._ciphers[key_id].encrypt(nonce, payload.SerializeToString(), key_id.encode())
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID_METADATA: key_id.encode()},
            data=nonce + sealed,
        )

    def _decrypt(self, payload: Payload) -> Payload:
        raw_id = payload.metadata.get(KEY_ID_METADATA)
        if raw_id is None:
            raise PayloadDecryptionError(f"encrypted payload has no {KEY_ID_METADATA} metadata")
        key_id = raw_id.decode(errors="replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise UnknownKeyIdError(
                f"payload encrypted with key id {key_id!r}, which is not among the configured "
                f"payload keys ({', '.join(self._ciphers)}); keep old keys after a rotation"
            )
        data = payload.data
        try:
            plain = cipher.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], key_id.encode())
        except InvalidTag:
            raise PayloadDecryptionError(
                f"payload does not decrypt with key {key_id!r} (wrong key or tampered data)"
            ) from None
        decoded = Payload()
        decoded.ParseFromString(plain)
        return decoded


def data_converter_with_codec(codec: PayloadCodec | None) -> DataConverter:
    """orderclock's pydantic data converter, encrypting through codec when one is given."""
    if codec is None:
        return pydantic_data_converter
    return dataclasses.replace(pydantic_data_converter, payload_codec=codec)


def data_converter_for(key_spec: str | None) -> DataConverter:
    """The data converter for a payload key setting; None or empty means no encryption."""
    if not key_spec:
        return pydantic_data_converter
    return data_converter_with_codec(EncryptionCodec.from_spec(key_spec))
