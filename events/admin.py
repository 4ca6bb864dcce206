"""SystemAdmin's dead-letter inspection and replay."""

import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import Truncator

from events import replay
from events.models import DeliveryAttempt, DeliveryStatus, EventDelivery, OutboxEvent
from qiiub.admin_base import GuardedModelAdmin, ReadOnlyInline
from qiiub.errors import ApplicationError


class AttemptInline(ReadOnlyInline):
    model = DeliveryAttempt
    fields = ("number", "succeeded", "error", "status_code", "response_excerpt", "duration_ms", "attempted_at")


class SinceForm(forms.Form):
    since = forms.DateTimeField(
        required=False, help_text="For “replay everything dead since”: the earliest failure to replay."
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The action bar shows no help text: the placeholder says the format and the hours it is read in.
        self.fields["since"].widget.attrs["placeholder"] = f"YYYY-MM-DD HH:MM ({timezone.get_current_timezone_name()})"


class ReplaySinceForm(ActionForm, SinceForm):
    """The admin's action bar, with the “since” time beside the action menu."""


@admin.register(EventDelivery)
class EventDeliveryAdmin(GuardedModelAdmin):
    list_display = ("event_type", "merchant", "subscriber_key", "status", "attempts", "short_error", "updated_at")
    list_filter = ("status", "subscriber_kind", "event__event_type", "merchant__partner", "merchant")
    search_fields = ("subscriber_key", "merchant__name", "event__id", "last_error")
    list_select_related = ("event", "merchant")
    date_hierarchy = "updated_at"
    readonly_fields = (
        "event", "merchant", "subscriber_kind", "subscriber_key", "merchant_integration", "status", "attempts",
        "max_attempts", "next_attempt_at", "leased_until", "last_error", "succeeded_at", "created_at", "payload",
    )
    inlines = [AttemptInline]
    action_form = ReplaySinceForm
    actions = ("replay_selected", "replay_dead_for_subscribers_since")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Event", ordering="event__event_type")
    def event_type(self, delivery):
        return delivery.event.event_type

    @admin.display(description="Last error")
    def short_error(self, delivery):
        return Truncator(delivery.last_error).chars(80)  # the full text is on the delivery's page

    @admin.display(description="Payload")
    def payload(self, delivery):
        return format_html("<pre>{}</pre>", json.dumps(delivery.event.payload, indent=2, ensure_ascii=False))

    @admin.action(description="Replay selected dead deliveries")
    def replay_selected(self, request, queryset):
        replayed = 0
        for delivery in queryset.select_related("merchant_integration__definition"):
            try:
                replay.delivery_replay(delivery=delivery, by=request.user)
                replayed += 1
            except ApplicationError as error:
                self.message_user(request, f"{delivery}: {error.message}", messages.WARNING)
        self.message_user(request, f"Replayed {replayed} deliver{'y' if replayed == 1 else 'ies'}.")

    @admin.action(description="Replay everything dead for these subscribers since the time given")
    def replay_dead_for_subscribers_since(self, request, queryset):
        form = SinceForm(request.POST)
        if not form.is_valid() or not form.cleaned_data.get("since"):
            self.message_user(request, "Give the time to replay from (“since”).", messages.ERROR)
            return
        since = form.cleaned_data["since"]
        keys = set(queryset.values_list("subscriber_key", flat=True))
        dead = EventDelivery.objects.filter(
            subscriber_key__in=keys, status=DeliveryStatus.DEAD, updated_at__gte=since
        )
        replayed = replay.deliveries_replay(deliveries=dead, by=request.user)
        self.message_user(request, f"Replayed {replayed} dead deliveries for {len(keys)} subscriber(s) since {since}.")


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
