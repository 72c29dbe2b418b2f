"""A day's export built from parts: each page of invoices is written as its own sorted part
file, and at the end the parts are merged (an external k-way merge) into one sorted file.

Why a merge and not a sort in memory: billing lists newest `created` first, the file is sorted by
invoice number, and a day may hold 100,000 invoices; a merge holds one line per open part, and
opens at most FAN_IN parts at once (a merge of more first merges groups into bigger parts). A part
is named by its page, so a retried page overwrites its own part and never adds rows twice.
A part line is JSON: `[sort key..., the CSV row]`.
"""

import contextlib
import hashlib
import heapq
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path

# Parts merged at once: far below any open-files limit, and few enough lines held.
FAN_IN = 64


def parts_dir(export_dir: Path, file_name: str, export_key: str) -> Path:
    """Where one run's parts of `file_name` live (a hidden folder beside the export)."""
    if not export_key or "/" in export_key or export_key.startswith("."):
        raise ValueError(f"export_key {export_key!r}: a plain name such as a run id")
    return export_dir / f".{file_name}.parts" / export_key


def write_part(folder: Path, name: str, lines: Sequence[tuple[tuple[str, ...], str]]) -> None:
    """A sorted part, put in place at once (a retry of the same page replaces it)."""
    folder.mkdir(parents=True, exist_ok=True)
    body = "".join(json.dumps([*key, row]) + "\n" for key, row in sorted(lines))
    temporary = folder / f".{name}.tmp"
    temporary.write_text(body, encoding="utf-8")
    os.replace(temporary, folder / name)


def _read(path: Path, handles: ExitStack) -> Iterator[list[str]]:
    with handles.enter_context(path.open(encoding="utf-8")) as lines:
        for line in lines:
            yield json.loads(line)


def _merge_into(parts: list[Path], target: Path) -> None:
    with ExitStack() as handles, target.open("w", encoding="utf-8") as out:
        for item in heapq.merge(*(_read(p, handles) for p in parts)):
            out.write(json.dumps(item) + "\n")


def merged_lines(folder: Path, suffix: str) -> Iterator[str]:
    """The CSV rows of every part in `folder` ending in `suffix`, in key order."""
    parts = sorted(folder.glob(f"*{suffix}")) if folder.is_dir() else []
    level = 0
    while len(parts) > FAN_IN:
        level += 1
        groups = [parts[i : i + FAN_IN] for i in range(0, len(parts), FAN_IN)]
        merged = []
        for index, group in enumerate(groups):
            target = folder / f"merged-{level}-{index:06d}{suffix}"
            _merge_into(group, target)
            for part in group:
                part.unlink()
            merged.append(target)
        parts = merged
    with ExitStack() as handles:
        for item in heapq.merge(*(_read(p, handles) for p in parts)):
            yield item[-1]


def write_if_changed(path: Path, chunks: Iterable[bytes]) -> tuple[str, bool]:
    """Stream `chunks` into a temporary file beside `path`, then move it into place at once
    unless `path` already holds the same bytes; returns (sha256, changed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        sha256 = digest.hexdigest()
        if _sha256_of(path) == sha256:
            Path(temporary).unlink()
            return sha256, False
        os.chmod(temporary, 0o640)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)  # the rename itself survives a crash
    finally:
        os.close(folder)
    return sha256, True


class Counted:
    """A CSV header and rows as bytes, counting the rows as they go by."""

    def __init__(self, header: str, rows: Iterator[str]) -> None:
        self._header, self._rows, self.rows = header, rows, 0

    def __iter__(self) -> Iterator[bytes]:
        yield self._header.encode("utf-8")
        for row in self._rows:
            self.rows += 1
            yield row.encode("utf-8")


def _sha256_of(path: Path) -> str | None:
    try:
        with path.open("rb") as existing:
            return hashlib.file_digest(existing, "sha256").hexdigest()
    except FileNotFoundError:
        return None


def remove_parts(folder: Path) -> None:
    """The run's parts, once merged; the hidden folder above goes too when no other run uses
    it."""
    shutil.rmtree(folder, ignore_errors=True)
    with contextlib.suppress(OSError):  # another run's parts are still there
        folder.parent.rmdir()
