"""The dev stack's telemetry wiring: metrics ports picked and shown, the OTLP endpoint passed to
every process only when one is given."""

from dotenv import dotenv_values

from devstack.cli import _config, _parser


def test_the_stack_records_and_shows_both_metrics_endpoints(stack):
    env = dotenv_values(stack.env_file)
    rows = stack.status()
    for process in ("worker", "api"):
        address = env[f"BACKOFFICE_{process.upper()}_METRICS_ADDRESS"]
        assert address and address.startswith("127.0.0.1:")
        row = rows[f"{process}-metrics"]
        assert row["running"] and row["address"] == f"http://{address}/metrics"
        assert row["pid"] == rows[process]["pid"]
    assert env["BACKOFFICE_WORKER_METRICS_ADDRESS"] != env["BACKOFFICE_API_METRICS_ADDRESS"]
    assert "BACKOFFICE_OTLP_ENDPOINT" not in env  # tracing export is off by default


def test_an_otlp_endpoint_given_to_dev_up_reaches_the_env_file(monkeypatch, tmp_path):
    monkeypatch.delenv("BACKOFFICE_OTLP_ENDPOINT", raising=False)
    off = _config(_parser().parse_args(["up", "--data-dir", str(tmp_path)]))
    assert off.extra_env == {}
    given = _config(
        _parser().parse_args(
            ["up", "--data-dir", str(tmp_path), "--otlp-endpoint", "http://127.0.0.1:4318"]
        )
    )
    assert given.extra_env == {"BACKOFFICE_OTLP_ENDPOINT": "http://127.0.0.1:4318"}
    monkeypatch.setenv("BACKOFFICE_OTLP_ENDPOINT", "http://collector:4318")
    inherited = _config(_parser().parse_args(["up", "--data-dir", str(tmp_path)]))
    assert inherited.extra_env == {"BACKOFFICE_OTLP_ENDPOINT": "http://collector:4318"}
