"""Reading /metrics as Prometheus does: the text format, parsed by prometheus_client's own parser."""

from __future__ import annotations

import pytest
from django.urls import reverse
from prometheus_client.parser import text_string_to_metric_families


class Scrape:
    """One scrape's samples, found by metric name and labels."""

    def __init__(self, text: str):
        self.text = text
        self.families = {family.name: family for family in text_string_to_metric_families(text)}
        self.samples = [sample for family in self.families.values() for sample in family.samples]

    def value(self, name: str, **labels: str) -> float:
        """The sample's value (0 when absent: a counter not counted yet)."""
        found = [sample.value for sample in self.samples
                 if sample.name == name and all(sample.labels.get(key) == value for key, value in labels.items())]
        assert len(found) <= 1, f"{name}{labels} matches {len(found)} samples"
        return found[0] if found else 0.0

    def label_values(self) -> set[str]:
        """The hub's own label values (Python's runtime metrics label GC generations 0, 1, 2)."""
        return {value for sample in self.samples if sample.name.startswith("qiiub_") for value in sample.labels.values()}


@pytest.fixture
def scrape(client):
    """Scrape /metrics from the local network (the test client's 127.0.0.1)."""

    def read() -> Scrape:
        answer = client.get(reverse("metrics"))
        assert answer.status_code == 200, answer.status_code
        return Scrape(answer.content.decode())

    return read
