"""The AES-GCM codec: round trip, no plaintext at rest, key rotation, old payloads pass through."""

from __future__ import annotations

import base64

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter

from codec import (
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
from models.common import Party

CUSTOMER = Party(id="cus-1", name="Cleo Customer", email="cleo@example.com")
K1 = bytes(range(32))
K2 = bytes(range(32, 64))


def spec(*pairs: tuple[str, bytes]) -> str:
    return ",".join(f"{key_id}:{base64.b64encode(key).decode()}" for key_id, key in pairs)


def customer_payload() -> Payload:
    return pydantic_data_converter.payload_converter.to_payloads([CUSTOMER])[0]


async def test_round_trip_hides_the_customer() -> None:
    codec = EncryptionCodec({"k1": K1}, "k1")
    original = customer_payload()
    [encrypted] = await codec.encode([original])

    assert encrypted.metadata["encoding"] == ENCODING
    assert encrypted.metadata[KEY_ID_METADATA] == b"k1"
    stored = encrypted.SerializeToString()
    for secret in (b"Cleo Customer", b"cleo@example.com", b"json/plain"):
        assert secret not in stored
    assert await codec.decode([encrypted]) == [original]


async def test_same_payload_encrypts_differently_each_time() -> None:
    codec = EncryptionCodec({"k1": K1}, "k1")
    first, second = await codec.encode([customer_payload(), customer_payload()])
    assert first.data != second.data


async def test_converter_with_codec_round_trips_models() -> None:
    converter = data_converter_with_codec(EncryptionCodec({"k1": K1}, "k1"))
    payloads = await converter.encode([CUSTOMER])
    assert payloads[0].metadata["encoding"] == ENCODING
    assert await converter.decode(payloads, [Party]) == [CUSTOMER]
    assert data_converter_with_codec(None) is pydantic_data_converter
    assert data_converter_for(None) is pydantic_data_converter
    assert data_converter_for(spec(("k1", K1))).payload_codec is not None


async def test_old_key_still_decrypts_after_rotation() -> None:
    before = EncryptionCodec.from_spec(spec(("k1", K1)))
    [old] = await before.encode([customer_payload()])

    after = EncryptionCodec.from_spec(spec(("k2", K2), ("k1", K1)))
    assert after.current_key_id == "k2"
    [new] = await after.encode([customer_payload()])

    assert new.metadata[KEY_ID_METADATA] == b"k2"
    assert await after.decode([old, new]) == [customer_payload(), customer_payload()]


async def test_unknown_key_id_is_a_clear_error() -> None:
    [encrypted] = await EncryptionCodec({"k1": K1}, "k1").encode([customer_payload()])
    with pytest.raises(UnknownKeyIdError, match=r"key id 'k1'.*not among.*\(k2\)"):
        await EncryptionCodec({"k2": K2}, "k2").decode([encrypted])


async def test_wrong_key_or_relabelled_payload_does_not_open() -> None:
    [encrypted] = await EncryptionCodec({"k1": K1}, "k1").encode([customer_payload()])
    with pytest.raises(PayloadDecryptionError, match="does not decrypt"):
        await EncryptionCodec({"k1": K2}, "k1").decode([encrypted])
    relabelled = Payload()
    relabelled.CopyFrom(encrypted)
    relabelled.metadata[KEY_ID_METADATA] = b"k2"
    with pytest.raises(PayloadDecryptionError, match="does not decrypt"):
        await EncryptionCodec({"k1": K1, "k2": K1}, "k1").decode([relabelled])


async def test_unencrypted_payloads_pass_through() -> None:
    codec = EncryptionCodec({"k1": K1}, "k1")
    plain = customer_payload()
    binary = Payload(metadata={"encoding": b"binary/null"})
    assert await codec.decode([plain, binary]) == [plain, binary]


def test_load_keys_takes_the_first_as_current() -> None:
    key = new_key()
    assert len(base64.b64decode(key)) == 32
    keys, current = load_keys(f" k2:{key} , {spec(('k1', K1))}")
    assert current == "k2"
    assert keys == {"k2": base64.b64decode(key), "k1": K1}


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("", "no payload keys"),
        ("k1", "KEY_ID:BASE64KEY"),
        (":" + base64.b64encode(K1).decode(), "KEY_ID:BASE64KEY"),
        ("k1:not base64!", "not valid base64"),
        ("k1:" + base64.b64encode(b"short").decode(), "5 bytes"),
        (spec(("k1", K1), ("k1", K2)), "appears twice"),
    ],
)
def test_bad_key_specs_are_refused_without_echoing_keys(bad: str, message: str) -> None:
    with pytest.raises(KeySpecError, match=message) as caught:
        load_keys(bad)
    assert base64.b64encode(K1).decode() not in str(caught.value)
