from django.apps import AppConfig


class QiiubConfig(AppConfig):
    name = "qiiub"
    verbose_name = "QIIUB platform"
