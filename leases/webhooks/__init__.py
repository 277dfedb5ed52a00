"""Webhooks: lease events posted, signed, to the URLs a manager registered for an account.

A Django app of its own (``leases.webhooks.apps.WebhooksConfig``) that hangs on the lease
services' after-commit signals (``leases.signals``). Its models belong to the ``leases`` schema
(``app_label = "leases"``: their tables and migrations are the leases app's).

- ``models``: the endpoints, their deliveries and each delivery's attempts
- ``delivery``: events to deliveries, the signed POSTs, retries
- ``guard``: the addresses a webhook may reach
- ``views``, ``urls``: the webhooks page of an account
- ``tasks``: the django-q2 entry points and their schedule
- ``management/commands/webhook.py``: ``manage.py webhook``
"""
