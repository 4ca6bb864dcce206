"""A bulk job's stores keep an outcome code and parameters instead of an English sentence, and a
halted job's reason is read from its counters.

Each stored sentence came from one of a few fixed English forms, so its parameters are read back
from it: the locations enabled, why an integration was not available, the vertical or module it
needed, the statuses that left nothing to do, the refusal that failed a store. The two forms whose
details were sentences themselves (a configuration's field errors, a refusal not known here) keep
only their outcome, and read as the outcome's general detail. A halted job's reason needs nothing
stored: it halts right after its first wave, so its `failed` and `processed` are that wave's.
Going back re-adds the columns empty: the outcomes stay, their details do not."""

import re

from django.db import migrations, models

ENABLED_AT = re.compile(r" enabled at (\d+) location\(s\); the store signs in to activate it\.$")
ONLY_FOR = re.compile(r" is only for (\S+) merchants\.$")
NEEDS_MODULE = re.compile(r" needs the module '(.+)', which is not active\.$")
IS_HERE = re.compile(r" is (.+) here\.$")
# The refusals a bulk pause or resume could store, by the code it stores now.
REFUSALS = {
    "Changed while the job ran; run it again.": "changed_meanwhile",
    "QIIUB operations paused this integration; only they can resume it.": "forced_pause",
    "Fix the cause (credentials or configuration) and test the connection before resuming.": "test_required",
}
INVALID_TRANSITION = ("Cannot go from ", "Only a paused integration can be resumed")


def params_from_message(outcome: str, message: str, definition) -> dict:
    """The parameters of a stored English sentence; the definition fills in what a sentence of an
    unexpected form does not say."""
    if outcome == "enabled":
        return {"locations": int(found[1])} if (found := ENABLED_AT.search(message)) else {}
    if outcome == "not_available":
        return {"reason": "deprecated" if message.endswith(" is deprecated and can no longer be enabled.")
                else "planned"}
    if outcome == "wrong_vertical":
        return {"vertical": found[1] if (found := ONLY_FOR.search(message)) else definition.vertical_affinity}
    if outcome == "missing_module":
        return {"module": found[1] if (found := NEEDS_MODULE.search(message)) else definition.required_module.code}
    if outcome == "nothing_to_do":
        states = found[1] if (found := IS_HERE.search(message)) else "not enabled"
        # The English labels of the statuses, lowercased, are their codes.
        return {"statuses": [] if states == "not enabled" else states.split(", ")}
    if outcome == "failed":
        if message in REFUSALS:
            return {"reason": REFUSALS[message]}
        return {"reason": "invalid_transition"} if message.startswith(INVALID_TRANSITION) else {}
    return {}


def messages_to_params(apps, schema_editor):
    BulkJobStore = apps.get_model("partners", "BulkJobStore")
    stores = BulkJobStore.objects.exclude(message="").select_related("job__definition__required_module")
    batch = []
    for store in stores.iterator(chunk_size=1000):
        store.message_params = params_from_message(store.outcome, store.message, store.job.definition)
        batch.append(store)
        if len(batch) == 1000:
            BulkJobStore.objects.bulk_update(batch, ["message_params"])
            batch = []
    BulkJobStore.objects.bulk_update(batch, ["message_params"])


class Migration(migrations.Migration):

    dependencies = [
        ("partners", "0003_bulk_jobs"),
    ]

    operations = [
        migrations.AddField(
            model_name="bulkjobstore",
            name="message_params",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.RunPython(messages_to_params, migrations.RunPython.noop),
        migrations.RemoveField(
            model_name="bulkjobstore",
            name="message",
        ),
        migrations.RemoveField(
            model_name="bulkjob",
            name="halted_reason",
        ),
    ]
