"""The store relay: the one program of a pharmacy location that talks to its pharmacy system, and
carries prescriptions ready for pickup to the hub and pickups, Rx sales and returns back
(docs/pharmacy-relay.md). It runs at the store, so it imports nothing of the hub: the standard
library and `cryptography` only."""

__version__ = "1.0.0"
