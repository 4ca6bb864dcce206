"""SystemAdmin's dead-letter inspection and replay. Deliveries are written by the bus only: the
admin shows them (and replays dead ones through events.replay), it never edits them."""

import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from events import replay
from events.models import DeliveryAttempt, DeliveryStatus, EventDelivery, OutboxEvent
from qiiub.admin_base import GuardedModelAdmin, ReadOnlyInline


def _attempt_of(number: int, max_attempts: int) -> str:
    return gettext("attempt %(number)d of %(max)d") % {"number": number, "max": max_attempts}


class AttemptInline(ReadOnlyInline):
    model = DeliveryAttempt
    # Our own table: the stock one heads each row with the attempt's str(), which names the delivery id.
    template = "admin/events/attempts_inline.html"
    fields = ("attempt", "succeeded", "error", "status_code", "response_excerpt", "duration_ms", "attempted_at")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("delivery")

    @admin.display(description=_("Attempt"))
    def attempt(self, attempt):
        return _attempt_of(attempt.number, attempt.delivery.max_attempts)


def _since_placeholder() -> str:
    # The action bar shows no help text: the placeholder says the format and the hours it is read in.
    return f"YYYY-MM-DD HH:MM ({timezone.get_current_timezone_name()})"


class SinceForm(forms.Form):
    since = forms.DateTimeField(
        label=_("Since"),
        error_messages={
            "required": _("Give the time to replay from (“since”)."),
            "invalid": _("The “since” time could not be read: write it as YYYY-MM-DD HH:MM, e.g. 2026-03-01 08:00."),
        },
    )


class ReplaySinceForm(ActionForm):
    """The admin's action bar, with the “since” time beside the action menu. Text here: a time the
    action bar refused would make the admin answer "No action selected"; the action reads it."""

    since = forms.CharField(required=False, label=_("Since"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["since"].widget.attrs["placeholder"] = _since_placeholder()


@admin.register(EventDelivery)
class EventDeliveryAdmin(GuardedModelAdmin):
    list_display = ("event_type", "merchant", "subscriber_key", "status", "attempts_used", "short_error", "updated_at")
    list_filter = ("status", "subscriber_kind", "event__event_type", "merchant__partner", "merchant")
    search_fields = ("subscriber_key", "merchant__name", "event__id", "last_error")
    list_select_related = ("event", "merchant")
    date_hierarchy = "updated_at"
    readonly_fields = (
        "event", "merchant", "subscriber_kind", "subscriber_key", "merchant_integration", "status", "attempts_used",
        "next_attempt_at", "leased_until", "last_error", "succeeded_at", "created_at", "payload",
    )
    fields = readonly_fields
    inlines = [AttemptInline]
    action_form = ReplaySinceForm
    actions = ("replay_selected", "replay_dead_for_subscribers_since")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # the bus writes deliveries; a person replays them with the actions

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("Event"), ordering="event__event_type")
    def event_type(self, delivery):
        return delivery.event.event_type

    @admin.display(description=_("Attempts"), ordering="attempts")
    def attempts_used(self, delivery):
        return gettext("%(attempts)d of %(max)d") % {"attempts": delivery.attempts, "max": delivery.max_attempts}

    @admin.display(description=_("Last error"))
    def short_error(self, delivery):
        return Truncator(delivery.last_error).chars(80)  # the full text is on the delivery's page

    @admin.display(description=_("Payload"))
    def payload(self, delivery):
        return format_html("<pre>{}</pre>", json.dumps(delivery.event.payload, indent=2, ensure_ascii=False))

    def _report(self, request, outcome: replay.ReplayOutcome, summary: str) -> None:
        for delivery, refusal in outcome.skipped:
            self.message_user(request, f"{delivery}: {refusal.message}", messages.WARNING)
        self.message_user(request, summary, messages.SUCCESS if outcome.replayed else messages.INFO)

    @admin.action(description=_("Replay selected dead deliveries"))
    def replay_selected(self, request, queryset):
        outcome = replay.dead_deliveries_replay(deliveries=queryset, by=request.user)
        not_dead = queryset.exclude(status=DeliveryStatus.DEAD).count()
        if not_dead:
            self.message_user(request, ngettext(
                "%(count)d selected delivery is not dead and was left alone.",
                "%(count)d selected deliveries are not dead and were left alone.", not_dead,
            ) % {"count": not_dead}, messages.WARNING)
        self._report(request, outcome, ngettext(
            "Replayed %(count)d delivery.", "Replayed %(count)d deliveries.", outcome.replayed
        ) % {"count": outcome.replayed})

    @admin.action(description=_("Replay everything dead for these subscribers since the time given"))
    def replay_dead_for_subscribers_since(self, request, queryset):
        form = SinceForm({"since": request.POST.get("since", "").strip()})
        if not form.is_valid():
            self.message_user(request, " ".join(form.errors["since"]), messages.ERROR)
            return
        since = form.cleaned_data["since"]
        keys = set(queryset.values_list("subscriber_key", flat=True))
        dead = EventDelivery.objects.filter(subscriber_key__in=keys, updated_at__gte=since)
        outcome = replay.dead_deliveries_replay(deliveries=dead, by=request.user)
        self._report(request, outcome, ngettext(
            "Replayed %(count)d dead delivery for %(subscribers)d subscriber(s) since %(since)s.",
            "Replayed %(count)d dead deliveries for %(subscribers)d subscriber(s) since %(since)s.", outcome.replayed,
        ) % {"count": outcome.replayed, "subscribers": len(keys), "since": since})


@admin.register(OutboxEvent)
class OutboxEventAdmin(GuardedModelAdmin):
    list_display = ("event_type", "merchant", "created_at", "relayed_at")
    list_filter = ("event_type",)
    search_fields = ("id", "merchant__name")
    list_select_related = ("merchant",)
    readonly_fields = ("id", "event_type", "merchant", "location", "payload", "created_at", "relayed_at")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
