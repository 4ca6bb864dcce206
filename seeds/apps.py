from django.apps import AppConfig


class SeedsConfig(AppConfig):
    """What the hub starts from: the integration registry, POS settings and IVU rules (load_registry)
    and the demo (seed_demo). The top of the stack: it loads into every app below it."""

    name = "seeds"
