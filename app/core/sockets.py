"""flask-sock, with its sockets ended cleanly under Werkzeug's development server too (`flask run`).

flask-sock 0.7.0 (the latest release) lets Werkzeug write an HTTP response after a socket's close
frame. Browsers take those bytes for a broken frame: the socket ends abnormally (1006) and htmx's ws
extension opens it again, for ever, redrawing the page's region each time. Here, once a route has
served its socket (and flask-sock has sent the close frame), the server's side of the connection is
shut: the browser sees the connection end cleanly, and the response Werkzeug then writes fails
(EPIPE), which it takes for a dropped connection before closing it. gunicorn's workers, and the test
client, never get here: their environ has no werkzeug.socket.
"""
import socket
from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any

import flask_sock
from flask import request

UPGRADED = "verdant.websocket_upgraded"


class Sock(flask_sock.Sock):
    """flask-sock's extension, marking each request whose socket a route has served."""

    def route(self, path: str, bp: Any = None, **kwargs: Any) -> Callable:
        register = super().route(path, bp=bp, **kwargs)

        def decorator(view: Callable) -> Callable:
            @wraps(view)
            def marked(ws, *args: Any, **kwargs: Any) -> Any:
                request.environ[UPGRADED] = True
                return view(ws, *args, **kwargs)

            return register(marked)

        return decorator


def end_sockets_quietly(wsgi_app: Callable) -> Callable:
    """Wrap the WSGI app so that Werkzeug's server writes nothing after a served socket's close frame."""

    @wraps(wsgi_app)
    def app(environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        result = wsgi_app(environ, start_response)
        connection = environ.get("werkzeug.socket")
        if connection is not None and environ.get(UPGRADED):
            try:
                connection.shutdown(socket.SHUT_WR)
            except OSError:
                pass  # the browser has closed it already
        return result

    return app
