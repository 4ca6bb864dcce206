"""The weekly card data scan (report only: masking is an operator's decision, through the command)."""

from celery import shared_task

from compliance.scan import card_data_scan


@shared_task(name="compliance.scan_card_data", ignore_result=True)
def scan_card_data() -> int:
    return card_data_scan(requested_by="weekly schedule").hit_count
