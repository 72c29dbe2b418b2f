"""What every route uses, built once by the app's lifespan and kept on `app.state`."""

from dataclasses import dataclass

from fastapi import Request
from sqlalchemy import Engine
from temporalio.client import Client

from runtime.settings import Settings
from runtime.vault import SecretStore
from starters.api.auth import Authenticator


@dataclass(frozen=True)
class Services:
    settings: Settings
    temporal: Client
    secrets: SecretStore
    authenticator: Authenticator
    engine: Engine


def services(request: Request) -> Services:
    """The dependency routes declare to reach the Temporal client, Vault and the database."""
    built: Services = request.app.state.services
    return built
