"""Route matching: exact hosts (case-insensitive, port ignored), wildcards
(not the apex), path prefixes by whole segments, exact paths, and the
precedence between them. Each upstream answers with its own name."""

import unittest

from ikatest import Ika, IkaTestCase, Origin, make_config

# (name, host pattern, path pattern); listed in an order that does not match
# the precedence, so that precedence cannot come from the file order.
ROUTES = [
    ("catch-all", "*", "/*"),
    ("wild", "*.example.com", "/*"),
    ("apex", "example.com", "/*"),
    ("api", "example.com", "/api/*"),
    ("api-v2", "example.com", "/api/v2/*"),
    ("up", "example.com", "/up"),
    ("www", "www.example.com", "/*"),
    ("wild-api", "*.api.example.com", "/*"),
    ("wild-only", "*.wild.test", "/*"),
    ("only-api", "onlyapi.test", "/api/*"),
]


class RoutingTest(IkaTestCase):

    @classmethod
    def setUpClass(cls):
        cls.origins = {name: Origin(name.encode()).start() for name, _, _ in ROUTES}
        routes = [{"host": host, "path": path, "upstreams": [cls.origins[name]]} for name, host, path in ROUTES]
        cls.ika = Ika(make_config(routes=routes))
        try:
            cls.ika.start()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.ika.stop()
        for origin in cls.origins.values():
            origin.stop()
        report = cls.ika.sanitizer_report()
        if report:
            raise AssertionError("sanitizer report in ika's stderr:\n" + report[-4000:])

    def route_of(self, host, target="/"):
        resp = self.fetch(self.ika.port, "GET", target, host=host)
        self.assertEqual(resp.status, 200, "%s%s: %r %r" % (host, target, resp, resp.body[:100]))
        return resp.body.decode()

    def assert_routes(self, cases):
        for host, target, expected in cases:
            with self.subTest(host=host, target=target):
                self.assertEqual(self.route_of(host, target), expected)

    def test_exact_host_is_case_insensitive(self):
        """`example.com` matches whatever the case of the Host header."""
        self.assert_routes([("example.com", "/", "apex"), ("EXAMPLE.COM", "/", "apex"),
                            ("Example.Com", "/", "apex")])

    def test_port_in_host_is_ignored(self):
        """`example.com:8080` routes like `example.com`."""
        self.assert_routes([("example.com:8080", "/", "apex"), ("EXAMPLE.com:1", "/", "apex"),
                            ("shop.example.com:99", "/", "wild")])

    def test_wildcard_matches_a_subdomain(self):
        """`*.example.com` matches `shop.example.com` (any case)."""
        self.assert_routes([("shop.example.com", "/", "wild"), ("SHOP.Example.COM", "/", "wild")])

    def test_wildcard_does_not_match_the_apex(self):
        """`*.wild.test` does not match `wild.test` itself."""
        self.assert_routes([("wild.test", "/", "catch-all"), ("a.wild.test", "/", "wild-only")])

    def test_wildcard_matches_at_a_label_boundary(self):
        """`*.example.com` does not match `badexample.com`."""
        self.assert_routes([("badexample.com", "/", "catch-all"), ("example.com.evil.test", "/", "catch-all")])

    def test_exact_host_beats_wildcard(self):
        """`www.example.com` (exact) wins over `*.example.com`."""
        self.assert_routes([("www.example.com", "/", "www"), ("WWW.example.com:443", "/x", "www")])

    def test_longer_wildcard_beats_shorter(self):
        """`*.api.example.com` wins over `*.example.com`."""
        self.assert_routes([("v1.api.example.com", "/", "wild-api")])

    def test_prefix_matches_by_whole_segments(self):
        """`/api/*` matches /api, /api/ and /api/x/y, never /apix."""
        self.assert_routes([("example.com", "/api", "api"), ("example.com", "/api/", "api"),
                            ("example.com", "/api/x/y", "api"), ("example.com", "/apix", "apex"),
                            ("example.com", "/apix/y", "apex")])

    def test_longer_prefix_beats_shorter(self):
        """`/api/v2/*` wins over `/api/*` for its segments, not for
        /api/v2x."""
        self.assert_routes([("example.com", "/api/v2", "api-v2"), ("example.com", "/api/v2/", "api-v2"),
                            ("example.com", "/api/v2/users", "api-v2"), ("example.com", "/api/v2x", "api")])

    def test_exact_path(self):
        """`/up` matches only /up (query aside), not /up/, /up/x or /upx."""
        self.assert_routes([("example.com", "/up", "up"), ("example.com", "/up?verbose=1", "up"),
                            ("example.com", "/up/", "apex"), ("example.com", "/up/x", "apex"),
                            ("example.com", "/upx", "apex")])

    def test_query_does_not_take_part_in_matching(self):
        """A query that looks like a path does not change the route."""
        self.assert_routes([("example.com", "/api?next=/api/v2/x", "api"), ("example.com", "/?/api", "apex")])

    def test_host_without_matching_path_falls_through(self):
        """`onlyapi.test` has only /api/*: its other paths fall through to
        the catch-all host."""
        self.assert_routes([("onlyapi.test", "/api/x", "only-api"), ("onlyapi.test", "/other", "catch-all")])

    def test_catch_all_takes_other_hosts(self):
        """Unknown names, IP literals and bracketed IPv6 hosts reach `*`."""
        self.assert_routes([("anything.test", "/", "catch-all"), ("127.0.0.1:80", "/", "catch-all"),
                            ("[::1]:8080", "/", "catch-all"), ("[::1]", "/", "catch-all")])


if __name__ == "__main__":
    unittest.main()
