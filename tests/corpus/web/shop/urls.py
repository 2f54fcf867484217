import asyncio
import sys

import django
from django.http import JsonResponse
from django.urls import path


async def hello(request):
    """Which event loop runs the view: uvloop under uvicorn, asyncio's own under gunicorn."""
    loop = type(asyncio.get_running_loop()).__module__.split(".")[0]
    return JsonResponse(
        {"django": django.get_version(), "loop": loop, "python": sys.version.split()[0]}
    )


urlpatterns = [path("", hello)]
