"""GET each URL given with requests, then with httpx, and print what the site answered."""

import sys

import httpx
import requests

for url in sys.argv[1:]:
    answer = requests.get(url, timeout=10)
    answer.raise_for_status()
    print(f"requests {requests.__version__} {url} {answer.json()['loop']}")
    with httpx.Client(timeout=10) as client:
        reply = client.get(url)
    reply.raise_for_status()
    print(f"httpx {httpx.__version__} {url} {reply.json()['loop']}")
