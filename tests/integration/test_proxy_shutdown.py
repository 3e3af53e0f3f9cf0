"""Graceful shutdown: on SIGTERM ika stops accepting, lets in-flight requests
finish within node.shutdown_timeout (no request fails), closes idle
connections and exits 0; SIGINT exits at once."""

import signal
import socket
import subprocess
import threading
import time
import unittest

from ikatest import (ConnectionClosed, IkaTestCase, Client, Origin, Reply, make_config, wait_until)

LOAD_THREADS = 4
MAX_REQUESTS_PER_THREAD = 3000  # bounds the load loop
LOAD_DEADLINE = 40.0


class SlowOrigin(Origin):
    """Answers /slow only once `release` is set; everything else at once."""

    def __init__(self):
        super().__init__(b"fast")
        self.release = threading.Event()

    def respond(self, req):
        if req.target.startswith("/slow"):
            self.release.wait(60)
            return Reply(b"slow done")
        return Reply(b"fast")

    def stop(self):
        self.release.set()
        super().stop()

    def slow_started(self):
        return any(r.target.startswith("/slow") for r in self.requests)


def listener_closed(port):
    """True once connecting to the port is refused."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=1)
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
    s.close()
    return False


class SlowRequest(threading.Thread):
    """One request to /slow in a thread; `.response` or `.error` after."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.client = Client(port, timeout=60)
        self.response = None
        self.error = None

    def run(self):
        try:
            self.response = self.client.roundtrip("GET", "/slow")
        except Exception as e:  # reported by the test
            self.error = e
        finally:
            self.client.close()


class LoadThread(threading.Thread):
    """A keep-alive client sending GETs back to back, at most
    MAX_REQUESTS_PER_THREAD of them; it stops when a response says
    `Connection: close`. Any other end is a failure."""

    def __init__(self, port, sigterm_sent):
        super().__init__(daemon=True)
        self.port = port
        self.sigterm_sent = sigterm_sent
        self.done = 0
        self.after_sigterm = 0
        self.failures = []
        self.ended_by_close = False
        self.stop = threading.Event()

    def run(self):
        deadline = time.monotonic() + LOAD_DEADLINE
        client = Client(self.port, timeout=20)
        try:
            for i in range(MAX_REQUESTS_PER_THREAD):
                if self.stop.is_set() or time.monotonic() > deadline:
                    return
                term = self.sigterm_sent.is_set()
                try:
                    client.request("GET", "/fast/%d" % i)
                    resp = client.response()
                except (ConnectionClosed, OSError) as e:
                    self.failures.append("request %d (%s SIGTERM) on a connection that had served %d: %r" % (
                        i, "after" if term else "before", i, e))
                    return
                if (resp.status, resp.body) != (200, b"fast"):
                    self.failures.append("request %d: %r %r" % (i, resp, resp.body[:100]))
                    return
                self.done += 1
                if term:
                    self.after_sigterm += 1
                if "close" in resp.tokens("connection"):
                    self.ended_by_close = True
                    return
        finally:
            client.close()


class ShutdownTest(IkaTestCase):

    def start_slow_setup(self, shutdown_timeout="10s"):
        origin = self.start(SlowOrigin())
        ika = self.start_ika(make_config(origin, node={"shutdown_timeout": shutdown_timeout}))
        return origin, ika

    def start_slow_request(self, ika, origin):
        slow = SlowRequest(ika.port)
        slow.start()
        self.addCleanup(slow.join, 5)
        self.addCleanup(origin.release.set)
        wait_until(origin.slow_started, 10, message="the slow request to reach the origin")
        return slow

    def test_sigterm_under_load_fails_no_request(self):
        """SIGTERM during back-to-back keep-alive load plus one slow request:
        no request fails, every client is told `Connection: close`, the slow
        request completes, new connections are refused, exit code 0."""
        origin, ika = self.start_slow_setup("10s")
        slow = self.start_slow_request(ika, origin)
        sigterm_sent = threading.Event()
        load = [LoadThread(ika.port, sigterm_sent) for _ in range(LOAD_THREADS)]
        for t in load:
            t.start()
            self.addCleanup(t.join, 5)
            self.addCleanup(t.stop.set)
        wait_until(lambda: sum(t.done for t in load) >= 400, 20, message="load to get going")

        sigterm_sent.set()
        ika.send_signal(signal.SIGTERM)
        wait_until(lambda: listener_closed(ika.port), 5, message="the listener to close after SIGTERM")
        for t in load:
            t.join(15)
        self.assertTrue(all(not t.is_alive() for t in load), "load clients still running 15 s after SIGTERM")
        self.assertTrue(ika.running(), "ika exited while a request was in flight")
        self.assertIsNone(slow.response, "the slow request finished before it was released")

        origin.release.set()
        slow.join(10)
        code = ika.wait(10)

        failures = [f for t in load for f in t.failures]
        self.assertEqual(failures, [], "requests failed during shutdown")
        self.assertIsNone(slow.error, "the slow request failed: %r" % (slow.error,))
        self.assertEqual((slow.response.status, slow.response.body), (200, b"slow done"))
        self.assertTrue(all(t.ended_by_close for t in load), "a client was not told Connection: close")
        self.assertEqual(code, 0, "exit code after SIGTERM; stderr:\n" + ika.stderr[-2000:])

    def test_sigterm_waits_for_the_in_flight_request(self):
        """With one slow request in flight, SIGTERM closes the listener but
        ika keeps running until the response is delivered, then exits 0."""
        origin, ika = self.start_slow_setup("10s")
        slow = self.start_slow_request(ika, origin)
        ika.send_signal(signal.SIGTERM)
        wait_until(lambda: listener_closed(ika.port), 5, message="the listener to close after SIGTERM")
        self.assertTrue(ika.running())
        origin.release.set()
        slow.join(10)
        self.assertIsNone(slow.error)
        self.assertEqual((slow.response.status, slow.response.body), (200, b"slow done"))
        self.assertIn("close", slow.response.tokens("connection"), "a draining server should say Connection: close")
        self.assertEqual(ika.wait(10), 0)

    def test_sigterm_when_idle_exits_zero_at_once(self):
        """Without traffic, SIGTERM makes ika exit 0 within 3 s."""
        origin = self.start(Origin())
        ika = self.proxy(origin, node={"shutdown_timeout": "30s"})
        self.assertEqual(self.fetch(ika.port).status, 200)
        started = time.monotonic()
        ika.send_signal(signal.SIGTERM)
        self.assertEqual(ika.wait(10), 0)
        self.assertLess(time.monotonic() - started, 3)

    def test_idle_keep_alive_connections_do_not_delay_exit(self):
        """Open idle keep-alive connections are closed on SIGTERM instead of
        holding the process until shutdown_timeout."""
        origin = self.start(Origin())
        ika = self.proxy(origin, node={"shutdown_timeout": "30s"})
        clients = [self.client(ika.port) for _ in range(5)]
        for c in clients:
            self.assertEqual(c.roundtrip("GET", "/").status, 200)
        started = time.monotonic()
        ika.send_signal(signal.SIGTERM)
        self.assertEqual(ika.wait(10), 0)
        self.assertLess(time.monotonic() - started, 3)
        for c in clients:
            self.assert_closed(c, timeout=2)

    def test_shutdown_timeout_bounds_the_drain(self):
        """A request that never finishes does not keep ika alive past
        node.shutdown_timeout (1 s here): it exits within 4 s of SIGTERM."""
        origin, ika = self.start_slow_setup("1s")
        self.start_slow_request(ika, origin)
        started = time.monotonic()
        ika.send_signal(signal.SIGTERM)
        try:
            ika.wait(4)
        except subprocess.TimeoutExpired:
            self.fail("ika still running 4 s after SIGTERM with shutdown_timeout = 1s")
        self.assertGreater(time.monotonic() - started, 0.8, "ika did not wait for the in-flight request at all")

    def test_sigint_exits_fast(self):
        """SIGINT exits within 2 s even with a request in flight and a long
        shutdown_timeout."""
        origin, ika = self.start_slow_setup("30s")
        self.start_slow_request(ika, origin)
        started = time.monotonic()
        ika.send_signal(signal.SIGINT)
        try:
            ika.wait(5)
        except subprocess.TimeoutExpired:
            self.fail("ika still running 5 s after SIGINT")
        self.assertLess(time.monotonic() - started, 2)


if __name__ == "__main__":
    unittest.main()
