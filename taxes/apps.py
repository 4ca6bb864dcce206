from django.apps import AppConfig


class TaxesConfig(AppConfig):
    """Puerto Rico IVU: rates and exemptions as dated data, and the monthly return."""

    name = "taxes"
