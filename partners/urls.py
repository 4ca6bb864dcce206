from django.urls import path

from partners import views

# Included under portal's "p/<slug:partner_slug>/".
urlpatterns = [
    path("issues/", views.partner_issues, name="partner-issues"),
    path("issues/remind/", views.partner_remind, name="partner-remind"),
    path("templates/", views.template_list, name="partner-templates"),
    path("templates/new/", views.template_edit, name="partner-template-new"),
    path("templates/<int:template_id>/", views.template_edit, name="partner-template"),
    path("bulk/", views.bulk_jobs, name="bulk-jobs"),
    path("bulk/new/", views.bulk_job_new, name="bulk-job-new"),
    path("bulk/<int:job_id>/", views.bulk_job, name="bulk-job"),
    path("bulk/<int:job_id>/progress/", views.bulk_job_progress, name="bulk-job-progress"),
    path("bulk/<int:job_id>/follow-up/", views.bulk_job_follow_up, name="bulk-job-follow-up"),
]
