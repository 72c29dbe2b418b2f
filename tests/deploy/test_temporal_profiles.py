"""Beyond one machine: Temporal's environment configuration (a TOML profile, TEMPORAL_API_KEY,
TEMPORAL_TLS_*) reaches `Client.connect`, and a wrong setting is an error that names it."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from temporalio.service import TLSConfig

from runtime.temporal import connect
from runtime.temporal_config import DEFAULT_ADDRESS, TemporalSettingsError, client_config
from tests.deploy.tls_files import TlsFiles, write_tls_files

CLOUD_ADDRESS = "payments.a1b2c.tmprl.cloud:7233"
CLOUD_NAMESPACE = "payments.a1b2c"
API_KEY = "test-api-key-not-a-real-one"


@pytest.fixture
def tls(tmp_path: Path) -> TlsFiles:
    return write_tls_files(tmp_path)


def _profiles(tmp_path: Path, tls: TlsFiles) -> Path:
    path = tmp_path / "temporal.toml"
    path.write_text(
        f"""
[profile.default]
address = "127.0.0.1:7233"
namespace = "default"

[profile.cloud]
address = "{CLOUD_ADDRESS}"
namespace = "{CLOUD_NAMESPACE}"
api_key = "{API_KEY}"

[profile.cloud.tls]
client_cert_path = "{tls.client_cert}"
client_key_path = "{tls.client_key}"
server_ca_cert_path = "{tls.server_ca}"
server_name = "{CLOUD_ADDRESS.split(":")[0]}"
"""
    )
    return path


def _tls_of(config: object) -> TLSConfig:
    assert isinstance(config, TLSConfig), f"expected a TLSConfig, got {config!r}"
    return config


def test_a_toml_profile_with_tls_and_an_api_key_reaches_the_client(tmp_path, tls):
    env = {"TEMPORAL_CONFIG_FILE": str(_profiles(tmp_path, tls)), "TEMPORAL_PROFILE": "cloud"}

    config = client_config(env)

    assert config["target_host"] == CLOUD_ADDRESS
    assert config["namespace"] == CLOUD_NAMESPACE
    assert config["api_key"] == API_KEY
    got = _tls_of(config["tls"])
    assert got.client_cert == tls.client_cert.read_bytes()
    assert got.client_private_key == tls.client_key.read_bytes()
    assert got.server_root_ca_cert == tls.server_ca.read_bytes()
    assert got.domain == "payments.a1b2c.tmprl.cloud"


def test_the_default_profile_is_used_when_none_is_named(tmp_path, tls):
    config = client_config({"TEMPORAL_CONFIG_FILE": str(_profiles(tmp_path, tls))})

    assert config == {"target_host": "127.0.0.1:7233", "namespace": "default"}


def test_environment_variables_override_the_profile(tmp_path, tls):
    env = {
        "TEMPORAL_CONFIG_FILE": str(_profiles(tmp_path, tls)),
        "TEMPORAL_PROFILE": "cloud",
        "TEMPORAL_NAMESPACE": "payments-staging.a1b2c",
        "TEMPORAL_API_KEY": "rotated-key",
    }

    config = client_config(env)

    assert config["namespace"] == "payments-staging.a1b2c"
    assert config["api_key"] == "rotated-key"
    assert config["target_host"] == CLOUD_ADDRESS
    assert _tls_of(config["tls"]).client_cert == tls.client_cert.read_bytes()


def test_api_key_and_mtls_files_from_the_environment_only(tls):
    env = {
        "TEMPORAL_ADDRESS": CLOUD_ADDRESS,
        "TEMPORAL_NAMESPACE": CLOUD_NAMESPACE,
        "TEMPORAL_API_KEY": API_KEY,
        "TEMPORAL_TLS_CLIENT_CERT_PATH": str(tls.client_cert),
        "TEMPORAL_TLS_CLIENT_KEY_PATH": str(tls.client_key),
        "TEMPORAL_TLS_SERVER_CA_CERT_PATH": str(tls.server_ca),
        "TEMPORAL_TLS_SERVER_NAME": "frontend.internal.example",
    }

    config = client_config(env)

    assert config["target_host"] == CLOUD_ADDRESS
    assert config["namespace"] == CLOUD_NAMESPACE
    assert config["api_key"] == API_KEY
    got = _tls_of(config["tls"])
    assert got.client_cert == tls.client_cert.read_bytes()
    assert got.client_private_key == tls.client_key.read_bytes()
    assert got.server_root_ca_cert == tls.server_ca.read_bytes()
    assert got.domain == "frontend.internal.example"


def test_an_api_key_alone_turns_tls_on():
    config = client_config(
        {"TEMPORAL_ADDRESS": "us-east-1.aws.api.temporal.io:7233", "TEMPORAL_API_KEY": API_KEY}
    )

    assert config["api_key"] == API_KEY
    assert config["tls"] is True


def test_without_any_setting_the_local_dev_server(tmp_path):
    # An empty HOME: no default profile file is found either.
    config = client_config({"HOME": str(tmp_path)})

    assert config == {"target_host": DEFAULT_ADDRESS}


def test_a_profile_that_does_not_exist_is_named(tmp_path, tls):
    path = _profiles(tmp_path, tls)

    with pytest.raises(TemporalSettingsError) as error:
        client_config({"TEMPORAL_CONFIG_FILE": str(path), "TEMPORAL_PROFILE": "prodution"})

    message = str(error.value)
    assert "TEMPORAL_PROFILE=prodution" in message
    assert str(path) in message
    assert "cloud, default" in message


def test_a_config_file_that_does_not_exist_is_named(tmp_path):
    missing = tmp_path / "nowhere.toml"

    with pytest.raises(TemporalSettingsError, match=f"TEMPORAL_CONFIG_FILE={missing}: no such"):
        client_config({"TEMPORAL_CONFIG_FILE": str(missing), "TEMPORAL_PROFILE": "cloud"})


def test_a_misspelt_key_in_a_profile_is_named(tmp_path):
    path = tmp_path / "temporal.toml"
    path.write_text('[profile.default]\nadress = "temporal.internal:7233"\n')

    with pytest.raises(TemporalSettingsError) as error:
        client_config({"TEMPORAL_CONFIG_FILE": str(path)})

    assert "adress" in str(error.value)
    assert str(path) in str(error.value)


def test_a_missing_certificate_file_is_named(tmp_path, tls):
    missing = tmp_path / "gone.pem"
    env = {
        "TEMPORAL_ADDRESS": CLOUD_ADDRESS,
        "TEMPORAL_TLS_CLIENT_CERT_PATH": str(missing),
        "TEMPORAL_TLS_CLIENT_KEY_PATH": str(tls.client_key),
    }

    with pytest.raises(TemporalSettingsError, match=f"cannot read {missing}"):
        client_config(env)


async def test_connect_takes_address_namespace_and_api_key_from_the_profile(stack, tmp_path):
    """Through `connect` itself, to the stack's real Temporal server: the profile's address,
    namespace and API key are the client's (TLS off: the dev server speaks plain gRPC)."""
    path = tmp_path / "temporal.toml"
    path.write_text(
        f"""
[profile.local]
address = "{stack.temporal_address}"
namespace = "default"
api_key = "{API_KEY}"

[profile.local.tls]
disabled = true
"""
    )
    env = {"TEMPORAL_CONFIG_FILE": str(path), "TEMPORAL_PROFILE": "local"}

    client = await connect(env)

    assert client.service_client.config.target_host == stack.temporal_address
    assert client.namespace == "default"
    assert client.api_key == API_KEY
    assert await client.service_client.check_health()


def test_the_cli_names_a_wrong_profile_and_does_nothing(stack, tmp_path, tls):
    env = {
        **os.environ,
        "TEMPORAL_CONFIG_FILE": str(_profiles(tmp_path, tls)),
        "TEMPORAL_PROFILE": "staging",
    }

    done = subprocess.run(
        [sys.executable, "-m", "backoffice.cli", "status", "vendor-onboarding-nothing-here"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 2, done.stderr
    assert "TEMPORAL_PROFILE=staging: no profile 'staging'" in done.stderr
    assert "Traceback" not in done.stderr
