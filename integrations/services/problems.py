"""The open problems of merchants' integrations, as the Issues inbox lists them: opened (or seen
again) by what fails, closed by what clears their cause. At most one open problem of each kind per
integration (a partial unique index): a repeat counts an occurrence on it."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from events import replay
from integrations.models import MerchantIntegration, Problem, ProblemKind, ProblemResolution
from qiiub.http import AuthExpired, ConnectorError, VendorRejected, VendorUnavailable
from qiiub.messages import Message

# What a failed call says is wrong, by the error's type (most specific first).
_KIND_OF_ERROR = (
    (AuthExpired, ProblemKind.CREDENTIALS),
    (VendorUnavailable, ProblemKind.VENDOR_DOWN),
    (VendorRejected, ProblemKind.REJECTED),
)
# The problems a working call (a run, a delivery, a passing test) shows are gone.
CLEARED_BY_SUCCESS = (ProblemKind.CREDENTIALS, ProblemKind.VENDOR_DOWN, ProblemKind.REJECTED, ProblemKind.FAILING)
CLEARED_BY_TEST = (ProblemKind.CREDENTIALS, ProblemKind.VENDOR_DOWN)


def kind_of(error: ConnectorError) -> str:
    return next((kind for error_type, kind in _KIND_OF_ERROR if isinstance(error, error_type)), ProblemKind.FAILING)


def problem_seen(*, integration: MerchantIntegration | None = None, endpoint=None, kind: str, cause: Message,
                 count: int = 1) -> Problem:
    """Open the problem of this kind of an integration (or of a webhook endpoint), or count `count`
    more occurrences on the open one (its cause becomes the latest). Safe against a concurrent
    opener: one of them inserts, the other counts."""
    subject = {"merchant_integration": integration} if integration is not None else {"webhook_endpoint": endpoint}
    merchant_id = (integration or endpoint).merchant_id
    now = timezone.now()
    for _attempt in range(2):
        updated = Problem.objects.filter(**subject, kind=kind, resolved_at__isnull=True)
        if updated.update(last_seen_at=now, cause=cause.stored(), occurrences=_plus(count)):
            return updated.get()
        try:
            with transaction.atomic():
                return Problem.objects.create(
                    merchant_id=merchant_id, **subject, kind=kind, cause=cause.stored(), first_seen_at=now,
                    last_seen_at=now, occurrences=count)
        except IntegrityError:
            continue  # opened meanwhile by another worker: count on it
    raise RuntimeError("problem_seen: could not open or update the problem")


def _plus(count: int) -> F:
    return F("occurrences") + count


def failure_seen(*, integration: MerchantIntegration, error: ConnectorError) -> Problem:
    return problem_seen(integration=integration, kind=kind_of(error), cause=Message(error.reason, error.params))


def problems_resolve(
    *, integrations: Iterable[MerchantIntegration | int] = (), endpoints: Iterable = (), kinds: Iterable[str] | None,
    resolution: str,
) -> int:
    """Close the open problems of these kinds (all kinds: None) of these integrations or endpoints."""
    ids = [getattr(integration, "pk", integration) for integration in integrations]
    endpoint_ids = [getattr(endpoint, "pk", endpoint) for endpoint in endpoints]
    open_problems = Problem.objects.filter(Q(merchant_integration_id__in=ids) | Q(webhook_endpoint_id__in=endpoint_ids),
                                           resolved_at__isnull=True)
    if kinds is not None:
        open_problems = open_problems.filter(kind__in=list(kinds))
    return open_problems.update(resolved_at=timezone.now(), resolution=resolution)


def success_clears(*, integration: MerchantIntegration) -> int:
    return problems_resolve(integrations=[integration], kinds=CLEARED_BY_SUCCESS,
                            resolution=ProblemResolution.SUCCEEDED)


def test_clears(*, integration: MerchantIntegration) -> int:
    return problems_resolve(integrations=[integration], kinds=CLEARED_BY_TEST,
                            resolution=ProblemResolution.TEST_PASSED)


def unmapped_seen(*, integration: MerchantIntegration, codes: list[str]) -> Problem:
    """A run left days unposted for codes with no mapping (they wait for it)."""
    return problem_seen(integration=integration, kind=ProblemKind.UNMAPPED,
                        cause=Message("codes_unmapped", {"codes": sorted(set(codes))}))


def unmapped_check(*, integration: MerchantIntegration, mapped: set[str]) -> None:
    """After a mapping is saved: the codes problem closes once every code it names is mapped."""
    problem = Problem.objects.filter(merchant_integration=integration, kind=ProblemKind.UNMAPPED,
                                     resolved_at__isnull=True).first()
    if problem and set(problem.cause.get("params", {}).get("codes", [])) <= mapped:
        problems_resolve(integrations=[integration], kinds=[ProblemKind.UNMAPPED], resolution=ProblemResolution.MAPPED)


def dead_delivery_seen(*, integration: MerchantIntegration, error: ConnectorError) -> Problem:
    """A delivery used its last attempt: it waits for a person to send it again."""
    return problem_seen(integration=integration, kind=ProblemKind.DEAD_DELIVERIES,
                        cause=Message(error.reason, error.params))


def dead_deliveries_retry(*, integration: MerchantIntegration, by) -> int:
    """The inbox's "Retry deliveries": every dead delivery of the integration goes out again with a
    fresh budget; the problem closes (a delivery that dies again opens a new one)."""
    with transaction.atomic():
        count = replay.deliveries_replay(deliveries=integration.deliveries.all(), by=by)
        problems_resolve(integrations=[integration], kinds=[ProblemKind.DEAD_DELIVERIES],
                         resolution=ProblemResolution.RETRIED)
    return count


def endpoint_failure_seen(*, endpoint, error: ConnectorError) -> Problem:
    """A delivery to a merchant's own webhook endpoint failed (the attempt's own code and parameters)."""
    return problem_seen(endpoint=endpoint, kind=ProblemKind.ENDPOINT_FAILING, cause=Message(error.reason, error.params))


def endpoint_success_clears(*, endpoint) -> int:
    return problems_resolve(endpoints=[endpoint], kinds=None, resolution=ProblemResolution.SUCCEEDED)
