from django.apps import AppConfig


class StoreConfig(AppConfig):
    """A merchant's operational data, in the merchant's own schema: few, stable tables."""

    name = "merchants.store"
    label = "store"
    verbose_name = "Merchant store data"
