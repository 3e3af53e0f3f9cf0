"""A misbehaving upstream gives the client a 502 (or, once the response has
started, a cut connection), never a desynchronised stream: the next request
on a new connection gets the right answer."""

import unittest

from ikatest import ConnectionClosed, IkaTestCase, IncompleteResponse, ProtocolError, Scripted, reply_bytes

GOOD = reply_bytes(b"fine")


class UpstreamErrorTestCase(IkaTestCase):

    def bad_then_good(self, bad):
        """ika in front of a scripted upstream whose first connection gets
        `bad` and every later one a clean "fine"."""
        upstream = self.start(Scripted(bad, GOOD))
        return self.proxy(upstream), upstream

    def assert_next_request_is_clean(self, ika):
        resp = self.fetch(ika.port, "GET", "/next")
        self.assertEqual((resp.status, resp.body), (200, b"fine"), "the next request did not get a clean answer")

    def assert_502(self, bad, method="GET"):
        ika, _ = self.bad_then_good(bad)
        c = self.client(ika.port)
        c.request(method, "/", body=b"payload" if method == "POST" else None)
        try:
            resp = c.response()
        except ConnectionClosed as e:
            self.fail("no 502 for upstream bytes %r: connection closed after %r" % (bad[:200], e.data[:200]))
        except ProtocolError as e:
            self.fail("upstream bytes %r were relayed as an unparseable response: %s" % (bad[:200], e))
        self.assertEqual(resp.status, 502, "upstream bytes %r gave %r %r" % (bad[:200], resp, resp.body[:100]))
        self.assert_error_response(resp, 502)
        self.assert_next_request_is_clean(ika)

    def assert_502_or_cut(self, bad):
        """Either a 502, or the response head was already relayed and the
        client connection is closed before a complete body."""
        ika, _ = self.bad_then_good(bad)
        c = self.client(ika.port)
        c.request("GET", "/")
        try:
            resp = c.response()
        except IncompleteResponse:
            self.assert_closed(c)
        except ConnectionClosed as e:
            self.fail("connection closed without any response (got %r)" % e.data[:200])
        except ProtocolError as e:
            self.fail("upstream bytes %r were relayed as an unparseable response: %s" % (bad[:200], e))
        else:
            self.assertEqual(resp.status, 502, "upstream bytes %r were relayed as complete: %r %r" % (
                bad[:200], resp, resp.body[:100]))
            self.assert_error_response(resp, 502)
        self.assert_next_request_is_clean(ika)


class UpstreamFramingTest(UpstreamErrorTestCase):

    def test_content_length_with_transfer_encoding(self):
        """An upstream response with both Content-Length and chunked is a
        502."""
        self.assert_502(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
                        b"5\r\nhello\r\n0\r\n\r\n")

    def test_conflicting_content_lengths(self):
        """Two different Content-Length values from the upstream are a 502."""
        self.assert_502(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nhello!!")

    def test_malformed_content_length(self):
        """A non-numeric upstream Content-Length is a 502."""
        for value in (b"abc", b"-1", b"5x", b"1e3"):
            with self.subTest(value=value):
                self.assert_502(b"HTTP/1.1 200 OK\r\nContent-Length: " + value + b"\r\n\r\nhello")

    def test_bad_chunk_size(self):
        """A bad chunk size right after the head: 502, or a cut response;
        never a complete one."""
        self.assert_502_or_cut(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n")

    def test_bad_chunk_size_mid_body(self):
        """A bad chunk size after good chunks cuts the client connection
        (no terminating chunk is invented)."""
        self.assert_502_or_cut(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
                               b"5\r\nworld\r\nxyz\r\nmore\r\n0\r\n\r\n")

    def test_extra_bytes_after_response_are_not_a_response(self):
        """Bytes after a complete upstream response (a smuggled second
        response) never answer the client's next request."""
        smuggle = (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
                   b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled")

        def script(conn):
            conn.read_request()
            conn.send(smuggle)
            conn.hold()
        upstream = self.start(Scripted(script, GOOD))
        ika = self.proxy(upstream, node={"workers": 1})
        c = self.client(ika.port)
        first = c.roundtrip("GET", "/one")
        self.assertEqual((first.status, first.body), (200, b"hello"))
        try:
            second = c.roundtrip("GET", "/two")
        except ConnectionClosed:
            second = self.fetch(ika.port, "GET", "/two")
        self.assertNotEqual(second.body, b"smuggled", "a smuggled upstream response answered the next request")
        self.assertEqual((second.status, second.body), (200, b"fine"))

    def test_body_shorter_than_content_length(self):
        """The upstream closes before its Content-Length is complete: the
        client's response is cut and its connection closed (or a 502)."""
        self.assert_502_or_cut(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten..")


class UpstreamHeadTest(UpstreamErrorTestCase):

    def test_garbage_status_lines(self):
        """A status line that is not `HTTP/1.x DDD reason` is a 502."""
        for line in (b"HELLO WORLD", b"HTTP/1.1 2x0 OK", b"HTTP/1.1 20 OK", b"HTTP/1.1 OK", b"HTTP/1.1\t200 OK",
                     b"\x00\x01\x02\x03", b"HTTP/1.1 200 OK\x00"):
            with self.subTest(line=line):
                self.assert_502(line + b"\r\nContent-Length: 2\r\n\r\nok")

    def test_invalid_response_headers(self):
        """obs-fold, whitespace before the colon, NUL or a bare CR in an
        upstream response head are a 502."""
        for header in (b"X-A: one\r\n two", b"X-A : 1", b"X-A: a\x00b", b"X-A: a\rb", b"X(A): 1", b": empty",
                       b"Content-Length : 2"):
            with self.subTest(header=header):
                self.assert_502(b"HTTP/1.1 200 OK\r\n" + header + b"\r\nContent-Length: 2\r\n\r\nok")

    def test_response_head_too_large(self):
        """A 200 KiB upstream response head is a 502."""
        huge = b"".join(b"X-Big-%d: %s\r\n" % (i, b"v" * 1000) for i in range(200))
        self.assert_502(b"HTTP/1.1 200 OK\r\n" + huge + b"Content-Length: 2\r\n\r\nok")

    def test_unsolicited_101(self):
        """A 101 to a request that asked for no upgrade is a 502 (no
        tunnel is opened)."""
        self.assert_502(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
                        b"tunnel bytes")

    def test_empty_reason_phrase_is_fine(self):
        """`HTTP/1.1 204 ` (an empty reason phrase) is a valid status line
        and is relayed."""
        def script(conn):
            for _ in range(2):
                conn.read_request()
                conn.send(b"HTTP/1.1 204 \r\n\r\n")
        upstream = self.start(Scripted(script))
        ika = self.proxy(upstream)
        c = self.client(ika.port)
        self.assertEqual(c.roundtrip("GET", "/").status, 204)
        self.assertEqual(c.roundtrip("GET", "/").status, 204)

    def test_close_before_any_byte(self):
        """The upstream closes after reading the request, without a byte of
        response: 502 (a POST, so that no retry is allowed)."""
        self.assert_502(b"", method="POST")

    def test_close_inside_the_head(self):
        """The upstream closes in the middle of its response head: 502."""
        self.assert_502(b"HTTP/1.1 200 OK\r\nContent-Le", method="POST")


if __name__ == "__main__":
    unittest.main()
