"""Limits and timeouts: 431/414/413 before anything reaches the upstream,
slow and idle clients, unreachable upstreams (502, with retry for idempotent
requests), silent upstreams (504), and 404 when no route matches."""

import select
import time
import unittest

from ikatest import (Blackhole, ConnectionClosed, DeadAddress, Echo, IkaTestCase, LargeOrigin, MiB, Origin, Scripted,
                     build_request, make_config)


class RequestSizeLimitTest(IkaTestCase):

    def setUp(self):
        self.origin = self.start(Echo())
        self.ika = self.proxy(self.origin, limits={
            "max_head_bytes": "4KiB", "max_uri_bytes": "1KiB", "max_headers": 20, "max_body": "1KiB"})

    def test_head_too_large(self):
        """A request head over max_head_bytes gets 431, and the upstream
        sees nothing."""
        data = build_request("GET", "/", headers=[("X-Big", "v" * 6000)])
        self.assert_rejected(self.ika.port, data, self.origin, 431)

    def test_head_too_large_sent_without_end(self):
        """A head that keeps growing past the limit (no blank line yet) gets
        431 as soon as it is over, without waiting for its end."""
        c = self.client(self.ika.port)
        c.send(b"GET / HTTP/1.1\r\nHost: example.test\r\n" + b"X-Pad: " + b"p" * 8000 + b"\r\n")
        resp = c.response()
        self.assert_error_response(resp, 431)
        self.assert_closed(c)
        self.assertEqual(self.origin.bytes_received, 0)

    def test_too_many_headers(self):
        """More header lines than max_headers gets 431 (each line small)."""
        data = build_request("GET", "/", headers=[("X-H%d" % i, "1") for i in range(30)])
        self.assert_rejected(self.ika.port, data, self.origin, 431)

    def test_header_count_at_the_limit_passes(self):
        """Exactly max_headers header lines (Host included) are accepted."""
        resp = self.fetch(self.ika.port, "GET", "/", headers=[("X-H%d" % i, "1") for i in range(19)])
        self.assertEqual(resp.status, 200)

    def test_uri_too_long(self):
        """A request target over max_uri_bytes gets 414."""
        data = build_request("GET", "/" + "a" * 2000)
        self.assert_rejected(self.ika.port, data, self.origin, 414)

    def test_uri_at_the_limit_passes(self):
        """A target of exactly max_uri_bytes is forwarded."""
        target = "/" + "a" * 1023
        self.assertEqual(self.fetch(self.ika.port, "GET", target).status, 200)
        self.assertEqual(self.origin.requests[0].target, target)

    def assert_413(self, data, body_error=False):
        """413, then either the connection closes or (if the response did
        not say close) it carries a next request correctly; the upstream
        never gets the refused request."""
        before = self.origin.bytes_received
        c = self.client(self.ika.port)
        c.send(data)
        resp = c.response()
        self.assert_error_response(resp, 413)
        if not body_error:
            self.assertEqual(self.origin.bytes_received, before, "bytes of the refused request reached the upstream")
        if "close" in resp.tokens("connection"):
            self.assert_closed(c)
        else:
            after = c.roundtrip("POST", "/after", body=b"next")
            self.assertEqual((after.status, after.body), (200, b"next"))
        self.assertEqual([r.target for r in self.origin.requests if r.target != "/after"], [],
                         "the refused request reached the upstream")
        self.assertNotIn("/smuggled", [r.target for r in self.origin.heads])

    def test_body_too_large_by_content_length(self):
        """A Content-Length over max_body gets 413 before any byte reaches
        the upstream."""
        self.assert_413(build_request("POST", "/", body=b"x" * 2048))

    def test_body_at_the_limit_passes(self):
        """A body of exactly max_body bytes is forwarded."""
        resp = self.fetch(self.ika.port, "POST", "/", body=b"y" * 1024)
        self.assertEqual((resp.status, len(resp.body)), (200, 1024))

    def test_chunked_body_too_large(self):
        """A chunked body that grows past max_body gets 413; the upstream
        never receives a complete request."""
        self.assert_413(build_request("POST", "/", body=b"z" * 4096, chunked=True, chunk_size=512), body_error=True)


class RouteBodyLimitTest(IkaTestCase):

    def test_route_max_body_overrides_the_listener_default(self):
        """A route's max_body applies to that route only, smaller or larger
        than the listener's."""
        echo = self.start(Echo())
        ika = self.start_ika(make_config(limits={"max_body": "4KiB"}, routes=[
            {"host": "*", "path": "/small/*", "upstreams": [echo], "max_body": "1KiB"},
            {"host": "*", "path": "/big/*", "upstreams": [echo], "max_body": "1MiB"},
            {"host": "*", "path": "/*", "upstreams": [echo]}]))
        body = b"b" * 2048
        self.assertEqual(self.fetch(ika.port, "POST", "/default", body=body).status, 200)
        self.assert_error_response(self.fetch(ika.port, "POST", "/small/x", body=body), 413)
        self.assertEqual(self.fetch(ika.port, "POST", "/big/x", body=b"B" * 100_000).status, 200)
        self.assert_error_response(self.fetch(ika.port, "POST", "/x", body=b"B" * 100_000), 413)
        self.assertEqual(sorted(r.target for r in echo.requests), ["/big/x", "/default"])


class ClientTimeoutTest(IkaTestCase):

    def setUp(self):
        self.origin = self.start(Echo())
        self.ika = self.proxy(self.origin, limits={
            "client_header_timeout": "500ms", "client_idle_timeout": "500ms", "client_body_timeout": "500ms"})

    def test_slow_head_gets_408(self):
        """A head that stops arriving gets 408 and a close after
        client_header_timeout."""
        c = self.client(self.ika.port)
        c.send(b"GET / HTTP/1.1\r\nHost: example.test\r\nX-Half: ")
        started = time.monotonic()
        try:
            resp = c.response()
        except ConnectionClosed as e:
            self.fail("closed without a 408 (got %r)" % e.data[:100])
        self.assert_error_response(resp, 408)
        self.assertLess(time.monotonic() - started, 5)
        self.assert_closed(c)
        self.assertEqual(self.origin.bytes_received, 0)

    def test_trickling_head_still_times_out(self):
        """client_header_timeout bounds the whole head: one byte every
        100 ms does not keep it alive (a 408 arrives within 3 s)."""
        c = self.client(self.ika.port)
        c.send(b"GET / HTTP/1.1\r\nHost: example.test\r\n")
        started = time.monotonic()
        # One byte per 100 ms until the proxy answers (or 3 s pass).
        while time.monotonic() - started < 3:
            readable, _, _ = select.select([c.sock], [], [], 0.1)
            if readable:
                break
            c.send(b"X")
        closed, data = c.wait_closed(timeout=5)
        self.assertTrue(data.startswith(b"HTTP/1.1 408 "), "no 408 for a trickling head: %r" % data[:100])
        self.assertTrue(closed, "connection still open after the 408")
        self.assertLess(time.monotonic() - started, 3)
        self.assertEqual(self.origin.bytes_received, 0)

    def test_silent_new_connection_is_closed(self):
        """A connection that never sends a byte is closed (with a 408 or
        silently)."""
        c = self.client(self.ika.port)
        data = self.assert_closed(c, timeout=5)
        if data:
            self.assertTrue(data.startswith(b"HTTP/1.1 408 "), data[:100])

    def test_idle_keep_alive_connection_is_closed(self):
        """After a response, a keep-alive connection idle longer than
        client_idle_timeout is closed (silently or with a 408)."""
        c = self.client(self.ika.port)
        self.assertEqual(c.roundtrip("GET", "/").status, 200)
        data = self.assert_closed(c, timeout=5)
        if data:
            self.assertTrue(data.startswith(b"HTTP/1.1 408 "), data[:100])

    def test_slow_body_times_out(self):
        """A body that stops arriving ends with a 408 (or a close) after
        client_body_timeout; the upstream gets no complete request."""
        c = self.client(self.ika.port)
        c.send(build_request("POST", "/", headers=[("Content-Length", "100")]) + b"only ten..")
        data = self.assert_closed(c, timeout=5)
        if data:
            self.assertTrue(data.startswith(b"HTTP/1.1 408 "), data[:100])
        self.assertEqual(self.origin.requests, [])

    def test_active_client_is_not_timed_out(self):
        """A body trickling in faster than client_body_timeout (one piece
        per 100 ms, 1.5 s in total) is not cut."""
        c = self.client(self.ika.port)
        c.send(build_request("POST", "/", headers=[("Content-Length", "15")]))
        deadline = time.monotonic()
        for i in range(15):
            deadline += 0.1
            # Pacing the client (what is under test), not synchronisation.
            time.sleep(max(0.0, deadline - time.monotonic()))
            c.send(b"%x" % i)
        resp = c.response()
        self.assertEqual((resp.status, resp.body), (200, b"0123456789abcde"))


class SendTimeoutTest(IkaTestCase):

    def test_client_that_stops_reading_is_cut(self):
        """A client that reads nothing of a large response is disconnected
        after send_timeout, and the upstream transfer is abandoned too."""
        origin = self.start(LargeOrigin(1024 * MiB))
        ika = self.proxy(origin, limits={"send_timeout": "500ms", "upstream_response_timeout": "60s"})
        c = self.client(ika.port, timeout=30)
        c.request("GET", "/big")
        self.assertTrue(origin.aborted.wait(15), "the upstream transfer to a stuck client was never abandoned")
        with self.assertRaises(ConnectionClosed):
            c.response(sink=lambda data: None)


class UpstreamFailureTest(IkaTestCase):

    def test_connection_refused_gives_502(self):
        """The only upstream refuses connections: 502."""
        dead = self.start(DeadAddress())
        ika = self.proxy(dead)
        self.assert_error_response(self.fetch(ika.port), 502)

    def test_get_is_retried_on_the_next_upstream(self):
        """One dead upstream among two: every GET still succeeds, served by
        the live one."""
        dead = self.start(DeadAddress())
        origin = self.start(Origin(b"alive"))
        ika = self.proxy(dead, origin)
        c = self.client(ika.port)
        for i in range(20):
            resp = c.roundtrip("GET", "/%d" % i)
            self.assertEqual((resp.status, resp.body), (200, b"alive"), "request %d" % i)
        self.assertEqual(len(origin.requests), 20)

    def test_retry_works_with_new_client_connections(self):
        """One dead upstream among two: GETs on fresh client connections all
        succeed too."""
        dead = self.start(DeadAddress())
        origin = self.start(Origin(b"alive"))
        ika = self.proxy(origin, dead)
        for i in range(20):
            self.assertEqual(self.fetch(ika.port, "GET", "/%d" % i).body, b"alive")

    def test_post_that_reached_an_upstream_is_not_retried(self):
        """A POST whose upstream closed after receiving it gets a 502 and
        is not sent to the other upstream."""
        first = self.start(Scripted(b""))
        second = self.start(Scripted(b""))
        ika = self.proxy(first, second)
        self.assert_error_response(self.fetch(ika.port, "POST", "/pay", body=b"once"), 502)
        self.assertEqual(len(first.requests) + len(second.requests), 1, "the POST was sent twice")

    def test_connect_timeout_gives_504(self):
        """An upstream that never completes the TCP handshake gives a 504
        (a timeout, as nginx answers it; a refused connection is a 502)
        after upstream_connect_timeout."""
        hole = self.start(Blackhole())
        ika = self.proxy(hole, limits={"upstream_connect_timeout": "300ms"})
        started = time.monotonic()
        resp = self.fetch(ika.port)
        self.assert_error_response(resp, 504)
        self.assertLess(time.monotonic() - started, 5)

    def test_connect_timeout_is_retried_on_the_next_upstream(self):
        """A GET whose first upstream never completes the handshake is
        served by the second one after upstream_connect_timeout."""
        hole = self.start(Blackhole())
        origin = self.start(Origin(b"alive"))
        ika = self.proxy(hole, origin, limits={"upstream_connect_timeout": "300ms"})
        for i in range(4):
            resp = self.fetch(ika.port, "GET", "/%d" % i)
            self.assertEqual((resp.status, resp.body), (200, b"alive"))

    def test_silent_upstream_gives_504(self):
        """An upstream that accepts the request and never answers gives a
        504 after upstream_response_timeout."""
        upstream = self.start(Scripted(lambda conn: (conn.read_request(), conn.hold())))
        ika = self.proxy(upstream, limits={"upstream_response_timeout": "500ms"})
        started = time.monotonic()
        resp = self.fetch(ika.port)
        self.assert_error_response(resp, 504)
        self.assertLess(time.monotonic() - started, 5)
        self.assertEqual(len(upstream.requests), 1)

    def test_upstream_stalling_mid_body_cuts_the_response(self):
        """An upstream that stops in the middle of its body: after
        upstream_response_timeout the client's response is cut and its
        connection closed."""
        def script(conn):
            conn.read_request()
            conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"s" * 100)
            conn.hold()
        upstream = self.start(Scripted(script))
        ika = self.proxy(upstream, limits={"upstream_response_timeout": "500ms"})
        c = self.client(ika.port)
        c.request("GET", "/")
        with self.assertRaises(ConnectionClosed):
            c.response()
        self.assert_closed(c)

    def test_slow_but_steady_upstream_is_not_cut(self):
        """upstream_response_timeout is about silence: a body arriving in
        pieces every 100 ms for 1.5 s is relayed whole."""
        def script(conn):
            conn.read_request()
            conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: 15\r\n\r\n")
            deadline = time.monotonic()
            for i in range(15):
                deadline += 0.1
                # Pacing the upstream (what is under test), not synchronisation.
                time.sleep(max(0.0, deadline - time.monotonic()))
                conn.send(b"%x" % i)
            conn.hold()
        upstream = self.start(Scripted(script))
        ika = self.proxy(upstream, limits={"upstream_response_timeout": "500ms"})
        resp = self.fetch(ika.port)
        self.assertEqual((resp.status, resp.body), (200, b"0123456789abcde"))


class NoRouteTest(IkaTestCase):

    def test_unknown_host_gets_404(self):
        """A host no route matches gets a 404 error response and reaches no
        upstream."""
        origin = self.start(Origin())
        ika = self.start_ika(make_config(routes=[{"host": "known.test", "path": "/*", "upstreams": [origin]}]))
        resp = self.fetch(ika.port, host="unknown.test")
        self.assert_error_response(resp, 404)
        self.assertEqual(origin.bytes_received, 0)
        self.assertEqual(self.fetch(ika.port, host="known.test").status, 200)

    def test_unknown_path_gets_404(self):
        """A path outside every route of the host gets a 404."""
        origin = self.start(Origin())
        ika = self.start_ika(make_config(routes=[{"host": "*", "path": "/api/*", "upstreams": [origin]}]))
        self.assert_error_response(self.fetch(ika.port, "GET", "/other"), 404)
        self.assertEqual(origin.bytes_received, 0)

    def test_404_keeps_the_connection_usable(self):
        """After a 404 for an unknown host, the same connection can carry
        a request for a known one (or is closed cleanly)."""
        origin = self.start(Origin(b"known"))
        ika = self.start_ika(make_config(routes=[{"host": "known.test", "path": "/*", "upstreams": [origin]}]))
        c = self.client(ika.port)
        first = c.roundtrip("GET", "/", host="unknown.test")
        self.assert_error_response(first, 404)
        if "close" in first.tokens("connection"):
            self.assert_closed(c)
            return
        second = c.roundtrip("GET", "/", host="known.test")
        self.assertEqual((second.status, second.body), (200, b"known"))


if __name__ == "__main__":
    unittest.main()
