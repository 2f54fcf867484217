"""Send one task to the worker through redis and print its result."""

import celery
from tasks import add

result = add.delay(20, 22).get(timeout=60)
print(f"celery {celery.__version__} sum {result['sum']} from {result['worker']}")
