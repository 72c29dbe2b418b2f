"""`docker compose config` on docker-compose.yml with the committed .env.example: Docker
Compose's own loader validates the file, interpolates every variable and resolves the YAML
anchors, as `docker compose up` would. Needs no Docker daemon; `scripts/setup.sh` builds the
CLI into .tools/bin."""

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.compose import COMPOSE_FILE, ENV_EXAMPLE, ROOT

BUILT_CLI = ROOT / ".tools" / "bin" / "docker-compose"


def _compose_cli() -> list[str]:
    """Docker Compose v2 or later: the one setup.sh built, else the machine's own."""
    candidates = [[str(BUILT_CLI)]] if BUILT_CLI.is_file() else []
    if shutil.which("docker"):
        candidates.append(["docker", "compose"])
    if shutil.which("docker-compose"):
        candidates.append(["docker-compose"])
    for cli in candidates:
        done = subprocess.run(
            [*cli, "version", "--short"], capture_output=True, text=True, check=False
        )
        major = done.stdout.strip().lstrip("v").split(".")[0]
        if done.returncode == 0 and major.isdigit() and int(major) >= 2:
            return cli
    pytest.fail(
        "no Docker Compose v2+ CLI: run `bash scripts/setup.sh` (it builds one into "
        ".tools/bin/docker-compose with Go), or install Docker's compose plugin",
        pytrace=False,
    )


def _config(
    env_file: Path, *extra: str, profile: str | None = None
) -> subprocess.CompletedProcess[str]:
    # A clean environment: Compose lets process variables win over the env file.
    env = {"PATH": "/usr/bin:/bin", "HOME": str(env_file.parent)}
    return subprocess.run(
        [
            *_compose_cli(),
            "--project-directory",
            str(ROOT),
            "--file",
            str(COMPOSE_FILE),
            "--env-file",
            str(env_file),
            *(["--profile", profile] if profile else []),
            "config",
            *extra,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    done = _config(ENV_EXAMPLE, "--format", "json")
    assert done.returncode == 0, done.stderr
    loaded: dict[str, Any] = json.loads(done.stdout)
    return loaded


def test_compose_loads_and_validates_the_file(config):
    assert config["name"] == "backoffice"
    assert "${" not in json.dumps(config), "a variable was left uninterpolated"
    assert config["services"]["worker"]["deploy"]["replicas"] == 2
    assert set(config["volumes"]) >= {"postgres-data", "vault-data", "vault-init"}


def test_compose_resolves_the_anchors_and_the_env_file(config):
    services = config["services"]
    api_env = services["api"]["environment"]
    assert api_env["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert api_env["BACKOFFICE_DATABASE_URL"] == (
        "postgresql+psycopg://backoffice:replace-me-backoffice@postgresql:5432/backoffice"
    )
    assert services["worker"]["environment"]["BACKOFFICE_ENV_FILE"].endswith("/worker/vault.env")
    assert services["worker"]["depends_on"]["vault-init"]["condition"] == (
        "service_completed_successfully"
    )
    for name in ("worker", "api", "vault-init", "schedules-init"):
        assert services[name]["image"] == "backoffice:local", name
        assert services[name]["build"]["dockerfile"] == "Dockerfile", name
    ui_env = services["temporal-ui"]["environment"]
    assert ui_env["TEMPORAL_CODEC_ENDPOINT"] == "http://localhost:8000/codec"
    # An escaped `$$?` (the container shell's `$?`), not a variable Compose would interpolate
    # (`config` prints a compose file, so the escape stays).
    assert "test $$? -ne 1" in services["vault"]["healthcheck"]["test"][1]


def test_published_ports_as_compose_reads_them(config):
    published = {
        name: [(p["host_ip"], int(p["published"]), p["target"]) for p in service["ports"]]
        for name, service in config["services"].items()
        if service.get("ports")
    }
    assert published == {
        "api": [("127.0.0.1", 8000, 8000)],
        "temporal": [("127.0.0.1", 7233, 7233)],
        "temporal-ui": [("127.0.0.1", 8080, 8080)],
        "vault": [("127.0.0.1", 8200, 8200)],
    }


def test_a_missing_secret_stops_compose_with_its_name(tmp_path):
    lines = [
        line
        for line in ENV_EXAMPLE.read_text().splitlines()
        if not line.startswith("SANDBOX_ADMIN_TOKEN=")
    ]
    env_file = tmp_path / "incomplete.env"
    env_file.write_text("\n".join(lines) + "\n")

    done = _config(env_file, "--quiet")

    assert done.returncode != 0
    assert "set SANDBOX_ADMIN_TOKEN in .env" in done.stderr


def test_the_production_shape_has_no_sandbox_and_a_read_only_web_ui(config):
    services = config["services"]
    assert "sandbox" not in services
    assert "cli" not in services
    assert services["temporal-ui"]["environment"]["TEMPORAL_DISABLE_WRITE_ACTIONS"] == "true"
    # The API and Temporal share the default network; nothing of the sandbox's is there.
    assert set(services["temporal"]["networks"]) == {"default"}
    assert set(services["api"]["networks"]) == {"default", "sandbox"}


def test_the_demo_profile_adds_the_sandbox_on_its_own_network():
    done = _config(ENV_EXAMPLE, "--format", "json", profile="demo")
    assert done.returncode == 0, done.stderr
    services = json.loads(done.stdout)["services"]
    sandbox = services["sandbox"]
    assert set(sandbox["networks"]) == {"sandbox"}
    assert [(p["host_ip"], int(p["published"])) for p in sandbox["ports"]] == [("127.0.0.1", 8400)]
    for name in ("temporal", "vault", "postgresql", "temporal-ui"):
        assert "sandbox" not in services[name]["networks"], name
    assert "sandbox" in services["worker"]["networks"]
    assert services["vault-init"]["depends_on"]["sandbox"]["condition"] == "service_healthy"


def test_an_operator_turns_the_web_uis_write_actions_on_in_the_env_file(tmp_path):
    env_file = tmp_path / "writable.env"
    env_file.write_text(
        ENV_EXAMPLE.read_text().replace(
            "TEMPORAL_UI_DISABLE_WRITE_ACTIONS=true", "TEMPORAL_UI_DISABLE_WRITE_ACTIONS=false"
        )
    )
    done = _config(env_file, "--format", "json")
    assert done.returncode == 0, done.stderr
    ui = json.loads(done.stdout)["services"]["temporal-ui"]
    assert ui["environment"]["TEMPORAL_DISABLE_WRITE_ACTIONS"] == "false"
