from celery import shared_task

from partners.services import bulk


@shared_task(name="partners.bulk_job_run", acks_late=True, ignore_result=True)
def bulk_job_run(job_id: int) -> None:
    # acks_late: a worker killed mid-job leaves the message, and the next worker carries on.
    bulk.bulk_job_run(job_id=job_id)


@shared_task(name="partners.bulk_jobs_resume_stalled", ignore_result=True)
def bulk_jobs_resume_stalled() -> None:
    bulk.bulk_jobs_resume_stalled()
