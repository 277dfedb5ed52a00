"""The ASGI application (uvicorn serves it; see README "Running for a team").

Django runs each request inside its own thread context, so that the synchronous parts of a
request (signal receivers, middleware hooks, sync views) share one thread created for it; that
thread lives until the response is sent.

Every view but one is synchronous, and so is every middleware's work: Django's async chain
would hop to that thread and back for each middleware hook (about twenty hops a request, a
tenth of an API call's CPU). Those requests run the whole chain in one hop, as under WSGI.

The API's long-poll (``/api/v1/leases/<id>/code``) is an async view whose database work runs
on its own small pool: it keeps the async chain and skips the per-request context, so its few
synchronous hooks run briefly on asgiref's shared thread and a waiting request holds no thread.
"""

import os
import re

from asgiref.sync import sync_to_async
from django.core.asgi import get_asgi_application
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.base import BaseHandler
from django.http import FileResponse

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zhima_site.settings")

LONG_POLL = re.compile(r"^/api/v1/leases/[^/]+/code/?$")


class Handler(ASGIHandler):
    def __init__(self):
        super().__init__()
        self.sync_handler = BaseHandler()
        self.sync_handler.load_middleware(is_async=False)

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and LONG_POLL.match(scope.get("path", "")):
            await self.handle(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    async def run_get_response(self, request):
        if LONG_POLL.match(request.path):
            return await super().run_get_response(request)
        get_response = sync_to_async(self.sync_handler.get_response, thread_sensitive=True)
        response = await get_response(request)
        response._handler_class = self.__class__  # type: ignore[attr-defined]  # as Django does
        if isinstance(response, FileResponse):
            response.block_size = self.chunk_size
        return response


get_asgi_application()  # django.setup()
application = Handler()
