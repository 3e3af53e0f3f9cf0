"""Large bodies stream through the proxy with back-pressure: 1 GiB each way
arrives intact while the proxy's RSS stays bounded, and a stalled reader
stalls the writer on the other side instead of filling the proxy's memory."""

import hashlib
import threading
import unittest

import socket
import time

from ikatest import (GiB, ConnectionClosed, IkaTestCase, LargeOrigin, MiB, RssSampler, Scripted, Sink, Stream,
                     build_request, pattern_pieces, pattern_sha256, read_response, reply_bytes, wait_stable)

RSS_GROWTH_LIMIT = 64 * MiB
# Kernel socket buffers on loopback can hold tens of MiB per direction
# (tcp_rmem up to 32 MiB); a proxy that buffers without bound lets the
# writer run far past this.
STALL_LIMIT = 160 * MiB


class LargeBodyTest(IkaTestCase):

    def warm(self, ika, method="GET", body=None):
        """One small request so that lazily allocated state exists before
        the RSS baseline is taken."""
        self.fetch(ika.port, method, "/warm", body=body)

    def test_1gib_download_with_bounded_rss(self):
        """A 1 GiB Content-Length response arrives intact and the proxy's
        RSS grows by less than 64 MiB meanwhile."""
        origin = self.start(LargeOrigin(GiB))
        ika = self.proxy(origin)
        self.warm(ika)
        c = self.client(ika.port, timeout=30)
        c.request("GET", "/big")
        h = hashlib.sha256()
        with RssSampler(ika.pid) as rss:
            resp = c.response(sink=h.update)
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.header("content-length"), str(GiB))
        self.assertEqual(h.hexdigest(), pattern_sha256(GiB), "the downloaded bytes differ")
        self.assertGreater(rss.samples, 5)
        self.assertLess(rss.growth, RSS_GROWTH_LIMIT, "RSS grew by %.1f MiB" % (rss.growth / MiB))

    def test_1gib_upload_with_bounded_rss(self):
        """A 1 GiB Content-Length upload reaches the upstream intact and the
        proxy's RSS grows by less than 64 MiB meanwhile."""
        sink = self.start(Sink())
        ika = self.proxy(sink, max_body="2GiB", limits={"client_body_timeout": "30s"})
        self.warm(ika, "POST", b"warm")
        c = self.client(ika.port, timeout=30)
        with RssSampler(ika.pid) as rss:
            c.send(build_request("POST", "/upload", headers=[("Content-Length", str(GiB))]))
            for piece in pattern_pieces(GiB, MiB):
                c.send(piece)
            resp = c.response()
        self.assertEqual(resp.status, 200, resp.body[:200])
        self.assertEqual(resp.body.decode(), "%d %s" % (GiB, pattern_sha256(GiB)), "the uploaded bytes differ")
        self.assertGreater(rss.samples, 5)
        self.assertLess(rss.growth, RSS_GROWTH_LIMIT, "RSS grew by %.1f MiB" % (rss.growth / MiB))

    def test_chunked_download(self):
        """A 256 MiB chunked response (256 KiB chunks) arrives intact with
        bounded RSS."""
        size = 256 * MiB
        origin = self.start(LargeOrigin(size, chunked=True))
        ika = self.proxy(origin)
        self.warm(ika)
        c = self.client(ika.port, timeout=30)
        c.request("GET", "/big")
        h = hashlib.sha256()
        with RssSampler(ika.pid) as rss:
            resp = c.response(sink=h.update)
        self.assertEqual(resp.status, 200)
        self.assertEqual(h.hexdigest(), pattern_sha256(size))
        self.assertLess(rss.growth, RSS_GROWTH_LIMIT, "RSS grew by %.1f MiB" % (rss.growth / MiB))

    def test_chunked_upload(self):
        """A 256 MiB chunked upload (1 MiB chunks) reaches the upstream
        intact with bounded RSS."""
        size = 256 * MiB
        sink = self.start(Sink())
        ika = self.proxy(sink, max_body="1GiB")
        self.warm(ika, "POST", b"warm")
        c = self.client(ika.port, timeout=30)
        with RssSampler(ika.pid) as rss:
            c.send(build_request("POST", "/upload", headers=[("Transfer-Encoding", "chunked")]))
            for piece in pattern_pieces(size, MiB):
                c.send(b"%x\r\n" % len(piece))
                c.send(piece)
                c.send(b"\r\n")
            c.send(b"0\r\n\r\n")
            resp = c.response()
        self.assertEqual(resp.status, 200, resp.body[:200])
        self.assertEqual(resp.body.decode(), "%d %s" % (size, pattern_sha256(size)))
        self.assertLess(rss.growth, RSS_GROWTH_LIMIT, "RSS grew by %.1f MiB" % (rss.growth / MiB))


class BackPressureTest(IkaTestCase):

    def test_stalled_client_stalls_the_origin(self):
        """A client that stops reading makes the origin stop writing after
        a bounded amount (socket buffers), and the download then completes
        intact."""
        size = 512 * MiB
        origin = self.start(LargeOrigin(size))
        ika = self.proxy(origin, limits={"send_timeout": "60s", "upstream_response_timeout": "60s"})
        c = self.client(ika.port, timeout=30)
        c.request("GET", "/big")
        with RssSampler(ika.pid) as rss:
            stalled_at = wait_stable(lambda: origin.bytes_sent, quiet=0.7, timeout=30)
            self.assertLess(stalled_at, STALL_LIMIT, "the origin wrote %.0f MiB to a client that reads nothing"
                            % (stalled_at / MiB))
            h = hashlib.sha256()
            resp = c.response(sink=h.update)
        self.assertEqual(resp.status, 200)
        self.assertEqual(h.hexdigest(), pattern_sha256(size))
        self.assertLess(rss.growth, RSS_GROWTH_LIMIT, "RSS grew by %.1f MiB" % (rss.growth / MiB))

    def test_stalled_upstream_stalls_the_client(self):
        """An upstream that reads nothing makes the client's upload stop
        after a bounded amount, and the upload completes once it reads."""
        size = 512 * MiB
        gate = threading.Event()
        sink = self.start(Sink(gate=gate))
        self.addCleanup(gate.set)
        ika = self.proxy(sink, max_body="1GiB", limits={"client_body_timeout": "60s", "send_timeout": "60s"})
        c = self.client(ika.port, timeout=60)
        sent = [0]
        errors = []

        def upload():
            try:
                c.send(build_request("POST", "/upload", headers=[("Content-Length", str(size))]))
                for piece in pattern_pieces(size):
                    c.send(piece)
                    sent[0] += len(piece)
            except OSError as e:
                errors.append(e)

        t = threading.Thread(target=upload, daemon=True)
        with RssSampler(ika.pid) as rss:
            t.start()
            stalled_at = wait_stable(lambda: sent[0], quiet=0.7, timeout=30)
            self.assertLess(stalled_at, STALL_LIMIT, "the client wrote %.0f MiB to an upstream that reads nothing"
                            % (stalled_at / MiB))
            gate.set()
            t.join(60)
            self.assertFalse(t.is_alive())
            self.assertEqual(errors, [])
            resp = c.response()
        self.assertEqual(resp.status, 200, resp.body[:200])
        self.assertEqual(resp.body.decode(), "%d %s" % (size, pattern_sha256(size)))
        self.assertLess(rss.growth, RSS_GROWTH_LIMIT, "RSS grew by %.1f MiB" % (rss.growth / MiB))


if __name__ == "__main__":
    unittest.main()


class LargeResponseFramingTest(IkaTestCase):
    """Large Content-Length bodies end exactly where they should: on a
    kept-alive upstream connection, in pipelined responses, when the body
    trickles in, and when the upstream closes short of its length."""

    def test_keep_alive_and_pipelining_around_large_bodies(self):
        size = 3 * MiB + 12345
        origin = self.start(LargeOrigin(size))
        ika = self.proxy(origin)
        c = self.client(ika.port, timeout=30)
        for i in range(4):
            h = hashlib.sha256()
            c.request("GET", "/big/%d" % i)
            resp = c.response(sink=h.update)
            self.assertEqual(resp.status, 200)
            self.assertEqual(h.hexdigest(), pattern_sha256(size), "response %d" % i)
            small = c.roundtrip("GET", "/warm")
            self.assertEqual((small.status, small.body), (200, b"warm"))
        # Two large ones asked at once on one connection.
        c.send(build_request("GET", "/a") + build_request("GET", "/b"))
        for name in ("a", "b"):
            h = hashlib.sha256()
            self.assertEqual(c.response(sink=h.update).status, 200)
            self.assertEqual(h.hexdigest(), pattern_sha256(size), name)
        # One upstream connection carried them all: each body ended exactly
        # where the next response began.
        self.assertEqual(origin.connections, 1)
        # HEAD: the length, no body.
        head = c.roundtrip("HEAD", "/big")
        self.assertEqual((head.status, head.header("content-length"), head.body), (200, str(size), b""))

    def test_slow_upstream_bytes_are_waited_for(self):
        """The body arrives in pieces with pauses and comes out whole; the
        connection then carries the next response."""
        piece = b"0123456789abcdef" * 4096  # 64 KiB
        pieces = 12

        def script(conn):
            conn.read_request()
            conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (len(piece) * pieces))
            for _ in range(pieces):
                time.sleep(0.02)
                conn.send(piece)
            conn.read_request()
            conn.send(reply_bytes(b"next"))
            conn.hold()

        upstream = self.start(Scripted(script))
        ika = self.proxy(upstream)
        c = self.client(ika.port, timeout=30)
        resp = c.roundtrip("GET", "/slow")
        self.assertEqual((resp.status, resp.body), (200, piece * pieces))
        self.assertEqual(c.roundtrip("GET", "/next").body, b"next")
        self.assertEqual(upstream.connections, 1)

    def test_upstream_closing_mid_body_cuts_the_client_and_nothing_else(self):
        """The upstream promises 4 MiB and closes after 1 MiB: the client's
        connection is closed short of the length, the upstream connection is
        not reused, and the proxy goes on serving."""
        def script(conn):
            conn.read_request()
            conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (4 * MiB))
            conn.send(b"x" * MiB)

        upstream = self.start(Scripted(script, reply_bytes(b"fine")))
        ika = self.proxy(upstream)
        s = socket.create_connection(("127.0.0.1", ika.port), timeout=30)
        self.addCleanup(s.close)
        s.sendall(build_request("GET", "/cut"))
        got = []
        with self.assertRaises(ConnectionClosed):
            read_response(Stream(s, 30), sink=got.append)
        received = sum(len(g) for g in got)
        self.assertLess(received, 4 * MiB)
        self.assertGreaterEqual(received, MiB - 64 * 1024)
        resp = self.client(ika.port).roundtrip("GET", "/after")
        self.assertEqual((resp.status, resp.body), (200, b"fine"))
        self.assertEqual(upstream.connections, 2)
