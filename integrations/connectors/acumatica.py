"""Acumatica: polled. Stock items changed since the watermark flow into the merchant's catalog.

Facts: shared/reference/vendors.md ("Acumatica contract-based REST"). A poll signs in with a cookie
session of its own, reads every page of `LastModified gt …`, and always signs out, even after an
error: an open session holds one of the license's few API-user slots. The catalog and the
watermark move only after the whole page set was read.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal, InvalidOperation

import requests
from django.conf import settings

from integrations.connectors.base import Connector, SyncResult
from integrations.connectors.registry import register
from integrations.products import ProductChange, products_upsert
from qiiub.http import VendorRejected, private_session

CODE = "erp.acumatica"
PAGE_SIZE = 100


@register(CODE)
class Acumatica(Connector):
    capabilities = frozenset({"test_connection", "poll"})

    @property
    def _base(self) -> str:
        return (settings.ACUMATICA_BASE_URL or self.configuration["instance_url"]).rstrip("/")

    @property
    def _items_url(self) -> str:
        return f"{self._base}/entity/Default/{self.configuration.get('endpoint_version', '23.200.001')}/StockItem"

    def vendor_message(self, response: requests.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            return ""
        return body.get("exceptionMessage") or body.get("message") or "" if isinstance(body, dict) else ""

    @contextmanager
    def _signed_in(self) -> Iterator[requests.Session]:
        session = private_session()
        try:
            self._request(session, "POST", f"{self._base}/entity/auth/login", json={
                "name": self.credentials.get("username", ""), "password": self.credentials.get("password", ""),
                "tenant": self.configuration["company"]})
            try:
                yield session
            finally:
                try:
                    session.post(f"{self._base}/entity/auth/logout", timeout=self.timeout)
                except requests.RequestException:
                    pass  # the session expires on its own; the poll's outcome stands
        finally:
            session.close()

    def test_connection(self) -> None:
        with self._signed_in() as session:
            self._request(session, "GET", self._items_url, params={"$top": 1})

    def sync(self, *, since: datetime | None) -> SyncResult:
        params = {"$top": PAGE_SIZE}
        if since is not None:
            params["$filter"] = f"LastModified gt datetimeoffset'{since.isoformat()}'"
        items: list[dict] = []
        with self._signed_in() as session:
            while True:
                page = self._request(session, "GET", self._items_url, params={**params, "$skip": len(items)}).json()
                items += page
                if len(page) < PAGE_SIZE:
                    break
        changes, watermark = [], since
        for item in items:
            changes.append(_product(item))
            modified = datetime.fromisoformat(_value(item, "LastModified"))
            watermark = modified if watermark is None else max(watermark, modified)
        products_upsert(merchant=self.integration.merchant, changes=changes)
        return SyncResult(direction="pull", records_pulled=len(items), new_watermark=watermark)


def _value(item: dict, field: str):
    """Acumatica wraps every field as {"value": …}."""
    return (item.get(field) or {}).get("value")


def _product(item: dict) -> ProductChange:
    sku = _value(item, "InventoryID")
    try:
        price = Decimal(str(_value(item, "DefaultPrice") or 0)).quantize(Decimal("0.01"))
    except InvalidOperation:
        raise VendorRejected("item_unreadable_price", vendor="Acumatica", sku=str(sku)) from None
    if not sku or not _value(item, "LastModified"):
        raise VendorRejected("item_incomplete", vendor="Acumatica")
    return ProductChange(sku=str(sku).strip(), name=str(_value(item, "Description") or sku)[:200], price=price)
