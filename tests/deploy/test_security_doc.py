"""docs/security.md stays true: every environment variable it names is one that the project
(settings, compose file, .env.example, deploy steps) or the Temporal SDK that
`runtime/temporal_config.py` hands Temporal's settings to really reads; every test and file it
cites exists; README links to it."""

import re
from pathlib import Path

import temporalio.bridge

from runtime.settings import ENV_PREFIX, Settings
from tests.deploy.compose import ROOT

PAGE = ROOT / "docs" / "security.md"
VARIABLE = re.compile(r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]*[A-Z0-9]\b")
CITED = re.compile(r"\b((?:tests|deploy|runtime|starters|docs)/[\w/.-]+\.(?:py|md|hcl))\b")


def _our_sources() -> str:
    files = [ROOT / "docker-compose.yml", ROOT / ".env.example"]
    for folder in ("runtime", "deploy", "starters"):
        files += [p for p in (ROOT / folder).rglob("*") if p.suffix in {".py", ".hcl", ".sh"}]
    return "\n".join(p.read_text() for p in files)


def _sdk_bridge() -> bytes:
    """The SDK's native bridge, where Temporal's environment configuration is read."""
    folder = Path(temporalio.bridge.__file__).parent
    (library,) = folder.glob("temporal_sdk_bridge*")
    return library.read_bytes()


def test_every_variable_the_page_names_is_read_somewhere():
    named = set(VARIABLE.findall(PAGE.read_text()))
    assert named, "the page names no settings"
    settings = {f"{ENV_PREFIX}{field.upper()}" for field in Settings.model_fields}
    ours = _our_sources()
    sdk = _sdk_bridge()
    unread = sorted(
        name
        for name in named
        if name not in settings and name not in ours and name.encode() not in sdk
    )
    assert unread == [], f"docs/security.md names settings nothing reads: {unread}"


def test_the_tls_and_api_key_settings_it_names_are_temporals():
    text = PAGE.read_text()
    for name in (
        "TEMPORAL_TLS_CLIENT_CERT_PATH",
        "TEMPORAL_TLS_CLIENT_KEY_PATH",
        "TEMPORAL_TLS_SERVER_CA_CERT_PATH",
        "TEMPORAL_API_KEY",
    ):
        assert name in text
        assert name.encode() in _sdk_bridge(), f"{name} is not read by the Temporal SDK"


def test_every_file_it_cites_exists_and_readme_links_to_it():
    for cited in set(CITED.findall(PAGE.read_text())):
        assert (ROOT / cited).exists(), f"docs/security.md cites {cited}, which is missing"
    assert "(docs/security.md)" in (ROOT / "README.md").read_text()
