"""Where and how to reach Temporal, as Temporal's own environment configuration says: a TOML
profile (TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE) overridden by TEMPORAL_ADDRESS,
TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS and TEMPORAL_TLS_* variables. Pure: it reads
the settings and the files they name, and connects to nothing.
"""

import os
from collections.abc import Mapping
from pathlib import Path

from temporalio.envconfig import ClientConfig, ClientConfigProfile, ClientConnectConfig

from runtime.settings import SettingsError

DEFAULT_ADDRESS = "127.0.0.1:7233"


class TemporalSettingsError(SettingsError):
    """Temporal's connection settings are wrong; the message names the setting or the file."""


def client_config(env: Mapping[str, str]) -> ClientConnectConfig:
    """The keyword arguments `Client.connect` gets from `env`: target host, namespace, API key,
    TLS (with the contents of the certificate files) and gRPC metadata.

    A profile file with an unknown key, a missing file or profile, or an unreadable TLS file
    is a `TemporalSettingsError` that names it, never a silent fallback to localhost."""
    environment = dict(env)
    config_file = environment.get("TEMPORAL_CONFIG_FILE", "").strip()
    if config_file and not Path(config_file).is_file():
        raise TemporalSettingsError(
            f"TEMPORAL_CONFIG_FILE={config_file}: no such file (the TOML file of Temporal "
            "client profiles; unset it to use TEMPORAL_ADDRESS and the other variables only)"
        )
    try:
        profile = ClientConfigProfile.load(override_env_vars=environment, config_file_strict=True)
    except RuntimeError as exc:  # the SDK's ConfigError: bad TOML, unknown key or profile
        raise TemporalSettingsError(_explain(str(exc), environment)) from None
    try:
        config = profile.to_client_connect_config()
    except OSError as exc:  # a certificate or key file the profile or TEMPORAL_TLS_* names
        raise TemporalSettingsError(
            f"Temporal TLS: cannot read {exc.filename}: {exc.strerror} (named by a "
            "TEMPORAL_TLS_*_PATH variable or the profile's [tls] section)"
        ) from None
    config.setdefault("target_host", DEFAULT_ADDRESS)
    return config


def _config_file_named(environment: Mapping[str, str]) -> str:
    explicit = environment.get("TEMPORAL_CONFIG_FILE", "").strip()
    if explicit:
        return f"TEMPORAL_CONFIG_FILE={explicit}"
    home = environment.get("XDG_CONFIG_HOME") or os.path.join(
        environment.get("HOME", "~"), ".config"
    )
    default = os.path.join(home, "temporalio", "temporal.toml")
    return f"the default profile file {default} (TEMPORAL_CONFIG_FILE names another)"


def _explain(problem: str, environment: Mapping[str, str]) -> str:
    where = _config_file_named(environment)
    wanted = environment.get("TEMPORAL_PROFILE", "").strip()
    if wanted and "not found" in problem.lower():
        try:
            names = sorted(ClientConfig.load(override_env_vars=environment).profiles)
        except RuntimeError:
            names = []
        there = f"; profiles there: {', '.join(names)}" if names else "; it has no profiles"
        return f"TEMPORAL_PROFILE={wanted}: no profile '{wanted}' in {where}{there}"
    return f"Temporal client profile in {where}: {problem}"
