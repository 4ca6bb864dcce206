from django.apps import AppConfig


class PharmacyStoreConfig(AppConfig):
    """A pharmacy's patient-facing data, in the merchant's own schema: prescriptions ready for
    pickup, pickups with signatures, what goes back to the pharmacy system, and the PHI access log."""

    name = "pharmacy.store"
    label = "pharmacy_store"
    verbose_name = "Pharmacy data"
