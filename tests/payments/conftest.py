"""The payment processors' fakes start once per session; each test meets them new."""

import pytest


@pytest.fixture(autouse=True)
def _processor_fakes_reset(stripe_fake, athmovil_fake, dynamics_fake):
    for fake in (stripe_fake, athmovil_fake, dynamics_fake):
        fake.control(reset=True)
