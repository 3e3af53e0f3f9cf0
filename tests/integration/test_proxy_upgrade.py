"""Upgrade (WebSocket): after the upstream's 101 the proxy is a byte tunnel
both ways; HTTP/1.0 clients are never upgraded."""

import os
import threading
import unittest

from ikatest import (IkaTestCase, Origin, Scripted, WebSocketEcho, ws_accept, ws_frame, ws_handshake_request,
                     ws_read_frame)


class WebSocketTest(IkaTestCase):

    def setUp(self):
        self.ws = self.start(WebSocketEcho())
        self.ika = self.proxy(self.ws)

    def open_websocket(self):
        c = self.client(self.ika.port)
        data, key = ws_handshake_request("/chat")
        c.send(data)
        resp = c.response()
        self.assertEqual(resp.status, 101, "handshake: %r %r" % (resp, resp.body[:100]))
        self.assertEqual(resp.header("sec-websocket-accept"), ws_accept(key))
        self.assertIn("websocket", resp.tokens("upgrade"))
        self.assertIn("upgrade", resp.tokens("connection"))
        return c

    def test_text_message_is_echoed_through_the_tunnel(self):
        """A WebSocket handshake through the proxy gets the upstream's 101,
        and a text message comes back from the echo server."""
        c = self.open_websocket()
        c.send(ws_frame(1, b"hello through ika"))
        fin, opcode, payload = ws_read_frame(c.stream)
        self.assertEqual((fin, opcode, payload), (True, 1, b"hello through ika"))

    def test_upgrade_headers_reach_the_upstream(self):
        """The upgrade request reaches the upstream with Upgrade, Connection:
        upgrade and the WebSocket key and version."""
        self.open_websocket()
        seen = self.ws.requests[0]
        self.assertIn("websocket", seen.tokens("upgrade"))
        self.assertIn("upgrade", seen.tokens("connection"))
        self.assertTrue(seen.header("sec-websocket-key"))
        self.assertEqual(seen.header("sec-websocket-version"), "13")

    def test_many_messages_both_ways(self):
        """Fifty messages of growing size (up to 200 KiB, binary) are echoed
        in order."""
        c = self.open_websocket()
        for i in range(50):
            payload = os.urandom(i * 4096)
            c.send(ws_frame(2, payload))
            fin, opcode, got = ws_read_frame(c.stream)
            self.assertEqual((opcode, len(got)), (2, len(payload)))
            self.assertEqual(got, payload)

    def test_close_handshake(self):
        """A close frame is answered by the upstream's close frame, then the
        tunnel ends."""
        c = self.open_websocket()
        c.send(ws_frame(8, (1000).to_bytes(2, "big")))
        _, opcode, payload = ws_read_frame(c.stream)
        self.assertEqual((opcode, payload), (8, (1000).to_bytes(2, "big")))
        self.assert_closed(c)

    def test_http10_upgrade_is_refused(self):
        """An HTTP/1.0 client asking for an upgrade gets no 101 and the
        upstream sees no Upgrade header (or no request at all)."""
        c = self.client(self.ika.port)
        data, _ = ws_handshake_request("/chat", version="HTTP/1.0")
        c.send(data)
        resp = c.response()
        self.assertNotEqual(resp.status, 101)
        for seen in self.ws.heads:
            self.assertNotIn("upgrade", seen.header_names(), "Upgrade forwarded for an HTTP/1.0 client")
            self.assertNotIn("upgrade", seen.tokens("connection"))


class UpgradeRefusedTest(IkaTestCase):

    def test_upstream_declining_the_upgrade_keeps_http(self):
        """The upstream answers an upgrade request with a plain 200: the
        client gets it, and the connection keeps speaking HTTP (or is closed
        after a response that said `Connection: close`); no tunnel."""
        origin = self.start(Origin(b"no upgrade here"))
        ika = self.proxy(origin)
        c = self.client(ika.port)
        data, _ = ws_handshake_request("/chat")
        c.send(data)
        resp = c.response()
        self.assertEqual((resp.status, resp.body), (200, b"no upgrade here"))
        if "close" in resp.tokens("connection"):
            self.assert_closed(c)
            return
        again = c.roundtrip("GET", "/next")
        self.assertEqual((again.status, again.body), (200, b"no upgrade here"))


class RawTunnelTest(IkaTestCase):

    def test_bytes_after_101_pass_unchanged_both_ways(self):
        """After a 101 any bytes (not HTTP, not WebSocket) flow both ways
        unchanged, and the upstream may speak first."""
        def script(conn):
            conn.read_request()
            conn.send(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: raw\r\nConnection: Upgrade\r\n\r\nhello\x00")
            got = conn.stream.read_exact(len(b"raw \x00\xff bytes"))
            conn.send(b"echo:" + got)
            conn.stream.read_to_eof()  # until the client side of the tunnel closes
        upstream = self.start(Scripted(script))
        ika = self.proxy(upstream)
        c = self.client(ika.port)
        c.send(b"GET /raw HTTP/1.1\r\nHost: example.test\r\nUpgrade: raw\r\nConnection: Upgrade\r\n\r\n")
        resp = c.response()
        self.assertEqual(resp.status, 101)
        self.assertEqual(c.stream.read_exact(6), b"hello\x00")
        c.send(b"raw \x00\xff bytes")
        self.assertEqual(c.stream.read_exact(len(b"echo:raw \x00\xff bytes")), b"echo:raw \x00\xff bytes")

    def test_client_closing_ends_the_tunnel(self):
        """When the client closes its side of a tunnel, the upstream sees
        the end of the stream within 5 s."""
        upstream_eof = threading.Event()

        def script(conn):
            conn.read_request()
            conn.send(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: raw\r\nConnection: Upgrade\r\n\r\n")
            conn.stream.read_to_eof()
            upstream_eof.set()
        upstream = self.start(Scripted(script))
        ika = self.proxy(upstream)
        c = self.client(ika.port)
        c.send(b"GET /raw HTTP/1.1\r\nHost: example.test\r\nUpgrade: raw\r\nConnection: Upgrade\r\n\r\n")
        self.assertEqual(c.response().status, 101)
        c.close()
        self.assertTrue(upstream_eof.wait(5), "the upstream side of the tunnel stayed open")

    def test_upstream_closing_ends_the_tunnel(self):
        """When the upstream closes its side of a tunnel, the client gets
        the last bytes and then the end of the stream."""
        def script(conn):
            conn.read_request()
            conn.send(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: raw\r\nConnection: Upgrade\r\n\r\nbye")
        upstream = self.start(Scripted(script))
        ika = self.proxy(upstream)
        c = self.client(ika.port)
        c.send(b"GET /raw HTTP/1.1\r\nHost: example.test\r\nUpgrade: raw\r\nConnection: Upgrade\r\n\r\n")
        self.assertEqual(c.response().status, 101)
        self.assertEqual(self.assert_closed(c), b"bye")

    def test_idle_tunnel_is_closed(self):
        """A tunnel with no traffic either way for tunnel_idle_timeout is
        closed (here 500 ms; closed within 5 s)."""
        def script(conn):
            conn.read_request()
            conn.send(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: raw\r\nConnection: Upgrade\r\n\r\n")
            conn.stream.read_to_eof()
        upstream = self.start(Scripted(script))
        ika = self.proxy(upstream, limits={"tunnel_idle_timeout": "500ms"})
        c = self.client(ika.port)
        c.send(b"GET /raw HTTP/1.1\r\nHost: example.test\r\nUpgrade: raw\r\nConnection: Upgrade\r\n\r\n")
        self.assertEqual(c.response().status, 101)
        self.assertEqual(self.assert_closed(c, timeout=5), b"")


if __name__ == "__main__":
    unittest.main()
