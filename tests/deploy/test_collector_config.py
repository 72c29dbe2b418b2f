"""deploy/otel-collector.yaml against docker-compose.yml: every component a pipeline names is
defined (and every defined one used), and the ports agree with the services that send traces,
serve metrics and run the health check."""

from typing import Any
from urllib.parse import urlsplit

import yaml

from tests.deploy.compose import ROOT, env_example, environment, interpolate, services

CONFIG = ROOT / "deploy" / "otel-collector.yaml"


def _config() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(CONFIG.read_text())
    return loaded


def _port(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


def test_pipelines_use_defined_components_and_nothing_is_left_over():
    config = _config()
    pipelines = config["service"]["pipelines"]
    assert set(pipelines) == {"traces", "metrics"}
    for section in ("receivers", "processors", "exporters"):
        defined = set(config[section])
        used = {name for pipeline in pipelines.values() for name in pipeline.get(section, [])}
        assert used <= defined, f"{section} used but not defined: {used - defined}"
        assert defined <= used, f"{section} defined but unused: {defined - used}"
    assert set(config["service"]["extensions"]) == set(config["extensions"])
    for pipeline in pipelines.values():
        assert pipeline["processors"][0] == "memory_limiter", "memory_limiter goes first"


def test_the_compose_file_mounts_this_config_where_the_collector_reads_it():
    collector = services()["otel-collector"]
    (flag,) = collector["command"]
    path = flag.removeprefix("--config=")
    assert f"./deploy/otel-collector.yaml:{path}:ro" in collector["volumes"]


def test_the_health_check_asks_the_health_check_extension():
    endpoint = _config()["extensions"]["health_check"]["endpoint"]
    check = services()["otel-collector"]["healthcheck"]["test"]
    url = urlsplit(check[-1])
    assert url.port == _port(endpoint)
    assert check[1].startswith("/probe/"), "the collector image has no HTTP client of its own"


def test_traces_arrive_where_the_app_sends_them():
    env = env_example()
    http = _config()["receivers"]["otlp"]["protocols"]["http"]["endpoint"]
    for name in ("worker", "api"):
        sent_to = interpolate(environment(services()[name])["BACKOFFICE_OTLP_ENDPOINT"], env)
        assert urlsplit(sent_to).hostname == "otel-collector", name
        assert urlsplit(sent_to).port == _port(http), name


def test_metrics_are_scraped_where_the_services_serve_them():
    jobs = {
        job["job_name"]: job
        for job in _config()["receivers"]["prometheus"]["config"]["scrape_configs"]
    }
    worker_port = _port(environment(services()["worker"])["BACKOFFICE_WORKER_METRICS_ADDRESS"])
    (worker_dns,) = jobs["backoffice-worker"]["dns_sd_configs"]
    assert worker_dns["names"] == ["worker"]  # every replica of the service
    assert worker_dns["port"] == worker_port
    api_port = _port(environment(services()["api"])["BACKOFFICE_API_METRICS_ADDRESS"])
    assert jobs["backoffice-api"]["static_configs"][0]["targets"] == [f"api:{api_port}"]
    temporal_port = _port(environment(services()["temporal"])["PROMETHEUS_ENDPOINT"])
    assert jobs["temporal-server"]["static_configs"][0]["targets"] == [f"temporal:{temporal_port}"]
