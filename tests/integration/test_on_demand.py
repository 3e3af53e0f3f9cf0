"""Scale to zero (issue 4, section 3): an app with `instances = 0` runs on
demand. Its first request starts an instance and waits for it, with every
request that arrives meanwhile; after `idle_timeout` without a request the
instances stop. Timeouts give 504, a start that fails 502, too many waiters
503 with Retry-After. Nothing is lost or served twice.
"""

import os
import shutil
import tempfile
import threading
import unittest

from ikatest import Client, wait_until
from test_apps import PY_APP, PY_SERVE, AppsTestCase, manifest

# An app that answers "<instance> <path>" and logs "request <path>". On
# SIGTERM it writes $CTL_DIR/<instance>.term and keeps serving (listening
# socket and all) until $CTL_DIR/release exists (bounded at 20 s for a
# broken test); it writes <instance>.exited just before it exits. So a test
# decides how long an instance stays in ika's `stopping` state.
LINGERING_APP = r'''
import http.server, os, signal, socketserver, threading, time
ctl, me = os.environ["CTL_DIR"], os.environ["IKA_INSTANCE"]
def mark(what):
    with open(os.path.join(ctl, me + "." + what), "w") as f:
        f.write(str(os.getpid()))
def linger():
    deadline = time.monotonic() + 20
    while not os.path.exists(os.path.join(ctl, "release")) and time.monotonic() < deadline:
        time.sleep(0.01)
    mark("exited")
    os._exit(0)
def on_term(*_):
    mark("term")
    print("SIGTERM: still serving until released", flush=True)
    threading.Thread(target=linger, daemon=True).start()
signal.signal(signal.SIGTERM, on_term)
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        print("request " + self.path, flush=True)
        body = ("%s %s\n" % (me, self.path)).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.wfile.write(b"".join(self._headers_buffer) + b"\r\n" + body)
        self._headers_buffer = []
''' + PY_SERVE


class OnDemandTest(AppsTestCase):

    def on_demand_app(self, name, host, demand="", env=None, extra=""):
        text = manifest(name, host, instances=0, env=env,
                        extra=extra + "[on_demand]\n" + demand + "[deploy]\nhold = \"0s\"\n")
        return self.app_dir({"ika.toml": text, "app.py": PY_APP})

    def running(self, ika, app):
        return [i for i in self.instances(ika, app) if i["state"] not in ("stopped",)]

    def wait_cold(self, ika, app, timeout=30):
        wait_until(lambda: self.instances(ika, app) == [], timeout=timeout, message="%s idles to zero" % app)

    def concurrent_gets(self, ika, host, n, prefix="/req-"):
        results = [None] * n

        def one(i):
            c = Client(ika.port, timeout=30)
            try:
                c.request("GET", "%s%d" % (prefix, i), host=host)
                results[i] = c.response()
            except Exception as e:  # noqa: BLE001 - reported by the assertions
                results[i] = e
            finally:
                c.close()
        threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        return results

    def test_first_request_starts_it_waiters_are_served_once_then_it_idles_to_zero(self):
        ika = self.node()
        self.deploy(ika, self.on_demand_app("lazy", "lazy.test", env={"LOG_REQUESTS": "1"},
                                            demand='idle_timeout = "1s"\n'))
        # The deploy checked the release with one instance; idle, it stops.
        self.wait_cold(ika, "lazy")
        st = self.status(ika, "lazy")
        self.assertEqual(st["instances"], 0)
        self.assertEqual(st["state"], "running")

        for round_ in range(2):
            results = self.concurrent_gets(ika, "lazy.test", 20)
            for i, r in enumerate(results):
                self.assertNotIsInstance(r, Exception, r)
                self.assertEqual(r.status, 200, r.body)
                self.assertTrue(r.body.decode().rstrip().endswith(" /req-%d" % i), r.body)
            started = self.instances(ika, "lazy")
            self.assertEqual(len(started), 1, "one instance for all waiters (round %d)" % round_)
            self.wait_cold(ika, "lazy")
        # Each request reached the app exactly once.
        logs = ika.cli("logs", "lazy", "-n", "500").stdout
        for i in range(20):
            self.assertEqual(logs.count("request /req-%d\n" % i), 2, logs)
        self.assertIn("idle for", logs)

    def test_a_start_that_fails_gives_502_at_once(self):
        ika = self.node()
        flag = os.path.join(tempfile.mkdtemp(prefix="ika-crash-"), "crash")
        self.addCleanup(shutil.rmtree, os.path.dirname(flag), True)
        self.deploy(ika, self.on_demand_app("frail", "frail.test", env={"CRASH_FILE": flag},
                                            demand='idle_timeout = "500ms"\nwait_timeout = "20s"\n'))
        self.wait_cold(ika, "frail")
        open(flag, "w").close()
        results = self.concurrent_gets(ika, "frail.test", 5)
        for r in results:
            self.assertNotIsInstance(r, Exception, r)
            self.assertEqual(r.status, 502, r.body)
            self.assertIn(b"failed to start", r.body)
        # Fixed: the next request wakes a fresh instance that serves.
        os.unlink(flag)
        self.assertEqual(self.get(ika, "frail.test").status, 200)

    def test_wait_timeout_gives_504_and_too_many_waiters_503(self):
        ika = self.node()
        self.deploy(ika, self.on_demand_app("sleepy", "sleepy.test", env={"SLOW_START": "2"},
                                            demand='idle_timeout = "500ms"\nwait_timeout = "300ms"\n'))
        self.wait_cold(ika, "sleepy")
        r = self.get(ika, "sleepy.test")
        self.assertEqual(r.status, 504, r.body)
        # The instance it woke still comes up and serves what follows.
        wait_until(lambda: self.get(ika, "sleepy.test").status == 200, timeout=20, interval=0.2)

        self.deploy(ika, self.on_demand_app("crowd", "crowd.test", env={"SLOW_START": "1"},
                                            demand='idle_timeout = "500ms"\nmax_waiters = 3\n'))
        self.wait_cold(ika, "crowd")
        results = self.concurrent_gets(ika, "crowd.test", 8)
        statuses = sorted(r.status for r in results)
        self.assertEqual(statuses.count(200), 3, statuses)
        self.assertEqual(statuses.count(503), 5, statuses)
        for r in results:
            if r.status == 503:
                self.assertEqual(r.header("Retry-After"), "1")

    def test_requests_around_the_idle_stop_are_all_served(self):
        """Requests sent while an idle instance is `stopping` (SIGTERM sent,
        the process still up and listening, held there by the test) are each
        served exactly once, by it or by a fresh instance; twice over, the
        second time with two instances stopping."""
        ctl = tempfile.mkdtemp(prefix="ika-ctl-")
        self.addCleanup(shutil.rmtree, ctl, True)
        ika = self.node()
        # Cleanups run last-in first-out: every held instance is let go
        # before the node stops (and SIGTERMs whatever still runs).
        self.addCleanup(lambda: open(os.path.join(ctl, "release"), "w").close())
        text = manifest("edge", "edge.test", instances=0, env={"CTL_DIR": ctl},
                        extra='stop_timeout = "30s"\n[on_demand]\nidle_timeout = "300ms"\n'
                              '[deploy]\nhold = "0s"\n')
        self.deploy(ika, self.app_dir({"ika.toml": text, "app.py": LINGERING_APP}))

        def marked(what):
            return {f[:-len(what) - 1] for f in os.listdir(ctl) if f.endswith("." + what)}

        def state_of(instance):
            return next((i["state"] for i in self.instances(ika, "edge") if i["id"] == instance), None)

        sent, stopping_ids = [], []
        for round_ in ("a", "b"):
            # The instance serving now idles and gets its SIGTERM.
            new = wait_until(lambda: marked("term") - set(stopping_ids), timeout=20,
                             message="an idle instance to get SIGTERM (round %s)" % round_)
            # (One, unless a slow round let the fresh instance idle too.)
            stopping_ids += sorted(new)
            for instance in stopping_ids:
                wait_until(lambda: state_of(instance) == "stopping", timeout=10,
                           message="%s shown as stopping" % instance)
            self.assertFalse(marked("exited"))
            # 8 at once (they wait for a fresh instance together), then 8
            # one after another.
            paths = ["/%s-together-%d" % (round_, i) for i in range(8)]
            responses = list(zip(paths, self.concurrent_gets(ika, "edge.test", 8, "/%s-together-" % round_)))
            for i in range(8):
                path = "/%s-alone-%d" % (round_, i)
                responses.append((path, self.get(ika, "edge.test", path)))
            for path, r in responses:
                self.assertNotIsInstance(r, Exception, (path, r))
                self.assertEqual(r.status, 200, (path, r.body))
                # Served by a held instance or a fresh one: either is right.
                self.assertEqual(r.body.decode().split()[1], path)
                sent.append(path)
            # Every request above was sent and answered while the held
            # instances were stopping: still up, and still shown so.
            self.assertFalse(marked("exited"), "an instance exited before it was released")
            for instance in stopping_ids:
                self.assertEqual(state_of(instance), "stopping", instance)

        open(os.path.join(ctl, "release"), "w").close()
        wait_until(lambda: set(stopping_ids) <= marked("exited"), timeout=10, message="the held instances exit")
        wait_until(lambda: not any(i["id"] in stopping_ids for i in self.instances(ika, "edge")), timeout=10,
                   message="the stopped instances leave the status")
        # Each request reached an app exactly once.
        logs = ika.cli("logs", "edge", "-n", "1000").stdout
        for path in sent:
            self.assertEqual(logs.count("request %s\n" % path), 1, "%s in:\n%s" % (path, logs))
        self.assertEqual(len(sent), 32)
        self.assertIn("idle for", logs)
        self.assertIn("SIGTERM: still serving", logs)

    def test_scale_to_zero_and_back(self):
        ika = self.node()
        d = self.py_app("dial", "dial.test", instances=2, extra='[on_demand]\nidle_timeout = "500ms"\n')
        self.deploy(ika, d)
        ika.cli_json("scale", "dial", "0")
        self.wait_cold(ika, "dial")
        # A 2 s request wakes it; while that request is in flight the idle
        # timeout cannot stop the instance, so the count is not a race with
        # a slow status command.
        slow = {}
        t = threading.Thread(target=lambda: slow.update(r=self.get(ika, "dial.test", "/slow")))
        t.start()

        def serving_snapshot():
            now = self.instances(ika, "dial")
            return now if any(i["in_flight"] > 0 for i in now) else None
        serving = wait_until(serving_snapshot, timeout=30, message="the woken instance serves")
        t.join(timeout=30)
        self.assertEqual(len(serving), 1, serving)
        self.assertEqual(slow["r"].status, 200)
        ika.cli_json("scale", "dial", "2")
        wait_until(lambda: self.status(ika, "dial")["healthy"] == 2, timeout=30, message="scale back up")


if __name__ == "__main__":
    unittest.main()
