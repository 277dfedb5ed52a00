from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "leases.webhooks"
    label = "webhooks"
    verbose_name = "Webhooks"

    def ready(self) -> None:
        from leases import signals

        from . import delivery

        # Webhook deliveries hang on what the services announce after each commit.
        signals.message_received.connect(
            delivery.on_message_received, dispatch_uid="zhima-webhooks-message"
        )
        signals.lease_ended.connect(delivery.on_lease_ended, dispatch_uid="zhima-webhooks-end")
