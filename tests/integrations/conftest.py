import pytest

from simulators.webhook_receiver import WebhookReceiver


@pytest.fixture
def receiver(settings):
    """A merchant's webhook receiver on this machine, over HTTPS with its own certificate."""
    receiver = WebhookReceiver().start()
    settings.WEBHOOK_CA_BUNDLE = receiver.cert_path
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True  # development: a local receiver
    yield receiver
    receiver.stop()
