from django.urls import path

from webhooks import views as webhook_views

# Included under portal's "m/<slug:merchant_slug>/webhooks/".
urlpatterns = [
    path("", webhook_views.endpoint_list, name="webhooks"),
    path("<int:endpoint_id>/", webhook_views.endpoint_detail, name="webhook"),
    path("<int:endpoint_id>/edit/", webhook_views.endpoint_edit, name="webhook-edit"),
    path("<int:endpoint_id>/delete/", webhook_views.endpoint_delete, name="webhook-delete"),
    path("<int:endpoint_id>/test/", webhook_views.endpoint_test, name="webhook-test"),
    path("<int:endpoint_id>/rotate/", webhook_views.endpoint_rotate, name="webhook-rotate"),
    path("<int:endpoint_id>/toggle/", webhook_views.endpoint_toggle, name="webhook-toggle"),
    path("<int:endpoint_id>/retry/", webhook_views.endpoint_retry_dead, name="webhook-retry"),
    path("<int:endpoint_id>/deliveries/<int:delivery_id>/", webhook_views.delivery_detail,
         name="webhook-delivery"),
    path("<int:endpoint_id>/deliveries/<int:delivery_id>/resend/", webhook_views.delivery_resend,
         name="webhook-delivery-resend"),
]
