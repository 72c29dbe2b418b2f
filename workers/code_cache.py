"""Our modules, compiled once per worker process.

The workflow sandbox imports a run's workflow module, and the modules of ours it imports that
are not passed through (`workflows.*`), afresh for every run it puts in its cache. Python reads
their bytecode from `__pycache__` when it can; where bytecode is not written
(`PYTHONDONTWRITEBYTECODE=1`, as in the Dockerfile, or a read-only install) it compiled each
source file again for every run: 6 % of the worker's CPU in an invoice backlog (py-spy).

`keep_compiled` puts a finder in front of Python's own for the project's packages: it finds
what Python finds and hands back a loader that compiles a source file once per process and keeps
the code object. Each run still executes its modules afresh (the sandbox's isolation is
unchanged), and nothing is written to disk. A file edited while the worker runs is not read
again: the worker runs the code it started with, as the workflows it registered at start do.
"""

import importlib.machinery
import sys
from collections.abc import Sequence
from importlib.abc import MetaPathFinder
from pathlib import Path
from types import CodeType, ModuleType

ROOT = Path(__file__).resolve().parents[1]
_CODE: dict[str, CodeType] = {}


class _CompiledOnce(importlib.machinery.SourceFileLoader):
    def get_code(self, fullname: str) -> CodeType | None:
        code = _CODE.get(self.path)
        if code is None:
            code = super().get_code(fullname)
            if code is not None:
                _CODE[self.path] = code
        return code


class _KeepCompiled(MetaPathFinder):
    def __init__(self, packages: frozenset[str]) -> None:
        self.packages = packages

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname.partition(".")[0] not in self.packages:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is not None and type(spec.loader) is importlib.machinery.SourceFileLoader:
            spec.loader = _CompiledOnce(spec.loader.name, spec.loader.path)
        return spec


def project_packages() -> frozenset[str]:
    """The project's top-level packages (`workflows`, `domain`, `bench`, ...)."""
    return frozenset(p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file())


def keep_compiled() -> None:
    """From now on, this process compiles each source file of the project's packages once."""
    if not any(isinstance(finder, _KeepCompiled) for finder in sys.meta_path):
        sys.meta_path.insert(0, _KeepCompiled(project_packages()))
