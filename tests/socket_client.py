"""The WebSocket client of the tests and benchmarks: simple_websocket's, without losing a frame sent at once.

simple_websocket's Client (1.1.0, pinned) reads the server's 101 response with one recv(), which may
bring the frames sent right after it too; wsproto keeps those, and the client hands them on only after
its next recv(). The progress socket sends its first state at once, then nothing until an event, so
that state waited for the next frame (a flaky CI failure: no first frame in 5 s).
"""
from simple_websocket import Client


class SocketClient(Client):
    """simple_websocket's Client, which first hands on the frames that came with the handshake."""

    def _thread(self):
        self.connected = self._handle_events()
        super()._thread()
