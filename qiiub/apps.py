from django.apps import AppConfig


class QiiubConfig(AppConfig):
    name = "qiiub"
    verbose_name = "QIIUB platform"

    def ready(self) -> None:
        from qiiub import mail  # noqa: F401  (registers the deploy check of the email backend)
