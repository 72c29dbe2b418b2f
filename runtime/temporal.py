"""The Temporal client of every process: Temporal's environment configuration, our one data
converter (pydantic payloads, encrypted by `runtime.codec` with data keys from Vault transit,
failure messages and stack traces encrypted too)."""

import os
from collections.abc import Mapping

from temporalio.client import Client
from temporalio.contrib.pydantic import PydanticPayloadConverter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes

from runtime.codec import DataKeyRing, EncryptionCodec, KeyWrapper, LocalKeys
from runtime.settings import Settings, env_file_values, load_settings
from runtime.telemetry import Service, Telemetry, start_telemetry
from runtime.temporal_config import client_config
from runtime.vault import SecretStore, TransitKeys, secret_store

# Keys of `data_converter()` without a key ring: they never leave the process.
_LOCAL_ROTATE_AFTER_SECONDS = 3600.0


def temporal_env() -> dict[str, str]:
    """The process environment, completed by the dev stack's env file (the environment wins)."""
    merged = {k: v for k, v in env_file_values().items() if k.startswith("TEMPORAL_")}
    merged.update(os.environ)
    return merged


def payload_keys(settings: Settings, secrets: SecretStore) -> DataKeyRing:
    """The data keys of this process: from the transit key, through its own AppRole login."""
    wrapper: KeyWrapper = TransitKeys(
        secrets, settings.payload_transit_key, mount=settings.vault_transit_mount
    )
    return DataKeyRing(
        wrapper,
        rotate_after_seconds=settings.payload_key_rotate_after.total_seconds(),
        cache_seconds=settings.payload_key_cache_seconds,
    )


def data_converter(keys: DataKeyRing | None = None) -> DataConverter:
    """One converter for the worker, the API, the CLI, the schedules and the tests.

    Without `keys` (the Replayer, unit tests) payloads are sealed with keys that live only in
    this process: still never plain text, and unreadable anywhere else.
    """
    ring = keys or DataKeyRing(
        LocalKeys(),
        rotate_after_seconds=_LOCAL_ROTATE_AFTER_SECONDS,
        cache_seconds=_LOCAL_ROTATE_AFTER_SECONDS,
    )
    return DataConverter(
        payload_converter_class=PydanticPayloadConverter,
        payload_codec=EncryptionCodec(ring),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


async def check_payload_keys(client: Client) -> None:
    """Fail now, not on the first workflow task, when this process cannot get a data key."""
    codec = client.data_converter.payload_codec
    if isinstance(codec, EncryptionCodec):
        await codec.keys.current()


class TemporalUnreachable(RuntimeError):
    """The Temporal frontend cannot be reached (the SDK's "Failed client connect"); the message
    says where and what to do."""


_cli_telemetry: dict[str | None, Telemetry] = {}


def cli_telemetry(settings: Settings) -> Telemetry:
    """The telemetry of a process that is only a client (the CLI, schedules): traces when
    BACKOFFICE_OTLP_ENDPOINT is set, no metrics endpoint. One per process."""
    endpoint = settings.otlp_endpoint
    if endpoint not in _cli_telemetry:
        _cli_telemetry[endpoint] = start_telemetry(Service.CLI, settings, metrics=False)
    return _cli_telemetry[endpoint]


def flush_cli_telemetry(timeout_seconds: float = 2.0) -> None:
    """Send the CLI's buffered spans now: a command that ends with `os._exit` skips the exit
    hooks that would (an unreachable collector costs at most `timeout_seconds`)."""
    for telemetry in _cli_telemetry.values():
        if telemetry.tracer_provider is not None:
            telemetry.tracer_provider.force_flush(int(timeout_seconds * 1000))


async def connect(
    env: Mapping[str, str] | None = None,
    *,
    settings: Settings | None = None,
    secrets: SecretStore | None = None,
    telemetry: Telemetry | None = None,
) -> Client:
    """Connect as TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE / TLS / API key / profile say, with the
    data converter whose keys come from Vault (`secrets`, else a store of `settings`' AppRole;
    it logs in when it first needs a key). `telemetry` (the worker's, the API's; else the CLI's)
    traces every call and, with a metrics endpoint, counts them there."""
    settings = settings or load_settings()
    telemetry = telemetry or cli_telemetry(settings)
    keys = payload_keys(settings, secrets or secret_store(settings))
    config = client_config(env or temporal_env())
    try:
        return await Client.connect(
            **config,
            data_converter=data_converter(keys),
            interceptors=telemetry.interceptors(),
            runtime=telemetry.runtime,
        )
    except RuntimeError as exc:
        if "Failed client connect" not in str(exc):
            raise
        raise TemporalUnreachable(
            f"Temporal unreachable at {config.get('target_host')}: start it with "
            "`backoffice dev up` or set TEMPORAL_ADDRESS"
        ) from None
