"""A pharmacy's patient-facing data, in the merchant's schema. Whatever identifies a patient or a
prescription (names, Rx numbers, signatures) is in a `PhiField`, encrypted under the PHI keys;
rows are found by keyed hashes (`qiiub.phi.rx_key`), never by a number in clear."""

from django.db import models

from qiiub.phi import PhiField


class PrescriptionStatus(models.TextChoices):
    READY = "ready", "Ready for pickup"
    PICKED_UP = "picked_up", "Picked up"
    RETURNED = "returned", "Returned"
    WITHDRAWN = "withdrawn", "No longer waiting"


class Prescription(models.Model):
    """A fill the pharmacy system says is ready for pickup at a location: what a register needs
    to sell it and no more (no drug, NDC or address)."""

    location_code = models.CharField(max_length=40)
    rx_key = models.CharField(max_length=64, unique=True, help_text="phi.rx_key(location, Rx number, fill).")
    rx_base_key = models.CharField(max_length=64, help_text="phi.rx_key without the fill: a barcode without it.")
    status = models.CharField(max_length=12, choices=PrescriptionStatus.choices, default=PrescriptionStatus.READY)
    amount_due = models.DecimalField(max_digits=12, decimal_places=2)
    taxable = models.BooleanField(default=False)
    # [{"type": "hipaa" | "safety_cap" | "counseling", "required": bool}]: the messages are in `phi`.
    flags = models.JSONField(default=list)
    # {"rx_number", "fill_number", "patient_name", "flag_messages": [str, …]}
    phi = PhiField()
    ready_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    closed_at = models.DateTimeField(null=True, blank=True, help_text="When it stopped waiting.")
    # Rx30 keeps a fill "picked up" after a return: staff reset it there by hand (vendors-wave2 §1.2).
    needs_manual_reset = models.BooleanField(default=False)

    class Meta:
        indexes = [models.Index(fields=["location_code", "status"]), models.Index(fields=["rx_base_key"]),
                   models.Index(fields=["closed_at"])]

    def __str__(self) -> str:
        return f"prescription {self.pk} ({self.status})"


class ReceivedChange(models.Model):
    """Ids of the changes a relay pushed: a change sent again is recognised and changes nothing."""

    message_id = models.UUIDField(unique=True)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return f"change {self.message_id}"


class Pickup(models.Model):
    """A prescription handed over at a register: the signature log a pharmacy shows an auditor."""

    client_uuid = models.UUIDField(unique=True)
    location_code = models.CharField(max_length=40)
    terminal_id = models.BigIntegerField(null=True, blank=True)
    prescription = models.ForeignKey(Prescription, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="pickups")
    rx_key = models.CharField(max_length=64, db_index=True)
    picked_up_at = models.DateTimeField(db_index=True)
    relation = models.CharField(max_length=20)
    # [{"type", "accepted"}]
    flag_results = models.JSONField(default=list)
    # {"rx_number", "fill_number", "picked_up_by", "id_type", "id_last4"}
    phi = PhiField()
    signature = PhiField(null=True, blank=True, help_text='{"format", "data" (base64)}')
    signature_bytes = models.PositiveIntegerField(default=0)
    amount_paid = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    sale_client_uuid = models.UUIDField(null=True, blank=True)
    keep_until = models.DateField(help_text="Signature logs are kept for Medicare Part D audits, then purged.")

    def __str__(self) -> str:
        return f"pickup {self.client_uuid}"


class MessageKind(models.TextChoices):
    PICKUP = "pickup", "Pickup"
    SALE = "sale", "Rx sale"
    RETURN = "return", "Return"


class MessageOutcome(models.TextChoices):
    PENDING = "", "Waiting for the relay"
    DELIVERED = "delivered", "Delivered"
    REFUSED = "refused", "Refused by the pharmacy system"


class OutboxMessage(models.Model):
    """What a location's relay hands to the pharmacy system: a pickup, an Rx sale or a return."""

    message_id = models.UUIDField(unique=True)
    number = models.PositiveBigIntegerField(help_text="Per location: 1, 2, … (systems that number invoices).")
    location_code = models.CharField(max_length=40)
    kind = models.CharField(max_length=10, choices=MessageKind.choices)
    source = models.CharField(max_length=80, unique=True, help_text="What produced it: one message per source.")
    body = PhiField()
    created_at = models.DateTimeField(auto_now_add=True)
    fetched_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=10, choices=MessageOutcome.choices, default="", blank=True)
    error_code = models.CharField(max_length=60, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["location_code", "number"], name="outbox_number_unique")]
        indexes = [models.Index(fields=["location_code", "outcome", "number"])]

    def __str__(self) -> str:
        return f"{self.kind} #{self.number}"


class PhiAction(models.TextChoices):
    READ = "read", "Read"
    WRITE = "write", "Write"
    EXPORT = "export", "Export"
    PURGE = "purge", "Purge"


class ActorKind(models.TextChoices):
    USER = "user", "User"
    TERMINAL = "terminal", "Terminal"
    RELAY = "relay", "Relay"
    SYSTEM = "system", "System"


class PhiAccess(models.Model):
    """One read or write of patient data: who, where, what, when and from where. Append-only: the
    database refuses to change a row, or to delete one younger than the six years HIPAA asks."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor_kind = models.CharField(max_length=10, choices=ActorKind.choices)
    actor_id = models.BigIntegerField(null=True, blank=True)
    actor_label = models.CharField(max_length=200, help_text="The user's e-mail, or the terminal's or relay's name.")
    location_code = models.CharField(max_length=40, blank=True)
    action = models.CharField(max_length=10, choices=PhiAction.choices)
    resource = models.CharField(max_length=40, help_text="ready_list, prescription, pickup, pickup_log, …")
    record_ids = models.JSONField(default=list, help_text="Ids of the rows touched (no PHI).")
    count = models.PositiveIntegerField(default=0)
    source = models.CharField(max_length=60, blank=True, help_text="IP address, or the process.")

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.actor_label} {self.action} {self.resource}"
