"""What integrations announce to the apps above them, which connect from their own ready()."""

from django.dispatch import Signal

# Sent with `integrations`, the merchant integrations whose status or configuration just changed
# (in the transaction that changed them).
integrations_changed = Signal()
