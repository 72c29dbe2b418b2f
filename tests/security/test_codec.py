"""The payload codec on its own, with a stub key source: round trip, envelope metadata,
rotation, caching, tampering, failures. The real stack's tests are beside this one."""

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.converter import DataConverter
from temporalio.exceptions import ApplicationError

from domain.vendor import VendorApplication
from runtime.codec import (
    ENCODING,
    META_KEY_ID,
    META_WRAPPED_KEY,
    DataKeyRing,
    EncryptionCodec,
    LocalKeys,
    PayloadDecryptionError,
    decode_in_place,
    key_id_of,
)
from runtime.temporal import data_converter
from tests.helpers import vendor_application
from tests.security.history import found


class StubTransit:
    """A stand-in for Vault transit that counts its calls."""

    def __init__(self) -> None:
        self.local = LocalKeys()
        self.created = 0
        self.unwrapped = 0

    async def new_data_key(self) -> tuple[bytes, str]:
        self.created += 1
        return await self.local.new_data_key()

    async def unwrap(self, wrapped: str) -> bytes:
        self.unwrapped += 1
        return await self.local.unwrap(wrapped)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _ring(transit: StubTransit, clock: Clock, rotate: float = 60, cache: float = 600):
    return DataKeyRing(transit, rotate_after_seconds=rotate, cache_seconds=cache, clock=clock)


def _plain(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=text.encode())


async def test_round_trip_restores_metadata_and_data():
    codec = EncryptionCodec(_ring(StubTransit(), Clock()))
    originals = [_plain('"GB82WEST12345698765432"'), Payload(metadata={"encoding": b"binary/null"})]
    sealed = await codec.encode(originals)
    assert [p.metadata["encoding"] for p in sealed] == [ENCODING, ENCODING]
    assert all(b"GB82WEST" not in p.data for p in sealed)
    assert sealed[0].metadata[META_KEY_ID].decode() == key_id_of(
        sealed[0].metadata[META_WRAPPED_KEY].decode()
    )
    assert await codec.decode(sealed) == originals


async def test_encode_leaves_sealed_payloads_alone_and_decode_passes_plain_ones():
    codec = EncryptionCodec(_ring(StubTransit(), Clock()))
    sealed = await codec.encode([_plain('"a"')])
    again = await codec.encode([*sealed, _plain('"b"')])
    assert again[0] == sealed[0]
    assert again[1].metadata["encoding"] == ENCODING
    plain = _plain('"not encrypted"')
    assert await codec.decode([plain, *sealed]) == [plain, _plain('"a"')]


async def test_one_new_data_key_per_rotation_and_old_ones_still_open():
    transit, clock = StubTransit(), Clock()
    codec = EncryptionCodec(_ring(transit, clock, rotate=60, cache=600))
    first = [await codec.encode([_plain(f'"{i}"')]) for i in range(50)]
    assert transit.created == 1
    clock.now += 61
    second = await codec.encode([_plain('"later"')])
    assert transit.created == 2
    assert first[0][0].metadata[META_KEY_ID] != second[0].metadata[META_KEY_ID]
    assert await codec.decode(first[0] + second) == [_plain('"0"'), _plain('"later"')]
    assert transit.unwrapped == 0  # both keys are still in the cache


async def test_an_expired_key_is_unwrapped_once_then_cached():
    transit, clock = StubTransit(), Clock()
    writer = EncryptionCodec(_ring(transit, clock))
    sealed = await writer.encode([_plain('"x"'), _plain('"y"')])
    reader = EncryptionCodec(_ring(transit, clock, cache=30))  # another process: empty cache
    for _ in range(5):
        assert await reader.decode(sealed) == [_plain('"x"'), _plain('"y"')]
    assert transit.unwrapped == 1
    clock.now += 31  # the unwrapped key left memory
    await reader.decode(sealed)
    assert transit.unwrapped == 2


async def test_tampered_or_foreign_payloads_do_not_open():
    codec = EncryptionCodec(_ring(StubTransit(), Clock()))
    sealed = (await codec.encode([_plain('"secret"')]))[0]
    flipped = Payload()
    flipped.CopyFrom(sealed)
    flipped.data = sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])
    with pytest.raises(PayloadDecryptionError, match="fails authentication"):
        await codec.decode([flipped])
    relabelled = Payload()
    relabelled.CopyFrom(sealed)
    relabelled.metadata[META_KEY_ID] = b"0000000000000000"
    with pytest.raises(PayloadDecryptionError, match="names data key"):
        await codec.decode([relabelled])
    stranger = EncryptionCodec(_ring(StubTransit(), Clock()))
    with pytest.raises(PayloadDecryptionError, match="another process"):
        await stranger.decode([sealed])


async def test_the_data_converter_seals_values_and_failure_messages():
    converter: DataConverter = data_converter()
    app = VendorApplication.model_validate(vendor_application())
    payloads = await converter.encode([app])
    assert payloads[0].metadata["encoding"] == ENCODING
    assert app.bank_account.iban.encode() not in payloads[0].data
    assert await converter.decode(payloads, [VendorApplication]) == [app]

    failure = Failure()
    error = ApplicationError(f"IBAN {app.bank_account.iban} refused", type="BANK_REFUSED")
    await converter.encode_failure(error, failure)
    assert failure.message == "Encoded failure" and not failure.stack_trace
    assert failure.encoded_attributes.metadata["encoding"] == ENCODING
    assert app.bank_account.iban not in str(failure)
    back = await converter.decode_failure(failure)
    assert isinstance(back, ApplicationError) and back.type == "BANK_REFUSED"
    assert app.bank_account.iban in back.message


async def test_decode_in_place_opens_every_payload_of_a_message():
    converter = data_converter()
    failure = Failure()
    await converter.encode_failure(ApplicationError("inner detail", "d1"), failure)
    codec = converter.payload_codec
    assert codec is not None
    await decode_in_place(failure, codec)
    payloads = [p for _, p in found(failure, Payload)]
    assert payloads and all(p.metadata["encoding"] == b"json/plain" for p in payloads)
    assert b"inner detail" in failure.encoded_attributes.data
