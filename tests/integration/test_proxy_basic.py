"""Forwarding basics: requests and responses pass through, keep-alive on both
sides with a small upstream pool, pipelining, HTTP/1.0 clients, and the
headers the proxy adds and removes."""

import threading
import unittest

from ikatest import (Client, Echo, IkaTestCase, Origin, Reply, Scripted, build_request, reply_bytes, wait_until)


def target_echo(req):
    return Reply(req.target.encode())


class ForwardingTest(IkaTestCase):

    def setUp(self):
        self.origin = self.start(Origin(b"hello from origin", headers=[("X-Origin", "1")]))
        self.ika = self.proxy(self.origin)

    def test_get_is_forwarded_and_answered(self):
        """A GET reaches the origin with its method and target, and the
        origin's status, headers and body come back."""
        resp = self.fetch(self.ika.port, "GET", "/some/path?q=1&r=%41")
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.body, b"hello from origin")
        self.assertEqual(resp.header("x-origin"), "1")
        self.assertEqual(len(self.origin.requests), 1)
        seen = self.origin.requests[0]
        self.assertEqual((seen.method, seen.target, seen.version), ("GET", "/some/path?q=1&r=%41", "HTTP/1.1"))

    def test_target_is_forwarded_byte_for_byte(self):
        """The request target is not normalised or decoded on its way up."""
        target = "/a%2Fb/c%20d;p=1?x=%2F&y=a+b&z"
        self.assertEqual(self.fetch(self.ika.port, "GET", target).status, 200)
        self.assertEqual(self.origin.requests[0].target, target)

    def test_head_gets_headers_and_no_body(self):
        """HEAD: the Content-Length of the GET comes back, no body follows,
        and the connection stays usable."""
        c = self.client(self.ika.port)
        c.request("HEAD", "/")
        resp = c.response("HEAD")
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.header("content-length"), str(len(b"hello from origin")))
        self.assertEqual(resp.body, b"")
        again = c.roundtrip("GET", "/")
        self.assertEqual(again.body, b"hello from origin")

    def test_request_headers_reach_the_origin_in_order(self):
        """End-to-end headers, repeated ones included, are forwarded with
        their values and in their order."""
        self.fetch(self.ika.port, "GET", "/", headers=[
            ("X-Multi", "one"), ("Accept", "text/plain"), ("X-Multi", "two"), ("Cookie", "a=" + "x" * 4000)])
        seen = self.origin.requests[0]
        self.assertEqual(seen.header_all("x-multi"), ["one", "two"])
        self.assertEqual(seen.header("accept"), "text/plain")
        self.assertEqual(seen.header("cookie"), "a=" + "x" * 4000)
        self.assertEqual(len(seen.header_all("host")), 1)

    def test_repeated_response_headers_are_kept(self):
        """Several Set-Cookie headers from the origin all reach the client."""
        origin = self.start(Origin(b"x", headers=[("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")]))
        ika = self.proxy(origin)
        resp = self.fetch(ika.port)
        self.assertEqual(resp.header_all("set-cookie"), ["a=1", "b=2"])

    def test_origin_status_codes_pass_through(self):
        """Non-200 statuses of the origin (404, 500, 204) reach the client
        as they are."""
        for status in (404, 500, 204):
            with self.subTest(status=status):
                origin = self.start(Origin(b"" if status == 204 else b"from origin", status=status,
                                           framing="none" if status == 204 else "length"))
                ika = self.proxy(origin)
                c = self.client(ika.port)
                resp = c.roundtrip("GET", "/")
                self.assertEqual(resp.status, status)
                self.assertEqual(resp.body, b"" if status == 204 else b"from origin")
                self.assertEqual(c.roundtrip("GET", "/").status, status, "connection unusable after %d" % status)

    def test_post_body_is_forwarded(self):
        """A Content-Length body reaches the origin intact."""
        echo = self.start(Echo())
        ika = self.proxy(echo)
        body = bytes(range(256)) * 100
        resp = self.fetch(ika.port, "POST", "/upload", body=body)
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.body, body)
        self.assertEqual(echo.requests[0].header("content-length"), str(len(body)))

    def test_empty_post_body(self):
        """POST with Content-Length: 0 is forwarded and answered."""
        echo = self.start(Echo())
        ika = self.proxy(echo)
        resp = self.fetch(ika.port, "POST", "/", body=b"")
        self.assertEqual((resp.status, resp.body), (200, b""))
        self.assertEqual(echo.requests[0].body, b"")


class KeepAliveTest(IkaTestCase):

    def test_client_keep_alive_and_small_upstream_pool(self):
        """300 requests on one client connection all succeed and the origin
        sees a handful of connections, not one per request."""
        origin = self.start(Origin(handler=target_echo))
        ika = self.proxy(origin)
        c = self.client(ika.port)
        for i in range(300):
            resp = c.roundtrip("GET", "/r/%d" % i)
            self.assertEqual((resp.status, resp.body), (200, b"/r/%d" % i))
        self.assertEqual(len(origin.requests), 300)
        self.assertLessEqual(origin.connections, 4, "upstream connections are not reused")

    def test_upstream_pool_is_shared_across_client_connections(self):
        """200 client connections one after another (each closed after its
        request) reuse a handful of upstream connections."""
        origin = self.start(Origin())
        ika = self.proxy(origin)
        for i in range(200):
            resp = self.fetch(ika.port, "GET", "/", headers=[("Connection", "close")])
            self.assertEqual(resp.status, 200)
        self.assertEqual(len(origin.requests), 200)
        self.assertLessEqual(origin.connections, 4, "upstream connections are not pooled")

    def test_client_connection_close_is_honoured(self):
        """`Connection: close` from the client: the response says close and
        the proxy closes the connection after it."""
        origin = self.start(Origin())
        ika = self.proxy(origin)
        c = self.client(ika.port)
        resp = c.roundtrip("GET", "/", headers=[("Connection", "close")])
        self.assertEqual(resp.status, 200)
        self.assertIn("close", resp.tokens("connection"))
        self.assert_closed(c)

    def test_origin_closing_does_not_close_the_client(self):
        """The origin answers with `Connection: close`: the client's
        connection stays open and the next request goes to a new upstream
        connection."""
        origin = self.start(Origin(handler=lambda req: Reply(b"bye", close=True)))
        ika = self.proxy(origin)
        c = self.client(ika.port)
        for _ in range(3):
            resp = c.roundtrip("GET", "/")
            self.assertEqual((resp.status, resp.body), (200, b"bye"))
            self.assertNotIn("close", resp.tokens("connection"))
        self.assertEqual(origin.connections, 3)

    def test_pooled_connection_closed_by_upstream_is_not_a_failure(self):
        """The upstream closes a keep-alive connection after answering: the
        next GET goes through (on a new connection), it does not fail."""
        closed = threading.Event()

        def answer_then_close(conn):
            conn.read_request()
            conn.send(reply_bytes(b"first"))
            conn.sock.close()
            closed.set()
        origin = self.start(Scripted(answer_then_close, reply_bytes(b"second")))
        ika = self.proxy(origin, node={"workers": 1})
        c = self.client(ika.port)
        self.assertEqual(c.roundtrip("GET", "/1").body, b"first")
        self.assertTrue(closed.wait(5))
        resp = c.roundtrip("GET", "/2")
        self.assertEqual((resp.status, resp.body), (200, b"second"))

    def test_upstream_closing_after_every_response(self):
        """An upstream that closes each connection right after its response
        (without saying `Connection: close`) never turns a GET into a 502:
        a request that finds its pooled connection closed before any
        response byte is retried on a new one."""
        origin = self.start(Scripted(reply_bytes(b"once")))
        ika = self.proxy(origin)
        c = self.client(ika.port)
        statuses = [c.roundtrip("GET", "/%d" % i).status for i in range(50)]
        self.assertEqual(statuses, [200] * 50)

    def test_idle_pooled_connections_expire(self):
        """A pooled upstream connection idle longer than
        upstream_idle_timeout is closed by the proxy."""
        origin = self.start(Origin())
        ika = self.proxy(origin, limits={"upstream_idle_timeout": "300ms"})
        self.assertEqual(self.fetch(ika.port).status, 200)
        wait_until(lambda: origin.closed_connections == origin.connections == 1, 5,
                   message="the idle upstream connection to be closed")

    def test_idle_pool_is_bounded_by_upstream_keepalive(self):
        """With upstream_keepalive = 1 and one io thread, five concurrent
        requests use five upstream connections, and four are closed once
        they are idle."""
        release = threading.Event()
        self.addCleanup(release.set)
        in_flight = []

        def handler(req):
            in_flight.append(req)
            release.wait(10)
            return Reply(b"ok")
        origin = self.start(Origin(handler=handler))
        ika = self.proxy(origin, node={"workers": 1}, limits={"upstream_keepalive": 1})
        clients = [self.client(ika.port) for _ in range(5)]
        for c in clients:
            c.request("GET", "/")
        wait_until(lambda: len(in_flight) == 5, 5, message="five requests at the origin")
        release.set()
        for c in clients:
            self.assertEqual(c.response().status, 200)
        wait_until(lambda: origin.closed_connections >= 4, 5, message="surplus idle connections to be closed")
        self.assertEqual(origin.connections, 5)

    def test_pipelined_requests_are_answered_in_order(self):
        """Twenty requests sent in one write (some with bodies) get their
        responses in the order they were sent."""
        origin = self.start(Origin(handler=lambda req: Reply(req.target.encode() + b":" + req.body)))
        ika = self.proxy(origin)
        c = self.client(ika.port)
        batch = b""
        expected = []
        for i in range(20):
            if i % 3 == 0:
                batch += build_request("POST", "/p/%d" % i, body=b"body%d" % i)
                expected.append(b"/p/%d:body%d" % (i, i))
            else:
                batch += build_request("GET", "/p/%d" % i)
                expected.append(b"/p/%d:" % i)
        c.send(batch)
        got = [c.response().body for _ in range(20)]
        self.assertEqual(got, expected)

    def test_pipelined_slow_response_keeps_its_place(self):
        """A pipelined request whose response comes late is still answered
        before the fast request sent behind it."""
        def handler(req):
            if req.target == "/slow":
                threading.Event().wait(0.3)  # the origin is slow (pacing, not synchronisation)
            return Reply(req.target.encode())
        origin = self.start(Origin(handler=handler))
        ika = self.proxy(origin)
        c = self.client(ika.port)
        c.send(build_request("GET", "/slow") + build_request("GET", "/fast") + build_request("GET", "/last"))
        self.assertEqual([c.response().body for _ in range(3)], [b"/slow", b"/fast", b"/last"])

    def test_concurrent_clients(self):
        """Forty concurrent keep-alive clients doing 25 requests each all get
        their own responses."""
        origin = self.start(Origin(handler=target_echo))
        ika = self.proxy(origin)
        errors = []

        def run(n):
            try:
                with Client(ika.port) as c:
                    for i in range(25):
                        target = "/c%d/r%d" % (n, i)
                        resp = c.roundtrip("GET", target)
                        if (resp.status, resp.body) != (200, target.encode()):
                            errors.append((target, resp.status, resp.body[:50]))
            except Exception as e:  # collected and reported below
                errors.append((n, repr(e)))

        threads = [threading.Thread(target=run, args=(n,)) for n in range(40)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(errors, [])
        self.assertEqual(len(origin.requests), 1000)

    def test_pipelined_head_then_get(self):
        """A pipelined HEAD does not make the proxy wait for a body: the GET
        behind it gets its own full response."""
        origin = self.start(Origin(b"twelve bytes"))
        ika = self.proxy(origin)
        c = self.client(ika.port)
        c.send(build_request("HEAD", "/") + build_request("GET", "/"))
        head = c.response("HEAD")
        get = c.response("GET")
        self.assertEqual((head.status, head.body), (200, b""))
        self.assertEqual((get.status, get.body), (200, b"twelve bytes"))


class Http10Test(IkaTestCase):

    def test_http10_request_is_answered_and_closed(self):
        """An HTTP/1.0 client gets its response and then the connection is
        closed (it did not ask for keep-alive)."""
        origin = self.start(Origin(b"for an old client"))
        ika = self.proxy(origin)
        c = self.client(ika.port)
        c.request("GET", "/", version="HTTP/1.0")
        resp = c.response()
        self.assertEqual((resp.status, resp.body), (200, b"for an old client"))
        self.assert_closed(c)

    def test_proxy_speaks_its_own_version_upstream(self):
        """An HTTP/1.0 request is forwarded as HTTP/1.1 (an intermediary
        sends its own version)."""
        origin = self.start(Origin())
        ika = self.proxy(origin)
        c = self.client(ika.port)
        c.request("GET", "/", version="HTTP/1.0")
        self.assertEqual(c.response().status, 200)
        self.assertEqual(origin.requests[0].version, "HTTP/1.1")

    def test_http10_origin(self):
        """An origin answering `HTTP/1.0` (and closing) is relayed as an
        HTTP/1.1 response, and the client connection stays usable."""
        origin = self.start(Scripted(b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nold"))
        ika = self.proxy(origin)
        c = self.client(ika.port)
        for _ in range(3):
            resp = c.roundtrip("GET", "/")
            self.assertEqual((resp.version, resp.status, resp.body), ("HTTP/1.1", 200, b"old"))
        self.assertEqual(origin.connections, 3)

    def test_http10_client_never_gets_chunked(self):
        """A chunked origin response reaches an HTTP/1.0 client without
        chunked framing (Content-Length or close-delimited)."""
        origin = self.start(Origin(b"a body in several chunks", framing="chunked"))
        ika = self.proxy(origin)
        c = self.client(ika.port)
        c.request("GET", "/", version="HTTP/1.0")
        resp = c.response()
        self.assertEqual(resp.status, 200)
        self.assertFalse(resp.has_header("transfer-encoding"), "chunked sent to an HTTP/1.0 client")
        self.assertEqual(resp.body, b"a body in several chunks")

    def test_http10_post_body(self):
        """An HTTP/1.0 POST with Content-Length is forwarded with its body."""
        echo = self.start(Echo())
        ika = self.proxy(echo)
        c = self.client(ika.port)
        c.request("POST", "/", version="HTTP/1.0", body=b"old but fine")
        resp = c.response()
        self.assertEqual((resp.status, resp.body), (200, b"old but fine"))


HOP_BY_HOP = ["connection", "keep-alive", "proxy-authorization", "proxy-authenticate", "proxy-connection", "te",
              "trailer", "transfer-encoding", "upgrade"]


class HeaderRulesTest(IkaTestCase):

    def setUp(self):
        self.origin = self.start(Origin())
        self.ika = self.proxy(self.origin)

    def test_hop_by_hop_request_headers_are_removed(self):
        """Connection, Keep-Alive, Proxy-*, TE, Trailer and every header
        named in Connection never reach the origin; others do."""
        self.fetch(self.ika.port, "GET", "/", headers=[
            ("Connection", "keep-alive, X-Secret-Hop"), ("Connection", "X-Other-Hop"), ("Keep-Alive", "timeout=5"),
            ("Proxy-Authorization", "Basic Zm9vOmJhcg=="), ("Proxy-Connection", "keep-alive"), ("TE", "trailers"),
            ("Trailer", "X-Checksum"), ("X-Secret-Hop", "1"), ("X-Other-Hop", "2"), ("X-End-To-End", "3")])
        names = self.origin.requests[0].header_names()
        for name in HOP_BY_HOP + ["x-secret-hop", "x-other-hop"]:
            self.assertNotIn(name, names, "%s was forwarded upstream" % name)
        self.assertEqual(self.origin.requests[0].header("x-end-to-end"), "3")

    def test_upgrade_without_connection_upgrade_is_a_plain_request(self):
        """An Upgrade header not named in Connection is dropped and the
        request is forwarded as an ordinary one."""
        resp = self.fetch(self.ika.port, "GET", "/", headers=[("Upgrade", "h2c")])
        self.assertEqual(resp.status, 200)
        self.assertNotIn("upgrade", self.origin.requests[0].header_names())

    def test_hop_by_hop_response_headers_are_removed(self):
        """The origin's Keep-Alive, Proxy-*, Trailer, Upgrade and the headers
        it names in Connection never reach the client; others do."""
        origin = self.start(Origin(b"x", headers=[
            ("Connection", "X-Upstream-Hop"), ("Keep-Alive", "timeout=5, max=100"),
            ("Proxy-Authenticate", "Basic realm=x"), ("Proxy-Connection", "keep-alive"), ("Trailer", "X-Nothing"),
            ("Upgrade", "h2c"), ("X-Upstream-Hop", "1"), ("X-Kept", "2")]))
        ika = self.proxy(origin)
        resp = self.fetch(ika.port)
        names = resp.header_names()
        for name in ["keep-alive", "proxy-authenticate", "proxy-connection", "trailer", "upgrade", "x-upstream-hop"]:
            self.assertNotIn(name, names, "%s was forwarded to the client" % name)
        self.assertNotIn("x-upstream-hop", resp.tokens("connection"))
        self.assertEqual(resp.header("x-kept"), "2")

    def test_x_forwarded_for_is_set(self):
        """Without an incoming X-Forwarded-For the origin sees the client's
        address."""
        self.fetch(self.ika.port)
        self.assertEqual(self.origin.requests[0].header_all("x-forwarded-for"), ["127.0.0.1"])

    def test_x_forwarded_for_is_appended(self):
        """An incoming X-Forwarded-For gets the client's address appended."""
        self.fetch(self.ika.port, headers=[("X-Forwarded-For", "203.0.113.9, 198.51.100.2")])
        values = self.origin.requests[0].header_all("x-forwarded-for")
        self.assertEqual([t.strip() for t in ", ".join(values).split(",")], ["203.0.113.9", "198.51.100.2", "127.0.0.1"])

    def test_x_forwarded_proto_and_host(self):
        """X-Forwarded-Proto is http (a client's own value replaced) and
        X-Forwarded-Host is the Host the client sent."""
        self.fetch(self.ika.port, host="Shop.Example.test", headers=[("X-Forwarded-Proto", "https")])
        seen = self.origin.requests[0]
        self.assertEqual(seen.header_all("x-forwarded-proto"), ["http"])
        self.assertEqual([v.lower() for v in seen.header_all("x-forwarded-host")], ["shop.example.test"])

    def test_clean_request_id_is_kept_and_echoed(self):
        """A clean X-Request-ID reaches the origin unchanged and comes back
        on the response."""
        rid = "abc-123_DEF.456"
        resp = self.fetch(self.ika.port, headers=[("X-Request-ID", rid)])
        self.assertEqual(self.origin.requests[0].header_all("x-request-id"), [rid])
        self.assertEqual(resp.header_all("x-request-id"), [rid])

    def test_request_id_is_generated_when_missing(self):
        """Without X-Request-ID, one is generated, sent upstream and echoed;
        two requests get different ids."""
        first = self.fetch(self.ika.port)
        second = self.fetch(self.ika.port)
        ids = [r.header_all("x-request-id") for r in self.origin.requests]
        self.assertEqual([len(i) for i in ids], [1, 1])
        self.assertRegex(ids[0][0], r"^[A-Za-z0-9._-]{8,}$")
        self.assertNotEqual(ids[0][0], ids[1][0])
        self.assertEqual(first.header("x-request-id"), ids[0][0])
        self.assertEqual(second.header("x-request-id"), ids[1][0])

    def test_unclean_request_id_is_replaced(self):
        """An X-Request-ID with spaces or markup, or a huge one, is replaced
        by a generated one (upstream and on the response)."""
        for bad in ["bad id <script>", "x" * 1000, "a\"b'c"]:
            with self.subTest(bad=bad[:20]):
                before = len(self.origin.requests)
                resp = self.fetch(self.ika.port, headers=[("X-Request-ID", bad)])
                seen = self.origin.requests[before].header_all("x-request-id")
                self.assertEqual(len(seen), 1)
                self.assertTrue(seen[0] != bad, "the unclean id %r was kept" % bad[:40])
                self.assertRegex(seen[0], r"^[A-Za-z0-9._-]{8,}$")
                self.assertEqual(resp.header("x-request-id"), seen[0])

    def test_duplicate_request_ids_are_replaced_by_one(self):
        """Two X-Request-ID headers are not clean: the origin sees exactly
        one id."""
        resp = self.fetch(self.ika.port, headers=[("X-Request-ID", "one"), ("X-Request-ID", "two")])
        seen = self.origin.requests[0].header_all("x-request-id")
        self.assertEqual(len(seen), 1)
        self.assertEqual(resp.header("x-request-id"), seen[0])


if __name__ == "__main__":
    unittest.main()
