"""`backoffice dev up|status|web-ui|down` as a user runs them, in a subprocess."""

import httpx

from tests.devstack.dev_cli import dev
from tests.devstack.procs import processes_using

FREE_PORTS = [
    f"--{name}-port=0"
    for name in (
        "temporal",
        "temporal-ui",
        "temporal-http",
        "temporal-metrics",
        "vault",
        "sandbox",
        "api",
        "smtp",
        "mailpit-ui",
    )
]


def test_up_status_down(tmp_path):
    data = str(tmp_path / "data")
    up = dev("up", "--data-dir", data, "--no-worker", *FREE_PORTS)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        labels = (
            "Temporal ",
            "Temporal Web UI",
            "Vault (OpenBao)",
            "Sandbox",
            "Mailpit",
            "API",
            "Worker",
        )
        for label in labels:
            assert label in up.stdout
        assert f"{data}/devstack/backoffice.env" in up.stdout
        assert f"{data}/devstack/credentials.json" in up.stdout
        assert f"backoffice dev down --data-dir {data}" in up.stdout

        status = dev("status", "--data-dir", data)
        assert status.returncode == 0, status.stdout + status.stderr
        lines = {line.split()[0]: line for line in status.stdout.splitlines()[1:]}
        for name in ("temporal", "temporal-ui", "vault", "sandbox", "mailpit", "smtp", "api"):
            assert lines[name].endswith("running"), status.stdout
        assert lines["worker"].endswith("disabled")

        signin = dev("web-ui", "--data-dir", data, "--workflow-id", "lead-to-cash-L1")
        assert signin.returncode == 0, signin.stdout + signin.stderr
        (link,) = [w for w in signin.stdout.split() if "/codec/session?ticket=" in w]
        opened = httpx.get(link, timeout=10, trust_env=False)
        assert opened.status_code == 303, opened.text
        assert opened.headers["location"].endswith("/namespaces/default/workflows/lead-to-cash-L1")

        again = dev("up", "--data-dir", data, "--no-worker")
        assert again.returncode == 0 and "already running" in again.stdout
    finally:
        down = dev("down", "--data-dir", data)
    assert down.returncode == 0, down.stdout + down.stderr
    assert "Stopped api, mailpit, sandbox, vault, temporal-ui, temporal" in down.stdout
    assert processes_using(tmp_path / "data") == []

    stopped = dev("status", "--data-dir", data)
    assert stopped.returncode == 3
    assert "stopped" in stopped.stdout
    assert dev("web-ui", "--data-dir", data).returncode == 3
    assert "Nothing was running" in dev("down", "--data-dir", data).stdout


def test_bad_port_is_a_usage_error(tmp_path):
    result = dev("up", "--data-dir", str(tmp_path), "--vault-port", "70000")
    assert result.returncode == 1
    assert "vault_port" in result.stderr
