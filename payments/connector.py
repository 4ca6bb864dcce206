"""The payment processors, registered as connectors of the Payments category (the registry imports
this module; each adapter module registers its code)."""

from payments.gateways import athmovil, dynamics, stripe

__all__ = ["athmovil", "dynamics", "stripe"]
