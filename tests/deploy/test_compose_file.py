"""docker-compose.yml, read as an operator would check it: every service, pinned official
images, health checks, start order, ports, volumes, networks and profiles, no secret in the file,
the Web UI's codec endpoint on the API and its write actions off, and the search attributes of
the dev stack."""

import re
import subprocess
from urllib.parse import urlsplit

import pytest

from deploy.env_check import CHECKED_SECRETS
from domain.contract import SEARCH_ATTRIBUTES
from starters.api.codec import router as codec_router
from tests.deploy.compose import (
    COMPOSE_FILE,
    ROOT,
    compose,
    depends_on,
    env_example,
    environment,
    interpolate,
    is_one_shot,
    referenced_variables,
    services,
)

LONG_RUNNING = {
    "postgresql",
    "temporal",
    "temporal-ui",
    "vault",
    "sandbox",
    "worker",
    "api",
    "otel-collector",
}
ONE_SHOT = {
    "temporal-schema",
    "temporal-init",
    "db-migrate",
    "vault-init",
    "schedules-init",
    "otel-collector-probe",
    "cli",
}
# Services only a profile turns on: the demo's stand-in systems and the operator's CLI.
PROFILES = {"sandbox": ["demo"], "cli": ["tools"]}
OFFICIAL_IMAGES = {
    "postgres",
    "temporalio/server",
    "temporalio/admin-tools",
    "temporalio/ui",
    "openbao/openbao",
    "otel/opentelemetry-collector-contrib",
    "busybox",
}
# What a human opens from the host, and nothing else.
PUBLISHED = {"temporal": 7233, "temporal-ui": 8080, "vault": 8200, "sandbox": 8400, "api": 8000}
SECRET_NAME = re.compile(r"PASSWORD|PASSWD|PWD|SECRET|TOKEN|KEY", re.IGNORECASE)
WHOLE_REFERENCE = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*(:?[?-][^}]*)?\}$")


def test_every_service_of_the_production_shape_is_there():
    assert set(services()) == LONG_RUNNING | ONE_SHOT


def test_images_are_official_and_pinned_or_built_here():
    for name, service in services().items():
        image = interpolate(service["image"], env_example())
        repository, _, tag = image.rpartition(":")
        if "build" in service:
            assert service["build"]["dockerfile"] == "Dockerfile", name
            assert repository == "backoffice", name
            assert tag and tag != "latest", name
            continue
        assert repository in OFFICIAL_IMAGES, f"{name}: {image} is not an official image"
        assert tag != "latest", f"{name}: {image}"
        assert re.match(r"^\d+\.\d+(\.\d+)?(-[a-z0-9]+)?$", tag), (
            f"{name}: {image} is not pinned to a version (major.minor[.patch])"
        )


def test_long_running_services_have_health_checks_and_restart():
    for name in LONG_RUNNING:
        service = services()[name]
        check = service.get("healthcheck") or {}
        assert check.get("test"), f"{name} has no health check"
        assert not check.get("disable"), name
        assert service["restart"] == "unless-stopped", name
    for name in ONE_SHOT:
        assert is_one_shot(services()[name]), f"{name} is a one-shot step: restart 'no'"
        assert "ports" not in services()[name], name


def test_dependencies_wait_for_health_or_completion():
    """Each dependency waits until the other service is healthy (long-running) or has
    completed successfully (a one-shot step), never only until it started."""
    for name, service in services().items():
        for dependency, condition in depends_on(service).items():
            assert dependency in services(), f"{name} depends on unknown {dependency}"
            wanted = (
                "service_completed_successfully"
                if is_one_shot(services()[dependency])
                else "service_healthy"
            )
            assert condition == wanted, f"{name} -> {dependency}: {condition}, want {wanted}"


def _before(later: str) -> set[str]:
    """Every service `later` waits for, directly or not."""
    seen: set[str] = set()
    todo = [later]
    while todo:
        for dependency in depends_on(services()[todo.pop()]):
            if dependency not in seen:
                seen.add(dependency)
                todo.append(dependency)
    return seen


@pytest.mark.parametrize(
    ("later", "earlier"),
    [
        ("temporal-schema", {"postgresql"}),
        ("temporal", {"postgresql", "temporal-schema"}),
        ("temporal-init", {"temporal"}),
        ("temporal-ui", {"temporal", "temporal-init"}),
        ("db-migrate", {"postgresql"}),
        ("vault-init", {"vault", "sandbox"}),
        (
            "worker",
            {
                "postgresql",
                "db-migrate",
                "temporal-schema",
                "temporal",
                "temporal-init",
                "vault",
                "vault-init",
            },
        ),
        ("api", {"postgresql", "db-migrate", "temporal", "temporal-init", "vault", "vault-init"}),
        ("schedules-init", {"temporal-init", "vault-init"}),
        ("otel-collector", {"otel-collector-probe"}),
    ],
)
def test_start_order(later, earlier):
    missing = earlier - _before(later)
    assert not missing, f"{later} does not wait for {sorted(missing)}"
    assert later not in _before(later), f"{later} depends on itself"


def test_two_worker_replicas_and_no_worker_port():
    worker = services()["worker"]
    assert worker["deploy"]["replicas"] == 2
    assert "ports" not in worker
    assert "container_name" not in worker  # a fixed name allows one replica only


def test_ports_only_where_a_human_needs_them_and_on_loopback():
    env = env_example()
    published: dict[str, int] = {}
    for name, service in services().items():
        for port in service.get("ports", []):
            host_ip, host_port, container_port = interpolate(port, env).split(":")
            assert host_ip == "127.0.0.1", f"{name} publishes {port} beyond this host"
            assert int(host_port) > 0
            published[name] = int(container_port)
    assert published == PUBLISHED


def _named_volume(mount: str) -> str | None:
    source = mount.split(":")[0]
    return None if source.startswith((".", "/")) else source


def test_named_volumes_declared_used_and_holding_the_state():
    declared = set(compose()["volumes"])
    used = {
        volume
        for service in services().values()
        for mount in service.get("volumes", [])
        if (volume := _named_volume(mount))
    }
    assert used == declared
    mounts = {name: service.get("volumes", []) for name, service in services().items()}
    assert "postgres-data:/var/lib/postgresql/data" in mounts["postgresql"]
    assert "vault-data:/openbao/file" in mounts["vault"]
    for name, service in services().items():
        for mount in service.get("volumes", []):
            if mount.startswith("./"):
                assert (ROOT / mount.split(":")[0]).exists(), f"{name}: {mount} is missing"


def test_the_vault_logins_reach_only_their_service_and_the_root_token_none():
    holders: dict[str, set[str]] = {}
    for name, service in services().items():
        for mount in service.get("volumes", []):
            if volume := _named_volume(mount):
                holders.setdefault(volume, set()).add(name)
    assert holders["vault-init"] == {"vault-init"}  # unseal key and root token
    # Each its own AppRole login (deploy/cli.py's --<name>-env defaults): nobody shares one.
    for holder, name in {
        "worker": "worker",
        "api": "api",
        "schedules-init": "schedules",
        "cli": "cli",
    }.items():
        assert holders[f"{name}-approle"] == {"vault-init", holder}
        assert f"{name}-approle:/var/lib/backoffice/{name}:ro" in services()[holder]["volumes"]
        assert environment(services()[holder])["BACKOFFICE_ENV_FILE"] == (
            f"/var/lib/backoffice/{name}/vault.env"
        )
        assert f"{name}-approle:/var/lib/backoffice/{name}" in services()["vault-init"]["volumes"]


def test_no_secret_value_is_written_in_the_file():
    for name, service in services().items():
        for key, value in environment(service).items():
            if SECRET_NAME.search(key):
                assert WHOLE_REFERENCE.match(value), f"{name}: {key} is not a ${{VAR}} reference"
            for url in re.findall(r"[a-z+]+://[^\s]+", value):
                password = urlsplit(url.replace("${", "{")).password
                if password is not None:
                    assert password.startswith("{"), f"{name}: {key} holds a password"
        for argument in [*(service.get("command") or []), *(service.get("entrypoint") or [])]:
            assert not re.search(r"(token|secret|password)=", str(argument), re.I), name
        for env_file in service.get("env_file", []):
            path = env_file["path"] if isinstance(env_file, dict) else env_file
            assert path == ".env", f"{name} reads secrets from {path}, not .env"


def test_the_env_file_is_not_committed_and_its_example_is():
    ignored = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=ROOT, check=False)
    assert ignored.returncode == 0, ".env must be in .gitignore"
    tracked = subprocess.run(
        ["git", "ls-files", "--error-unmatch", ".env"], cwd=ROOT, capture_output=True, check=False
    )
    assert tracked.returncode != 0, ".env is committed"
    dockerignore = (ROOT / ".dockerignore").read_text().split()
    assert ".env" in dockerignore, "the image build must not see .env"


def test_the_env_example_lists_every_variable_the_file_uses():
    used = referenced_variables(COMPOSE_FILE.read_text())
    listed = set(env_example())
    assert used - listed == set(), "missing from .env.example"
    assert listed - used == set(), "in .env.example but unused"
    for name, value in env_example().items():
        if SECRET_NAME.search(name):
            assert value.startswith("replace-me"), f"{name}: a placeholder, not a value"
    for service in services().values():
        for value in environment(service).values():
            interpolate(value, env_example())  # a required (:?) variable left out raises


def test_the_web_ui_decodes_through_the_api_codec_server():
    env = env_example()
    ui = {k: interpolate(v, env) for k, v in environment(services()["temporal-ui"]).items()}
    api = {k: interpolate(v, env) for k, v in environment(services()["api"]).items()}
    public_api = urlsplit(env["PUBLIC_API_URL"])
    assert ui["TEMPORAL_CODEC_ENDPOINT"] == f"{env['PUBLIC_API_URL']}{codec_router.prefix}"
    assert ui["TEMPORAL_CODEC_INCLUDE_CREDENTIALS"] == "true"  # the codec session cookie
    # The browser reaches the API where it is published, and the API grants CORS to the UI.
    api_port = interpolate(services()["api"]["ports"][0], env).split(":")[1]
    assert public_api.port == int(api_port)
    assert api["BACKOFFICE_TEMPORAL_UI_URL"] == env["PUBLIC_UI_URL"]
    assert ui["TEMPORAL_CORS_ORIGINS"] == env["PUBLIC_UI_URL"]
    assert ui["TEMPORAL_DEFAULT_NAMESPACE"] == api["TEMPORAL_NAMESPACE"]


def test_the_search_attributes_are_the_dev_stacks():
    listed = {}
    for line in (ROOT / "deploy" / "temporal" / "search-attributes").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, kind = line.split()
            listed[name] = kind
    assert listed == SEARCH_ATTRIBUTES
    init = services()["temporal-init"]
    assert "./deploy/temporal:/deploy:ro" in init["volumes"]
    assert init["entrypoint"] == ["/bin/sh", "/deploy/init-namespace.sh"]


def test_the_app_reaches_temporal_vault_and_the_collector_on_the_compose_network():
    env = env_example()
    for name in ("worker", "api", "schedules-init"):
        values = {k: interpolate(v, env) for k, v in environment(services()[name]).items()}
        assert values["TEMPORAL_ADDRESS"] == "temporal:7233", name
        assert values["BACKOFFICE_VAULT_ADDR"] == "http://vault:8200", name
        assert values["BACKOFFICE_SANDBOX_URL"] == "http://sandbox:8400", name
        assert values["BACKOFFICE_OTLP_ENDPOINT"] == "http://otel-collector:4318", name
        assert values["BACKOFFICE_DATABASE_URL"].startswith("postgresql+psycopg://backoffice:"), (
            name
        )
        assert "BACKOFFICE_VAULT_SECRET_ID" not in values, f"{name}: the login is a file"


def test_the_sandbox_is_a_demo_profile_on_its_own_network():
    for name, service in services().items():
        assert service.get("profiles") == PROFILES.get(name), name
    sandbox = services()["sandbox"]
    assert sandbox["networks"] == ["sandbox"]
    assert not depends_on(sandbox), "it needs nothing of the default network"
    assert interpolate(environment(sandbox)["SANDBOX_DATABASE_URL"], env_example()).startswith(
        "sqlite:////var/lib/backoffice/sandbox/"
    )
    on_sandbox_network = {
        name for name, service in services().items() if "sandbox" in service.get("networks", [])
    }
    # The worker calls it, it sends webhooks to the API, vault-init pushes its credentials.
    assert on_sandbox_network == {"sandbox", "worker", "api", "vault-init"}
    for name in ("temporal", "temporal-ui", "vault", "postgresql"):
        assert "networks" not in services()[name], f"{name}: default network only"
    assert depends_on(services()["vault-init"])["sandbox"] == "service_healthy"
    assert services()["vault-init"]["depends_on"]["sandbox"]["required"] is False


def test_the_web_ui_is_read_only_unless_the_operator_says_otherwise():
    ui = environment(services()["temporal-ui"])
    env = env_example()
    assert interpolate(ui["TEMPORAL_DISABLE_WRITE_ACTIONS"], env) == "true"
    without = {k: v for k, v in env.items() if k != "TEMPORAL_UI_DISABLE_WRITE_ACTIONS"}
    assert interpolate(ui["TEMPORAL_DISABLE_WRITE_ACTIONS"], without) == "true"
    turned_on = {**env, "TEMPORAL_UI_DISABLE_WRITE_ACTIONS": "false"}
    assert interpolate(ui["TEMPORAL_DISABLE_WRITE_ACTIONS"], turned_on) == "false"


def test_vault_audits_to_its_volume_and_vault_init_waits_for_it():
    config = (ROOT / "deploy" / "openbao" / "bao.hcl").read_text()
    match = re.search(r'audit "file" "[^"]+" \{[^}]*file_path\s*=\s*"([^"]+)"', config)
    assert match, "bao.hcl declares no file audit device"
    audit_path = match.group(1)
    assert f"--audit-log={audit_path}" in services()["vault-init"]["command"]
    folder = audit_path.rsplit("/", 1)[0]
    assert f"vault-audit:{folder}" in services()["vault"]["volumes"]


def test_vault_logins_are_bound_to_the_compose_network():
    env = env_example()
    (subnet,) = compose()["networks"]["default"]["ipam"]["config"]
    command = [interpolate(str(a), env) for a in services()["vault-init"]["command"]]
    assert f"--bind-cidr={interpolate(subnet['subnet'], env)}" in command


def test_vault_init_checks_every_secret_of_the_env_file():
    checked = environment(services()["vault-init"])
    secrets = {name for name in env_example() if SECRET_NAME.search(name)}
    assert secrets <= set(checked), f"not checked by vault-init: {secrets - set(checked)}"
    assert secrets <= set(CHECKED_SECRETS)


def test_vault_runs_in_server_mode_with_a_config_file():
    vault = services()["vault"]
    assert vault["entrypoint"] == ["bao", "server", "-config=/openbao/config/bao.hcl"]
    assert "-dev" not in " ".join(vault["entrypoint"])
    assert "./deploy/openbao/bao.hcl:/openbao/config/bao.hcl:ro" in vault["volumes"]
    config = (ROOT / "deploy" / "openbao" / "bao.hcl").read_text()
    assert re.search(r'storage "raft" \{\s*path\s*=\s*"/openbao/file"', config)
    assert re.search(r'address\s*=\s*"0\.0\.0\.0:8200"', config)
