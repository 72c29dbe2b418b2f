"""What every `backoffice` command shares: its exit codes, its one-line usage errors and the
`--json` output of list and status commands."""

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from pydantic import BaseModel

OK = 0
FAILED = 1  # the command ran, and what it did failed or was refused
USAGE = 2  # bad arguments, input or settings: nothing was started or changed
NOT_RUNNING = 3  # Temporal, Vault, the API or the sandbox cannot be reached

EXIT_CODES = (
    "exit codes: 0 ok; 1 failed (the command ran and what it did failed or was refused); "
    "2 usage (bad arguments, input or settings: nothing changed); 3 not running (Temporal, "
    "Vault, the API or the sandbox cannot be reached)"
)


class CommandParser(argparse.ArgumentParser):
    """An argument parser whose usage error is one line on stderr, naming the command and where
    its help is, with exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


def print_json(value: BaseModel | Sequence[BaseModel] | dict[str, Any]) -> None:
    """One JSON document on stdout: a model, a list of models, or a mapping."""
    if isinstance(value, BaseModel):
        document: Any = value.model_dump(mode="json")
    elif isinstance(value, dict):
        document = value
    else:
        document = [item.model_dump(mode="json") for item in value]
    json.dump(document, sys.stdout, indent=2)
    sys.stdout.write("\n")
