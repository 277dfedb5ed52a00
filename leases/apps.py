from django.apps import AppConfig
from django.utils.translation import pgettext_lazy


class LeasesConfig(AppConfig):
    name = "leases"
    verbose_name = pgettext_lazy("admin app", "Leases")

    def ready(self) -> None:
        from django_q.signals import post_spawn

        from . import checks  # noqa: F401 - registers the poller host's system checks
        from .tasks import on_worker_start

        post_spawn.connect(on_worker_start, dispatch_uid="zhima-pollers-on-spawn")

        from django.conf import settings

        from .signals import lease_ended, message_received

        if settings.REDIS_URL:
            from .api.watch import publish

            message_received.connect(publish, dispatch_uid="zhima-api-publish")
        else:
            from .api.watch import ring_bell

            message_received.connect(ring_bell, dispatch_uid="zhima-api-bell-sms")
            lease_ended.connect(ring_bell, dispatch_uid="zhima-api-bell-end")
