"""The ASGI application (uvicorn serves it; see README "Running for a team").

Django runs each request inside its own thread context, so that the synchronous parts of a
request (signal receivers, middleware hooks, sync views) share one thread created for it; that
thread lives until the response is sent. For the API's long-poll (``/api/v1/leases/<id>/code``,
an async view whose database work runs on its own small pool) that would keep one idle thread
per waiting request. Those requests skip the per-request context: their few synchronous hooks
run briefly on asgiref's shared thread, and a waiting request holds no thread at all.
"""

import os
import re

from django.core.asgi import get_asgi_application
from django.core.handlers.asgi import ASGIHandler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zhima_site.settings")

LONG_POLL = re.compile(r"^/api/v1/leases/[^/]+/code/?$")


class Handler(ASGIHandler):
    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and LONG_POLL.match(scope.get("path", "")):
            await self.handle(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


get_asgi_application()  # django.setup()
application = Handler()
