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

        from . import signals, webhooks

        # Webhook deliveries hang on what the services announce after each commit.
        signals.message_received.connect(
            webhooks.on_message_received, dispatch_uid="zhima-webhooks-message"
        )
        signals.lease_ended.connect(webhooks.on_lease_ended, dispatch_uid="zhima-webhooks-end")

        from django.conf import settings

        if settings.REDIS_URL:
            from .api.watch import publish
            from .signals import message_received

            message_received.connect(publish, dispatch_uid="zhima-api-publish")
