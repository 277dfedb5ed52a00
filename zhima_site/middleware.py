"""WhiteNoise, able to run in an async middleware chain.

Under an ASGI server one synchronous middleware makes Django run the whole request below it
on a thread; a long-poll would then hold one for as long as it waits. This subclass serves
static files as WhiteNoise does and otherwise awaits the rest of the chain.
"""

from __future__ import annotations

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from whitenoise.middleware import WhiteNoiseMiddleware


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    sync_capable = True
    async_capable = True

    def __init__(self, get_response=None, *args, **kwargs):
        super().__init__(get_response, *args, **kwargs)
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.async_mode:
            return self.__acall__(request)
        return super().__call__(request)

    async def __acall__(self, request):
        if self.autorefresh:
            static_file = await sync_to_async(self.find_file, thread_sensitive=False)(
                request.path_info
            )
        else:
            static_file = self.files.get(request.path_info)
        if static_file is not None:
            return await sync_to_async(self.serve, thread_sensitive=False)(static_file, request)
        return await self.get_response(request)


class ProbeMiddleware:
    """``GET /healthz`` and ``/readyz`` answered before anything reads the Host header.

    Orchestrators probe a process by its own address (``Host: 10.0.3.7:8000``), which is not
    in ``ALLOWED_HOSTS``: below here that is a 400 (``DisallowedHost``) and the probe fails.
    The probes build no URL from the host, so nothing the host check protects is at stake.
    """

    sync_capable = True
    async_capable = True
    PATHS = frozenset({"/healthz", "/readyz"})

    def __init__(self, get_response):
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    @staticmethod
    def _probe(request):
        if request.method in ("GET", "HEAD") and request.path_info in ProbeMiddleware.PATHS:
            from . import ops

            return ops.healthz if request.path_info == "/healthz" else ops.readyz
        return None

    def __call__(self, request):
        if self.async_mode:
            return self.__acall__(request)
        view = self._probe(request)
        return view(request) if view else self.get_response(request)

    async def __acall__(self, request):
        view = self._probe(request)
        if view:
            return await sync_to_async(view)(request)
        return await self.get_response(request)
