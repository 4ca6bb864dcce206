"""The Dynamics Payments fake's operations, each taking the signed-in site and the JSON body and giving back the
answer body or raising `DynamicsError`. Called with the state lock held, after the signature was checked.

The fixture-shaped answer (Account, AccountToken, IDTransaction, BatchCode, AcquirerName, Status, CardHolderName,
AuditNumber, ResponseCode, DesicionResponseCode, Message, AuthNumber, HostDate, HostTime, Reference_Code) comes from
the unofficial client's fixtures; `Amount`, `AuthorizedAmount`, `Invoice`, `CardBrand`, `Refunds` and
`OriginalIDTransaction` in it are inferred, as are RefundByID, CloseBatch and the settlement listings."""

from __future__ import annotations

import re
import secrets
from datetime import date
from decimal import Decimal

from simulators.dynamics_payments.records import (
    AUTHORIZED,
    BRANDS,
    DECLINED,
    MARKED,
    REFUND_PENDING,
    REFUND_SETTLED,
    SETTLED,
    SETTLED_STATUSES,
    VOID_PENDING,
    VOIDED,
    Batch,
    Site,
    Transaction,
)
from simulators.dynamics_payments.replies import ZERO, invalid_format, money, refused
from simulators.dynamics_payments.state import DynamicsState

AMOUNT = re.compile(r"\d{1,7}\.\d{2}")
CARD_TOKEN = re.compile(r"tok_(visa|mastercard|amex|discover|ath|declined)_(\d{4})")
STAMP = "%Y-%m-%dT%H:%M:%S"
CURRENCIES = ("USD", "840")  # the hub sends "USD"; the client's validator wants three characters ("840")


# --- reading requests ---


def _amount(body: dict, name: str, *, required: bool = True) -> Decimal | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not AMOUNT.fullmatch(value):
        raise invalid_format(f'{name} debe ser un texto con 2 decimales, p. ej. "12.34"')
    amount = Decimal(value)
    if amount == 0:
        raise refused("13", f"Monto inválido: {name} debe ser mayor que 0.00")
    return amount


def _text(body: dict, name: str, limit: int = 100) -> str:
    value = body.get(name)
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > limit:
        raise invalid_format(f"{name} debe ser un texto de hasta {limit} caracteres")
    return value


def _day(body: dict, name: str) -> date:
    try:
        return date.fromisoformat(body[name])
    except ValueError:
        raise invalid_format(f'{name} debe ser una fecha "YYYY-MM-DD"') from None


def _own(state: DynamicsState, site: Site, transaction_id: str) -> Transaction:
    """The site's transaction; another merchant's is "not found" too, so that nothing leaks between merchants."""
    transaction = state.transactions.get(transaction_id)
    if transaction is None or transaction.merchant_key != site.merchant_key:
        raise refused("12", "Transacción no encontrada", transaction_id)
    return transaction


def _not_allowed(transaction: Transaction) -> Exception:
    return refused("12", f"Transacción no permitida en su estado actual ({transaction.status})", transaction.id)


def _card(state: DynamicsState, token: str) -> tuple[str, str, bool]:
    """What a card token stands for: a control-added one, or `tok_<brand>_<last4>` / `tok_declined_<last4>`."""
    if token in state.tokens:
        return state.tokens[token]
    match = CARD_TOKEN.fullmatch(token)
    if match is None:
        raise refused("14", "Token de cuenta inválido")
    brand, last4 = match.groups()
    return ("visa", last4, True) if brand == "declined" else (brand, last4, False)


def _six_digits() -> str:
    return f"{secrets.randbelow(10**6):06d}"


# --- answers ---


def transaction_view(state: DynamicsState, transaction: Transaction) -> dict:
    approved = transaction.status != DECLINED
    view = {
        "Account": transaction.account,
        "AccountToken": transaction.account_token,
        "IDTransaction": transaction.id,
        "BatchCode": transaction.batch,
        "AcquirerName": "Bridge Pay",
        "Status": transaction.status,
        "CardHolderName": "",
        "AuditNumber": transaction.audit_number,
        "ResponseCode": "00" if approved else "05",
        "DesicionResponseCode": "100" if approved else "200",  # sic: the processor's spelling
        "Message": "APROBADA" if approved else "DECLINADA",
        "AuthNumber": transaction.auth_number,
        "HostDate": transaction.at.strftime("%m%d"),
        "HostTime": transaction.at.strftime("%H%M%S"),
        "Reference_Code": transaction.reference_code,
        "Amount": money(transaction.current_amount),
        "Invoice": transaction.invoice,
        "CardBrand": BRANDS[transaction.brand][1],
    }
    if transaction.kind == "Venta":
        view["AuthorizedAmount"] = money(transaction.amount)
        refunds = [state.transactions[id_] for id_ in transaction.refunds]
        view["Refunds"] = [
            {
                "IDTransaction": made.id,
                "Amount": money(made.amount),
                "Reference_Code": made.reference_code,
                "Status": made.status,
            }
            for made in refunds
        ]
    else:
        view["OriginalIDTransaction"] = transaction.original
    return view


def batch_view(batch: Batch) -> dict:
    return {
        "BatchCode": batch.code,
        "CloseDate": batch.closed_at.strftime(STAMP) if batch.closed_at else None,
        "TransactionCount": batch.count,
        "GrossAmount": money(batch.gross),
        "Fees": money(batch.fees),
        "NetAmount": money(batch.net),
        "DepositDate": batch.deposit_date.isoformat() if batch.deposit_date else None,
    }


def batch_row(transaction: Transaction) -> dict:
    """A settled batch's row: signed amounts (a refund or chargeback is negative), so that rows add up to the batch."""
    amount = transaction.signed_amount
    row = {
        "IDTransaction": transaction.id,
        "Type": transaction.kind,
        "Amount": money(amount),
        "Fee": money(transaction.fee),
        "Net": money(amount - transaction.fee),
        "AuthNumber": transaction.auth_number,
        "Account": transaction.account,
        "CardBrand": BRANDS[transaction.brand][1],
        "HostDate": transaction.at.strftime("%m%d"),
        "HostTime": transaction.at.strftime("%H%M%S"),
        "TransactionDate": transaction.at.strftime(STAMP),
        "TerminalId": transaction.terminal,
        "Reference_Code": transaction.reference_code,
        "Invoice": transaction.invoice,
        "Status": transaction.status,
    }
    if transaction.original:
        row["OriginalIDTransaction"] = transaction.original
    return row


# --- the operations ---


def authorize_token(state: DynamicsState, site: Site, body: dict) -> dict:
    """Authorizes on a card token: held for a later mark (ReserveFunds true) or a sale in one step (false)."""
    amount = _amount(body, "Amount")
    if body["Currency"] not in CURRENCIES:
        raise invalid_format(f"Currency debe ser {' o '.join(CURRENCIES)}")
    tax = body.get("Tax")
    if (
        tax is not None
        and not (isinstance(tax, str) and AMOUNT.fullmatch(tax))
        and not (isinstance(tax, int | float) and not isinstance(tax, bool) and tax >= 0)
    ):
        raise invalid_format('Tax debe ser un monto, p. ej. "1.00"')
    reserve = body.get("ReserveFunds", False)  # the client's bool: false when left out
    if not isinstance(reserve, bool):
        raise invalid_format("ReserveFunds debe ser true o false")
    brand, last4, declined = _card(state, body["AccountToken"])
    merchant = state.merchant(site.merchant_key)
    transaction = Transaction(
        state.new_id(),
        merchant.key,
        "Venta",
        amount,
        DECLINED if declined else (AUTHORIZED if reserve else MARKED),
        brand,
        last4,
        state.local_now(),
        account_token=body["AccountToken"],
        audit_number=_six_digits(),
        reference_code=state.new_reference(),
        invoice=_text(body, "Invoice"),
        detail=_text(body, "Transaction_Detail", 255),
        tax=Decimal(str(tax)) if tax is not None else ZERO,
    )
    if not declined:
        transaction.auth_number, transaction.batch = _six_digits(), merchant.open_batch.code
        transaction.marked = None if reserve else amount
        merchant.open_batch.transaction_ids.append(transaction.id)
    state.add(transaction)
    return transaction_view(state, transaction)


def mark_by_id(state: DynamicsState, site: Site, body: dict) -> dict:
    """Marks an authorization for settlement; an Amount below the authorized one captures only that [inferred]."""
    transaction = _own(state, site, body["IDTransaction"])
    amount = _amount(body, "Amount", required=False)
    if transaction.kind != "Venta" or transaction.status != AUTHORIZED:
        raise _not_allowed(transaction)
    if amount is not None and amount > transaction.amount:
        raise refused("13", "Monto inválido: excede lo autorizado", transaction.id)
    transaction.marked, transaction.status = amount or transaction.amount, MARKED
    return transaction_view(state, transaction)


def void_by_id(state: DynamicsState, site: Site, body: dict) -> dict:
    """Voids while the transaction's batch is open; once it closed, only a refund gives money back."""
    transaction = _own(state, site, body["IDTransaction"])
    if transaction.status in (SETTLED, REFUND_SETTLED):
        raise refused("12", "Transacción liquidada (lote cerrado): no se puede anular, use RefundByID", transaction.id)
    if transaction.status not in (AUTHORIZED, MARKED, REFUND_PENDING):
        raise _not_allowed(transaction)
    transaction.status = VOID_PENDING
    return transaction_view(state, transaction)


def get_transaction_by_id(state: DynamicsState, site: Site, body: dict) -> dict:
    return transaction_view(state, _own(state, site, body["IDTransaction"]))


def refund_by_id(state: DynamicsState, site: Site, body: dict) -> dict:
    """Refunds part or all of a settled sale into the open batch [inferred]; each call refunds again."""
    sale = _own(state, site, body["IDTransaction"])
    amount = _amount(body, "Amount")
    reference = _text(body, "Reference_Code", 50)
    if sale.kind != "Venta":
        raise refused("12", "Solo una venta puede reembolsarse", sale.id)
    if sale.status in (AUTHORIZED, MARKED):
        raise refused("12", "La venta no ha sido liquidada (lote abierto): use VoidByID", sale.id)
    if sale.status != SETTLED:
        raise _not_allowed(sale)
    made = [state.transactions[id_] for id_ in sale.refunds]
    refunded = sum((refund.amount for refund in made if refund.status not in (VOID_PENDING, VOIDED)), ZERO)
    if amount > sale.current_amount - refunded:
        raise refused("13", "Monto inválido: excede lo disponible para reembolso", sale.id)
    merchant = state.merchant(site.merchant_key)
    refund = Transaction(
        state.new_id(),
        merchant.key,
        "Reembolso",
        amount,
        REFUND_PENDING,
        sale.brand,
        sale.last4,
        state.local_now(),
        batch=merchant.open_batch.code,
        account_token=sale.account_token,
        auth_number=_six_digits(),
        audit_number=_six_digits(),
        reference_code=reference or state.new_reference(),
        invoice=sale.invoice,
        original=sale.id,
    )
    sale.refunds.append(state.add(refund).id)
    merchant.open_batch.transaction_ids.append(refund.id)
    return transaction_view(state, refund)


def close_batch(state: DynamicsState, site: Site, body: dict) -> dict:
    merchant = state.merchant(site.merchant_key)
    batch = state.close_batch(merchant, state.local_now())
    if batch is None:
        return {
            "ResponseCode": "00",
            "Message": "Lote sin transacciones para cerrar",
            **batch_view(merchant.open_batch),
        }
    return {"ResponseCode": "00", "Message": "Lote cerrado", **batch_view(batch)}


def get_settled_batches(state: DynamicsState, site: Site, body: dict) -> list[dict]:
    """Closed batches whose close date (Puerto Rico) is from FromDate to ToDate, both included [inferred]."""
    start, end = _day(body, "FromDate"), _day(body, "ToDate")
    if start > end:
        raise invalid_format("FromDate es posterior a ToDate")
    merchant = state.merchant(site.merchant_key)
    chosen = [batch for batch in merchant.closed.values() if start <= batch.closed_at.date() <= end]
    return [batch_view(batch) for batch in sorted(chosen, key=lambda batch: batch.closed_at)]


def get_batch_transactions(state: DynamicsState, site: Site, body: dict) -> list[dict]:
    merchant = state.merchant(site.merchant_key)
    batch = merchant.closed.get(body["BatchCode"])
    if batch is None:
        open_now = body["BatchCode"] == merchant.open_batch.code
        raise refused("12", "El lote está abierto: aún no se ha liquidado" if open_now else "Lote no encontrado")
    listed = (state.transactions[id_] for id_ in batch.transaction_ids)
    return [batch_row(transaction) for transaction in listed if transaction.status in SETTLED_STATUSES]


OPERATIONS = {
    "AuthorizeToken": authorize_token,
    "MarkByID": mark_by_id,
    "VoidByID": void_by_id,
    "GetTransactionByID": get_transaction_by_id,
    "RefundByID": refund_by_id,
    "CloseBatch": close_batch,
    "GetSettledBatches": get_settled_batches,
    "GetBatchTransactions": get_batch_transactions,
}
