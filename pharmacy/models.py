from django.db import models
from django.db.models import Q


class Relay(models.Model):
    """The store program that talks to a location's pharmacy system (docs/pharmacy-relay.md).
    It authenticates with its token, stored only as a hash, and opens its credentials with its own
    private key, which never leaves the store."""

    location = models.ForeignKey("merchants.Location", on_delete=models.PROTECT, related_name="relays")
    name = models.CharField(max_length=100)
    token_hash = models.CharField(max_length=64, unique=True)
    public_key = models.CharField(max_length=60, help_text="X25519, base64: what its credentials are sealed to.")
    enrolled_at = models.DateTimeField(auto_now_add=True)
    enrolled_with = models.OneToOneField("devices.EnrollmentCode", null=True, blank=True, on_delete=models.SET_NULL)
    revoked_at = models.DateTimeField(null=True, blank=True)
    app_version = models.CharField(max_length=40, blank=True)
    # Health, as its last heartbeat told it.
    last_heartbeat_at = models.DateTimeField(null=True, blank=True)
    last_heartbeat_from = models.GenericIPAddressField(null=True, blank=True)
    queue_depth = models.PositiveIntegerField(default=0)
    pharmacy_reachable = models.BooleanField(null=True)
    last_error_code = models.CharField(max_length=60, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    config_version = models.CharField(max_length=40, blank=True, help_text="The configuration it runs with.")

    # A relay is what authenticates on the relay API (DRF reads these on request.user).
    is_authenticated = True
    is_anonymous = False

    def __str__(self) -> str:
        return f"{self.name} ({self.location})"


class PharmacyStation(models.Model):
    """A location's pharmacy counter: which relay holds the lease (one active per location), the
    version of its ready-for-pickup list (the registers' ETag) and its outbox numbering."""

    location = models.OneToOneField("merchants.Location", on_delete=models.CASCADE, related_name="pharmacy_station")
    active_relay = models.ForeignKey(Relay, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    lease_renewed_at = models.DateTimeField(null=True, blank=True)
    ready_version = models.PositiveBigIntegerField(default=1)
    last_message_number = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(active_relay__isnull=True) | Q(lease_renewed_at__isnull=False),
                                              name="pharmacy_station_lease_has_time")]

    def __str__(self) -> str:
        return f"pharmacy of {self.location}"
