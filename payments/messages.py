"""The payments app's stored messages (`qiiub.messages`): a processor's refusals and what
reconciliation found, as codes with parameters, put into words in the reader's language."""

from django.utils.translation import gettext_noop

PAYMENT_MESSAGES = {
    "card_data_in_answer": gettext_noop("%(vendor)s answered with what looks like a full card number: the answer was "
                                        "refused and nothing of it was kept."),
    "payment_not_found": gettext_noop("%(vendor)s has no payment %(reference)s."),
    "dynamics_unconfigured": gettext_noop("%(vendor)s has no published API: QIIUB operations set its address once the "
                                          "processor's specification arrives."),
    "refund_pending_at_processor": gettext_noop("%(vendor)s accepted the refund and has not completed it yet: the hub "
                                                "asks again on its own."),
    "refund_failed_at_processor": gettext_noop("%(vendor)s could not complete the refund (%(status)s): nothing was "
                                               "refunded."),
    "settlement_differences": gettext_noop("Card settlement differs from the tills by %(difference)s on %(day)s "
                                           "(%(days)s day(s) above the threshold): open the money trail."),
}
