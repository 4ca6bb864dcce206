"""Card numbers pushed through every inbound path, not only the guard function: the shared machinery.

Each path gets a generated corpus (tests/card_corpus.py): a fresh card number of some network in
every grouping, with every separator and some context, put in each of the path's text fields in
turn. Each must be refused with the path's own clear error (422 naming the field: JSON for the
APIs, the form again for portal pages), with the card's digits nowhere in the answer (as sent,
digits only, HTML- or JSON-escaped) and nowhere in the logs (DEBUG), and nothing of the request
stored: row counts unchanged and a card data scan of every schema finding nothing. Real POS data
(barcodes, NDC and Rx numbers, phones, UUIDs, last 4, masked cards, references, times) must pass
where it arrives and be stored as sent.

The paths, one test module each (tests/security/test_card_data_inbound_*.py):
- pos_api: POS uploads and enrollment, the terminal's app version header;
- webhooks: Shopify webhooks (body and the headers stored with it);
- portal_forms: integration configuration and credentials, webhook endpoints, partner templates,
  POS settings, the mappings editor, the Django admin;
- connector_returns: the OAuth callback and SURI's confirmation number.
The `debug_logs` fixture is in tests/security/conftest.py.

Every corpus comes from a seeded generator, so a failure names a reproducible case (path, case
index, field, grouping) without printing a card number.
"""

from __future__ import annotations

import html
import json
import random
import re
import unicodedata
from dataclasses import dataclass

from django.test import Client

from compliance.scan import card_data_scan
from qiiub.logs import KeyValueFormatter
from tests.card_corpus import GROUPINGS, card_in_grouping

SEED = 20261125
# Cases per path: every (field, grouping) pair several times over. An API request costs a few ms;
# a portal page renders a whole page per refusal (20-30 ms), so their corpora are nearer 300.
# Each module sets its own counts; this one is shared:
# paths outside the guard's list so far (headers, the OAuth redirect, SURI's confirmation number).
OTHER_PATH_CASES = 70
CARD_REFUSED = "looks like card data"


@dataclass(frozen=True)
class Case:
    index: int
    field: str
    grouping: str
    pan: str
    value: str

    def __str__(self) -> str:  # what a failure shows: never the card itself
        return f"case {self.index} ({self.field}, {self.grouping})"


def cases(path: str, fields: list[str], count: int, *, keep=lambda case: True) -> list[Case]:
    """`count` cases over every (field, grouping) pair in turn, each with a fresh card number.
    `keep` drops the values a field cannot carry (regenerated from the same seeded stream)."""
    rng = random.Random(f"{SEED}:{path}")
    groupings = list(GROUPINGS)
    made: list[Case] = []
    for index in range(count):
        field = fields[index % len(fields)]
        grouping = groupings[(index // len(fields)) % len(groupings)]
        while True:
            pan, value = card_in_grouping(grouping, rng)
            case = Case(index, field, grouping, pan, value)
            if keep(case):
                break
        made.append(case)
    if count >= len(fields) * len(groupings):
        assert {(case.field, case.grouping) for case in made} == {(f, g) for f in fields for g in groupings}
    return made


def fits_a_header(case: Case) -> bool:
    """HTTP header values are one line of Latin-1."""
    return "\n" not in case.value and "\r" not in case.value and case.value.isascii()


def readable(text: str) -> str:
    """The text as a person would read it: JSON and HTML escapes undone, full-width digits as ASCII."""
    text = re.sub(r"\\u([0-9a-fA-F]{4})", lambda match: chr(int(match.group(1), 16)), text)
    return unicodedata.normalize("NFKC", html.unescape(text))


class Haystack:
    """A response or the logs, searched for each card in every shape: as sent, stripped, digits
    only, HTML- or JSON-escaped, and its digits with anything at all in between removed."""

    def __init__(self, *texts: str):
        self.texts = [text for text in texts if text]
        self.digits = re.sub(r"\D", "", readable(" ".join(self.texts)))
        self.readable = readable(" ".join(self.texts))

    def shows(self, case: Case) -> str | None:
        shapes = {
            "as sent": case.value, "stripped": case.value.strip(), "digits only": case.pan,
            "HTML-escaped": html.escape(case.value), "HTML-escaped, stripped": html.escape(case.value.strip()),
            "JSON-escaped": json.dumps(case.value)[1:-1], "JSON-escaped, stripped": json.dumps(case.value.strip())[1:-1],
        }
        for name, shape in shapes.items():
            if any(shape in text for text in self.texts):
                return f"the card {name}"
        if case.value.strip() in self.readable:
            return "the card as sent, once unescaped"
        if case.pan in self.digits:
            return "the card's digits, separators removed"
        return None


def response_haystack(response) -> Haystack:
    body = response.content.decode()
    texts = [body]
    if response.get("Content-Type", "").startswith("application/json"):
        texts.append(json.dumps(response.json(), ensure_ascii=False))
    return Haystack(*texts)


def logs_haystack(caplog) -> Haystack:
    formatter = KeyValueFormatter("%(levelname)s %(name)s %(message)s")
    return Haystack(*(formatter.format(record) for record in caplog.records))


def json_error(response) -> dict:
    """The API error body: {"error": {code, message, fields}} (DRF) or {"error", "message"} (receiver)."""
    body = response.json()
    return body["error"] if isinstance(body.get("error"), dict) else body


def names_field(message: str, field: str) -> bool:
    return f"Field '{field}' {CARD_REFUSED}" in readable(message)


def marks_field(page: str, field: str) -> bool:
    """A form's refusal: the field marked invalid, its message at it (its label, not its path), once."""
    shown = readable(page)
    return ('aria-invalid="true"' in page and shown.count(CARD_REFUSED) == 1
            and f"'{field}'" not in shown and f"Field '{field}'" not in shown)


class Findings:
    """What went wrong, case by case, reported together at the end (the first 25)."""

    def __init__(self, path: str):
        self.path, self.problems = path, []

    def add(self, case: Case, problem: str) -> None:
        self.problems.append(f"{self.path} {case}: {problem}")

    def check_echo(self, case: Case, haystack: Haystack, where: str) -> None:
        if shown := haystack.shows(case):
            self.add(case, f"{where} holds {shown}")

    def assert_none(self) -> None:
        # the totals first (rows, scan), then the first cases
        shown = sorted(self.problems, key=lambda problem: " case " in problem)[:25]
        assert not self.problems, f"{len(self.problems)} problems:\n" + "\n".join(shown)


def refused_with(findings: Findings, case: Case, response, *, status: int = 422, field: str | None = None,
                 api: bool = True) -> None:
    """The path's clear refusal: a 422 naming the field, and the card nowhere in the answer."""
    if response.status_code != status:
        findings.add(case, f"answered {response.status_code}, not {status}")
    if api:
        error = json_error(response) if response.get("Content-Type", "").startswith("application/json") else {}
        if error.get("code", error.get("error")) != "card_data_rejected":
            findings.add(case, f"error code {error.get('code', error.get('error'))!r}, not card_data_rejected")
        elif field is not None and not names_field(error.get("message", ""), field):
            findings.add(case, f"the message does not name {field!r}: {error.get('message', '')[:80]!r}")
        if field is not None and "fields" in error and field not in error["fields"]:
            findings.add(case, f"the error's fields are {sorted(error['fields'])}, not {field!r}")
    elif field is not None and not (names_field(response.content.decode(), field)
                                    or marks_field(response.content.decode(), field)):
        findings.add(case, f"the page does not say field {field!r} {CARD_REFUSED}")
    findings.check_echo(case, response_haystack(response), "the answer")


def assert_nothing_stored_and_not_logged(findings: Findings, corpus: list[Case], caplog, before: dict, after: dict):
    """After the corpus: the rows it could have written are as they were, the logs hold none of the
    cards, and a card data scan of every schema finds nothing."""
    logs = logs_haystack(caplog)
    for case in corpus:
        findings.check_echo(case, logs, "the logs")
    if after != before:
        findings.problems.append(f"{findings.path}: rows changed: {before} -> {after}")
    scan = card_data_scan(requested_by="test")
    if scan.hit_count:
        stored = sorted({f"{hit.schema}.{hit.table}.{hit.column} {hit.path}".strip() for hit in scan.hits.all()})
        findings.problems.append(f"{findings.path}: the card data scan found {scan.hit_count} card numbers in {stored}")
    findings.assert_none()


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def with_field(order: dict, field: str, value) -> dict:
    """A copy of the order (or any JSON object) with `field` (a dotted path with [index]) set to `value`."""
    order = json.loads(json.dumps(order))
    *parents, last = re.findall(r"[^.\[\]]+", field)
    target = order
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    target[int(last) if last.isdigit() else last] = value
    return order
