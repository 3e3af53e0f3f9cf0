"""Ambiguous or malformed requests are rejected with 400, the connection is
closed, and the upstream sees nothing of them (RFC 9112 strictness).

Every case is sent on its own connection; after each, a clean control
request on a new connection must work and must be the only thing the origin
ever received."""

import unittest

from ikatest import Ika, IkaTestCase, Origin, make_config

SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: example.test\r\n\r\n"


def req(*header_lines, start=b"POST / HTTP/1.1", host=b"Host: example.test", body=b""):
    """Raw request bytes: start line, Host (unless None), the given header
    lines (bytes), blank line, body."""
    lines = [start] + ([host] if host is not None else []) + list(header_lines)
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


class RejectionTestCase(IkaTestCase):

    def setUp(self):
        self.origin = self.start(Origin())
        self.ika = self.proxy(self.origin)

    def rejected(self, cases, status=400, body_error=False):
        """Each case against its own origin and ika, so that a failing case
        cannot leak requests into the next one's record."""
        for name, data in cases:
            with self.subTest(case=name):
                origin = Origin().start()
                ika = Ika(make_config(origin))
                try:
                    ika.start()
                    self.assert_rejected(ika.port, data, origin, status, body_error)
                finally:
                    ika.stop()
                    origin.stop()
                    report = ika.sanitizer_report()
                    if report:
                        self.fail("sanitizer report in ika's stderr:\n" + report[-4000:])


class ContentLengthRejectionTest(RejectionTestCase):

    def test_content_length_with_transfer_encoding(self):
        """Content-Length together with Transfer-Encoding is rejected (the
        classic CL.TE / TE.CL smuggling shapes)."""
        self.rejected([
            ("CL then TE", req(b"Content-Length: 4", b"Transfer-Encoding: chunked", body=b"0\r\n\r\n" + SMUGGLED)),
            ("TE then CL", req(b"Transfer-Encoding: chunked", b"Content-Length: 4", body=b"0\r\n\r\n" + SMUGGLED)),
            ("CL 0 and TE", req(b"Content-Length: 0", b"Transfer-Encoding: chunked", body=b"0\r\n\r\n")),
            ("TE.CL", req(b"Content-Length: 50", b"Transfer-Encoding: chunked",
                          body=b"5\r\nhello\r\n0\r\n\r\n" + SMUGGLED)),
        ])

    def test_conflicting_content_lengths(self):
        """Two different Content-Length values (as two headers or a list)
        are rejected."""
        self.rejected([
            ("two headers", req(b"Content-Length: 5", b"Content-Length: 6", body=b"hello!")),
            ("list", req(b"Content-Length: 5, 6", body=b"hello!")),
            ("zero and more", req(b"Content-Length: 0", b"Content-Length: 43", body=SMUGGLED[:43])),
        ])

    def test_malformed_content_length(self):
        """Content-Length values that are not plain decimal digits, or that
        overflow, are rejected."""
        values = [b"-1", b"+5", b"5x", b"0x5", b"1e3", b"", b"5 5", b"5.0", b"9" * 25, b"\x005"]
        self.rejected([(repr(v), req(b"Content-Length: " + v, body=b"hello")) for v in values])


class TransferEncodingRejectionTest(RejectionTestCase):

    def test_transfer_encoding_not_ending_in_chunked(self):
        """A request Transfer-Encoding whose final coding is not chunked has
        no determinable length: rejected (400, or 501 for an unknown
        coding)."""
        self.rejected([
            ("gzip", req(b"Transfer-Encoding: gzip", body=b"hello")),
            ("chunked, gzip", req(b"Transfer-Encoding: chunked, gzip", body=b"0\r\n\r\n")),
            ("identity", req(b"Transfer-Encoding: identity", body=b"hello")),
            ("xchunked", req(b"Transfer-Encoding: xchunked", body=b"0\r\n\r\n")),
            ("chunked with junk", req(b"Transfer-Encoding: chunked x", body=b"0\r\n\r\n")),
            # llhttp does not take "chunked<TAB>" as chunked: its body would
            # be read as the next request (found by the fuzzer).
            ("chunked then TAB", req(b"Transfer-Encoding: chunked\t", body=b"5\r\nhello\r\n0\r\n\r\n" + SMUGGLED)),
        ], status=(400, 501))

    def test_chunked_applied_twice(self):
        """`chunked` listed twice (one header or two) is rejected."""
        self.rejected([
            ("list", req(b"Transfer-Encoding: chunked, chunked", body=b"0\r\n\r\n")),
            ("two headers", req(b"Transfer-Encoding: chunked", b"Transfer-Encoding: chunked", body=b"0\r\n\r\n")),
        ])

    def test_transfer_encoding_in_http10_request(self):
        """Transfer-Encoding in an HTTP/1.0 request means faulty framing:
        rejected."""
        self.rejected([("1.0 chunked", req(b"Transfer-Encoding: chunked", start=b"POST / HTTP/1.0",
                                            body=b"5\r\nhello\r\n0\r\n\r\n"))])


class ChunkSizeRejectionTest(RejectionTestCase):

    def test_bad_chunk_sizes(self):
        """Chunk-size lines that are not hex digits (or overflow) get a 400
        and close; no complete request and nothing after it is forwarded."""
        te = b"Transfer-Encoding: chunked"
        sizes = [b"zz", b"-5", b"0x5", b" 5", b"+5", b"fffffffffffffffffffff", b"", b"5\x00"]
        cases = [(repr(s), req(te, body=s + b"\r\nhello\r\n0\r\n\r\n" + SMUGGLED)) for s in sizes]
        cases.append(("data longer than size", req(te, body=b"3\r\nhello\r\n0\r\n\r\n" + SMUGGLED)))
        cases.append(("missing CRLF after data", req(te, body=b"5\r\nhelloXX0\r\n\r\n" + SMUGGLED)))
        cases.append(("bare LF after size", req(te, body=b"5\nhello\r\n0\r\n\r\n" + SMUGGLED)))
        self.rejected(cases, body_error=True)


class HeaderSyntaxRejectionTest(RejectionTestCase):

    def test_obs_fold(self):
        """A header continued on the next line (obs-fold) is rejected."""
        self.rejected([
            ("space fold", req(b"X-A: one", b" two", start=b"GET / HTTP/1.1")),
            ("tab fold", req(b"X-A: one", b"\ttwo", start=b"GET / HTTP/1.1")),
            ("folded host", req(b" other.test", start=b"GET / HTTP/1.1")),
        ])

    def test_whitespace_before_colon(self):
        """Whitespace between a field name and the colon is rejected, and so
        is whitespace before the first header line."""
        self.rejected([
            ("space", req(b"X-A : 1", start=b"GET / HTTP/1.1")),
            ("tab", req(b"X-A\t: 1", start=b"GET / HTTP/1.1")),
            ("host", req(host=b"Host : example.test", start=b"GET / HTTP/1.1")),
            ("content-length", req(b"Content-Length : 5", body=b"hello")),
            ("transfer-encoding", req(b"Transfer-Encoding : chunked", body=b"0\r\n\r\n")),
            ("before first header", b"GET / HTTP/1.1\r\n X-A: 1\r\nHost: example.test\r\n\r\n"),
        ])

    def test_bare_cr(self):
        """A CR not followed by LF anywhere in the head is rejected."""
        self.rejected([
            ("in value", req(b"X-A: a\rb", start=b"GET / HTTP/1.1")),
            ("as line end", b"GET / HTTP/1.1\rHost: example.test\r\n\r\n"),
            ("in target", req(start=b"GET /a\rb HTTP/1.1")),
            ("before CRLF", req(b"X-A: a\r\r", start=b"GET / HTTP/1.1")),
        ])

    def test_invalid_header_names(self):
        """Field names with separators, controls, non-ASCII or nothing at
        all are rejected."""
        names = [b"X(A)", b"X A", b"X\x00A", b"", b"X\xe9", b"X\"A", b"X@A", b"X/A", b"X\x7fA", b"{X}"]
        self.rejected([(repr(n), req(n + b": 1", start=b"GET / HTTP/1.1")) for n in names])

    def test_invalid_header_values(self):
        """Field values with NUL or other control characters (not TAB) are
        rejected."""
        values = [b"a\x00b", b"a\x01b", b"a\x1bb", b"a\x7fb", b"a\x0bb", b"a\x0cb", b"\x00"]
        self.rejected([(repr(v), req(b"X-A: " + v, start=b"GET / HTTP/1.1")) for v in values])

    def test_invalid_request_lines(self):
        """Request lines that are not `method SP target SP HTTP/1.x` with
        valid characters are rejected."""
        lines = [b"GET  / HTTP/1.1", b"GET / HTTP/1.1 x", b"GET /a b HTTP/1.1", b"GET / HTTP/1.x",
                 b"GET / HTTX/1.1", b"GET\t/ HTTP/1.1", b" / HTTP/1.1", b"GET HTTP/1.1", b"G(T / HTTP/1.1",
                 b"GET /a\x00b HTTP/1.1", b"GET /a\x7fb HTTP/1.1", b"GET /\xff HTTP/1.1", b"GET / http/1.1"]
        self.rejected([(repr(l), req(start=l)) for l in lines])


class MethodRejectionTest(RejectionTestCase):

    def test_connect_is_refused(self):
        """CONNECT never opens a tunnel through a reverse proxy (400, 405 or
        501) and reaches no upstream."""
        self.rejected([("connect", req(start=b"CONNECT example.test:443 HTTP/1.1", host=b"Host: example.test:443"))],
                      status=(400, 405, 501))


class PipelineRejectionTest(RejectionTestCase):

    def test_bad_request_behind_a_good_one(self):
        """Pipelined good, bad, good: the first is answered, the bad one
        gets a 400 and the connection closes; the third never reaches the
        upstream."""
        c = self.client(self.ika.port)
        c.send(req(start=b"GET /first HTTP/1.1") + req(b"X A: 1", start=b"GET /bad HTTP/1.1") +
               req(start=b"GET /smuggled HTTP/1.1"))
        first = c.response()
        self.assertEqual((first.status, first.body), (200, b"ok"))
        self.assert_error_response(c.response(), 400)
        self.assert_closed(c)
        self.assertEqual([r.target for r in self.origin.heads], ["/first"])

    def test_client_abort_mid_body(self):
        """A client that closes inside its Content-Length body never makes
        a complete request reach the upstream, and the proxy carries on."""
        c = self.client(self.ika.port)
        c.send(req(b"Content-Length: 100", body=b"only part of it"))
        c.close()
        self.assert_control_request(self.ika.port, self.origin, body_error=True)


class TrailerRejectionTest(RejectionTestCase):

    def test_malformed_trailers(self):
        """A trailer section with obs-fold, whitespace before a colon, a
        line without a colon or a NUL is rejected; no complete request is
        forwarded."""
        te = b"Transfer-Encoding: chunked"
        trailers = [b"X-T: a\r\n b", b"X-T : 1", b"no colon here", b"X-T: a\x00b", b"X(T): 1"]
        self.rejected([(repr(t), req(te, body=b"5\r\nhello\r\n0\r\n" + t + b"\r\n\r\n" + SMUGGLED))
                       for t in trailers], body_error=True)


class HostRejectionTest(RejectionTestCase):

    def test_missing_host(self):
        """An HTTP/1.1 request without Host is rejected."""
        self.rejected([("no host", req(host=None, start=b"GET / HTTP/1.1"))])

    def test_duplicate_host(self):
        """Two Host headers (equal or different) are rejected."""
        self.rejected([
            ("different", req(b"Host: other.test", start=b"GET / HTTP/1.1")),
            ("equal", req(b"Host: example.test", start=b"GET / HTTP/1.1")),
        ])

    def test_malformed_host(self):
        """A Host with userinfo, a non-numeric port, spaces, a path or
        broken brackets is rejected."""
        hosts = [b"user@example.test", b"user:pw@example.test", b"example.test:abc", b"example.test:80x",
                 b"example.test:-1", b"exa mple.test", b"example.test/path", b"[::1", b"::1]:80",
                 b"example.test:80:80", b"example.test?x", b"example.test#x"]
        self.rejected([(repr(h), req(host=b"Host: " + h, start=b"GET / HTTP/1.1")) for h in hosts])


if __name__ == "__main__":
    unittest.main()
