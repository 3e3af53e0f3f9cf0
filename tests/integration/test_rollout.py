"""Rolling updates (issue 4, sections 1 and 2).

Under load: a deploy, a rollback, a failed deploy and scaling, all while wrk
keeps a constant load of >= 500 requests/s on the app, must produce no failed
request at all. wrk is paced (a Lua delay per request) so the machine is not
saturated; it counts the responses of every second (each full second must
have >= 500), tallies each response's release from its body, and reports
non-2xx responses and socket errors itself. A second, slower client records
which release answered when, to check that after each step every response
comes from the expected release. Slow requests started every 200 ms during
the first rollout must all complete, and some of them provably straddle the
traffic switch: answered by the old release, finished after the node
confirmed that new requests go to the new one.

Without load: a short drain_timeout cuts a long request on the old release;
rollouts onto a running app that fail (a new instance never ready, or turning
unhealthy while held) leave the old instances serving, untouched; with
max_surge = 2 at most two new instances wait out of traffic at a time, and
none of them answers a request before it joins the balancer.
"""

import math
import os
import re
import signal
import subprocess
import tempfile
import threading
import time
import unittest

from ikatest import IKA_BIN, Client, wait_until
from test_apps import PY_APP, PY_SERVE, AppsTestCase

# An app answering "<instance> <$VERSION> <path> <arrival>" (arrival: the
# app's CLOCK_MONOTONIC when the request came in, the clock of the test's
# time.monotonic()). /slow?ms=N answers after N ms. $CRASH: it dies at start;
# $NEVER_READY: it never listens; $SICK_AFTER=N: /health fails after N passes.
ROLL_APP = r'''
import http.server, os, socketserver, sys, time, urllib.parse
name, version = os.environ["IKA_INSTANCE"], os.environ.get("VERSION", "v1")
print("starting %s of release %s" % (name, version), flush=True)
if os.environ.get("CRASH"):
    print("crashing on purpose", flush=True)
    sys.exit(3)
if os.environ.get("NEVER_READY"):
    print("release %s never listens" % version, flush=True)
    time.sleep(3600)
sick_after = int(os.environ.get("SICK_AFTER", "0"))
checks = [0]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/health":
            checks[0] += 1
            code = 200
            if sick_after and checks[0] > sick_after:
                code = 503
                print("health check %d of release %s fails on purpose" % (checks[0], version), flush=True)
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        arrived = time.monotonic()
        if url.path == "/slow":
            time.sleep(int(urllib.parse.parse_qs(url.query).get("ms", ["2000"])[0]) / 1000.0)
        body = ("%s %s %s %.6f\n" % (name, version, url.path, arrived)).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        # Head and body in one send (see PY_APP in test_apps).
        self.wfile.write(b"".join(self._headers_buffer) + b"\r\n" + body)
        self._headers_buffer = []
''' + PY_SERVE


def toml_value(v):
    return str(v) if isinstance(v, int) else '"%s"' % v


def roll_manifest(name, host, version, instances=2, top=None, deploy=None, health=None, env=None):
    """An ika.toml for ROLL_APP; `top`, `deploy`, `health` and `env` are
    dicts of keys (ints stay numbers, everything else is a string)."""
    lines = ['name = "%s"' % name, 'command = ["python3", "app.py"]', "instances = %d" % instances]
    lines += ["%s = %s" % (k, toml_value(v)) for k, v in (top or {}).items()]
    for table, keys in (("deploy", deploy), ("health", health)):
        if keys:
            lines.append("[%s]" % table)
            lines += ["%s = %s" % (k, toml_value(v)) for k, v in keys.items()]
    lines += ["[[routes]]", 'host = "%s"' % host, "[env]", 'VERSION = "%s"' % version]
    lines += ['%s = "%s"' % kv for kv in (env or {}).items()]
    return "\n".join(lines) + "\n"


# Paced load: each connection waits DELAY ms between requests. Counts each
# release seen, the responses of every second (os.time()) and everything
# that is not a 200.
WRK_SCRIPT = r'''
counts = {}
seconds = {}
bad = 0
function delay() return %d end
function response(status, headers, body)
  local now = os.time()
  seconds[now] = (seconds[now] or 0) + 1
  if status ~= 200 then bad = bad + 1 end
  local v = string.match(body or "", "^%%S+ (%%w+) ") or "none"
  counts[v] = (counts[v] or 0) + 1
end
threads = {}
function setup(thread) table.insert(threads, thread) end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("IKA requests=%%d duration_us=%%d connect=%%d read=%%d write=%%d status=%%d timeout=%%d\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout))
  for _, t in ipairs(threads) do
    io.write(string.format("IKA bad=%%d\n", t:get("bad")))
    for k, v in pairs(t:get("counts")) do io.write(string.format("IKA count %%s=%%d\n", k, v)) end
    for k, v in pairs(t:get("seconds")) do io.write(string.format("IKA second %%d=%%d\n", k, v)) end
  end
end
'''

HOST = "roll.test"
MIN_RATE = 500  # responses in every full second of the load test


def parse_body(body):
    """(instance, release, arrival) of a ROLL_APP answer, or Nones."""
    m = re.match(rb"(\S+) (\w+) \S+ ([\d.]+)\n$", body)
    return (m.group(1).decode(), m.group(2).decode(), float(m.group(3))) if m else (None, None, None)


class Observer(threading.Thread):
    """GETs / every few ms on one keep-alive connection, recording
    (start, end, status, release, instance) per request."""

    def __init__(self, port, host=HOST, pause=0.01):
        super().__init__(daemon=True)
        self.port = port
        self.host = host
        self.pause = pause
        self.samples = []
        self.errors = []
        self.stop = threading.Event()

    def run(self):
        client = None
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                if client is None:
                    client = Client(self.port)
                client.request("GET", "/", host=self.host)
                r = client.response()
                instance, release, _ = parse_body(r.body)
                self.samples.append((started, time.monotonic(), r.status, release, instance))
            except Exception as e:  # noqa: BLE001 - every failure is a finding
                self.errors.append((started, repr(e)))
                client = None
            self.stop.wait(self.pause)
        if client:
            client.close()

    def since(self, t):
        return [s for s in self.samples if s[0] >= t]

    def releases_since(self, t):
        return {s[3] for s in self.since(t)}


class SlowRequests(threading.Thread):
    """Starts GET /slow?ms=MS every `every` seconds, each on a connection of
    its own, and records each as a dict: started, ended (monotonic), status,
    release, arrived (at the app, same clock) or error."""

    def __init__(self, port, host, ms, every, limit=100):
        super().__init__(daemon=True)
        self.port, self.host, self.ms, self.every, self.limit = port, host, ms, every, limit
        self.results = []
        self.workers = []
        self.launched = []
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set() and len(self.workers) < self.limit:
            self.launched.append(time.monotonic())
            w = threading.Thread(target=self.one, daemon=True)
            w.start()
            self.workers.append(w)
            self.stop.wait(self.every)

    def one(self):
        rec = {"started": time.monotonic()}
        c = None
        try:
            c = Client(self.port, timeout=30)
            c.request("GET", "/slow?ms=%d" % self.ms, host=self.host)
            r = c.response()
            rec["status"], rec["body"] = r.status, r.body
            _, rec["release"], rec["arrived"] = parse_body(r.body)
        except Exception as e:  # noqa: BLE001 - every failure is a finding
            rec["error"] = repr(e)
        finally:
            rec["ended"] = time.monotonic()
            if c:
                c.close()
        self.results.append(rec)

    def finish(self, timeout):
        """Stops starting requests; waits for those in flight."""
        self.stop.set()
        deadline = time.monotonic() + timeout
        self.join(timeout)
        for w in self.workers:
            w.join(max(0.0, deadline - time.monotonic()))
        return self.results


class StatusPoller(threading.Thread):
    """Polls `ika status APP --json` back to back, recording
    (before, after, status) per answer."""

    def __init__(self, case, ika, app):
        super().__init__(daemon=True)
        self.case, self.ika, self.app = case, ika, app
        self.polls = []
        self.errors = []
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set() and len(self.polls) < 2000:
            before = time.monotonic()
            try:
                st = self.case.status(self.ika, self.app)
            except Exception as e:  # noqa: BLE001
                self.errors.append(repr(e))
                self.stop.wait(0.05)
                continue
            self.polls.append((before, time.monotonic(), st))


def watched_deploy(ika, d, timeout=60):
    """`ika deploy D`, with the time each line of its progress output
    arrived: (returncode, [(monotonic, line)], stdout, stderr)."""
    proc = subprocess.Popen([IKA_BIN, "deploy", d, "--data", ika.data_dir], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace",
                            env=ika.env)
    lines, err = [], []
    readers = [threading.Thread(target=lambda: [lines.append((time.monotonic(), l.rstrip("\n")))
                                                for l in proc.stdout], daemon=True),
               threading.Thread(target=lambda: err.append(proc.stderr.read()), daemon=True)]
    for r in readers:
        r.start()
    try:
        code = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise
    finally:
        for r in readers:
            r.join(5)
        proc.stdout.close()
        proc.stderr.close()
    return code, lines, "\n".join(l for _, l in lines), "".join(err)


def pid_alive(pid):
    """Whether `pid` (an instance the test deployed) still exists, not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


class RolloutUnderLoadTest(AppsTestCase):

    def release_dir(self, version, broken=False, instances=2):
        env = {"CRASH": "1"} if broken else None
        text = roll_manifest("roll", HOST, version, instances, deploy={"hold": "300ms", "drain_timeout": "10s"},
                             health={"path": "/", "interval": "1s", "timeout": "500ms", "healthy_threshold": 1},
                             env=env)
        return self.app_dir({"ika.toml": text, "app.py": ROLL_APP})

    def start_wrk(self, port):
        script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
        self.addCleanup(os.unlink, script.name)
        script.write(WRK_SCRIPT % 8)
        script.close()
        # The duration cap is far beyond the test: the test stops wrk itself
        # and checks that it was still running.
        proc = subprocess.Popen(
            ["wrk", "-t1", "-c8", "-d300s", "--timeout", "10s", "-s", script.name, "-H", "Host: " + HOST,
             "http://127.0.0.1:%d/" % port],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

        def stop():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.addCleanup(stop)
        return proc

    def finish_wrk(self, proc):
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        stats = dict(re.findall(r"(\w+)=(\d+)", re.search(r"^IKA requests=.*$", out, re.M).group(0)))
        stats = {k: int(v) for k, v in stats.items()}
        stats["bad"] = sum(int(b) for b in re.findall(r"^IKA bad=(\d+)$", out, re.M))
        counts = {k: int(v) for k, v in re.findall(r"^IKA count (\w+)=(\d+)$", out, re.M)}
        seconds = {}
        for k, v in re.findall(r"^IKA second (\d+)=(\d+)$", out, re.M):
            seconds[int(k)] = seconds.get(int(k), 0) + int(v)
        return stats, counts, seconds, out + err

    def test_deploy_rollback_failed_deploy_and_scaling_under_load_fail_nothing(self):
        ika = self.node()
        v1, v2, v3 = self.release_dir("one"), self.release_dir("two"), self.release_dir("three", broken=True)
        self.deploy(ika, v1)

        wrk = self.start_wrk(ika.port)
        observer = Observer(ika.port)
        observer.start()
        self.addCleanup(observer.stop.set)
        wait_until(lambda: len(observer.samples) >= 20, timeout=20, message="observer sees the app")
        # The steps begin in a second of full load (wrk answers by now, and
        # the second it began in is left out of the per-second check).
        loaded = time.time()
        wait_until(lambda: time.time() >= math.floor(loaded) + 1.05, timeout=3)

        # Slow requests (3 s), one every 200 ms from before the rollout until
        # after it; the first is in flight on release one when it starts.
        slow = SlowRequests(ika.port, HOST, ms=3000, every=0.2)
        slow.start()
        self.addCleanup(slow.stop.set)
        wait_until(lambda: any(i["in_flight"] > 0 for i in self.instances(ika, "roll")), timeout=10,
                   message="the first slow request reaches an instance")

        # 1. Deploy release two: a rolling update.
        first_step_wall = time.time()
        before_v2 = time.monotonic()
        proc = self.deploy(ika, v2)
        self.assertIn("is live", proc.stdout + proc.stderr)
        # The node confirmed the switch before the deploy's reply: from now
        # on no new request reaches release one.
        after_v2 = time.monotonic()
        wait_until(lambda: len([t for t in slow.launched if t > after_v2]) >= 2, timeout=5,
                   message="slow requests after the switch")
        results = slow.finish(timeout=15)
        wait_until(lambda: len(observer.since(after_v2)) >= 20, timeout=20)
        self.assertEqual(observer.releases_since(after_v2), {"two"})
        self.check_slow_requests(results, before_v2, after_v2)
        wait_until(lambda: {i["release"] for i in self.instances(ika, "roll")} == {self.status(ika, "roll")["release"]},
                   timeout=20, message="release one's instances stop")

        # 2. Back to release one: `ika rollback` (the release live before).
        proc = ika.cli("rollback", "roll", timeout=90)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        after_v1 = time.monotonic()
        wait_until(lambda: len(observer.since(after_v1)) >= 20, timeout=20)
        self.assertEqual(observer.releases_since(after_v1), {"one"})

        # 3. A broken release three fails; release one keeps serving.
        before_v3 = time.monotonic()
        proc = self.deploy(ika, v3, ok=False)
        self.assertEqual(proc.returncode, 1, proc.stdout + proc.stderr)
        self.assertIn("crashing on purpose", proc.stdout + proc.stderr)
        after_v3 = time.monotonic()
        wait_until(lambda: len(observer.since(after_v3)) >= 20, timeout=20)
        self.assertEqual(observer.releases_since(before_v3), {"one"})
        st = self.status(ika, "roll")
        self.assertEqual(st["state"], "running")
        self.assertEqual(len(st["instance_list"]), 2)

        # 4. Scale up and down.
        ika.cli_json("scale", "roll", "4")
        wait_until(lambda: self.status(ika, "roll")["healthy"] == 4, timeout=30, message="scale up")
        ika.cli_json("scale", "roll", "1")
        wait_until(lambda: len(self.instances(ika, "roll")) == 1, timeout=30, message="scale down")
        last_step_wall = time.time()
        after_scale = time.monotonic()
        wait_until(lambda: len(observer.since(after_scale)) >= 20, timeout=20)
        # The load goes on into the next second, so that the second in which
        # the last step ended is a full one in wrk's tally.
        wait_until(lambda: time.time() >= math.floor(last_step_wall) + 1.1, timeout=3)

        observer.stop.set()
        observer.join(timeout=10)
        self.assertIsNone(wrk.poll(), "wrk stopped before the last step was done:\n%s" % (
            wrk.stdout.read() if wrk.poll() is not None else ""))
        stats, counts, seconds, text = self.finish_wrk(wrk)
        duration = stats["duration_us"] / 1e6
        first, last = min(seconds), max(seconds)
        full = {s: seconds.get(s, 0) for s in range(first + 1, last)}
        print("\nrollout under load: %d requests in %.1f s (%.0f/s), per full second min %d max %d, releases %r" % (
            stats["requests"], duration, stats["requests"] / duration, min(full.values()), max(full.values()),
            counts))
        # Every second of the steps is a full second of the load.
        self.assertLess(first, math.floor(first_step_wall), text)
        self.assertGreater(last, math.floor(last_step_wall), text)
        slow_seconds = {s: n for s, n in full.items() if n < MIN_RATE}
        self.assertEqual(slow_seconds, {}, "seconds under %d responses (of %r)\n%s" % (MIN_RATE, full, text))
        self.assertEqual(stats["bad"], 0, text)
        for kind in ("connect", "read", "write", "status", "timeout"):
            self.assertEqual(stats[kind], 0, "%s errors\n%s" % (kind, text))
        self.assertEqual(set(counts), {"one", "two"}, text)
        self.assertEqual(observer.errors, [])
        self.assertEqual({s[2] for s in observer.samples}, {200})

    def check_slow_requests(self, results, before, switched):
        """Slow requests around a rollout from release one to two, which
        began at `before`; by `switched` the node had confirmed the switch."""
        summary = "\n".join("%.3f..%.3f %s %s" % (r["started"] - before, r["ended"] - before, r.get("status"),
                                                  r.get("release") or r.get("error")) for r in results)
        self.assertGreaterEqual(len(results), 5, summary)
        for r in results:
            self.assertNotIn("error", r, summary)
            self.assertEqual(r["status"], 200, summary)
            self.assertIn(r["release"], ("one", "two"), summary)
            if r["started"] < before:
                self.assertEqual(r["release"], "one", summary)
            if r["started"] > switched:
                self.assertEqual(r["release"], "two", summary)
        # Straddling the switch: it reached release one before new requests
        # stopped going there, and finished after.
        straddling = [r for r in results if r["release"] == "one" and r["arrived"] < switched < r["ended"]]
        print("\nslow requests: %d, %d answered by release one across the switch" % (len(results), len(straddling)))
        self.assertGreaterEqual(len(straddling), 2, summary)
        # One was on release one before the rollout began; later ones went
        # to release two.
        self.assertTrue(any(r["arrived"] < before for r in results), summary)
        self.assertTrue(any(r["release"] == "two" for r in results), summary)


class RolloutEdgesTest(AppsTestCase):
    """Rollouts onto a running app, without load: drain_timeout, failures
    of the new release, max_surge."""

    def app(self, name, version, instances=2, deploy=None, health=None, env=None, top=None):
        text = roll_manifest(name, name + ".test", version, instances, top=top, deploy=deploy, health=health,
                             env=env)
        return self.app_dir({"ika.toml": text, "app.py": ROLL_APP})

    def observe(self, ika, host, n=1):
        observers = [Observer(ika.port, host=host, pause=0.005) for _ in range(n)]
        for o in observers:
            o.start()
            self.addCleanup(o.stop.set)
        wait_until(lambda: all(len(o.samples) >= 10 for o in observers), timeout=10, message="observers see the app")
        return observers

    def stop_observers(self, observers):
        for o in observers:
            o.stop.set()
        for o in observers:
            o.join(timeout=10)
        samples = sorted(s for o in observers for s in o.samples)
        errors = [e for o in observers for e in o.errors]
        return samples, errors

    def test_drain_timeout_cuts_a_long_request_on_the_old_release(self):
        ika = self.node()
        deploy = {"hold": "0s", "drain_timeout": "1s"}
        self.deploy(ika, self.app("drain", "one", instances=1, deploy=deploy))
        [old] = self.instances(ika, "drain")

        # An 8 s request on release one, in flight when the rollout starts.
        long = SlowRequests(ika.port, "drain.test", ms=8000, every=60, limit=1)
        long.start()
        self.addCleanup(long.stop.set)
        wait_until(lambda: any(i["in_flight"] > 0 for i in self.instances(ika, "drain")), timeout=10,
                   message="the long request reaches the instance")

        # Release two's own drain_timeout (30 s) applies to its instances, not
        # to release one's, which drain by the 1 s they were started with.
        code, lines, out, err = watched_deploy(ika, self.app("drain", "two", instances=1,
                                                             deploy=dict(deploy, drain_timeout="30s")))
        self.assertEqual(code, 0, out + err)
        switched = next((t for t, l in lines if "traffic switched" in l), None)
        self.assertIsNotNone(switched, out)
        self.assertEqual(parse_body(self.get(ika, "drain.test").body)[1], "two")

        # The old instance drains for drain_timeout, then stops, although
        # its request would take 8 s.
        wait_until(lambda: old["id"] not in {i["id"] for i in self.instances(ika, "drain")}, timeout=10,
                   interval=0.02, message="the old instance stops")
        gone = time.monotonic()
        self.assertFalse(pid_alive(old["pid"]))
        [result] = long.finish(timeout=10)
        started = result["started"]
        print("\ndrain_timeout 1 s: old instance gone %.2f s after the switch (request started %.2f s before); "
              "the long request got %s after %.2f s" % (gone - switched, switched - started,
                                                       result.get("status") or result.get("error"),
                                                       result["ended"] - started))
        self.assertGreater(gone - switched, 0.5)
        self.assertLess(gone - switched, 3.0)
        self.assertLess(gone - started, 6.0)
        # What the cut request gets: a 502 from ika, at once, not a hang or a
        # reset (its instance died without a byte of answer; no other
        # instance of release one is left to retry it on).
        self.assertNotIn("error", result, result)
        self.assertEqual(result["status"], 502, result)
        self.assertLess(result["ended"] - gone, 1.0)

    def test_a_release_that_moves_its_route_keeps_the_old_host_until_the_switch(self):
        ika = self.node()
        def release(host, version, hold):
            return self.app_dir({"ika.toml": roll_manifest("mover", host, version, 1, deploy={"hold": hold}),
                                 "app.py": ROLL_APP})
        self.deploy(ika, release("old-host.test", "one", "0s"))
        [observer] = self.observe(ika, "old-host.test")
        # Release two serves new-host.test only; while it holds (2 s), the
        # old host still reaches release one.
        code, lines, out, err = watched_deploy(ika, release("new-host.test", "two", "2s"))
        self.assertEqual(code, 0, out + err)
        switched = next((t for t, l in lines if "traffic switched" in l), None)
        self.assertIsNotNone(switched, out)
        held = next((t for t, l in lines if l.endswith(": healthy")), None)
        self.assertIsNotNone(held, out)
        samples, errors = self.stop_observers([observer])
        # The node switches no sooner than 2 s after it saw the instance
        # healthy; the client reads either line a little later than the node
        # wrote it, so 1.5 s after the first is surely before the switch.
        self.assertGreater(switched - held, 1.5, out)
        during = [s for s in samples if held <= s[0] and s[1] <= held + 1.5]
        self.assertGreaterEqual(len(during), 20, "too few requests while release two held")
        self.assertEqual({(s[2], s[3]) for s in during}, {(200, "one")})
        self.assertEqual(errors, [])
        # Live: the new host serves release two, the old one is gone.
        self.assertEqual(parse_body(self.get(ika, "new-host.test").body)[1], "two")
        self.assertEqual(self.get(ika, "old-host.test").status, 404)

    def check_untouched(self, ika, app, before, observer_samples, errors, t0, t1):
        """Release one served every request during [t0, t1] and its
        instances are the same processes as `before`."""
        during = [s for s in observer_samples if t0 <= s[0] <= t1]
        self.assertGreaterEqual(len(during), 20, "too few requests during the deploy")
        self.assertEqual(errors, [])
        self.assertEqual({(s[2], s[3]) for s in observer_samples}, {(200, "one")})
        wait_until(lambda: not self.status(ika, app).get("next_release") and
                   len(self.instances(ika, app)) == len(before), timeout=10, message="the new instances go")
        st = self.status(ika, app)
        self.assertEqual(st["release"], before[0]["release"])
        self.assertEqual(st["state"], "running")
        self.assertEqual({(i["id"], i["pid"], i["restarts"]) for i in st["instance_list"]},
                         {(i["id"], i["pid"], i["restarts"]) for i in before})
        for i in st["instance_list"]:
            self.assertTrue(pid_alive(i["pid"]))

    def test_a_new_release_never_ready_fails_and_release_one_serves_on(self):
        ika = self.node()
        health = {"path": "/health", "interval": "500ms", "timeout": "200ms"}
        self.deploy(ika, self.app("never", "one", health=health, deploy={"max_surge": 2, "hold": "0s"}))
        before = self.instances(ika, "never")
        observers = self.observe(ika, "never.test")
        t0 = time.monotonic()
        proc = self.deploy(ika, self.app("never", "two", health=health, top={"start_timeout": "1s"},
                                         env={"NEVER_READY": "1"}), ok=False)
        t1 = time.monotonic()
        wait_until(lambda: all(len([s for s in o.samples if s[0] > t1]) >= 5 for o in observers), timeout=10)
        samples, errors = self.stop_observers(observers)
        text = proc.stdout + proc.stderr
        self.assertEqual(proc.returncode, 1, text)
        self.assertRegex(proc.stderr, r"deploy of never/production failed: new instance never-production-\d+ failed: "
                                      r"not ready within 1\.00? s \(killed\)")
        self.assertIn("last output of the new instances:", proc.stderr)
        self.assertIn("release two never listens", proc.stderr)
        self.assertLess(t1 - t0, 10, text)
        self.check_untouched(ika, "never", before, samples, errors, t0, t1)

    def test_a_new_release_turning_unhealthy_while_held_fails_and_release_one_serves_on(self):
        ika = self.node()
        # Release two is checked often and leaves at its first failure;
        # release one at the defaults' pace.
        health = {"path": "/health", "interval": "250ms", "timeout": "200ms", "unhealthy_threshold": 1}
        deploy = {"hold": "5s"}
        self.deploy(ika, self.app("sick", "one", deploy={"max_surge": 2, "hold": "0s"},
                                  health={"path": "/health", "interval": "1s", "timeout": "500ms"}))
        before = self.instances(ika, "sick")
        observers = self.observe(ika, "sick.test")
        t0 = time.monotonic()
        # Release two passes its first health check, then fails every one.
        code, lines, out, err = watched_deploy(ika, self.app("sick", "two", health=health, deploy=deploy,
                                                             env={"SICK_AFTER": "1"}))
        t1 = time.monotonic()
        wait_until(lambda: all(len([s for s in o.samples if s[0] > t1]) >= 5 for o in observers), timeout=10)
        samples, errors = self.stop_observers(observers)
        self.assertEqual(code, 1, out + err)
        m = re.search(r"^  instance (sick-production-\d+): healthy$", out, re.M)
        self.assertIsNotNone(m, out)
        sick = m.group(1)
        healthy_at = next(t for t, l in lines if l == "  instance %s: healthy" % sick)
        # It failed while held (hold is 5 s): no traffic switch at all.
        self.assertNotIn("new serving", out)
        self.assertLess(t1 - healthy_at, 4.0, out)
        self.assertRegex(err, r"deploy of sick/production failed: new instance %s unhealthy: "
                              r"health check: status 503" % sick)
        self.assertIn("last output of the new instances:", err)
        # Its output up to the failure (the line it printed with its failing
        # answer travels apart from the health check's result and may come
        # after the report).
        self.assertRegex(err, r"%s stdout starting %s of release two" % (sick, sick))
        self.check_untouched(ika, "sick", before, samples, errors, t0, t1)

    def test_max_surge_two_new_instances_at_a_time_out_of_traffic_until_switched(self):
        ika = self.node()
        deploy = {"max_surge": 2, "hold": "2s", "drain_timeout": "5s"}
        health = {"path": "/health", "interval": "500ms", "timeout": "200ms"}
        # Release one starts all at once; release two rolls two at a time.
        self.deploy(ika, self.app("surge", "one", instances=4, deploy={"max_surge": 4, "hold": "0s"},
                                  health=health))
        observers = self.observe(ika, "surge.test", n=4)
        poller = StatusPoller(self, ika, "surge")
        poller.start()
        self.addCleanup(poller.stop.set)
        wait_until(lambda: len(poller.polls) >= 2, timeout=10)
        code, lines, out, err = watched_deploy(ika, self.app("surge", "two", instances=4, deploy=deploy,
                                                             health=health))
        self.assertEqual(code, 0, out + err)
        switched = time.monotonic()
        wait_until(lambda: all(len([s for s in o.samples if s[0] > switched]) >= 10 for o in observers),
                   timeout=10)
        poller.stop.set()
        poller.join(timeout=10)
        samples, errors = self.stop_observers(observers)
        self.assertEqual(errors, [])
        self.assertEqual({s[2] for s in samples}, {200})

        # Each status during the rollout: at most 2 new instances out of
        # traffic, never more than 4 in it; each waiting instance is known
        # to be out of traffic from that status's request time on.
        out_of_traffic_since = {}
        waiting_counts = []
        for before, _, st in poller.polls:
            if not st.get("next_release"):
                continue
            fresh = sorted((i for i in st["instance_list"] if i["release"] == st["next_release"]),
                           key=lambda i: int(i["id"].rsplit("-", 1)[1]))
            serving_new = int(re.search(r"(\d+)/4 new serving", st["rollout"]).group(1))
            waiting = fresh[serving_new:]
            waiting_counts.append((serving_new, len(waiting)))
            self.assertLessEqual(len(waiting), 2, st)
            self.assertLessEqual(st["healthy"], 4, st)
            self.assertLessEqual(st["healthy"] + len(waiting), 4 + 2, st)
            for i in waiting:
                out_of_traffic_since[i["id"]] = before
        print("\nmax_surge 2 of 4: (new serving, new waiting) per status during the rollout: %r" % waiting_counts)
        # Both batches were seen waiting, two at a time.
        self.assertIn((0, 2), waiting_counts)
        self.assertIn((2, 2), waiting_counts)
        self.assertEqual(len(out_of_traffic_since), 4, out_of_traffic_since)
        # No request that started while an instance was known to wait got
        # an answer from it; release two did answer once switched.
        for start, _, _, release, instance in samples:
            if instance in out_of_traffic_since:
                self.assertEqual(release, "two")
                self.assertGreater(start, out_of_traffic_since[instance],
                                   "%s answered while out of traffic" % instance)
        self.assertEqual({s[3] for s in samples if s[0] > switched}, {"two"})
        self.assertGreaterEqual(len({s[4] for s in samples if s[0] > switched}), 2)


class RolloutStateTest(AppsTestCase):

    def release_dir(self, version, hold="3s", instances=2):
        text = ('name = "slowroll"\ncommand = ["python3", "app.py"]\ninstances = %d\n'
                '[deploy]\nhold = "%s"\n[[routes]]\nhost = "slow.test"\n[env]\nVERSION = "%s"\n'
                % (instances, hold, version))
        return self.app_dir({"ika.toml": text, "app.py": PY_APP})

    def test_status_shows_both_releases_and_a_second_deploy_is_refused(self):
        ika = self.node()
        self.deploy(ika, self.release_dir("one", hold="0s"))
        first = self.status(ika, "slowroll")["release"]

        rollout = {}
        runner = threading.Thread(target=lambda: rollout.update(proc=ika.cli("deploy", self.release_dir("two"),
                                                                            timeout=50)), daemon=True)
        runner.start()
        # While the new batch holds, status names both releases and the progress.
        seen = {}

        def both_builds():
            st = self.status(ika, "slowroll")
            seen.update(st)
            return st.get("next_release") and len({i["release"] for i in st["instance_list"]}) == 2
        try:
            wait_until(both_builds, timeout=30, interval=0.3, message="a rollout with both releases in status")
        except AssertionError as e:
            runner.join(timeout=60)
            raise AssertionError("%s; last status %r; deploy %r; node:\n%s" % (
                e, seen, rollout.get("proc"), ika.stderr[-3000:])) from None
        self.assertEqual(seen["release"], first)
        self.assertEqual(seen["state"], "deploying")
        self.assertNotEqual(seen["next_release"], first)
        self.assertIn("batch 1/2", seen["rollout"])

        # A second deploy meanwhile is refused, naming the rollout.
        second = ika.cli("deploy", self.release_dir("three"), timeout=60)
        self.assertEqual(second.returncode, 1, second.stdout + second.stderr)
        self.assertIn("in progress", second.stdout + second.stderr)

        # The rollout completes, and the first deploy's client gets its reply
        # (the other clients connecting and leaving meanwhile used to break
        # its connection: the stale OpenSSL error queue under caf::openssl).
        wait_until(lambda: self.status(ika, "slowroll")["release"] == seen["next_release"], timeout=60,
                   interval=0.3, message="the rollout finishes")
        runner.join(timeout=15)
        self.assertIn("proc", rollout, "the first deploy's client got no reply")
        self.assertEqual(rollout["proc"].returncode, 0, rollout["proc"].stdout + rollout["proc"].stderr)
        st = self.status(ika, "slowroll")
        self.assertEqual(st["release"], seen["next_release"])
        self.assertEqual(st.get("next_release", ""), "")
        wait_until(lambda: {i["release"] for i in self.instances(ika, "slowroll")} == {st["release"]}, timeout=20,
                   message="the old release's instances stop")
        self.assertEqual(self.get(ika, "slow.test").body.split()[1], b"two")

    def test_a_deploy_whose_node_dies_fails_at_once(self):
        # The client watches its connection: when the node goes away in the
        # middle of a rollout, `ika deploy` says so instead of waiting out
        # its hour-long request timeout.
        ika = self.node()
        self.deploy(ika, self.release_dir("one", hold="0s"))
        rollout = {}
        runner = threading.Thread(target=lambda: rollout.update(proc=ika.cli("deploy", self.release_dir(
            "two", hold="120s"), timeout=100)), daemon=True)
        runner.start()
        wait_until(lambda: self.status(ika, "slowroll").get("next_release"), timeout=30, interval=0.3,
                   message="the rollout holding its first batch")
        killed_at = time.monotonic()
        ika.stop(signal.SIGKILL)
        runner.join(timeout=90)
        self.assertIn("proc", rollout, "ika deploy still waits after the node died")
        proc = rollout["proc"]
        self.assertEqual(proc.returncode, 1, proc.stdout + proc.stderr)
        self.assertIn("lost the connection to the node", proc.stderr)
        self.assertLess(time.monotonic() - killed_at, 60)


if __name__ == "__main__":
    unittest.main()
