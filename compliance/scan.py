"""Card data discovery: find card numbers already stored in any table of any schema, and mask them.

Set-based: one query per table asks PostgreSQL for the rows where a text or JSON column holds 13
digits in a run (separators allowed), a superset of what the card guard refuses; only those rows
come to Python, where the guard's own rule (`redact_card_data`) decides. Encrypted columns are read
whole and decrypted in memory. A report names table, row, column and JSON path with the first 6
and last 4 digits; with `redact`, each table's hits are masked in one transaction that also writes
its audit row (`CardRedaction`).
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django_tenants.utils import get_public_schema_name, get_tenant_model
from psycopg import sql

from compliance.models import CardRedaction, CardScan, CardScanHit, ScanStatus
from events.models import DeliveryStatus, EventDelivery, OutboxEvent
from integrations.services.rotation import encrypted_columns
from qiiub.card_guard import json_loads_checkable, mask_card_numbers, redact_card_data
from qiiub.encryption import decrypt_json, encrypt_json, multi_fernet
from qiiub.errors import ValidationFailed

logger = logging.getLogger(__name__)

TEXT_TYPES = ("text", "varchar", "bpchar", "json", "jsonb")
# Tables that hold no free text anyone typed or sent: Django's bookkeeping, signed session blobs,
# and this app's own report (it keeps first 6 and last 4 only).
SKIPPED_TABLES = {
    "django_migrations", "django_content_type", "auth_permission", "django_session",
    CardScan._meta.db_table, CardScanHit._meta.db_table, CardRedaction._meta.db_table,
}
# PostgreSQL's pre-filter, a superset of what the guard finds: 13 characters that may be digits (an
# ASCII digit, any non-ASCII character, since the guard reads the digits of every script, or a JSON
# \u escape) with up to three characters between them that are not ASCII letters or digits, or a
# JSON escape (\n, \u00a0).
_DIGIT = r"(?:[^\x01-/:-\x7f]|\\u[0-9a-fA-F]{4})"
_GAP = r"(?:[^0-9A-Za-z]|\\[nrtbf]|\\u[0-9a-fA-F]{4})"
CANDIDATE_PATTERN = f"(?:{_DIGIT}{_GAP}{{0,3}}){{12}}{_DIGIT}"


# Encrypted columns whose hits are reported but never masked: a secret that merely looks like a card
# would stop working without anyone noticing. The report says to rotate it instead.
REPORT_ONLY = {"secrets"}


@dataclass
class Table:
    schema: str
    name: str
    key: str
    key_type: str  # as PostgreSQL writes it ("bigint", "uuid"): updates find rows through the key's index
    columns: list[tuple[str, str]] = field(default_factory=list)  # (column, type)
    has_merchant: bool = False


@dataclass
class Found:
    """A row's card numbers: its masked values per column and where each card was."""

    row_key: str
    merchant_id: int | None
    maskable: bool = True
    masked: dict[str, object] = field(default_factory=dict)
    hits: list[tuple[str, str, str]] = field(default_factory=list)  # (column, path, first 6 … last 4)


def card_data_scan(*, redact: bool = False, requested_by: str = "schedule", schemas: list[str] | None = None) -> CardScan:
    """Scan every schema (or the ones named), record the hits, and mask them in place with `redact`."""
    merchants = dict(get_tenant_model().objects.values_list("schema_name", "pk"))
    every_schema = [get_public_schema_name(), *sorted(set(merchants) - {get_public_schema_name()})]
    if unknown := sorted(set(schemas or []) - set(every_schema)):
        raise ValidationFailed(f"No such schema: {', '.join(unknown)}.", code="unknown_schema")
    schemas = schemas or every_schema
    scan = CardScan.objects.create(redact=redact, requested_by=requested_by)
    logger.info("card_scan.started", extra={"scan_id": scan.pk, "redact": redact})
    try:
        encrypted = {(get_public_schema_name(), table): (column, keys, name not in REPORT_ONLY)
                     for name, (table, column, keys) in encrypted_columns().items()}
        tables = list(_tables(schemas))
        for table in tables:
            secret = encrypted.get((table.schema, table.name))
            reader = _encrypted_reader(table, *secret) if secret else _candidate_reader(table)
            _scan_table(scan, table, reader, merchants.get(table.schema), redact=redact)
        _note_delivered_events(scan)
        scan.schemas_scanned, scan.tables_scanned = len(schemas), len(tables)
        scan.hit_count = scan.hits.count()
        scan.status = ScanStatus.FINISHED
    except Exception as error:
        scan.status, scan.error = ScanStatus.FAILED, f"{type(error).__name__}: the scan stopped; the log has the details."
        logger.exception("card_scan.failed", extra={"scan_id": scan.pk})
        raise
    finally:
        scan.finished_at = timezone.now()
        scan.save()
        logger.info("card_scan.finished", extra={"scan_id": scan.pk, "hits": scan.hit_count, "status": scan.status})
    return scan


def _tables(schemas: list[str]) -> Iterator[Table]:
    """Every table of these schemas with a single-column primary key and text or JSON columns."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT n.nspname, c.relname, a.attname, t.typname, pk.attname, pk.type,
                EXISTS (SELECT 1 FROM pg_attribute m WHERE m.attrelid = c.oid AND m.attname = 'merchant_id'
                        AND NOT m.attisdropped)
              FROM pg_class c
              JOIN pg_namespace n ON n.oid = c.relnamespace
              JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
              JOIN pg_type t ON t.oid = a.atttypid
              LEFT JOIN LATERAL (
                SELECT ka.attname, format_type(ka.atttypid, ka.atttypmod) AS type
                  FROM pg_index i JOIN pg_attribute ka ON ka.attrelid = i.indrelid AND ka.attnum = i.indkey[0]
                 WHERE i.indrelid = c.oid AND i.indisprimary AND i.indnatts = 1) pk ON true
             WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY(%s) AND t.typname = ANY(%s)
             ORDER BY n.nspname, c.relname, a.attnum
            """,
            [schemas, list(TEXT_TYPES)],
        )
        tables: dict[tuple[str, str], Table] = {}
        for schema, name, column, type_name, key, key_type, has_merchant in cursor.fetchall():
            if name in SKIPPED_TABLES or key is None:
                continue
            table = tables.setdefault((schema, name), Table(schema, name, key, key_type, has_merchant=has_merchant))
            table.columns.append((column, type_name))
    yield from tables.values()


def _qualified(table: Table) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(table.schema), sql.Identifier(table.name))


def _select(table: Table, columns: list[tuple[str, str]], where: sql.Composable, lock: bool) -> sql.Composed:
    merchant = sql.Identifier("merchant_id") if table.has_merchant else sql.NULL
    return sql.SQL("SELECT {key}::text, {merchant}, {columns} FROM {table} WHERE {where}{lock}").format(
        key=sql.Identifier(table.key), merchant=merchant, table=_qualified(table), where=where,
        columns=sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(column)) for column, _ in columns),
        lock=sql.SQL(" FOR UPDATE") if lock else sql.SQL(""),
    )


Reader = Callable[[bool], Iterator[Found]]


def _candidate_reader(table: Table) -> Reader:
    """The rows PostgreSQL's pre-filter picks, checked by the guard's rule, column by column."""
    where = sql.SQL(" OR ").join(
        sql.SQL("{}::text ~ {}").format(sql.Identifier(column), sql.Literal(CANDIDATE_PATTERN))
        for column, _ in table.columns
    )

    def read(lock: bool) -> Iterator[Found]:
        with connection.cursor() as cursor:
            cursor.execute(_select(table, table.columns, where, lock))
            for row_key, merchant_id, *values in cursor.fetchall():
                found = Found(row_key, merchant_id)
                for (column, type_name), value in zip(table.columns, values, strict=True):
                    if value is not None:
                        _check_value(found, column, value, is_json=type_name in ("json", "jsonb"))
                if found.hits:
                    yield found

    return read


def _encrypted_reader(table: Table, column: str, keys: list[str], maskable: bool) -> Reader:
    """Every row of an encrypted column, decrypted in memory only; masked values are encrypted again."""
    cipher = multi_fernet(keys)
    other_columns = [(name, kind) for name, kind in table.columns if name != column]
    plain = _candidate_reader(Table(table.schema, table.name, table.key, table.key_type, other_columns,
                                    table.has_merchant))

    def read(lock: bool) -> Iterator[Found]:
        if other_columns:
            yield from plain(lock)
        with connection.cursor() as cursor:
            cursor.execute(_select(table, [(column, "text")], sql.SQL("{} IS NOT NULL").format(sql.Identifier(column)), lock))
            for row_key, merchant_id, token in cursor.fetchall():
                masked, hits = redact_card_data(decrypt_json(token, cipher))
                if hits:
                    found = Found(row_key, merchant_id, maskable, {column: encrypt_json(masked, cipher)})
                    found.hits = [(column, hit.path, hit.shown) for hit in hits]
                    yield found

    return read


def _check_value(found: Found, column: str, value: str, *, is_json: bool) -> None:
    """Add the value's card numbers to `found`, with the value masked. Text holding JSON (a raw
    webhook body) is read as JSON, so the guard's field rules apply, and masked where it stands."""
    document = None
    if is_json or value[:1] in ("{", "["):
        try:
            document = json_loads_checkable(value)
        except ValueError:  # not JSON, or an object repeats a key: read as the text it is
            document = None
    if document is None:
        new_value, hits = redact_card_data(value, column)
    else:
        masked, hits = redact_card_data(document, column)
        new_value = json.dumps(masked) if is_json else _masked_json_text(value, masked, hits)
    if hits:
        found.masked[column] = new_value
        found.hits.extend((column, hit.path, hit.shown) for hit in hits)


def _masked_json_text(text: str, masked: object, hits: list) -> str:
    """Raw JSON text (a webhook body as received) masked where it stands, or, when the card is written
    with JSON escapes the text search cannot see ("4111\\n1111…", "\\u0034…"), the masked document."""
    in_place = mask_card_numbers(text, only={hit.digits for hit in hits})
    if not redact_card_data(json_loads_checkable(in_place))[1]:
        return in_place
    return json.dumps(masked, ensure_ascii=False)


def _scan_table(scan: CardScan, table: Table, reader: Reader, schema_merchant: int | None, *, redact: bool) -> None:
    """One table: record its hits and, with `redact`, mask them and audit it in one transaction."""
    with transaction.atomic():
        rows = list(reader(redact))
        if not rows:
            return
        CardScanHit.objects.bulk_create(
            CardScanHit(scan=scan, schema=table.schema, table=table.name, row_key=row.row_key, column=column,
                        path=path, shown=shown, merchant_id=row.merchant_id or schema_merchant,
                        redacted=redact and row.maskable)
            for row in rows for column, path, shown in row.hits
        )
        masked_rows = [row for row in rows if row.maskable] if redact else []
        if not masked_rows:
            return
        with connection.cursor() as cursor:
            for row in masked_rows:
                cursor.execute(
                    sql.SQL("UPDATE {table} SET {assignments} WHERE {key} = %s::{key_type}").format(
                        table=_qualified(table), key=sql.Identifier(table.key), key_type=sql.SQL(table.key_type),
                        assignments=sql.SQL(", ").join(
                            sql.SQL("{} = %s").format(sql.Identifier(column)) for column in row.masked),
                    ),
                    [*row.masked.values(), row.row_key],
                )
        CardRedaction.objects.create(
            scan=scan, schema=table.schema, table=table.name, rows=len(masked_rows),
            columns=sorted({column for row in masked_rows for column in row.masked}), actor=scan.requested_by,
        )
        logger.info("card_scan.redacted", extra={"scan_id": scan.pk, "schema": table.schema, "table": table.name,
                                                 "rows": len(masked_rows)})


def _note_delivered_events(scan: CardScan) -> None:
    """On each hit in an event, the receivers that already got it: they hold a copy we cannot mask."""
    event_hits = list(scan.hits.filter(schema=get_public_schema_name(), table=OutboxEvent._meta.db_table))
    if not event_hits:
        return
    receivers: dict[str, list[str]] = defaultdict(list)
    # A receiver may hold the event after any attempt: one that timed out or answered 5xx may have kept it.
    deliveries = EventDelivery.objects.filter(
        Q(status=DeliveryStatus.SUCCEEDED) | Q(attempts__gt=0), event_id__in={hit.row_key for hit in event_hits}
    ).select_related("webhook_endpoint", "merchant_integration__definition")
    for delivery in deliveries:
        receivers[str(delivery.event_id)].append(_receiver(delivery))
    for hit in event_hits:
        hit.delivered_to = sorted(receivers.get(hit.row_key, []))
    CardScanHit.objects.bulk_update(event_hits, ["delivered_to"])


def _receiver(delivery: EventDelivery) -> str:
    if delivery.webhook_endpoint_id:
        return f"webhook {delivery.webhook_endpoint.url}"
    if delivery.merchant_integration_id:
        return delivery.merchant_integration.definition.name
    return delivery.subscriber_key


def report_lines(scan: CardScan) -> Iterator[str]:
    """The scan's findings, one line each, for the command's output: never more than 6 + 4 digits."""
    report_only = {table for name, (table, _, _) in encrypted_columns().items() if name in REPORT_ONLY}
    for hit in scan.hits.all():
        where = f"{hit.column} {hit.path}".strip()
        delivered = f" (already delivered to {', '.join(hit.delivered_to)})" if hit.delivered_to else ""
        action = "masked" if hit.redacted else "found"
        secret = " in a secret: rotate it (secrets are never masked)" if hit.table in report_only else ""
        yield f"{hit.schema}.{hit.table} row {hit.row_key} {where}: {action} {hit.shown}{secret}{delivered}"


def scan_settings_note() -> str:
    """What the scan cannot see: secrets kept outside the database."""
    if settings.VAULT_BACKEND != "local":
        return f"Secrets in the {settings.VAULT_BACKEND} vault are not scanned; only the database is."
    return ""
