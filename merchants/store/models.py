from django.db import models

from qiiub.encryption import EncryptedJSONField


class Product(models.Model):
    """A product of the merchant's catalog, in the merchant's own schema."""

    sku = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    barcode = models.CharField(max_length=32, blank=True)
    price = models.DecimalField(max_digits=12, decimal_places=2)
    tax_category = models.CharField(max_length=40, default="standard")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"


class StockLevel(models.Model):
    """On-hand quantity of a product at one of the merchant's locations."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="stock_levels")
    location_code = models.CharField(max_length=40)
    on_hand = models.IntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["product", "location_code"], name="stock_unique_location")]

    def __str__(self) -> str:
        return f"{self.product.sku}@{self.location_code}: {self.on_hand}"


class UploadedRecord(models.Model):
    """What every record a terminal uploads carries: its own id (idempotent uploads), where it
    happened, and which terminal sent it (a public-schema id)."""

    client_uuid = models.UUIDField(unique=True)
    location_code = models.CharField(max_length=40)
    terminal_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        abstract = True


class Sale(UploadedRecord):
    """A completed POS sale."""

    completed_at = models.DateTimeField()
    subtotal = models.DecimalField(max_digits=12, decimal_places=2)
    tax_state = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    tax_municipal = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    total = models.DecimalField(max_digits=12, decimal_places=2)

    class Meta:
        # A day's or a month's sales (the journal, the IVU return, reconciliation, the money trail)
        # are read by time: an index keeps that independent of the years of history kept.
        indexes = [models.Index(fields=["completed_at"], name="sale_by_time")]

    def __str__(self) -> str:
        return f"sale {self.client_uuid} {self.total}"


class SaleLine(models.Model):
    sale = models.ForeignKey(Sale, on_delete=models.CASCADE, related_name="lines")
    sku = models.CharField(max_length=64)
    description = models.CharField(max_length=200)
    quantity = models.DecimalField(max_digits=10, decimal_places=3)
    unit_price = models.DecimalField(max_digits=12, decimal_places=2)
    line_total = models.DecimalField(max_digits=12, decimal_places=2)
    tax_category = models.CharField(max_length=40, default="standard")
    # An Rx line's prescription, as `qiiub.phi.rx_key`: the Rx number itself is not stored here.
    rx_key = models.CharField(max_length=64, blank=True)

    def __str__(self) -> str:
        return f"{self.quantity} × {self.sku}"


class TaxJurisdiction(models.TextChoices):
    STATE = "state", "IVU state"
    MUNICIPAL = "municipal", "IVU municipal"


class SaleTaxLine(models.Model):
    """The IVU a sale charged, per jurisdiction (Puerto Rico: state 10.5 %, municipal 1 %)."""

    sale = models.ForeignKey(Sale, on_delete=models.CASCADE, related_name="tax_lines")
    jurisdiction = models.CharField(max_length=10, choices=TaxJurisdiction.choices)
    rate = models.DecimalField(max_digits=6, decimal_places=4)
    taxable_amount = models.DecimalField(max_digits=12, decimal_places=2)
    amount = models.DecimalField(max_digits=12, decimal_places=2)

    def __str__(self) -> str:
        return f"{self.jurisdiction} {self.amount}"


class TenderKind(models.TextChoices):
    CASH = "cash", "Cash"
    CHECK = "check", "Check"
    CHARGE_ACCOUNT = "charge_account", "Charge account"
    CARD = "card", "Card"


class Tender(models.Model):
    """A payment of a sale. For cards only the brand, last 4, references and entry method."""

    sale = models.ForeignKey(Sale, on_delete=models.CASCADE, related_name="tenders")
    kind = models.CharField(max_length=20, choices=TenderKind.choices)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    card_brand = models.CharField(max_length=20, blank=True)
    card_last4 = models.CharField(max_length=4, blank=True)
    auth_code = models.CharField(max_length=20, blank=True)
    processor_ref = models.CharField(max_length=64, blank=True)
    entry_method = models.CharField(max_length=20, blank=True)
    reference = models.CharField(max_length=64, blank=True, help_text="Check number or charge account.")

    class Meta:
        # A processor's chargeback or refund names the payment it reverses, however long ago it was.
        indexes = [models.Index(fields=["processor_ref"], condition=~models.Q(processor_ref=""),
                                name="tender_by_processor_ref")]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount}"


class ShiftClose(UploadedRecord):
    """A cashier shift closed at a terminal: the drawer count against what the POS expected."""

    opened_at = models.DateTimeField()
    closed_at = models.DateTimeField()
    cashier = models.CharField(max_length=64, help_text="The POS's cashier id, not a name.")
    sales_count = models.PositiveIntegerField()
    sales_total = models.DecimalField(max_digits=12, decimal_places=2)
    expected_cash = models.DecimalField(max_digits=12, decimal_places=2)
    counted_cash = models.DecimalField(max_digits=12, decimal_places=2)

    def __str__(self) -> str:
        return f"shift {self.client_uuid}"


class DeviceStatus(UploadedRecord):
    """What a terminal reported about one of its peripherals (printer out of paper, scale offline…)."""

    device = models.CharField(max_length=40)
    state = models.CharField(max_length=20)
    detail = models.CharField(max_length=300, blank=True)
    reported_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.device} {self.state}"


class StockChange(models.TextChoices):
    COUNT = "count", "Count"
    RECEIVING = "receiving", "Receiving"
    TRANSFER = "transfer", "Transfer"
    SHRINK = "shrink", "Shrink"
    ADJUSTMENT = "adjustment", "Adjustment"


class InventoryRecord(UploadedRecord):
    """A change of stock recorded at a register: a count sets the level, the other changes move it
    by a signed quantity (a transfer out of this location into `to_location_code`)."""

    change = models.CharField(max_length=20, choices=StockChange.choices)
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="inventory_records")
    quantity = models.IntegerField(help_text="The counted level for a count; the signed change otherwise.")
    reason = models.CharField(max_length=40, blank=True)
    to_location_code = models.CharField(max_length=40, blank=True)
    occurred_at = models.DateTimeField()
    on_hand_after = models.IntegerField(help_text="The location's level once this change applied.")

    def __str__(self) -> str:
        return f"{self.change} {self.quantity} × {self.product_id}@{self.location_code}"


class Customer(UploadedRecord):
    """A customer created at a register, under the POS's own id (client UUID) and code. The
    personal fields (name, email, phone) are one encrypted value (ADR 0034); `location_code` is
    where the customer was created."""

    customer_code = models.CharField(max_length=40, unique=True)
    contact = EncryptedJSONField(help_text="{name, email, phone}, encrypted under FERNET_KEYS.",
                                 remember_plaintext=False)
    marketing_consent = models.BooleanField(default=False)
    created_at = models.DateTimeField(help_text="When the POS created the customer.")
    updated_at = models.DateTimeField(help_text="When the POS last changed the customer.")

    def __str__(self) -> str:
        return f"customer {self.customer_code}"
