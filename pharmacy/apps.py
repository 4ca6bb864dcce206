from django.apps import AppConfig


class PharmacyConfig(AppConfig):
    """The pharmacy vertical: store relays, prescriptions ready for pickup, pickups with
    signatures, the outbox to the pharmacy system, and the PHI access log (DESIGN.md D11)."""

    name = "pharmacy"

    def ready(self) -> None:
        from devices.pos_records import observe_new_sales, register_writer
        from pharmacy.pickups import pickups_store, sales_observed
        from pharmacy.store.models import Pickup

        register_writer("rx_pickup", pickups_store, Pickup)
        observe_new_sales(sales_observed)
