"""Reading a Prometheus endpoint the way a scraper does: the text format, parsed into samples."""

import re
from dataclasses import dataclass

import httpx

_SAMPLE = re.compile(r"^(?P<name>[A-Za-z_:][A-Za-z0-9_:]*)(\{(?P<labels>.*)\})?\s+(?P<value>\S+)")
_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


class Scrape:
    """One scrape of an endpoint: every sample it served."""

    def __init__(self, url: str) -> None:
        answer = httpx.get(url, timeout=10, trust_env=False)
        answer.raise_for_status()
        self.text = answer.text
        self.samples = [s for line in self.text.splitlines() if (s := _parse(line))]

    @property
    def names(self) -> set[str]:
        return {s.name for s in self.samples}

    def value(self, name: str, **labels: str) -> float:
        """The sum over every series of `name` whose labels include `labels` (0 when none)."""
        return sum(
            s.value
            for s in self.samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        )

    def series(self, name: str) -> list[Sample]:
        return [s for s in self.samples if s.name == name]


def _parse(line: str) -> Sample | None:
    if not line or line.startswith("#"):
        return None
    match = _SAMPLE.match(line)
    if match is None:
        raise AssertionError(f"not a Prometheus sample line: {line!r}")
    labels = {
        key: value.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")
        for key, value in _LABEL.findall(match.group("labels") or "")
    }
    return Sample(match.group("name"), labels, float(match.group("value")))
