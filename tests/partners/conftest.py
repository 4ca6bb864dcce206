import pytest
from django.utils import translation

from merchants.models import Location, Merchant, Module
from partners.models import Partner
from partners.services.templates import template_save


@pytest.fixture(autouse=True)
def _english():
    # A job's outcomes read in the active language, and a request leaves its user's language active
    # in this thread: each test starts, and leaves, in English, as the portal's tests read it.
    translation.deactivate()
    yield
    translation.deactivate()


def add_stores(partner, count, *, prefix, vertical="pharmacy", modules=(), locations=0) -> list[Merchant]:
    """Stores as rows (bulk jobs never enter a tenant schema), with modules and locations."""
    merchants = Merchant.objects.bulk_create([
        Merchant(name=f"{prefix.title()} {index:03d}", slug=f"{prefix}-{index:03d}", schema_name=f"{prefix}_{index:03d}",
                 vertical=vertical, partner=partner)
        for index in range(count)])
    wanted = list(Module.objects.filter(code__in=modules))
    Merchant.modules.through.objects.bulk_create([
        Merchant.modules.through(merchant_id=merchant.pk, module_id=module.pk) for merchant in merchants
        for module in wanted])
    Location.objects.bulk_create([Location(merchant=merchant, name=f"Store {number}", code=f"L{number}")
                                  for merchant in merchants for number in range(locations)])
    return merchants


@pytest.fixture
def rx30_template(personas):
    from integrations.models import IntegrationDefinition

    return template_save(partner=personas.partner, definition=IntegrationDefinition.objects.get(code="pharmacy.rx30"),
                         name="Rx30 in every store", configuration={"server_host": "rx30.store.local"}, mappings=[],
                         is_default=False)


@pytest.fixture
def relay_template(personas):
    """A per-location pharmacy template that stores can enable: Rx30 is planned until its connector lands."""
    from integrations.models import IntegrationDefinition
    from tests.sandbox_vendors import PHARMACY_RELAY_CODE

    return template_save(partner=personas.partner, definition=IntegrationDefinition.objects.get(code=PHARMACY_RELAY_CODE),
                         name="Relay in every store", configuration={"server_host": "relay.store.local"}, mappings=[],
                         is_default=False)


@pytest.fixture
def other_partner(db):
    return Partner.objects.create(name="Otra Farmacia", slug="otra-farmacia")
