"""The worker's tasks; REDIS_URL is the broker and the result backend.

Run the worker with: celery -A tasks worker --pool solo --without-gossip --without-mingle
"""

import os
import socket

from celery import Celery

app = Celery("tasks", broker=os.environ["REDIS_URL"], backend=os.environ["REDIS_URL"])
app.conf.broker_connection_retry_on_startup = True


@app.task
def add(x: int, y: int) -> dict:
    return {"sum": x + y, "worker": socket.gethostname()}
