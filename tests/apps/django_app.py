"""A minimal Django project in one module: its ASGI application is ``application``."""

from __future__ import annotations

import django
from django.conf import settings

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="fastcorn-tests-only",
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=[],
        INSTALLED_APPS=[],
        DATABASES={},
        LOGGING_CONFIG=None,
    )
    django.setup()

from django.core.asgi import get_asgi_application  # noqa: E402
from django.http import HttpRequest, HttpResponse, JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402


def hello(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"hello from django", content_type="text/plain")


async def async_json(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"framework": "django", "query": request.GET.dict()})


urlpatterns = [path("hello", hello), path("json", async_json)]

application = get_asgi_application()
