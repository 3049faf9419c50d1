"""Payload encryption: personal data in workflow inputs and histories is stored encrypted."""

from codec.aesgcm import (
    ENCODING,
    KEY_ID_METADATA,
    EncryptionCodec,
    KeySpecError,
    PayloadDecryptionError,
    UnknownKeyIdError,
    data_converter_for,
    data_converter_with_codec,
    load_keys,
    new_key,
)

__all__ = [
    "ENCODING",
    "KEY_ID_METADATA",
    "EncryptionCodec",
    "KeySpecError",
    "PayloadDecryptionError",
    "UnknownKeyIdError",
    "data_converter_for",
    "data_converter_with_codec",
    "load_keys",
    "new_key",
]
