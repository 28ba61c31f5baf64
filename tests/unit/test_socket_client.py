"""The tests' WebSocket client receives a frame that arrives in the same read as the handshake's answer."""
import base64
import hashlib
import socket
import threading

import pytest
from simple_websocket import Client

from tests.socket_client import SocketClient

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


@pytest.fixture
def eager_server():
    """A server that sends its 101 answer and a first text frame in one write, then waits."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def serve() -> None:
        conn, _ = listener.accept()
        accepted.append(conn)
        request = b""
        while b"\r\n\r\n" not in request:
            request += conn.recv(4096)
        key = next(line.split(b":", 1)[1].strip() for line in request.split(b"\r\n")
                   if line.lower().startswith(b"sec-websocket-key:"))
        accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
        conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n" + b"\x81\x05first")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"ws://127.0.0.1:{listener.getsockname()[1]}/"
    thread.join(timeout=5)
    for conn in accepted:
        conn.close()  # ends the client's reading thread
    listener.close()


def test_frame_sent_with_the_handshake_is_received(eager_server):
    ws = SocketClient.connect(eager_server)
    try:
        assert ws.receive(timeout=5) == "first"
    finally:
        ws.sock.close()


def test_simple_websocket_client_alone_holds_that_frame_back(eager_server):
    # Why SocketClient exists; when this fails, simple_websocket has fixed it and SocketClient can go.
    ws = Client.connect(eager_server)
    try:
        assert ws.receive(timeout=0.5) is None
    finally:
        ws.sock.close()
