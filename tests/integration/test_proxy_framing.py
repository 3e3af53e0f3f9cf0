"""Message framing through the proxy: chunked bodies both ways with trailers,
close-delimited responses, Expect: 100-continue and interim responses."""

import unittest

from ikatest import (Echo, IkaTestCase, Origin, Reply, Scripted, build_request, encode_chunked)


class ChunkedRequestTest(IkaTestCase):

    def setUp(self):
        self.echo = self.start(Echo())
        self.ika = self.proxy(self.echo)

    def test_chunked_upload_arrives_whole(self):
        """A chunked request body (several chunks) reaches the origin intact
        and the echo comes back."""
        body = bytes(range(256)) * 300
        resp = self.fetch(self.ika.port, "POST", "/up", body=body, chunked=True, chunk_size=7000)
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.body, body)
        self.assertEqual(self.echo.requests[0].body, body)

    def test_request_trailers_are_forwarded(self):
        """Trailer fields of a chunked request reach the origin."""
        resp = self.fetch(self.ika.port, "POST", "/", body=b"payload", chunked=True,
                          trailers=[("X-Checksum", "abc123")])
        self.assertEqual(resp.body, b"payload")
        self.assertEqual(self.echo.requests[0].trailer("x-checksum"), "abc123")

    def test_chunk_extensions_are_accepted(self):
        """Chunk extensions (`5;name=value`) are valid syntax and do not
        break the body."""
        c = self.client(self.ika.port)
        c.send(build_request("POST", "/", headers=[("Transfer-Encoding", "chunked")]) +
               b"5;name=value\r\nhello\r\n6;x\r\n world\r\n0\r\n\r\n")
        resp = c.response()
        self.assertEqual((resp.status, resp.body), (200, b"hello world"))

    def test_many_one_byte_chunks(self):
        """A thousand one-byte chunks make one body."""
        body = bytes(i % 251 for i in range(1000))
        resp = self.fetch(self.ika.port, "POST", "/", body=body, chunked=True, chunk_size=1)
        self.assertEqual(resp.body, body)

    def test_empty_chunked_body(self):
        """A chunked body with only the last chunk is an empty body."""
        resp = self.fetch(self.ika.port, "POST", "/", body=b"", chunked=True)
        self.assertEqual((resp.status, resp.body), (200, b""))

    def test_chunk_size_with_leading_zeros_and_upper_case_hex(self):
        """`000A` is a valid chunk size (ten bytes)."""
        c = self.client(self.ika.port)
        c.send(build_request("POST", "/", headers=[("Transfer-Encoding", "chunked")]) +
               b"000A\r\n0123456789\r\n0\r\n\r\n")
        resp = c.response()
        self.assertEqual((resp.status, resp.body), (200, b"0123456789"))

    def test_transfer_coding_name_is_case_insensitive(self):
        """`Transfer-Encoding: Chunked` is chunked."""
        c = self.client(self.ika.port)
        c.send(build_request("POST", "/", headers=[("Transfer-Encoding", "Chunked")]) +
               b"3\r\nabc\r\n0\r\n\r\n")
        resp = c.response()
        self.assertEqual((resp.status, resp.body), (200, b"abc"))

    def test_pipelined_chunked_requests(self):
        """Chunked requests pipelined in one write are answered in order
        with their own bodies."""
        c = self.client(self.ika.port)
        c.send(b"".join(build_request("POST", "/%d" % i, body=b"body-%d" % i, chunked=True, chunk_size=3)
                        for i in range(10)))
        self.assertEqual([c.response().body for _ in range(10)], [b"body-%d" % i for i in range(10)])

    def test_chunked_body_sent_slowly_in_pieces(self):
        """A chunked body whose framing is split across many writes (inside
        size lines and CRLFs) is reassembled correctly."""
        c = self.client(self.ika.port)
        data = build_request("POST", "/", headers=[("Transfer-Encoding", "chunked")]) + \
            encode_chunked(b"split across writes", chunk_size=4, trailers=[("X-T", "1")])
        for i in range(0, len(data), 3):
            c.send(data[i:i + 3])
        resp = c.response()
        self.assertEqual((resp.status, resp.body), (200, b"split across writes"))


class ChunkedResponseTest(IkaTestCase):

    def test_chunked_response_with_trailers(self):
        """A chunked origin response reaches an HTTP/1.1 client whole, with
        its trailer fields."""
        body = b"0123456789" * 5000
        echo = self.start(Echo(chunked=True, chunk_size=4096, trailers=[("X-Digest", "sha-256=abc")]))
        ika = self.proxy(echo)
        resp = self.fetch(ika.port, "POST", "/", body=body, headers=[("TE", "trailers")])
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.body, body)
        self.assertTrue(resp.is_chunked(), "expected a chunked response to carry trailers")
        self.assertEqual(resp.trailer("x-digest"), "sha-256=abc")

    def test_chunked_response_of_tiny_chunks_then_reuse(self):
        """One-byte chunks from the origin make the right body, and the
        client connection is reusable afterwards."""
        echo = self.start(Echo(chunked=True, chunk_size=1))
        ika = self.proxy(echo)
        c = self.client(ika.port)
        self.assertEqual(c.roundtrip("POST", "/", body=b"abcdefghij").body, b"abcdefghij")
        self.assertEqual(c.roundtrip("POST", "/", body=b"second").body, b"second")

    def test_close_delimited_response(self):
        """An origin response framed by closing the connection reaches an
        HTTP/1.1 client whole (chunked or followed by a close)."""
        body = b"no length, ends at close " * 400
        origin = self.start(Origin(body, framing="close"))
        ika = self.proxy(origin)
        c = self.client(ika.port)
        resp = c.roundtrip("GET", "/")
        self.assertEqual((resp.status, resp.body), (200, body))
        if not resp.is_chunked() and not resp.has_header("content-length"):
            self.assert_closed(c)

    def test_large_content_length_response_then_reuse(self):
        """A 4 MiB Content-Length response passes and the connection
        carries the next request."""
        body = bytes(range(256)) * (4 * 4096)
        origin = self.start(Origin(body))
        ika = self.proxy(origin)
        c = self.client(ika.port)
        self.assertEqual(c.roundtrip("GET", "/").body, body)
        self.assertEqual(c.roundtrip("GET", "/").body, body)

    def test_head_with_chunked_headers_has_no_body(self):
        """A HEAD answered with `Transfer-Encoding: chunked` (and, rightly,
        no body) does not make the proxy wait for a body; the next request
        on the connection gets its own response."""
        origin = self.start(Origin(b"chunked body", framing="chunked"))
        ika = self.proxy(origin)
        c = self.client(ika.port)
        c.request("HEAD", "/")
        head = c.response("HEAD")
        self.assertEqual((head.status, head.body), (200, b""))
        self.assertEqual(c.roundtrip("GET", "/").body, b"chunked body")

    def test_not_modified_has_no_body(self):
        """A 304 from the origin is answered without a body and the next
        request on the connection is not confused."""
        origin = self.start(Origin(handler=lambda req: Reply(status=304, framing="none", headers=[("ETag", '"v1"')])
                                   if req.target == "/cached" else Reply(b"fresh")))
        ika = self.proxy(origin)
        c = self.client(ika.port)
        resp = c.roundtrip("GET", "/cached", headers=[("If-None-Match", '"v1"')])
        self.assertEqual((resp.status, resp.body, resp.header("etag")), (304, b"", '"v1"'))
        self.assertEqual(c.roundtrip("GET", "/other").body, b"fresh")


class ExpectContinueTest(IkaTestCase):

    def test_100_continue_before_body(self):
        """`Expect: 100-continue`: the client gets a 100 before it sends the
        body, then the final response."""
        echo = self.start(Echo())
        ika = self.proxy(echo)
        c = self.client(ika.port)
        c.send(build_request("POST", "/", headers=[("Content-Length", "11"), ("Expect", "100-continue")]))
        interim = c.response(interim=True)
        self.assertEqual(interim.status, 100)
        c.send(b"hello world")
        resp = c.response()
        self.assertEqual((resp.status, resp.body), (200, b"hello world"))

    def test_expect_with_oversized_body_gets_413_without_100(self):
        """`Expect: 100-continue` with a Content-Length over the limit gets a
        413 at once (no 100), and the origin sees nothing."""
        echo = self.start(Echo())
        ika = self.proxy(echo, max_body="1KiB")
        c = self.client(ika.port)
        c.send(build_request("POST", "/", headers=[("Content-Length", "100000"), ("Expect", "100-continue")]))
        resp = c.response(interim=True)
        self.assert_error_response(resp, 413)
        self.assertEqual(echo.bytes_received, 0)

    def test_expect_with_chunked_body(self):
        """`Expect: 100-continue` on a chunked request: 100, then the body
        streams and the echo comes back."""
        echo = self.start(Echo())
        ika = self.proxy(echo)
        c = self.client(ika.port)
        c.send(build_request("POST", "/", headers=[("Transfer-Encoding", "chunked"), ("Expect", "100-continue")]))
        self.assertEqual(c.response(interim=True).status, 100)
        c.send(encode_chunked(b"chunked after continue", chunk_size=5))
        resp = c.response()
        self.assertEqual((resp.status, resp.body), (200, b"chunked after continue"))


class InterimResponseTest(IkaTestCase):

    def test_early_hints_then_final_response(self):
        """A 103 from the origin does not replace the final response: the
        client gets the 200 and its body (the 103 may be relayed)."""
        def script(conn):
            conn.read_request()
            conn.send(b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
                      b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal")
            conn.hold()
        upstream = self.start(Scripted(script))
        ika = self.proxy(upstream)
        resp = self.fetch(ika.port)
        self.assertEqual((resp.status, resp.body), (200, b"final"))


if __name__ == "__main__":
    unittest.main()
