"""Settlement reconciliation: a processor's settled transactions for business dates against the
POS card tenders of the same days, in a fixed number of set-based statements whatever the volume.

Matching, strongest key first, each side used once:
1. the processor's payment id (`processor_ref`): a sale or a void against a tender, a refund
   against the POS return (or portal refund) that carries the refund's own id;
2. otherwise auth code + last 4 + amount, within a window around the sale's time, on the same
   terminal when the processor names one (a store code or a hub terminal id).

Each tender and each processor row of the days becomes one item: matched, amount differs,
settled on another day (the processor's cut-off), at the till only, at the processor only,
refunded, voided, chargeback, fee or adjustment. Tenders and rows of the neighbouring days take
part in the matching, so a sale settled after midnight is found and reported once, under the day
it was sold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import connection

from integrations.models import MerchantIntegration
from merchants.store.models import Sale, Tender, TenderKind
from payments.gateways.port import PaymentGateway
from payments.store.models import DISCREPANCIES, ReconciliationItem, SettledTransaction

# How far from the sale's time a processor row may be and still match by auth code (a late batch).
AUTH_MATCH_WINDOW = timedelta(hours=36)
NEIGHBOUR_DAYS = 1  # days either side whose tenders and rows take part in the matching
RECONCILE_LOCK = 7040  # the advisory lock namespace of reconciliation runs (ADR 0040)

# The two sides of the range, as temporary tables the planner has statistics for: matched inside one
# statement from CTEs, its estimates were guesses, and one wrong guess made a join quadratic.
TENDERS_SQL = """
CREATE TEMPORARY TABLE reconcile_tenders ON COMMIT DROP AS
SELECT q.id, q.amount, q.processor_ref, q.auth_code, q.card_last4, q.sale__location_code AS location_code,
       q.sale__completed_at AS completed_at, q.sale__terminal_id AS terminal_id,
       (q.sale__completed_at AT TIME ZONE %s)::date AS day
FROM ({tenders}) q
"""
SETTLED_SQL = """
CREATE TEMPORARY TABLE reconcile_settled ON COMMIT DROP AS
SELECT id, kind, processor_ref, original_ref, gross, fee, auth_code, card_last4, terminal, transacted_at, business_date
FROM {settled}
WHERE merchant_integration_id = %s AND business_date BETWEEN %s AND %s
"""

MATCH_SQL = """
WITH tenders AS (SELECT * FROM reconcile_tenders),
settled AS (SELECT * FROM reconcile_settled),
t_ref AS (
    SELECT id, processor_ref, row_number() OVER (PARTITION BY processor_ref, amount > 0 ORDER BY id) AS rn,
           amount > 0 AS sale
    FROM tenders WHERE processor_ref <> ''
),
s_ref AS (
    SELECT id, processor_ref, row_number() OVER (PARTITION BY processor_ref, kind = 'refund' ORDER BY id) AS rn,
           kind <> 'refund' AS sale
    FROM settled WHERE kind IN ('sale', 'void', 'refund')
),
by_ref AS (
    SELECT t.id AS tender_id, s.id AS settled_id FROM t_ref t JOIN s_ref s USING (processor_ref, rn, sale)
),
-- materialized: each side left unmatched by reference is settled before the pairing (a planner
-- that joined first and filtered after, on a one-row guess, made this quadratic)
t_auth AS MATERIALIZED (
    SELECT t.id, t.auth_code, t.card_last4, t.amount, t.completed_at, t.location_code, t.terminal_id
    FROM tenders t
    WHERE t.amount > 0 AND t.auth_code <> '' AND NOT EXISTS (SELECT 1 FROM by_ref b WHERE b.tender_id = t.id)
),
s_auth AS MATERIALIZED (
    SELECT s.id, s.auth_code, s.card_last4, s.gross, s.transacted_at, s.terminal
    FROM settled s
    WHERE s.kind = 'sale' AND s.auth_code <> '' AND NOT EXISTS (SELECT 1 FROM by_ref b WHERE b.settled_id = s.id)
),
-- every pair the keys allow, then each side's nearest in time: a pair both sides choose is a match
auth_candidates AS (
    SELECT t.id AS tender_id, s.id AS settled_id,
           abs(extract(epoch FROM s.transacted_at - t.completed_at)) AS gap
    FROM t_auth t JOIN s_auth s
      ON s.auth_code = t.auth_code AND s.card_last4 = t.card_last4 AND s.gross = t.amount
    WHERE s.transacted_at BETWEEN t.completed_at - %s AND t.completed_at + %s
      AND (s.terminal = '' OR s.terminal = t.location_code OR s.terminal = t.terminal_id::text)
),
by_auth AS (
    SELECT tender_id, settled_id FROM (
        SELECT tender_id, settled_id,
               row_number() OVER (PARTITION BY tender_id ORDER BY gap, settled_id) AS tender_choice,
               row_number() OVER (PARTITION BY settled_id ORDER BY gap, tender_id) AS settled_choice
        FROM auth_candidates) ranked
    WHERE tender_choice = 1 AND settled_choice = 1
),
pairs AS (
    SELECT tender_id, settled_id, 'reference' AS matched_by FROM by_ref
    UNION ALL
    SELECT tender_id, settled_id, 'auth' FROM by_auth
),
-- the payment a chargeback, refund or adjustment reverses, however long ago it was sold (by index)
originals AS (
    SELECT DISTINCT ON (t.processor_ref) t.processor_ref, t.id, s.location_code
    FROM {tender_table} t JOIN {sale_table} s ON s.id = t.sale_id
    WHERE t.amount > 0 AND t.processor_ref <> ''
      AND t.processor_ref IN (SELECT original_ref FROM settled WHERE original_ref <> '')
    ORDER BY t.processor_ref, t.id
)
INSERT INTO {items} (merchant_integration_id, business_date, location_code, outcome, matched_by, tender_id,
                     settled_id, pos_amount, processor_amount, fee)
SELECT %s, t.day, t.location_code,
       CASE WHEN s.kind = 'void' THEN 'voided'
            WHEN s.gross <> t.amount THEN 'amount_mismatch'
            WHEN s.kind = 'refund' THEN 'refunded'
            WHEN s.business_date <> t.day THEN 'other_day'
            ELSE 'matched' END,
       p.matched_by, t.id, s.id, t.amount, s.gross, s.fee
FROM pairs p JOIN tenders t ON t.id = p.tender_id JOIN settled s ON s.id = p.settled_id
WHERE t.day BETWEEN %s AND %s
UNION ALL
SELECT %s, t.day, t.location_code, 'pos_only', '', t.id, NULL, t.amount, NULL, 0
FROM tenders t
WHERE t.day BETWEEN %s AND %s AND NOT EXISTS (SELECT 1 FROM pairs p WHERE p.tender_id = t.id)
UNION ALL
SELECT %s, s.business_date,
       COALESCE(o.location_code, CASE WHEN s.terminal = ANY(%s) THEN s.terminal ELSE '' END),
       CASE s.kind WHEN 'chargeback' THEN 'chargeback' WHEN 'adjustment' THEN 'adjustment'
                   WHEN 'void' THEN 'voided' ELSE 'processor_only' END,
       '', o.id, s.id, NULL, s.gross, s.fee
FROM settled s
LEFT JOIN originals o ON s.original_ref <> '' AND o.processor_ref = s.original_ref
WHERE s.business_date BETWEEN %s AND %s AND NOT EXISTS (SELECT 1 FROM pairs p WHERE p.settled_id = s.id)
"""


@dataclass
class DayFigures:
    """One location's (or, with location "", unassigned rows') reconciled figures for one day."""

    tenders: Decimal = Decimal("0.00")  # the till's card tenders
    settled: Decimal = Decimal("0.00")  # the processor's gross
    fees: Decimal = Decimal("0.00")
    outcomes: dict[str, list] = field(default_factory=dict)  # outcome → [count, pos amount, processor amount]

    @property
    def net(self) -> Decimal:
        return self.settled - self.fees

    @property
    def causes(self) -> list[tuple[str, int, Decimal]]:
        """What sets the till and the processor apart: (outcome, count, till minus processor), largest first."""
        found = [(outcome, count, pos - processor) for outcome, (count, pos, processor) in self.outcomes.items()
                 if outcome in DISCREPANCIES]
        return sorted(found, key=lambda cause: -abs(cause[2]))

    @property
    def difference(self) -> Decimal:
        return sum((amount for _, _, amount in self.causes), Decimal("0.00"))

    @property
    def unexplained(self) -> Decimal:
        """Every difference counted whatever its sign: a till-only sale and a processor-only charge
        of the same amount do not cancel out."""
        return sum((abs(amount) for _, _, amount in self.causes), Decimal("0.00"))

    def add(self, other: DayFigures) -> None:
        self.tenders += other.tenders
        self.settled += other.settled
        self.fees += other.fees
        for outcome, (count, pos, processor) in other.outcomes.items():
            mine = self.outcomes.setdefault(outcome, [0, Decimal("0.00"), Decimal("0.00")])
            self.outcomes[outcome] = [mine[0] + count, mine[1] + pos, mine[2] + processor]


def day_window(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=zone)
    return start, datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)


def _tenders_sql(gateway: type[PaymentGateway], start: datetime, end: datetime, unreferenced: bool) -> tuple[str, list]:
    """The processor's card tenders sold between start and end, as SQL (the gateway's own filter)."""
    query = (Tender.objects.filter(gateway.tenders_taken(unreferenced=unreferenced), kind=TenderKind.CARD, sale__completed_at__gte=start,
                                   sale__completed_at__lt=end)
             .values("id", "amount", "processor_ref", "auth_code", "card_last4", "sale__location_code",
                     "sale__completed_at", "sale__terminal_id"))
    sql, params = query.query.sql_with_params()
    return sql, list(params)


def match_days(*, integration: MerchantIntegration, gateway: type[PaymentGateway], first: date, last: date,
               location_codes: list[str], unreferenced: bool = True) -> int:
    """Replace the items of first..last with a fresh matching (call inside the merchant's schema and
    a transaction). Eight statements whatever the volume; returns the number of items written."""
    zone = ZoneInfo(integration.merchant.time_zone)
    start, _ = day_window(first - timedelta(days=NEIGHBOUR_DAYS), zone)
    _, end = day_window(last + timedelta(days=NEIGHBOUR_DAYS), zone)
    tenders, tender_params = _tenders_sql(gateway, start, end, unreferenced and gateway.takes_unreferenced)
    sql = MATCH_SQL.format(items=ReconciliationItem._meta.db_table, tender_table=Tender._meta.db_table,
                           sale_table=Sale._meta.db_table)
    pk = integration.pk
    params = [
        AUTH_MATCH_WINDOW, AUTH_MATCH_WINDOW,
        pk, first, last,
        pk, first, last,
        pk, location_codes, first, last,
    ]
    with connection.cursor() as cursor:
        # Two runs of one integration (the nightly batch, "reconcile now") take turns: each replaces
        # the items whole, never both at once.
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [RECONCILE_LOCK, pk])
        cursor.execute(f"DELETE FROM {ReconciliationItem._meta.db_table} "
                       "WHERE merchant_integration_id = %s AND business_date BETWEEN %s AND %s", [pk, first, last])
        cursor.execute(TENDERS_SQL.format(tenders=tenders), [zone.key, *tender_params])
        cursor.execute(SETTLED_SQL.format(settled=SettledTransaction._meta.db_table),
                       [pk, first - timedelta(days=NEIGHBOUR_DAYS), last + timedelta(days=NEIGHBOUR_DAYS)])
        cursor.execute("ANALYZE reconcile_tenders, reconcile_settled")
        cursor.execute(sql, params)
        written = cursor.rowcount
        # Dropped now, not at commit: the caller's transaction may go on (a savepoint of a larger one).
        cursor.execute("DROP TABLE reconcile_tenders, reconcile_settled")
        return written


def day_figures(*, integration_id: int, first: date, last: date) -> dict[tuple[date, str], DayFigures]:
    """Per (day, location): the till, the processor, the fees and each outcome; one statement."""
    figures: dict[tuple[date, str], DayFigures] = {}
    with connection.cursor() as cursor:
        cursor.execute(f"""
            SELECT business_date, location_code, outcome, count(*), coalesce(sum(pos_amount), 0),
                   coalesce(sum(processor_amount), 0), coalesce(sum(fee), 0)
            FROM {ReconciliationItem._meta.db_table}
            WHERE merchant_integration_id = %s AND business_date BETWEEN %s AND %s
            GROUP BY 1, 2, 3""", [integration_id, first, last])
        for day, location, outcome, count, pos, processor, fees in cursor.fetchall():
            row = figures.setdefault((day, location), DayFigures())
            row.outcomes[outcome] = [count, pos, processor]
            row.tenders += pos
            row.fees += fees
            row.settled += processor
    return figures
