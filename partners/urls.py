from django.urls import path

from partners import views

# Included under portal's "p/<slug:partner_slug>/".
urlpatterns = [
    path("templates/", views.template_list, name="partner-templates"),
    path("bulk/", views.bulk_jobs, name="bulk-jobs"),
]
