"""The one redaction place (`runtime.redaction`) over realistic text and records, the log
formatter that uses it, and the audit summaries that use it. No stack needed."""

import io
import json
import logging
import subprocess
import sys

import pytest

from activities.audit import summarize_request, summarize_response
from runtime.logs import configure_logging
from runtime.redaction import REDACTED, RedactingFilter, redact_text, redact_value
from runtime.settings import Settings, SettingsError, load_settings
from tests.helpers import iban

IBAN = iban()  # 22 characters, check digits computed
GROUPED_IBAN = " ".join(IBAN[i : i + 4] for i in range(0, len(IBAN), 4))
EMAIL = "dana.example@acme-components.example"
VAULT_TOKEN = "hvs.CAESIJ3xq9Lr0bU2vKqYw8eZt1mN"
API_KEY = "svc-onboarding.9f8e7d6c5b4a39281706f5e4d3c2b1a0"
LINK_TOKEN = "eyJ3IjoidmVuZG9yLW9uYm9hcmRpbmctQVBQLTEifQ.c2lnbmF0dXJl"


@pytest.mark.parametrize(
    ("text", "secrets"),
    [
        (f"payout to {IBAN} refused", [IBAN]),
        (f"IBAN: {GROUPED_IBAN}.", [GROUPED_IBAN, IBAN[4:8]]),
        (f"bank account iban_{IBAN} on file", [IBAN]),
        (f"welcome email to {EMAIL} sent", [EMAIL]),
        ("GET /crm/contacts/dana%40acme.example HTTP/1.1", ["dana%40acme"]),
        (f"Authorization: Bearer {API_KEY}", [API_KEY, API_KEY.split(".")[1]]),
        ('headers={"authorization": "Basic ZGFuYTpodW50ZXIy"}', ["ZGFuYTpodW50ZXIy"]),
        (f"logged in, token {VAULT_TOKEN}", [VAULT_TOKEN]),
        ("legacy s.Xk2mN8pQ4rT6vY1zB3cF5hJ7 token", ["s.Xk2mN8pQ4rT6vY1zB3cF5hJ7"]),
        (
            f'127.0.0.1:5501 - "GET /inbox/links/{LINK_TOKEN} HTTP/1.1" 200',
            [LINK_TOKEN],
        ),
        ("postgresql://backoffice:Pg-s3cret!@db.internal:5432/app", ["Pg-s3cret!"]),
        ("card 4111 1111 1111 1111 declined", ["4111 1111 1111 1111"]),
        ("vendor tax id DE123456789 exists", ["DE123456789"]),
        ("EIN 12-3456789, SSN 123-45-6789", ["12-3456789", "123-45-6789"]),
        ("account number: 0532 0130 00", ["0532 0130 00"]),
        (
            'password=hunter22&user=ops api_key: k-123456 "client_secret": "cs-98765"',
            ["hunter22", "k-123456", "cs-98765"],
        ),
        ('{"contact_name": "Dana Example", "id": "V-000042"}', ["Dana Example"]),
    ],
)
def test_free_text_loses_every_secret_and_personal_value(text, secrets):
    redacted = redact_text(text)
    for secret in secrets:
        assert secret not in redacted, redacted
    assert REDACTED in redacted or "<token>" in redacted
    assert redact_text(redacted) == redacted  # idempotent


def test_ids_statuses_and_times_are_left_alone():
    text = (
        "2026-11-21 22:37:09 erp POST /vendors answered 422 DUPLICATE_TAX_ID for "
        "vendor-onboarding-APP-1A2B3C4D5E run 01a20041-9b8b-796d-97da-68877e626ba1; "
        "invoice INV-2026-0042, deal DEAL-000015, customer CUS-000009, 1250.00 EUR, "
        "latency 1700000000000 ms; Basic checks passed; the name of the step"
    )
    assert redact_text(text) == text


def test_the_link_path_keeps_its_shape():
    line = f"GET /inbox/links/{LINK_TOKEN}?confirm=1 HTTP/1.1"
    assert redact_text(line) == "GET /inbox/links/<token>?confirm=1 HTTP/1.1"


def test_a_codec_sign_in_ticket_is_not_logged():
    line = f'"GET /codec/session?ticket={LINK_TOKEN}&x=1 HTTP/1.1" 303'
    assert redact_text(line) == '"GET /codec/session?ticket=<token>&x=1 HTTP/1.1" 303'


def test_mappings_lose_the_values_of_sensitive_keys_at_any_depth():
    application = {
        "application_id": "APP-1001",
        "legal_name": "Acme Components GmbH",
        "tax_id": "DE123456789",
        "contact_name": "Dana Example",
        "contact_email": EMAIL,
        "phone": "+49 30 1234567",
        "billing_address": {"street": "Hauptstr. 1", "city": "Berlin"},
        "bank_account": {"iban": IBAN, "bic": "DEUTDEFFXXX"},
        "credentials": {"api_key": "k", "password": "p", "client_secret": "c"},
        "Authorization": f"Bearer {API_KEY}",
        "X-Vault-Token": VAULT_TOKEN,
        "notes": [f"call {EMAIL}", {"iban": IBAN}],
        "status": "active",
        "attempt": 2,
        "contact_fax": None,
    }
    safe = redact_value(application)
    dumped = json.dumps(safe)
    for value in (EMAIL, IBAN, "DE123456789", "Dana Example", "+49 30", "Hauptstr", API_KEY):
        assert value not in dumped, value
    assert VAULT_TOKEN not in dumped and '"p"' not in dumped
    assert safe["application_id"] == "APP-1001" and safe["status"] == "active"
    assert safe["attempt"] == 2 and safe["contact_fax"] is None
    assert safe["bank_account"] == REDACTED and safe["notes"][1] == {"iban": REDACTED}
    assert application["tax_id"] == "DE123456789"  # a copy: the input is untouched


def test_audit_summaries_name_fields_and_show_ids_and_status_only():
    body = {"legal_name": "Acme", "bank_account": {"iban": IBAN}, "contact_email": EMAIL}
    assert summarize_request(body) == "fields: bank_account, contact_email, legal_name"
    created = json.dumps({"id": "V-000042", "status": "active", "iban": IBAN}).encode()
    assert summarize_response(created) == '{"id": "V-000042", "status": "active"}'
    # A system that echoes personal data where ids and codes go: redacted all the same.
    echoed = json.dumps({"error": {"code": f"REJECTED {EMAIL}", "id": IBAN}}).encode()
    summary = summarize_response(echoed)
    assert summary is not None and EMAIL not in summary and IBAN not in summary
    assert summary == json.dumps({"code": f"REJECTED {REDACTED}", "id": REDACTED})


def _settings(**overrides: str) -> Settings:
    return Settings(
        vault_addr="http://127.0.0.1:8200",
        vault_role_id="role",
        vault_secret_id="secret-id",
        **overrides,  # type: ignore[arg-type]
    )


@pytest.fixture
def restore_root_logger():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def test_a_json_line_is_redacted_message_exception_and_extra_alike(restore_root_logger):
    out = io.StringIO()
    configure_logging(_settings(), service="worker", stream=out)
    log = logging.getLogger("backoffice.test")
    log.info("welcome email to %s", EMAIL, extra={"body": {"iban": IBAN, "id": "V-1"}})
    try:
        raise ValueError(f"payout to {IBAN} refused")
    except ValueError:
        log.exception("payout failed with %s", f"Bearer {API_KEY}")
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["message"] == f"welcome email to {REDACTED}"
    assert first["body"] == {"iban": REDACTED, "id": "V-1"}
    assert {"time", "level", "logger", "message", "service"} <= set(first)
    assert first["service"] == "worker" and first["logger"] == "backoffice.test"
    assert first["level"] == "INFO" and first["time"].endswith("Z")
    assert "workflow_id" not in first  # outside any run
    assert second["message"] == f"payout failed with Bearer {REDACTED}"
    assert "ValueError: payout to [redacted] refused" in second["exception"]
    assert IBAN not in out.getvalue() and EMAIL not in out.getvalue()
    assert API_KEY.split(".")[1] not in out.getvalue()


def test_text_format_is_redacted_too(restore_root_logger):
    out = io.StringIO()
    configure_logging(_settings(log_format="text"), service="api", stream=out)
    logging.getLogger("uvicorn.access").warning("GET /inbox/links/%s for %s", LINK_TOKEN, EMAIL)
    line = out.getvalue().strip()
    assert line.endswith(f"WARNING uvicorn.access GET /inbox/links/<token> for {REDACTED}")
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


def test_the_filter_keeps_uvicorn_access_arguments_a_tuple():
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5501", "GET", f"/inbox/links/{LINK_TOKEN}", "1.1", 200),
        None,
    )
    assert RedactingFilter().filter(record)
    assert isinstance(record.args, tuple) and record.args[2] == "/inbox/links/<token>"
    assert record.getMessage() == '127.0.0.1:5501 - "GET /inbox/links/<token> HTTP/1.1" 200'


def test_a_bad_log_format_names_the_setting(monkeypatch):
    monkeypatch.setenv("BACKOFFICE_LOG_FORMAT", "xml")
    monkeypatch.setenv("BACKOFFICE_VAULT_ADDR", "http://127.0.0.1:8200")
    monkeypatch.setenv("BACKOFFICE_VAULT_ROLE_ID", "role")
    monkeypatch.setenv("BACKOFFICE_VAULT_SECRET_ID", "secret-id")
    with pytest.raises(SettingsError, match=r"BACKOFFICE_LOG_FORMAT: .*'json' or 'text'"):
        load_settings()
    worker = subprocess.run(
        [sys.executable, "-m", "workers"], capture_output=True, text=True, timeout=60, check=False
    )
    assert worker.returncode == 2
    assert "BACKOFFICE_LOG_FORMAT" in worker.stderr and "'json' or 'text'" in worker.stderr
