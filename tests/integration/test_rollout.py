"""Rolling updates under load (issue 4, sections 1 and 2): a deploy, a
rollback, a failed deploy and scaling, all while wrk keeps a constant load
of >= 500 requests/s on the app, must produce no failed request at all.

wrk is paced (a Lua delay per request) so the machine is not saturated,
tallies each response's release from its body, and reports non-2xx
responses and socket errors itself. A second, slower client records which
release answered when, to check that after each step every response comes
from the expected release; a 2 s request started on the old release must
complete while the old instances drain.
"""

import os
import re
import signal
import subprocess
import tempfile
import threading
import time
import unittest

from ikatest import Client, wait_until
from test_apps import PY_APP, AppsTestCase

# Paced load: each connection waits DELAY ms between requests. Counts each
# release seen, and everything that is not a 200.
WRK_SCRIPT = r'''
counts = {}
bad = 0
function delay() return %d end
function response(status, headers, body)
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
  end
end
'''

HOST = "roll.test"


class Observer(threading.Thread):
    """GETs / every few ms on one keep-alive connection, recording
    (start time, status, release)."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
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
                client.request("GET", "/", host=HOST)
                r = client.response()
                m = re.match(rb"\S+ (\w+) ", r.body)
                self.samples.append((started, r.status, m.group(1).decode() if m else None))
            except Exception as e:  # noqa: BLE001 - every failure is a finding
                self.errors.append((started, repr(e)))
                client = None
            self.stop.wait(0.01)
        if client:
            client.close()

    def releases_since(self, t):
        return {s[2] for s in self.samples if s[0] >= t}


class RolloutUnderLoadTest(AppsTestCase):

    def release_dir(self, version, broken=False, instances=2):
        text = ('name = "roll"\ncommand = ["python3", "app.py"]\ninstances = %d\n'
                '[deploy]\nhold = "300ms"\ndrain_timeout = "10s"\n'
                '[health]\npath = "/"\ninterval = "1s"\ntimeout = "500ms"\nhealthy_threshold = 1\n'
                '[[routes]]\nhost = "%s"\n[env]\nVERSION = "%s"\n' % (instances, HOST, version))
        if broken:
            text += 'CRASH_FILE = "app.py"\n'
        return self.app_dir({"ika.toml": text, "app.py": PY_APP})

    def start_wrk(self, port):
        script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
        self.addCleanup(os.unlink, script.name)
        script.write(WRK_SCRIPT % 8)
        script.close()
        proc = subprocess.Popen(
            ["wrk", "-t1", "-c8", "-d120s", "--timeout", "10s", "-s", script.name, "-H", "Host: " + HOST,
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
        return stats, counts, out + err

    def test_deploy_rollback_failed_deploy_and_scaling_under_load_fail_nothing(self):
        ika = self.node()
        v1, v2, v3 = self.release_dir("one"), self.release_dir("two"), self.release_dir("three", broken=True)
        self.deploy(ika, v1)

        wrk = self.start_wrk(ika.port)
        observer = Observer(ika.port)
        observer.start()
        self.addCleanup(observer.stop.set)
        wait_until(lambda: len(observer.samples) >= 20, timeout=20, message="observer sees the app")

        # A long request on release one, in flight when the rollout starts.
        slow = {}

        def slow_request():
            c = Client(ika.port)
            try:
                c.request("GET", "/slow", host=HOST)
                slow["response"] = c.response()
            except Exception as e:  # noqa: BLE001
                slow["error"] = repr(e)
            finally:
                c.close()
        slow_thread = threading.Thread(target=slow_request, daemon=True)
        slow_thread.start()
        wait_until(lambda: any(i["in_flight"] > 0 for i in self.instances(ika, "roll")), timeout=10,
                   message="the slow request reaches an instance")

        # 1. Deploy release two: a rolling update.
        proc = self.deploy(ika, v2)
        self.assertIn("is live", proc.stdout + proc.stderr)
        after_v2 = time.monotonic()
        wait_until(lambda: len([s for s in observer.samples if s[0] >= after_v2]) >= 20, timeout=20)
        self.assertEqual(observer.releases_since(after_v2), {"two"})
        slow_thread.join(timeout=15)
        self.assertNotIn("error", slow, slow)
        self.assertEqual(slow["response"].status, 200)
        self.assertEqual(slow["response"].body.split()[1], b"one", slow["response"].body)
        wait_until(lambda: {i["release"] for i in self.instances(ika, "roll")} == {self.status(ika, "roll")["release"]},
                   timeout=20, message="release one's instances stop")

        # 2. Back to release one: `ika rollback` (the release live before).
        proc = ika.cli("rollback", "roll", timeout=90)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        after_v1 = time.monotonic()
        wait_until(lambda: len([s for s in observer.samples if s[0] >= after_v1]) >= 20, timeout=20)
        self.assertEqual(observer.releases_since(after_v1), {"one"})

        # 3. A broken release three fails; release one keeps serving.
        before_v3 = time.monotonic()
        proc = self.deploy(ika, v3, ok=False)
        self.assertEqual(proc.returncode, 1, proc.stdout + proc.stderr)
        self.assertIn("crashing on purpose", proc.stdout + proc.stderr)
        after_v3 = time.monotonic()
        wait_until(lambda: len([s for s in observer.samples if s[0] >= after_v3]) >= 20, timeout=20)
        self.assertEqual(observer.releases_since(before_v3), {"one"})
        st = self.status(ika, "roll")
        self.assertEqual(st["state"], "running")
        self.assertEqual(len(st["instance_list"]), 2)

        # 4. Scale up and down.
        ika.cli_json("scale", "roll", "4")
        wait_until(lambda: self.status(ika, "roll")["healthy"] == 4, timeout=30, message="scale up")
        ika.cli_json("scale", "roll", "1")
        wait_until(lambda: len(self.instances(ika, "roll")) == 1, timeout=30, message="scale down")
        after_scale = time.monotonic()
        wait_until(lambda: len([s for s in observer.samples if s[0] >= after_scale]) >= 20, timeout=20)

        observer.stop.set()
        observer.join(timeout=10)
        stats, counts, text = self.finish_wrk(wrk)
        seconds = stats["duration_us"] / 1e6
        rate = stats["requests"] / seconds
        print("\nrollout under load: %d requests in %.1f s (%.0f/s), releases %r" % (
            stats["requests"], seconds, rate, counts))
        self.assertGreaterEqual(rate, 500, text)
        self.assertEqual(stats["bad"], 0, text)
        for kind in ("connect", "read", "write", "status", "timeout"):
            self.assertEqual(stats[kind], 0, "%s errors\n%s" % (kind, text))
        self.assertEqual(set(counts), {"one", "two"}, text)
        self.assertEqual(observer.errors, [])
        self.assertEqual({s[1] for s in observer.samples}, {200})


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
