"""The Temporal contract is spelled once, in domain/contract.py: no product module writes a
workflow type, a handler name, a search attribute or a workflow-id prefix as a literal of its
own, and what the dev stack and the compose file register is exactly the contract's search
attributes."""

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from domain import contract
from workers.registry import WORKFLOWS

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = (
    "activities",
    "backoffice",
    "bench",
    "chaos",
    "deploy",
    "devstack",
    "domain",
    "runtime",
    "sandbox",
    "starters",
    "workers",
    "workflows",
)
CONTRACT = ROOT / "domain" / "contract.py"

SEARCH_ATTRIBUTE_NAMES = tuple(contract.SEARCH_ATTRIBUTES)
# Handler names no other literal of ours has a reason to equal.
DISTINCT_HANDLERS = (
    contract.PAYMENT_RECEIVED_SIGNAL,
    contract.DEAL_STAGE_CHANGED_SIGNAL,
    contract.CONTRACT_SIGNED_SIGNAL,
    contract.INVOICE_SETTLED_SIGNAL,
    contract.STEP_RETRYING_SIGNAL,
    contract.INVOICE_OVERDUE_SIGNAL,
    contract.CHANGE_PLAN_UPDATE,
)
ID_PREFIXES = (*contract.WORKFLOW_ID_PREFIXES, contract.RECONCILIATION_SCHEDULE_ID)
# Calls whose first argument names a query, signal or update.
HANDLER_CALLS = {"query", "signal", "execute_update", "start_update", "signal_with_start"}
# A search attribute compared in a visibility query.
IN_QUERY = re.compile(rf"\b({'|'.join(SEARCH_ATTRIBUTE_NAMES)})\s*(=|!=|<|>|IN\b|STARTS_WITH\b)")


def _docstrings(tree: ast.AST) -> set[int]:
    """The ids of the docstring nodes (prose, where names may be mentioned)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def literal_names(source: str) -> Iterator[tuple[int, str]]:
    """(line, what) for each contract name a module spells out itself."""
    tree = ast.parse(source)
    prose = _docstrings(tree)
    parts = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in prose:
            text = node.value
            if IN_QUERY.search(text):
                yield node.lineno, f"visibility query naming a search attribute: {text!r}"
            if id(node) in parts:
                continue  # a piece of an f-string: the f-string is checked below
            if text in contract.WORKFLOW_TYPES:
                yield node.lineno, f"workflow type {text!r}"
            if text in SEARCH_ATTRIBUTE_NAMES:
                yield node.lineno, f"search attribute {text!r}"
            if text in DISTINCT_HANDLERS:
                yield node.lineno, f"handler name {text!r}"
            if text in ID_PREFIXES:
                yield node.lineno, f"workflow-id prefix {text!r}"
        if isinstance(node, ast.JoinedStr) and len(node.values) > 1:
            first = node.values[0]
            if isinstance(first, ast.Constant) and first.value in ID_PREFIXES:
                yield node.lineno, f"workflow id built from {first.value!r}"
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in HANDLER_CALLS
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield node.lineno, f"{node.func.attr}({node.args[0].value!r})"
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for decorator in node.decorator_list:
                if _handler_without_name(decorator):
                    yield decorator.lineno, f"@{ast.unparse(decorator)} names it after the method"


def _handler_without_name(decorator: ast.expr) -> bool:
    """`@workflow.signal`/`query`/`update` without `name=`: the method's name is the contract."""
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    if not (
        isinstance(target, ast.Attribute)
        and isinstance(target.value, ast.Name)
        and target.value.id == "workflow"
        and target.attr in ("signal", "query", "update")
    ):
        return False
    keywords = decorator.keywords if isinstance(decorator, ast.Call) else []
    return not any(k.arg == "name" for k in keywords)


def product_modules() -> Iterator[Path]:
    for package in PRODUCT:
        yield from sorted((ROOT / package).rglob("*.py"))


def test_no_product_module_spells_out_a_contract_name():
    found = [
        f"{path.relative_to(ROOT)}:{line}: {what}"
        for path in product_modules()
        if path != CONTRACT
        for line, what in literal_names(path.read_text())
    ]

    assert not found, "use domain.contract instead:\n" + "\n".join(found)


def test_the_scan_finds_each_kind_of_copy():
    """The check above can fail: each way of spelling a name out is caught."""
    copies = """
from temporalio import workflow

def start(client, key, since):
    client.start_workflow("VendorOnboarding", id=f"vendor-onboarding-{key}")
    client.list_workflows(f'Stage = "overdue" AND StartTime > "{since}"')
    handle.query("status")
    handle.signal("approve", None)
    handle.execute_update("decide", None)
    SignalTarget(key, "payment_received", None)
    prefix = "reconciliation-daily"

class Run:
    @workflow.signal
    def approve(self) -> None: ...

    @workflow.query(name=STATUS_QUERY)
    def status(self) -> None: ...
"""
    found = sorted(what for _, what in literal_names(copies))

    assert found == sorted(
        [
            "workflow type 'VendorOnboarding'",
            "workflow id built from 'vendor-onboarding-'",
            'visibility query naming a search attribute: \'Stage = "overdue" AND StartTime > "\'',
            "query('status')",
            "signal('approve')",
            "execute_update('decide')",
            "handler name 'payment_received'",
            "workflow-id prefix 'reconciliation-daily'",
            "@workflow.signal names it after the method",
        ]
    )


def test_the_workers_register_the_contracts_workflow_types_and_handlers():
    defined = {w.__temporal_workflow_definition.name: w for w in WORKFLOWS}  # type: ignore[attr-defined]
    assert set(defined) == set(contract.WORKFLOW_TYPES)
    for name, cls in defined.items():
        definition = cls.__temporal_workflow_definition  # type: ignore[attr-defined]
        assert contract.STATUS_QUERY in definition.queries, name
        assert contract.STEP_RETRYING_SIGNAL in definition.signals, name
        if name != contract.RECONCILIATION:  # the processes that wait for people
            assert contract.DECIDE_UPDATE in definition.updates, name
            assert {contract.APPROVE_SIGNAL, contract.REJECT_SIGNAL} <= set(definition.signals)
    invoice = defined[contract.INVOICE_GENERATION].__temporal_workflow_definition  # type: ignore[attr-defined]
    assert contract.PAYMENT_RECEIVED_SIGNAL in invoice.signals
    assert contract.VOID_UPDATE in invoice.updates
    lead = defined[contract.LEAD_TO_CASH].__temporal_workflow_definition  # type: ignore[attr-defined]
    assert {
        contract.DEAL_STAGE_CHANGED_SIGNAL,
        contract.CONTRACT_SIGNED_SIGNAL,
        contract.INVOICE_SETTLED_SIGNAL,
    } <= set(lead.signals)


def test_the_dev_stack_and_the_compose_file_register_exactly_the_contracts_search_attributes():
    from devstack.temporal_server import server_command

    argv = server_command(
        Path("temporal"),
        host="127.0.0.1",
        port=7233,
        http_port=7243,
        metrics_port=7244,
        db_file=Path("temporal.db"),
    )
    given = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--search-attribute"]
    assert dict(item.split("=", 1) for item in given) == contract.SEARCH_ATTRIBUTES

    listed = {}
    for line in (ROOT / "deploy" / "temporal" / "search-attributes").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, kind = line.split()
            listed[name] = kind
    assert listed == contract.SEARCH_ATTRIBUTES
    # The contract's are DESIGN.md's (plus the pending-since time the saved queries use, and
    # how a subscription stands).
    assert contract.SEARCH_ATTRIBUTES == {
        "BusinessKey": "Keyword",
        "Stage": "Keyword",
        "ApprovalStatus": "Keyword",
        "ApproverRole": "Keyword",
        "AmountCents": "Int",
        "CustomerId": "Keyword",
        "ApprovalPendingSince": "Datetime",
        "SubscriptionStatus": "Keyword",
    }
