"""The payments pages, included in the portal's pages (namespace `portal`)."""

from django.urls import path

from payments import views

urlpatterns = [
    path("m/<slug:merchant_slug>/money/", views.money_trail, name="money-trail"),
    path("m/<slug:merchant_slug>/money/export.csv", views.money_trail_csv, name="money-trail-csv"),
    path("m/<slug:merchant_slug>/money/reconcile/", views.reconcile_now, name="money-reconcile"),
    path("m/<slug:merchant_slug>/money/card-tenders/", views.card_tenders, name="card-tenders"),
    path("m/<slug:merchant_slug>/money/sales/<int:sale_id>/", views.sale, name="sale"),
    path("m/<slug:merchant_slug>/money/sales/<int:sale_id>/tenders/<int:tender_id>/refund/", views.refund,
         name="refund"),
]
