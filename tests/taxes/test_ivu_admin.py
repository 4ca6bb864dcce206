"""SystemAdmin manages the IVU rules in the Django admin: an exempt category or a rate change made
there is what the next return computes with; a bad row is refused with the model's error and
nothing is stored; only superusers reach these pages; reloading the seed file keeps their work."""

import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.urls import reverse

from qiiub.errors import ValidationFailed
from taxes.ivu import ivu_return, ivu_rule_save, ivu_rules_load
from taxes.models import IvuExemption, IvuRate, Jurisdiction
from tests.factories import sell

SAN_JUAN = ZoneInfo("America/Puerto_Rico")


@pytest.fixture
def sysadmin_client(client, personas):
    client.force_login(personas.sysadmin)
    return client


def _state_rate_in_force() -> IvuRate:
    return IvuRate.objects.get(jurisdiction=Jurisdiction.STATE, effective_to=None)


def _rules() -> list[tuple]:
    return [*IvuRate.objects.values_list("jurisdiction", "rate", "effective_from", "effective_to"),
            *IvuExemption.objects.values_list("tax_category", "description", "effective_from", "effective_to")]


def test_an_exempt_category_added_in_the_admin_is_exempt_in_the_next_return(sysadmin_client, personas):
    # given a sale of unprocessed food, taxed as the rules stand
    pharmacy = personas.pharmacies[2]
    sell(pharmacy, at=datetime(2026, 10, 5, 12, tzinfo=SAN_JUAN), lines=[("standard", "100.00"), ("food", "30.00")],
         state="10.50", municipal="1.00")
    assert ivu_return(merchant=pharmacy, year=2026, month=10).exempt_sales == Decimal("0.00")

    # when the SystemAdmin makes the category exempt from the start of the month
    response = sysadmin_client.post(reverse("admin:taxes_ivuexemption_add"), {
        "tax_category": "food", "description": "Unprocessed food", "effective_from": "2026-10-01", "effective_to": ""})

    # then the return counts its sales as exempt, and the tills (which did not tax it) agree
    assert response.status_code == 302
    result = ivu_return(merchant=pharmacy, year=2026, month=10)
    assert (result.taxable_sales, result.exempt_sales) == (Decimal("100.00"), Decimal("30.00"))
    assert result.due == {Jurisdiction.STATE: Decimal("10.50"), Jurisdiction.MUNICIPAL: Decimal("1.00")}
    assert result.problems == []
    assert LogEntry.objects.get(user=personas.sysadmin).object_repr == "the exemption of food from 2026-10-01 until further notice"


def test_a_rate_ended_in_the_admin_stops_after_its_last_day_and_the_new_rate_applies_from_the_next(
        sysadmin_client, personas):
    # given sales on the last day of the old rate and in the months after
    pharmacy = personas.pharmacies[2]
    sell(pharmacy, at=datetime(2026, 10, 31, 20, tzinfo=SAN_JUAN), lines=[("standard", "100.00")], state="10.50", municipal="1.00")
    sell(pharmacy, at=datetime(2026, 11, 1, 9, tzinfo=SAN_JUAN), lines=[("standard", "100.00")], state="11.50", municipal="1.00")
    sell(pharmacy, at=datetime(2026, 12, 15, 9, tzinfo=SAN_JUAN), lines=[("standard", "200.00")], state="23.00", municipal="2.00")
    old = _state_rate_in_force()

    # when the SystemAdmin ends the state rate on October 31 and adds 11.5 % from November 1
    ended = sysadmin_client.post(reverse("admin:taxes_ivurate_change", args=[old.pk]), {
        "jurisdiction": "state", "rate": "0.105", "effective_from": "2015-07-01", "effective_to": "2026-10-31"})
    added = sysadmin_client.post(reverse("admin:taxes_ivurate_add"), {
        "jurisdiction": "state", "rate": "0.115", "effective_from": "2026-11-01", "effective_to": ""})

    # then October is taxed at the old rate, to its last day, and the months after at the new one
    assert (ended.status_code, added.status_code) == (302, 302)
    october = ivu_return(merchant=pharmacy, year=2026, month=10)
    november = ivu_return(merchant=pharmacy, year=2026, month=11)
    december = ivu_return(merchant=pharmacy, year=2026, month=12)
    assert october.due[Jurisdiction.STATE] == Decimal("10.50") and october.problems == []
    assert november.due[Jurisdiction.STATE] == Decimal("11.50") and november.problems == []
    assert december.due[Jurisdiction.STATE] == Decimal("23.00") and december.problems == []
    assert december.due[Jurisdiction.MUNICIPAL] == Decimal("2.00")  # the municipal rate was not touched


RATES_ADD = "admin:taxes_ivurate_add"
EXEMPTIONS_ADD = "admin:taxes_ivuexemption_add"


@pytest.mark.parametrize(("url", "data", "error"), [
    pytest.param(RATES_ADD, {"jurisdiction": "state", "rate": "0.115", "effective_from": "2027-07-01",
                             "effective_to": "2027-06-30"},
                 "The effective to date is before the effective from date.", id="rate-ends-before-it-starts"),
    pytest.param(RATES_ADD, {"jurisdiction": "state", "rate": "10.5", "effective_from": "2027-07-01", "effective_to": ""},
                 "The rate is a fraction from 0 to 1 (0 % to 100 %): 10.5 % is 0.105.", id="rate-typed-as-a-percent"),
    pytest.param(RATES_ADD, {"jurisdiction": "municipal", "rate": "-0.01", "effective_from": "2027-07-01",
                             "effective_to": ""},
                 "The rate is a fraction from 0 to 1 (0 % to 100 %): 10.5 % is 0.105.", id="negative-rate"),
    pytest.param(RATES_ADD, {"jurisdiction": "state", "rate": "0.115", "effective_from": "2027-07-01", "effective_to": ""},
                 "These dates overlap the state rate 10.5 % from 2015-07-01 until further notice: two rows would "
                 "apply on the same days.", id="rate-overlapping-the-rate-in-force"),
    pytest.param(RATES_ADD, {"jurisdiction": "state", "rate": "0.115", "effective_from": "2015-07-01", "effective_to": ""},
                 "This jurisdiction already has a rate from that day.", id="rate-from-the-same-day"),
    pytest.param(EXEMPTIONS_ADD, {"tax_category": "food", "description": "", "effective_from": "2027-01-31",
                                  "effective_to": "2027-01-01"},
                 "The effective to date is before the effective from date.", id="exemption-ends-before-it-starts"),
    pytest.param(EXEMPTIONS_ADD, {"tax_category": "prescription", "description": "", "effective_from": "2020-01-01",
                                  "effective_to": "2020-12-31"},
                 "These dates overlap the exemption of prescription from 2006-11-15 until further notice",
                 id="exemption-overlapping-the-one-in-force"),
])
def test_a_bad_rule_is_refused_in_the_admin_with_the_reason_and_nothing_is_stored(sysadmin_client, url, data, error):
    before = _rules()

    response = sysadmin_client.post(reverse(url), data)

    assert response.status_code == 200
    assert error in response.content.decode()
    assert _rules() == before


def test_ending_a_rate_before_it_starts_is_refused_and_the_row_is_unchanged(sysadmin_client):
    rate = _state_rate_in_force()
    before = _rules()

    response = sysadmin_client.post(reverse("admin:taxes_ivurate_change", args=[rate.pk]), {
        "jurisdiction": "state", "rate": "0.105", "effective_from": "2015-07-01", "effective_to": "2015-06-30"})

    assert response.status_code == 200
    assert "The effective to date is before the effective from date." in response.content.decode()
    assert _rules() == before


def test_the_service_refuses_an_overlap_with_a_code_and_the_fields_problems(personas):
    with pytest.raises(ValidationFailed, match="overlap the state rate 10.5 %") as refused:
        ivu_rule_save(rule=IvuRate(jurisdiction=Jurisdiction.STATE, rate=Decimal("0.115"), effective_from=date(2030, 1, 1)))
    assert refused.value.code == "ivu_rule_invalid" and "__all__" in refused.value.field_errors
    assert IvuRate.objects.filter(jurisdiction=Jurisdiction.STATE).count() == 1


def test_the_lists_show_the_periods_and_filter_what_is_in_force_today(sysadmin_client):
    rate = _state_rate_in_force()
    ivu_rule_save(rule=IvuExemption(tax_category="food", effective_from=date(2020, 1, 1), effective_to=date(2020, 12, 31)))

    rates = sysadmin_client.get(reverse("admin:taxes_ivurate_changelist"), {"jurisdiction__exact": "state"})
    in_force = sysadmin_client.get(reverse("admin:taxes_ivuexemption_changelist"), {"in_force": "today"})
    ended = sysadmin_client.get(reverse("admin:taxes_ivuexemption_changelist"), {"in_force": "ended"})

    page = _results(rates)
    assert rates.status_code == 200 and "10.5 %" in page and "July 1, 2015" in page
    assert reverse("admin:taxes_ivurate_change", args=[rate.pk]) in page and "municipal" not in page
    assert "prescription" in _results(in_force) and ">food<" not in _results(in_force)
    assert ">food<" in _results(ended) and "prescription" not in _results(ended)


def _results(response) -> str:
    """The change list's table of rows alone (the filters beside it name every choice)."""
    return response.content.decode().split('id="result_list"')[1].split("</table>")[0]


def test_reloading_the_seed_file_keeps_what_the_sysadmin_added_and_ended(sysadmin_client, settings, tmp_path):
    # given the SystemAdmin's change of the state rate and a new exempt category
    old = _state_rate_in_force()
    sysadmin_client.post(reverse("admin:taxes_ivurate_change", args=[old.pk]), {
        "jurisdiction": "state", "rate": "0.105", "effective_from": "2015-07-01", "effective_to": "2026-10-31"})
    sysadmin_client.post(reverse("admin:taxes_ivurate_add"), {
        "jurisdiction": "state", "rate": "0.115", "effective_from": "2026-11-01", "effective_to": ""})
    sysadmin_client.post(reverse("admin:taxes_ivuexemption_add"), {
        "tax_category": "food", "description": "Unprocessed food", "effective_from": "2026-10-01", "effective_to": ""})
    after_admin = _rules()

    # when load_registry loads seeds/ivu.json again (it knows none of these changes)
    ivu_rules_load(path=Path(settings.BASE_DIR) / "seeds" / "ivu.json")

    # then nothing the SystemAdmin did is undone
    assert sorted(_rules(), key=str) == sorted(after_admin, key=str)
    assert IvuExemption.objects.filter(tax_category="food").exists()

    # and a seed file that would overlap the admin's rows is refused whole
    seed = tmp_path / "ivu.json"
    seed.write_text(json.dumps({"rates": [
        {"jurisdiction": "municipal", "rate": "0.01", "effective_from": "2015-07-01", "effective_to": "2026-10-31"},
        {"jurisdiction": "municipal", "rate": "0.02", "effective_from": "2026-11-01"},
        {"jurisdiction": "state", "rate": "0.12", "effective_from": "2027-01-01"}], "exemptions": []}))
    with pytest.raises(ValidationFailed, match=r"ivu.json: rates\[2\]: These dates overlap the state rate 11.5 %"):
        ivu_rules_load(path=seed)
    assert sorted(_rules(), key=str) == sorted(after_admin, key=str)


@pytest.mark.security
def test_staff_who_are_not_superusers_and_merchant_users_cannot_reach_the_ivu_admin(client, personas):
    # given a staff user who even holds every permission of the taxes app, and a merchant's admin
    staff = get_user_model().objects.create_user("ops-staff", "staff@qiiub.local", "pw", is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(content_type__app_label="taxes"))
    rate = _state_rate_in_force()
    before = _rules()
    pages = [reverse("admin:taxes_ivurate_changelist"), reverse("admin:taxes_ivurate_add"),
             reverse("admin:taxes_ivurate_change", args=[rate.pk]), reverse("admin:taxes_ivurate_delete", args=[rate.pk]),
             reverse("admin:taxes_ivuexemption_changelist"), reverse("admin:taxes_ivuexemption_add")]
    new_rate = {"jurisdiction": "state", "rate": "0", "effective_from": "2015-07-01", "effective_to": ""}

    # when the staff user tries each page and a write
    client.force_login(staff)
    staff_answers = [client.get(page).status_code for page in pages]
    staff_write = client.post(reverse("admin:taxes_ivurate_change", args=[rate.pk]), new_rate).status_code
    staff_index = client.get(reverse("admin:index")).content.decode()

    # then every page is forbidden, the app is not even listed, and nothing changed
    assert staff_answers == [403] * len(pages) and staff_write == 403
    assert "IVU" not in staff_index and "Ivu" not in staff_index

    # and a merchant's admin is sent to the admin's sign-in
    client.force_login(personas.merchant_admin)
    for page in pages:
        response = client.get(page)
        assert response.status_code == 302 and "/admin/login/" in response.url
    assert client.post(reverse("admin:taxes_ivuexemption_add"), {
        "tax_category": "food", "effective_from": "2026-10-01"}).status_code == 302
    assert _rules() == before
