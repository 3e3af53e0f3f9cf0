"""Response cache (issue 5): RFC 9111 for a shared cache, with a real
upstream that counts its requests. Fresh hits never reach it; concurrent
misses for one key reach it once and are served while the body streams in;
what must not be stored is not; validators answer 304 from the cache and
revalidate stale entries; the byte budget holds; a response over the
object limit streams through uncached with bounded memory; a deploy purges
the app's entries."""

import hashlib
import threading
import time
import unittest
from urllib.parse import parse_qs, urlsplit

from ikatest import (Client, IkaTestCase, MiB, Origin, Reply, RssSampler, make_config, pattern_pieces,
                     pattern_sha256, wait_until)
from test_apps import PY_APP, AppsTestCase, manifest


class Counting(Origin):
    """Answers by query parameters: cc (Cache-Control), etag, lm
    (Last-Modified), vary, cookie, size, delay (s before answering), gate
    (the body's second half waits for `release`), status, chunked. Counts
    requests per path and remembers each request head."""

    def __init__(self):
        super().__init__(handler=self.answer)
        self.lock = threading.Lock()
        self.counts = {}
        self.release = threading.Event()

    def count(self, path):
        with self.lock:
            return self.counts.get(path, 0)

    def answer(self, req):
        url = urlsplit(req.target)
        q = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        with self.lock:
            self.counts[url.path] = self.counts.get(url.path, 0) + 1
            n = self.counts[url.path]
        if "delay" in q:
            time.sleep(float(q["delay"]))
        headers = []
        if "cc" in q:
            headers.append(("Cache-Control", q["cc"]))
        etag = q.get("etag")
        if etag:
            headers.append(("ETag", '"%s"' % etag))
            if req.header("if-none-match") == '"%s"' % etag:
                return Reply(status=304, headers=headers, framing="none")
        if "lm" in q:
            headers.append(("Last-Modified", q["lm"]))
        if "vary" in q:
            headers.append(("Vary", q["vary"]))
            headers.append(("X-Variant", req.header(q["vary"]) or "-"))
        if "cookie" in q:
            headers.append(("Set-Cookie", "session=%d" % n))
        status = int(q.get("status", "200"))
        size = int(q.get("size", "0"))
        if size:
            if "gate" in q:
                return Reply(status=status, headers=headers, stream=self.gated(size), length=size)
            return Reply(status=status, headers=headers, stream=pattern_pieces(size), length=size)
        body = ("%s #%d variant=%s\n" % (url.path, n, req.header(q.get("vary", "x-none")) or "-")).encode()
        framing = "chunked" if "chunked" in q else "length"
        return Reply(body, status, headers=headers, framing=framing)

    def gated(self, size):
        half = size // 2
        sent = 0
        for piece in pattern_pieces(size):
            if sent >= half:
                self.release.wait(30)
            yield piece
            sent += len(piece)


def cached_config(origin, memory="16MiB", shards=None, **route):
    cfg = make_config(origin)
    cfg["route"][0].update({"cache": True, **route})
    cfg["cache"] = {"memory": memory}
    if shards:
        cfg["cache"]["shards"] = shards
    return cfg


class CacheTest(IkaTestCase):

    def setUp(self):
        self.origin = self.start(Counting())
        self.ika = self.start_ika(cached_config(self.origin))

    def get(self, target, headers=(), method="GET"):
        return self.fetch(self.ika.port, method, target, headers=list(headers))

    def test_fresh_hits_do_not_reach_the_upstream(self):
        target = "/fresh?cc=public,max-age=60"
        first = self.get(target)
        self.assertEqual((first.status, first.header("x-cache")), (200, "MISS"))
        for _ in range(5):
            again = self.get(target)
            self.assertEqual(again.header("x-cache"), "HIT")
            self.assertEqual(again.body, first.body)
            self.assertIsNotNone(again.header("age"))
            self.assertEqual(again.header("cache-control"), "public,max-age=60")
        self.assertEqual(self.origin.count("/fresh"), 1)
        # The key has the query: another query is another object.
        self.assertEqual(self.get("/fresh?cc=public,max-age=60&x=1").header("x-cache"), "MISS")
        # HEAD is answered from the stored GET, without a body.
        c = self.client(self.ika.port)
        c.request("HEAD", target)
        head = c.response("HEAD")
        self.assertEqual((head.header("x-cache"), head.body), ("HIT", b""))
        self.assertEqual(head.header("content-length"), str(len(first.body)))
        self.assertEqual(self.origin.count("/fresh"), 2)

    def test_what_a_shared_cache_must_not_store(self):
        cases = {
            "/private": "cc=private,max-age=60",
            "/no-store": "cc=no-store,max-age=60",
            "/no-freshness": "etag=a",
            "/cookie": "cc=max-age=60&cookie=1",
            "/vary-star": "cc=max-age=60&vary=*",
        }
        for path, query in cases.items():
            for _ in range(2):
                r = self.get(path + "?" + query)
                self.assertEqual((r.status, r.header("x-cache")), (200, "MISS"), path)
            self.assertEqual(self.origin.count(path), 2, path)
        # A request with Authorization: stored only when the response allows it.
        auth = [("Authorization", "Bearer t")]
        for _ in range(2):
            self.get("/auth?cc=max-age=60", auth)
        self.assertEqual(self.origin.count("/auth"), 2)
        for _ in range(2):
            self.get("/auth-public?cc=public,max-age=60", auth)
        self.assertEqual(self.origin.count("/auth-public"), 1)
        # The request's no-store, and methods other than GET/HEAD, bypass it.
        self.get("/fresh2?cc=max-age=60")
        r = self.get("/fresh2?cc=max-age=60", [("Cache-Control", "no-store")])
        self.assertEqual(r.header("x-cache"), "BYPASS")
        r = self.fetch(self.ika.port, "POST", "/fresh2?cc=max-age=60", body=b"x")
        self.assertEqual(r.header("x-cache"), "BYPASS")
        self.assertEqual(self.origin.count("/fresh2"), 3)

    def test_set_cookie_is_stored_when_the_route_opts_in(self):
        origin = self.start(Counting())
        ika = self.start_ika(cached_config(origin, cache_set_cookie=True))
        bodies = [self.fetch(ika.port, "GET", "/c?cc=max-age=60&cookie=1") for _ in range(3)]
        self.assertEqual(origin.count("/c"), 1)
        self.assertEqual([b.header("x-cache") for b in bodies], ["MISS", "HIT", "HIT"])
        self.assertEqual(bodies[2].header("set-cookie"), "session=1")

    def test_vary_stores_one_variant_per_value(self):
        target = "/v?cc=max-age=60&vary=Accept-Language"
        en = [("Accept-Language", "en")]
        de = [("Accept-Language", "de")]
        self.assertEqual(self.get(target, en).header("x-cache"), "MISS")
        self.assertEqual(self.get(target, de).header("x-cache"), "MISS")
        hit_en = self.get(target, en)
        hit_de = self.get(target, de)
        self.assertEqual((hit_en.header("x-cache"), hit_en.header("x-variant")), ("HIT", "en"))
        self.assertEqual((hit_de.header("x-cache"), hit_de.header("x-variant")), ("HIT", "de"))
        self.assertEqual(self.get(target).header("x-cache"), "MISS")  # absent is a variant too
        self.assertEqual(self.origin.count("/v"), 3)

    def test_conditional_requests_get_304_from_the_cache(self):
        lm = "Wed, 21 Oct 2015 07:28:00 GMT"
        target = "/cond?cc=max-age=60&etag=v7&lm=" + lm.replace(" ", "%20")
        self.assertEqual(self.get(target).status, 200)
        r = self.get(target, [("If-None-Match", '"v7"')])
        self.assertEqual((r.status, r.header("x-cache"), r.body), (304, "HIT", b""))
        self.assertEqual(r.header("etag"), '"v7"')
        r = self.get(target, [("If-None-Match", 'W/"other", "v7"')])
        self.assertEqual(r.status, 304)
        r = self.get(target, [("If-None-Match", '"other"')])
        self.assertEqual(r.status, 200)
        r = self.get(target, [("If-Modified-Since", lm)])
        self.assertEqual(r.status, 304)
        r = self.get(target, [("If-Modified-Since", "Tue, 20 Oct 2015 07:28:00 GMT")])
        self.assertEqual(r.status, 200)
        self.assertEqual(self.origin.count("/cond"), 1)
        # A miss asks the upstream for the whole response, not the client's 304.
        first = self.get("/cond2?cc=max-age=60&etag=z", [("If-None-Match", '"z"')])
        self.assertIn(first.status, (200, 304))
        self.assertIsNone(self.origin.heads[-1].header("if-none-match"))
        self.assertEqual(self.get("/cond2?cc=max-age=60&etag=z").header("x-cache"), "HIT")

    def test_stale_entries_are_revalidated_with_their_validators(self):
        target = "/stale?cc=max-age=1&etag=s1"
        self.assertEqual(self.get(target).header("x-cache"), "MISS")
        # Fresh for a second (HIT, no upstream), then revalidated: a 304
        # from upstream refreshes the entry.
        r = wait_until(lambda: (lambda r: r if r.header("x-cache") == "STALE" else None)(self.get(target)),
                       timeout=10, interval=0.1, message="the entry goes stale and is revalidated")
        self.assertEqual((r.status, r.body), (200, self.get(target).body))
        self.assertEqual(self.origin.count("/stale"), 2)
        revalidation = self.origin.heads[-1]
        self.assertEqual(revalidation.header("if-none-match"), '"s1"')
        self.assertEqual(self.get(target).header("x-cache"), "HIT")  # refreshed
        # no-cache: stored, but revalidated before every use.
        nc = "/nocache?cc=no-cache&etag=n1"
        self.assertEqual(self.get(nc).header("x-cache"), "MISS")
        for _ in range(3):
            self.assertEqual(self.get(nc).header("x-cache"), "STALE")
        self.assertEqual(self.origin.count("/nocache"), 4)

    def test_concurrent_misses_reach_the_upstream_once(self):
        target = "/crowd?cc=max-age=60&delay=0.5"
        results = [None] * 100

        def one(i):
            try:
                c = Client(self.ika.port, timeout=30)
                c.request("GET", target)
                results[i] = c.response()
                c.close()
            except Exception as e:  # noqa: BLE001 - asserted below
                results[i] = e
        threads = [threading.Thread(target=one, args=(i,)) for i in range(100)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(self.origin.count("/crowd"), 1)
        statuses = [getattr(r, "status", r) for r in results]
        self.assertEqual(statuses, [200] * 100)
        self.assertEqual(len({r.body for r in results}), 1)
        labels = [r.header("x-cache") for r in results]
        self.assertEqual(labels.count("MISS"), 1, labels)

    def test_waiters_stream_a_body_that_is_still_arriving(self):
        size = 4 * MiB
        target = "/slowbody?cc=max-age=60&size=%d&gate=1" % size
        first = self.client(self.ika.port, timeout=30)
        first.request("GET", target)
        # The first client reads as the bytes come (a filler's own client
        # sets the pace of the fetch).
        first_done = {}
        reader = threading.Thread(target=lambda: first_done.update(r=first.response(sink=lambda b: None)))
        reader.start()
        wait_until(lambda: self.origin.count("/slowbody") == 1, message="the fill started")
        second = self.client(self.ika.port, timeout=30)
        second.request("GET", target)
        # The second gets its head and the first half while the upstream
        # still holds the second half back.
        got = bytearray()
        head = second.stream.read_until(b"\r\n\r\n")
        self.assertIn(b"X-Cache: HIT", head)
        self.assertIn(b"Content-Length: %d" % size, head)
        while len(got) < size // 2:
            got += second.stream.read_exact(min(65536, size // 2 - len(got)))
        self.assertFalse(self.origin.release.is_set())
        self.origin.release.set()
        h = hashlib.sha256(got)
        while len(got) < size:
            chunk = second.stream.read_exact(min(65536, size - len(got)))
            got += chunk
            h.update(chunk)
        self.assertEqual(h.hexdigest(), pattern_sha256(size))
        reader.join(30)
        self.assertEqual(first_done["r"].status, 200)
        self.assertEqual(self.origin.count("/slowbody"), 1)

    def test_an_uncacheable_answer_releases_the_waiters(self):
        target = "/private-crowd?cc=private&delay=0.3"
        results = []

        def one():
            results.append(self.fetch(self.ika.port, "GET", target).status)
        threads = [threading.Thread(target=one) for _ in range(5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assertEqual(results, [200] * 5)
        self.assertEqual(self.origin.count("/private-crowd"), 5)

    def test_chunked_responses_are_stored(self):
        first = self.get("/chunked?cc=max-age=60&chunked=1")
        self.assertEqual((first.status, first.header("x-cache")), (200, "MISS"))
        second = self.get("/chunked?cc=max-age=60&chunked=1")
        self.assertEqual((second.header("x-cache"), second.body), ("HIT", first.body))
        self.assertEqual(second.header("content-length"), str(len(first.body)))
        self.assertEqual(self.origin.count("/chunked"), 1)


class CacheBudgetTest(IkaTestCase):

    def test_the_byte_budget_holds_and_evicts(self):
        origin = self.start(Counting())
        ika = self.start_ika(cached_config(origin, memory="1MiB", shards=1))
        for i in range(100):
            r = self.fetch(ika.port, "GET", "/o%d?cc=max-age=60&size=%d" % (i, 32 * 1024))
            self.assertEqual(r.status, 200)
        stats = ika.cli_json("cache", "stats")
        self.assertEqual(stats["budget"], MiB)
        self.assertLessEqual(stats["bytes"], MiB)
        self.assertGreater(stats["objects"], 5)
        self.assertLess(stats["objects"], 32)
        self.assertGreater(stats["evicted"] + stats["refused"], 0)
        self.assertEqual(stats["misses"], 100)

    def test_a_response_over_max_object_streams_through_uncached(self):
        origin = self.start(Counting())
        ika = self.start_ika(cached_config(origin, memory="256MiB", cache_max_object="1MiB"))
        size = 100 * MiB
        target = "/huge?cc=max-age=60&size=%d" % size
        self.fetch(ika.port, "GET", "/warm?cc=max-age=60")
        for _ in range(2):
            c = self.client(ika.port, timeout=60)
            c.request("GET", target)
            h = hashlib.sha256()
            with RssSampler(ika.pid) as rss:
                resp = c.response(sink=h.update)
            c.close()
            self.assertEqual((resp.status, resp.header("x-cache")), (200, "MISS"))
            self.assertEqual(h.hexdigest(), pattern_sha256(size))
            self.assertLess(rss.growth, 32 * MiB, "RSS grew by %.1f MiB" % (rss.growth / MiB))
        self.assertEqual(origin.count("/huge"), 2)
        self.assertEqual(ika.cli_json("cache", "stats")["objects"], 1)  # /warm only




class CachedAppTest(AppsTestCase):

    def cached_app(self, version):
        text = manifest("pages", "pages.test", env={"VERSION": version, "CACHE_CONTROL": "public, max-age=600"},
                        extra='[cache]\nenabled = true\n[deploy]\nhold = "0s"\n')
        return self.app_dir({"ika.toml": text, "app.py": PY_APP})

    def test_a_deploy_or_rollback_purges_the_apps_entries_and_purge_by_prefix(self):
        ika = self.node()
        self.deploy(ika, self.cached_app("v1"))
        self.assertEqual(self.get(ika, "pages.test", "/a").header("x-cache"), "MISS")
        hit = self.get(ika, "pages.test", "/a")
        self.assertEqual(hit.header("x-cache"), "HIT")
        self.assertTrue(hit.body.endswith(b" v1 /a\n"), hit.body)
        self.deploy(ika, self.cached_app("v2"))
        after = self.get(ika, "pages.test", "/a")
        self.assertEqual(after.header("x-cache"), "MISS")
        self.assertTrue(after.body.endswith(b" v2 /a\n"), after.body)
        # ika cache purge APP PREFIX drops only what is under the prefix.
        self.get(ika, "pages.test", "/static/x")
        self.assertEqual(self.get(ika, "pages.test", "/static/x").header("x-cache"), "HIT")
        out = ika.cli_json("cache", "purge", "pages", "/static/")
        self.assertEqual(out["purged"], 1)
        self.assertEqual(self.get(ika, "pages.test", "/static/x").header("x-cache"), "MISS")
        self.assertEqual(self.get(ika, "pages.test", "/a").header("x-cache"), "HIT")
        bad = ika.cli("cache", "purge", "pages", "static")
        self.assertEqual(bad.returncode, 2)
        self.assertIn("starts with '/'", bad.stderr)
        unknown = ika.cli("cache", "purge", "nosuch")
        self.assertNotEqual(unknown.returncode, 0)
        # A rollback purges too: the next answer comes from the old release.
        ika.cli("rollback", "pages", timeout=90, check=True)
        back = self.get(ika, "pages.test", "/a")
        self.assertEqual(back.header("x-cache"), "MISS")
        self.assertTrue(back.body.endswith(b" v1 /a\n"), back.body)
        self.assertEqual(self.get(ika, "pages.test", "/a").header("x-cache"), "HIT")


if __name__ == "__main__":
    unittest.main()
