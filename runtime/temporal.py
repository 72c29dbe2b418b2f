"""The Temporal client of every process: Temporal's environment configuration, our converter."""

import os
from collections.abc import Mapping

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.envconfig import ClientConfigProfile

from runtime.settings import env_file_values

DEFAULT_ADDRESS = "127.0.0.1:7233"


def temporal_env() -> dict[str, str]:
    """The process environment, completed by the dev stack's env file (the environment wins)."""
    merged = {k: v for k, v in env_file_values().items() if k.startswith("TEMPORAL_")}
    merged.update(os.environ)
    return merged


def data_converter() -> DataConverter:
    """One converter for the worker, the API, the CLI, the schedules and the tests."""
    return pydantic_data_converter


async def connect(env: Mapping[str, str] | None = None) -> Client:
    """Connect as TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE / TLS / API key / profile say."""
    profile = ClientConfigProfile.load(override_env_vars=dict(env or temporal_env()))
    config = profile.to_client_connect_config()
    config.setdefault("target_host", DEFAULT_ADDRESS)
    return await Client.connect(**config, data_converter=data_converter())
