"""Payload encryption: AES-256-GCM with data keys from Vault's transit engine (envelope
encryption), as a Temporal `PayloadCodec`.

An encrypted payload carries everything needed to open it, so any process whose AppRole may use
transit `decrypt` on the key can read it, today or after any number of rotations:

- metadata `encoding`: `binary/encrypted`
- metadata `encryption-cipher`: `AES-256-GCM`
- metadata `encryption-key-id`: the first 16 hex digits of the SHA-256 of the wrapped key (for
  caches, logs and operators; it says nothing about the key)
- metadata `encryption-wrapped-key`: the data key as transit encrypted it (`vault:v<N>:...`)
- data: a 12-byte random nonce, then the AES-GCM ciphertext and tag of the original `Payload`
  protobuf (its metadata and data), with `<cipher>|<key id>` as associated data.

`DataKeyRing` asks its `KeyWrapper` (Vault transit, `runtime.vault.TransitKeys`) for a new data
key once per rotation interval, and unwraps the data key of an older payload once, then keeps it
in memory for a bounded time. Payloads that are not `binary/encrypted` (histories recorded
before encryption, search attributes) pass through `decode` unchanged; `encode` leaves payloads
that are already encrypted alone.
"""

import asyncio
import hashlib
import os
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError, Message
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENCODING = b"binary/encrypted"
CIPHER = b"AES-256-GCM"
META_CIPHER = "encryption-cipher"
META_KEY_ID = "encryption-key-id"
META_WRAPPED_KEY = "encryption-wrapped-key"
NONCE_BYTES = 12
KEY_BYTES = 32
LOCAL_PREFIX = "local:"
# Unwrapped data keys kept at most; the oldest goes first (a history rarely spans many keys).
MAX_CACHED_KEYS = 1024


class PayloadDecryptionError(ValueError):
    """An encrypted payload cannot be opened; the message names the key id, never any content."""


class KeyWrapper(Protocol):
    """Where data keys come from: a new one (plaintext and wrapped), or the plaintext of one."""

    async def new_data_key(self) -> tuple[bytes, str]: ...

    async def unwrap(self, wrapped: str) -> bytes: ...


class LocalKeys:
    """Data keys that live only in this process: for the Replayer and unit tests. What they seal
    is never plain text, and no other process can open it."""

    def __init__(self) -> None:
        self._keys: dict[str, bytes] = {}

    async def new_data_key(self) -> tuple[bytes, str]:
        plaintext = AESGCM.generate_key(bit_length=KEY_BYTES * 8)
        wrapped = LOCAL_PREFIX + secrets.token_hex(16)
        self._keys[wrapped] = plaintext
        return plaintext, wrapped

    async def unwrap(self, wrapped: str) -> bytes:
        try:
            return self._keys[wrapped]
        except KeyError:
            raise PayloadDecryptionError(
                f"data key {key_id_of(wrapped)} was made by another process without Vault "
                "(runtime.temporal.data_converter() without keys); it cannot be opened here"
            ) from None


def key_id_of(wrapped: str) -> str:
    return hashlib.sha256(wrapped.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class DataKey:
    key_id: str
    wrapped: str
    cipher: AESGCM = field(repr=False)


class DataKeyRing:
    """The current data key (a new one every `rotate_after_seconds`) and a bounded cache of
    unwrapped older ones (each dropped at the first use `cache_seconds` after it was unwrapped,
    and at most `MAX_CACHED_KEYS` of them)."""

    def __init__(
        self,
        wrapper: KeyWrapper,
        *,
        rotate_after_seconds: float,
        cache_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._wrapper = wrapper
        self._rotate_after = rotate_after_seconds
        self._cache_for = cache_seconds
        self._clock = clock
        self._current: tuple[float, DataKey] | None = None
        self._cache: OrderedDict[str, tuple[float, DataKey]] = OrderedDict()
        self._new_lock = asyncio.Lock()
        self._unwrap_lock = asyncio.Lock()

    async def current(self) -> DataKey:
        """The key that seals new payloads; at most one wrapper call per rotation interval."""
        self._sweep()
        if self._current and self._clock() - self._current[0] < self._rotate_after:
            return self._current[1]
        async with self._new_lock:
            if self._current and self._clock() - self._current[0] < self._rotate_after:
                return self._current[1]
            plaintext, wrapped = await self._wrapper.new_data_key()
            key = _data_key(plaintext, wrapped)
            now = self._clock()
            self._current = (now, key)
            self._remember(now, key)
            return key

    async def opening(self, wrapped: str) -> DataKey:
        """The key a payload was sealed with, unwrapped once and then cached for a while."""
        self._sweep()
        key_id = key_id_of(wrapped)
        cached = self._fresh(key_id)
        if cached is not None:
            return cached
        async with self._unwrap_lock:
            cached = self._fresh(key_id)
            if cached is not None:
                return cached
            key = _data_key(await self._wrapper.unwrap(wrapped), wrapped)
            self._remember(self._clock(), key)
            return key

    def _fresh(self, key_id: str) -> DataKey | None:
        entry = self._cache.get(key_id)
        if entry is None:
            return None
        if self._clock() - entry[0] >= self._cache_for:
            del self._cache[key_id]  # the plaintext key leaves memory with it
            return None
        return entry[1]

    def _sweep(self) -> None:
        """Let expired keys leave memory (the cache is in the order keys were unwrapped)."""
        now = self._clock()
        while self._cache:
            key_id, (since, _) = next(iter(self._cache.items()))
            if now - since < self._cache_for:
                return
            del self._cache[key_id]

    def _remember(self, now: float, key: DataKey) -> None:
        self._cache[key.key_id] = (now, key)
        self._cache.move_to_end(key.key_id)
        while len(self._cache) > MAX_CACHED_KEYS:
            self._cache.popitem(last=False)


def _data_key(plaintext: bytes, wrapped: str) -> DataKey:
    if len(plaintext) != KEY_BYTES:
        raise PayloadDecryptionError(
            f"data key {key_id_of(wrapped)} has {len(plaintext)} bytes, not {KEY_BYTES}"
        )
    return DataKey(key_id=key_id_of(wrapped), wrapped=wrapped, cipher=AESGCM(plaintext))


def is_encrypted(payload: Payload) -> bool:
    return payload.metadata.get("encoding") == ENCODING


class EncryptionCodec(PayloadCodec):
    """Seals every payload with the ring's current data key; opens what any data key sealed."""

    def __init__(self, keys: DataKeyRing) -> None:
        self.keys = keys

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        if all(is_encrypted(p) for p in payloads):
            return list(payloads)
        key = await self.keys.current()
        return [p if is_encrypted(p) else _seal(key, p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        opened = []
        for payload in payloads:
            if not is_encrypted(payload):
                opened.append(payload)
                continue
            wrapped = payload.metadata.get(META_WRAPPED_KEY, b"").decode()
            if not wrapped:
                raise PayloadDecryptionError(f"encrypted payload without {META_WRAPPED_KEY}")
            opened.append(_open(await self.keys.opening(wrapped), payload))
        return opened


def _associated_data(key_id: str) -> bytes:
    return CIPHER + b"|" + key_id.encode()


def _seal(key: DataKey, payload: Payload) -> Payload:
    nonce = os.urandom(NONCE_BYTES)
    sealed = key.cipher.encrypt(nonce, payload.SerializeToString(), _associated_data(key.key_id))
    return Payload(
        metadata={
            "encoding": ENCODING,
            META_CIPHER: CIPHER,
            META_KEY_ID: key.key_id.encode(),
            META_WRAPPED_KEY: key.wrapped.encode(),
        },
        data=nonce + sealed,
    )


def _open(key: DataKey, payload: Payload) -> Payload:
    cipher = payload.metadata.get(META_CIPHER)
    if cipher != CIPHER:
        raise PayloadDecryptionError(f"unknown payload cipher {cipher!r}")
    claimed = payload.metadata.get(META_KEY_ID, b"").decode()
    if claimed and claimed != key.key_id:
        raise PayloadDecryptionError(
            f"payload names data key {claimed} but carries the wrapped key of {key.key_id}"
        )
    nonce, sealed = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
    try:
        inner = key.cipher.decrypt(nonce, sealed, _associated_data(key.key_id))
    except InvalidTag:
        raise PayloadDecryptionError(
            f"payload sealed with data key {key.key_id} fails authentication "
            "(altered, truncated or sealed with another key)"
        ) from None
    opened = Payload()
    try:
        opened.ParseFromString(inner)
    except DecodeError:
        raise PayloadDecryptionError(
            f"payload sealed with data key {key.key_id} holds no payload"
        ) from None
    return opened


def payloads_in(message: Message) -> list[Payload]:
    """Every `Payload` inside a protobuf message (a history event, a whole history), in order:
    inputs, results, signal and update arguments, memos, headers, failure attributes."""
    if isinstance(message, Payload):
        return [message]
    found: list[Payload] = []
    for descriptor, value in message.ListFields():
        if descriptor.type != FieldDescriptor.TYPE_MESSAGE:
            continue
        entry = descriptor.message_type
        if entry is not None and entry.GetOptions().map_entry:
            items = [v for v in value.values() if isinstance(v, Message)]
        elif descriptor.is_repeated:
            items = list(value)
        else:
            items = [value]
        for item in items:
            found.extend(payloads_in(item))
    return found


async def decode_in_place(message: Message, codec: PayloadCodec) -> None:
    """Replace every encrypted payload inside `message` by its plain original."""
    payloads = payloads_in(message)
    for payload, opened in zip(payloads, await codec.decode(payloads), strict=True):
        if opened is not payload:
            payload.CopyFrom(opened)
