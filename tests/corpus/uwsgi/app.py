"""A WSGI application for uWSGI: uwsgi --http-socket :8000 --wsgi-file app.py"""

import sys

import uwsgi


def application(environ, start_response):
    body = (
        f"uwsgi {uwsgi.version.decode()} python {sys.version.split()[0]} {environ['PATH_INFO']}\n"
    )
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode()]
