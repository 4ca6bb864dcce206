"""The Issues inbox and an integration's standing, as the portal shows them: one row per open
problem (its cause in the reader's words, when it was first and last seen, what it hit, and the
fix as a button), the same grouped across a partner's stores, and what a merchant can do about an
integration's status right now, so no page offers a button the next click would refuse."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Max, Min, Q, QuerySet, Sum
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.timezone import localtime
from django.utils.translation import gettext as _

from integrations.connectors.registry import connects_with_oauth
from integrations.models import (
    Category,
    IntegrationStatusTransition,
    MerchantIntegration,
    PausedReason,
    Problem,
    ProblemKind,
    Status,
)
from merchants.models import Merchant
from qiiub.messages import stored_text

HISTORY_ROWS = 50


@dataclass(frozen=True)
class Fix:
    """The button that fixes a problem: a page to open (GET) or an action to run (POST)."""

    label: str
    url: str
    post: bool = False


def problem_fix(problem: Problem, user=None) -> Fix | None:
    """What fixes this problem, as a button (None: nothing to do but wait, and the row says so)."""
    integration = problem.merchant_integration
    if integration is None:
        endpoint = problem.webhook_endpoint
        return Fix(_("Open the endpoint"), reverse("portal:webhook", args=[problem.merchant.slug, endpoint.pk]))
    slug, pk = problem.merchant.slug, integration.pk
    page = reverse("portal:integration", args=[slug, pk])
    if problem.kind == ProblemKind.CREDENTIALS:
        if connects_with_oauth(integration.definition_id):
            return Fix(_("Reconnect"), reverse("portal:oauth-connect", args=[slug, pk]), post=True)
        return Fix(_("Re-enter the credentials"), f"{page}#credentials")
    if problem.kind == ProblemKind.UNMAPPED:
        codes = problem.cause.get("params", {}).get("codes", [])
        return Fix(_("Map %(codes)s") % {"codes": ", ".join(codes)}, reverse("portal:mappings", args=[slug, pk]))
    if problem.kind == ProblemKind.SETTLEMENT:
        day = problem.cause.get("params", {}).get("day", "")
        return Fix(_("Open the money trail"), f"{reverse('portal:money-trail', args=[slug])}?day={day}")
    if problem.kind == ProblemKind.DEAD_DELIVERIES:
        return Fix(_("Retry the deliveries"), reverse("portal:problem-retry-deliveries", args=[slug, pk]), post=True)
    if problem.kind == ProblemKind.REJECTED:
        return Fix(_("Edit the configuration"), f"{page}#configuration")
    if integration.status == Status.PAUSED and integration.paused_reason == PausedReason.FORCED:
        return None  # only QIIUB operations lift it; the row says so
    if integration.status == Status.ACTIVE:
        return None  # it retries on its own
    return Fix(_("Test the connection"), reverse("portal:test", args=[slug, pk]), post=True)


def problem_waiting_note(problem: Problem) -> str:
    """For a problem with no button: what happens without anyone doing anything."""
    integration = problem.merchant_integration
    if integration is not None and integration.status == Status.PAUSED \
            and integration.paused_reason == PausedReason.FORCED:
        return _("QIIUB operations paused this integration; they resume it once the vendor is fixed.")
    return _("It retries on its own; nothing to do unless it keeps failing.")


@dataclass
class ProblemRow:
    problem: Problem
    cause: str
    fix: Fix | None
    waiting: str


def _rows(problems) -> list[ProblemRow]:
    rows = []
    for problem in problems:
        fix = problem_fix(problem) if problem.resolved_at is None else None
        rows.append(ProblemRow(problem, stored_text(problem.cause), fix,
                               "" if fix or problem.resolved_at else problem_waiting_note(problem)))
    return rows


def _with_subjects(problems: QuerySet[Problem]) -> QuerySet[Problem]:
    return problems.select_related("merchant", "merchant_integration__definition", "merchant_integration__location",
                                   "webhook_endpoint")


def open_problems(merchant: Merchant, *, integration: MerchantIntegration | None = None) -> list[ProblemRow]:
    problems = merchant.problems.filter(resolved_at__isnull=True)
    if integration is not None:
        problems = problems.filter(merchant_integration=integration)
    return _rows(_with_subjects(problems).order_by("-last_seen_at"))


def problem_history(merchant: Merchant) -> list[ProblemRow]:
    return _rows(_with_subjects(merchant.problems.filter(resolved_at__isnull=False))
                 .order_by("-resolved_at")[:HISTORY_ROWS])


@dataclass
class PartnerProblem:
    """One cause at one integration across a partner's stores: a vendor outage is one row."""

    name: str
    kind: str
    cause: str
    stores: int
    occurrences: int
    first_seen_at: datetime
    last_seen_at: datetime
    store_list: list[tuple[str, str, int]]  # (store name, slug, integration id)


PARTNER_STORES_LISTED = 20


def partner_problems(partner) -> list[PartnerProblem]:
    """The partner's open problems grouped by integration, kind and cause code (two queries)."""
    problems = Problem.objects.filter(merchant__partner=partner, resolved_at__isnull=True,
                                      merchant_integration__isnull=False)
    groups = list(
        problems.values("merchant_integration__definition__name", "kind", "cause__code")
        .annotate(stores=Count("merchant_id", distinct=True), occurrences=Sum("occurrences"),
                  first=Min("first_seen_at"), last=Max("last_seen_at"))
        .order_by("-stores", "merchant_integration__definition__name")
    )
    latest: dict[tuple, Problem] = {}
    stores: dict[tuple, list] = {}
    for problem in problems.select_related("merchant", "merchant_integration__definition").order_by(
            "merchant__name"):
        key = (problem.merchant_integration.definition.name, problem.kind, problem.cause.get("code"))
        if key not in latest or problem.last_seen_at > latest[key].last_seen_at:
            latest[key] = problem
        stores.setdefault(key, []).append((problem.merchant.name, problem.merchant.slug,
                                           problem.merchant_integration_id))
    rows = []
    for group in groups:
        key = (group["merchant_integration__definition__name"], group["kind"], group["cause__code"])
        rows.append(PartnerProblem(key[0], group["kind"], stored_text(latest[key].cause), group["stores"],
                                   group["occurrences"], group["first"], group["last"],
                                   stores[key][:PARTNER_STORES_LISTED]))
    return rows


# A store with none of these integrations live has no books or no tax filing from QIIUB.
COVERED_CATEGORIES = (Category.ACCOUNTING, Category.TAX)
LIVE_STATUSES = (Status.ACTIVE, Status.PAUSED, Status.ERROR)


@dataclass
class Coverage:
    without: dict[str, list[Merchant]]  # category → stores with no live integration of it
    reconnect: list[MerchantIntegration]  # integrations whose connection the store must renew


def partner_coverage(partner) -> Coverage:
    stores = Merchant.objects.filter(partner=partner).exclude(schema_name="public").order_by("name")
    without = {}
    for category in COVERED_CATEGORIES:
        without[category] = list(stores.exclude(
            integrations__in=MerchantIntegration.objects.filter(definition__category=category,
                                                               status__in=LIVE_STATUSES)))
    reconnect = list(MerchantIntegration.objects.filter(merchant__partner=partner).filter(
        Q(status=Status.ERROR) | Q(problems__kind=ProblemKind.CREDENTIALS, problems__resolved_at__isnull=True))
        .exclude(status=Status.DISCONNECTED).select_related("merchant", "definition").distinct()
        .order_by("merchant__name"))
    return Coverage(without, reconnect)


@dataclass
class Standing:
    """What an integration's page says about its status, and which of its buttons work now."""

    pause_note: str  # who paused it, when and why ("" when not paused)
    next_step: str  # what the merchant can do, in plain words ("" when nothing)
    can_activate: bool
    can_pause: bool
    can_resume: bool


def _last_pause(integration: MerchantIntegration) -> IntegrationStatusTransition | None:
    return integration.transitions.filter(to_status=Status.PAUSED).select_related("actor").first()


def standing(integration: MerchantIntegration, user) -> Standing:
    staff = bool(user is not None and user.is_staff)
    status, tested = integration.status, integration.last_test_ok
    forced = integration.paused_reason == PausedReason.FORCED
    return Standing(
        pause_note=_pause_note(integration) if status == Status.PAUSED else "",
        next_step=next_step(integration, staff=staff),
        can_activate=status in (Status.CONFIGURING, Status.ERROR) and tested and (not forced or staff),
        can_pause=status in (Status.ACTIVE, Status.ERROR),
        can_resume=status == Status.PAUSED and tested and (not forced or staff),
    )


def _pause_note(integration: MerchantIntegration) -> str:
    pause = _last_pause(integration)
    if pause is None:
        return ""
    names = {"who": pause.actor_label, "why": pause.reason,
             "when": date_format(localtime(pause.created_at), "SHORT_DATETIME_FORMAT")}
    if integration.paused_reason == PausedReason.AUTO:
        return _("Paused automatically on %(when)s: %(why)s") % names
    if integration.paused_reason == PausedReason.FORCED:
        return _("Paused by QIIUB operations on %(when)s: %(why)s") % names
    return _("Paused by %(who)s on %(when)s.") % names


def next_step(item: MerchantIntegration, *, staff: bool = False) -> str:
    """What the merchant admin can do about the integration's status now, in plain words."""
    tested = item.last_test_ok
    if item.status == Status.CONFIGURING:
        if tested:
            return _("The connection test passed: activate it.")
        return _("Finish the set-up: configuration, connection, test, then activate.")
    if item.status == Status.ERROR:
        if connects_with_oauth(item.definition_id):
            return _("Reconnect it: the vendor no longer accepts the connection.")
        return _("Re-enter the credentials and test the connection.")
    if item.status == Status.PAUSED:
        if item.paused_reason == PausedReason.FORCED and not staff:
            return _("Only QIIUB operations can resume it. Nothing is lost meanwhile.")
        if tested:
            return _("The connection test passed: resume it when ready. Nothing is lost meanwhile.")
        if item.paused_reason == PausedReason.MANUAL:
            return _("The settings changed since the last test: test the connection, then resume.")
        return _("Test the connection; once it passes, resume. Nothing is lost meanwhile.")
    if item.needs_review:
        return _("Failing for a long time: QIIUB support is reviewing it.")
    if item.status == Status.ACTIVE and item.consecutive_error_count:
        return _("The last attempt failed; it retries on its own.")
    return ""
