"""Deployed apps: `ika deploy` puts apps on a real node, which runs them as
supervised processes and routes to the healthy ones (issue 3).

Every test starts its own node (`ika serve` on port 0 with a temp data dir)
and deploys apps from temp directories; clients talk HTTP to the node's
listener. Processes are only ever signalled by the pids ika reports for
instances the test deployed.
"""

import json
import os
import shutil
import signal
import tempfile
import textwrap
import threading
import time
import unittest

from ikatest import Client, IkaTestCase, wait_until

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples")

# The end of every Python test app: handler class H (its last method
# silences the request log) served by a threading server on ika's HOST and
# PORT.
PY_SERVE = r'''    def log_message(self, *a):
        pass
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
S((os.environ["HOST"], int(os.environ["PORT"])), H).serve_forever()
'''

# An app that answers "<instance> <$VERSION> <path>"; /crash exits the
# process; /slow answers after 2 s; $LOG_REQUESTS prints each path; with
# $CRASH_FILE present it dies at start (a crash loop); $SLOW_START delays
# listening; $CACHE_CONTROL is sent as Cache-Control.
PY_APP = r'''
import http.server, os, socketserver, sys, time
if os.environ.get("CRASH_FILE") and os.path.exists(os.environ["CRASH_FILE"]):
    print("crashing on purpose", flush=True)
    sys.exit(3)
print("starting " + os.environ["IKA_INSTANCE"], flush=True)
print("to stderr", file=sys.stderr, flush=True)
time.sleep(float(os.environ.get("SLOW_START", "0")))
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        if self.path == "/crash":
            os._exit(1)
        if self.path == "/slow":
            time.sleep(2)
        if os.environ.get("LOG_REQUESTS"):
            print("request " + self.path, flush=True)
        if self.path == "/health":
            sick = os.path.join(os.environ.get("HEALTH_DIR", "/nonexistent"), os.environ["IKA_INSTANCE"])
            code = 503 if os.path.exists(sick) else 200
            assert self.headers.get("X-Ika-Health") and self.headers.get("Host").endswith(".ika.internal")
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = ("%s %s %s\n" % (os.environ["IKA_INSTANCE"], os.environ.get("VERSION", "v1"), self.path)).encode()
        self.send_response(200)
        if os.environ.get("CACHE_CONTROL"):
            self.send_header("Cache-Control", os.environ["CACHE_CONTROL"])
        self.send_header("Content-Length", str(len(body)))
        # Head and body in one send: a kill -9 between two sends would cut a
        # response whose head the client already has, which no proxy can
        # repair (the kill-under-load test counts every failed request).
        self.wfile.write(b"".join(self._headers_buffer) + b"\r\n" + body)
        self._headers_buffer = []
''' + PY_SERVE


def manifest(name, host, instances=1, command='["python3", "app.py"]', env=None, health=None, extra=""):
    text = 'name = "%s"\ncommand = %s\ninstances = %d\n%s\n[[routes]]\nhost = "%s"\n' % (
        name, command, instances, extra, host)
    if env:
        text += "\n[env]\n" + "".join('%s = "%s"\n' % kv for kv in env.items())
    if health:
        text += "\n[health]\n" + "".join('%s = %s\n' % kv for kv in health.items())
    return text


class AppsTestCase(IkaTestCase):

    def node(self, **kw):
        return self.start_ika(args=["serve", "--http", "127.0.0.1:0"], **kw)

    def app_dir(self, files):
        d = tempfile.mkdtemp(prefix="ika-app-")
        self.addCleanup(shutil.rmtree, d, True)
        for name, text in files.items():
            path = os.path.join(d, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
        return d

    def py_app(self, name, host, **kw):
        return self.app_dir({"ika.toml": manifest(name, host, **kw), "app.py": PY_APP})

    def deploy(self, ika, d, ok=True, timeout=90):
        proc = ika.cli("deploy", d, timeout=timeout)
        if ok and proc.returncode != 0:
            self.fail("deploy failed (%d)\nstdout:\n%s\nstderr:\n%s\nnode stderr:\n%s" % (
                proc.returncode, proc.stdout, proc.stderr, ika.stderr[-3000:]))
        return proc

    def get(self, ika, host, target="/"):
        c = Client(ika.port)
        try:
            c.request("GET", target, host=host)
            return c.response()
        finally:
            c.close()

    def status(self, ika, app):
        return ika.cli_json("status", app)

    def instances(self, ika, app):
        return self.status(ika, app)["instance_list"]


class DeployTest(AppsTestCase):

    def test_deploy_two_instances_both_get_traffic(self):
        ika = self.node()
        d = self.py_app("two", "two.test", instances=2)
        proc = self.deploy(ika, d)
        for step in ("packing", "uploaded", "starting", "ready", "healthy", "traffic switched", "is live"):
            self.assertIn(step, proc.stdout, "deploy output lacks %r:\n%s" % (step, proc.stdout))
        # A probe that failed while the app was still starting is not news
        # once it is ready.
        self.assertNotRegex(proc.stdout, r"ready - ", "a ready instance reported an old error")
        self.assertRegex(proc.stdout, r"(?m)^  two-production-\d+ now serving; batch \d/\d: ")
        seen = set()
        for i in range(40):
            resp = self.get(ika, "two.test", "/r%d" % i)
            self.assertEqual(resp.status, 200, resp.body)
            seen.add(resp.body.split()[0].decode())
        self.assertEqual(len(seen), 2, "both instances should get traffic, saw %r" % seen)
        st = self.status(ika, "two")
        self.assertEqual(st["state"], "running")
        self.assertEqual(st["healthy"], 2)
        self.assertEqual(sorted(i["id"] for i in st["instance_list"]), sorted(seen))
        for inst in st["instance_list"]:
            self.assertGreater(inst["pid"], 0)
            self.assertGreater(inst["port"], 0)
            self.assertEqual(inst["state"], "healthy")
            self.assertEqual(inst["restarts"], 0)
            self.assertEqual(inst["release"], st["release"])
        # The release is stored under the data dir, named by its hash.
        rel = os.path.join(ika.data_dir, "apps", "two", "production", "releases", st["release"])
        self.assertTrue(os.path.isfile(os.path.join(rel, "app.py")), rel)

    def test_same_content_twice_is_a_no_op(self):
        ika = self.node()
        d = self.py_app("same", "same.test")
        self.deploy(ika, d)
        pids = [i["pid"] for i in self.instances(ika, "same")]
        proc = self.deploy(ika, d)
        self.assertIn("unchanged", proc.stdout)
        self.assertEqual([i["pid"] for i in self.instances(ika, "same")], pids)

    def test_new_release_replaces_the_old(self):
        ika = self.node()
        d = self.py_app("upd", "upd.test", env={"VERSION": "v1"})
        self.deploy(ika, d)
        first = self.status(ika, "upd")["release"]
        self.assertIn(b" v1 ", self.get(ika, "upd.test").body)
        with open(os.path.join(d, "ika.toml"), "w") as f:
            f.write(manifest("upd", "upd.test", env={"VERSION": "v2"}))
        self.deploy(ika, d)
        st = self.status(ika, "upd")
        self.assertNotEqual(st["release"], first)
        self.assertIn(b" v2 ", self.get(ika, "upd.test").body)
        wait_until(lambda: len(self.instances(ika, "upd")) == 1, timeout=20,
                   message="the old instance should stop after the switch")

    def test_example_apps(self):
        """The bundled examples: Python, Node.js, a shell one-liner and one
        that announces its port on the ready fd."""
        ika = self.node()
        cases = [("hello", "hello.localhost", b"Hello from an app behind ika"),
                 ("static", "static.localhost", b"python3 -m http.server"),
                 ("ready-fd", "ready.localhost", b"ready-fd app"),
                 ("node-hello", "node.localhost", b"\"runtime\":\"node ")]
        for name, host, expect in cases:
            with self.subTest(app=name):
                d = tempfile.mkdtemp(prefix="ika-example-")
                self.addCleanup(shutil.rmtree, d, True)
                shutil.copytree(os.path.join(EXAMPLES, name), d, dirs_exist_ok=True)
                self.deploy(ika, d)
                resp = self.get(ika, host)
                self.assertEqual(resp.status, 200, resp.body)
                self.assertIn(expect, resp.body)
        apps = ika.cli_json("apps")
        self.assertEqual(sorted(a["app"] for a in apps), sorted(n + "/production" for n, _, _ in cases))

    def test_release_larger_than_one_upload_chunk(self):
        ika = self.node()
        d = self.py_app("big", "big.test")
        blob = os.urandom(3 * 1024 * 1024 + 12345)
        with open(os.path.join(d, "blob.bin"), "wb") as f:
            f.write(blob)
        proc = self.deploy(ika, d)
        self.assertIn("uploaded 4/4", proc.stdout)
        rel = os.path.join(ika.data_dir, "apps", "big", "production", "releases", self.status(ika, "big")["release"])
        with open(os.path.join(rel, "blob.bin"), "rb") as f:
            self.assertEqual(f.read(), blob)

    def test_ikaignore_and_git_are_not_shipped(self):
        ika = self.node()
        d = self.py_app("ign", "ign.test")
        for name in ("secret.txt", ".git/config", "cache/big.bin", "keep.txt"):
            path = os.path.join(d, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(name)
        with open(os.path.join(d, ".ikaignore"), "w") as f:
            f.write("# not for the node\nsecret.txt\ncache/\n")
        self.deploy(ika, d)
        rel = os.path.join(ika.data_dir, "apps", "ign", "production", "releases", self.status(ika, "ign")["release"])
        self.assertTrue(os.path.exists(os.path.join(rel, "keep.txt")))
        for gone in ("secret.txt", ".git", "cache"):
            self.assertFalse(os.path.exists(os.path.join(rel, gone)), gone)


class RefusalTest(AppsTestCase):

    def test_route_conflict_names_the_owner(self):
        ika = self.node()
        self.deploy(ika, self.py_app("first", "shared.test"))
        proc = self.deploy(ika, self.py_app("second", "shared.test"), ok=False)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("first/production", proc.stderr)
        self.assertEqual([a["app"] for a in ika.cli_json("apps")], ["first/production"])
        self.assertIn(b"first-production", self.get(ika, "shared.test").body)

    def test_bad_manifests_change_nothing(self):
        ika = self.node()
        self.deploy(ika, self.py_app("good", "good.test"))
        before = ika.cli_json("apps")
        bad = {
            "name": ('name = "Bad_Name"\ncommand = ["true"]\n[[routes]]\nhost = "x.test"\n', "name"),
            "dash": ('name = "bad-"\ncommand = ["true"]\n[[routes]]\nhost = "x.test"\n', "name"),
            "routes": ('name = "noroutes"\ncommand = ["true"]\n', "routes"),
            "command": ('name = "nocmd"\n[[routes]]\nhost = "x.test"\n', "command"),
            "unknown": ('name = "unk"\ncommand = ["true"]\ncolour = "red"\n[[routes]]\nhost = "x.test"\n', "colour"),
            "instances": ('name = "many"\ncommand = ["true"]\ninstances = 65\n[[routes]]\nhost = "x.test"\n',
                          "instances"),
            "surge": ('name = "surge"\ncommand = ["true"]\n[deploy]\nmax_surge = 0\n[[routes]]\nhost = "x.test"\n',
                      "deploy.max_surge"),
            "env": ('name = "envy"\ncommand = ["true"]\n[[routes]]\nhost = "x.test"\n[env]\nPORT = "1"\n', "PORT"),
            "syntax": ('name = "syn\ncommand = ["true"]\n', "ika.toml"),
        }
        for case, (text, key) in bad.items():
            with self.subTest(case=case):
                d = self.app_dir({"ika.toml": text})
                proc = self.deploy(ika, d, ok=False)
                self.assertEqual(proc.returncode, 2, proc.stderr)
                self.assertIn(key, proc.stderr)
        missing = self.deploy(ika, self.app_dir({"app.py": "x"}), ok=False)
        self.assertEqual(missing.returncode, 2)
        self.assertIn("ika.toml", missing.stderr)
        self.assertEqual(ika.cli_json("apps"), before)

    def test_bad_app_names_in_commands(self):
        ika = self.node()
        for args in (["status", "Nope"], ["scale", "../etc", "2"], ["logs", "a-"], ["stop", "x" * 70]):
            with self.subTest(args=args):
                proc = ika.cli(*args)
                self.assertEqual(proc.returncode, 2, proc.stderr)
                self.assertIn("name", proc.stderr)
        proc = ika.cli("status", "ghost")
        self.assertEqual(proc.returncode, 1)
        # The node's own words, without CAF's error code wrapped around them.
        self.assertEqual(proc.stderr.strip(),
                         "ika: error: no app 'ghost/production' on this node (`ika apps` lists them)")


class FailureTest(AppsTestCase):

    def test_never_ready_app_fails_with_its_logs(self):
        ika = self.node()
        d = self.app_dir({
            "ika.toml": manifest("sleepy", "sleepy.test", command='["python3", "app.py"]',
                                 extra='start_timeout = "2s"'),
            "app.py": "import time\nprint('warming up forever', flush=True)\ntime.sleep(600)\n",
        })
        proc = self.deploy(ika, d, ok=False)
        self.assertEqual(proc.returncode, 1, proc.stdout + proc.stderr)
        self.assertIn("not ready within", proc.stderr)
        self.assertIn("warming up forever", proc.stderr)
        self.assertEqual(ika.cli_json("apps"), [])
        self.assertEqual(self.get(ika, "sleepy.test").status, 404)

    def test_app_that_exits_at_once_fails_its_deploy(self):
        ika = self.node()
        d = self.app_dir({
            "ika.toml": manifest("quitter", "quitter.test"),
            "app.py": "import sys\nprint('bad config, giving up', file=sys.stderr, flush=True)\nsys.exit(7)\n",
        })
        proc = self.deploy(ika, d, ok=False)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("exited with code 7", proc.stderr)
        self.assertIn("bad config, giving up", proc.stderr)

    def test_kill_9_of_an_instance_under_load_loses_no_request(self):
        ika = self.node()
        self.deploy(ika, self.py_app("sturdy", "sturdy.test", instances=2))
        victim = self.instances(ika, "sturdy")[0]
        failures, done, count = [], threading.Event(), [0]

        def load():
            c = None
            while not done.is_set() and count[0] < 20000:
                try:
                    if c is None:
                        c = Client(ika.port)
                    c.request("GET", "/load", host="sturdy.test")
                    resp = c.response()
                    if resp.status != 200:
                        failures.append(resp.status)
                    if "close" in resp.tokens("connection"):
                        c.close()
                        c = None
                except Exception as e:  # a failed request, counted
                    failures.append(repr(e))
                    if c is not None:
                        c.close()
                    c = None
                count[0] += 1
            if c is not None:
                c.close()

        threads = [threading.Thread(target=load) for _ in range(4)]
        for t in threads:
            t.start()
        try:
            wait_until(lambda: count[0] > 200, timeout=30, message="load did not start")
            os.kill(victim["pid"], signal.SIGKILL)

            def back():
                inst = [i for i in self.instances(ika, "sturdy") if i["id"] == victim["id"]]
                return inst and inst[0]["state"] == "healthy" and inst[0]["pid"] != victim["pid"]

            wait_until(back, timeout=30, message="the killed instance did not come back")
            mark = count[0]
            wait_until(lambda: count[0] > mark + 200, timeout=30, message="load stalled")
        finally:
            done.set()
            for t in threads:
                t.join(30)
        self.assertEqual(failures, [], "client requests failed while an instance died")
        inst = [i for i in self.instances(ika, "sturdy") if i["id"] == victim["id"]][0]
        self.assertEqual(inst["restarts"], 1)

    def test_crash_loop_backs_off(self):
        ika = self.node()
        marker = os.path.join(tempfile.mkdtemp(prefix="ika-crash-"), "crash")
        self.addCleanup(shutil.rmtree, os.path.dirname(marker), True)
        self.deploy(ika, self.py_app("loopy", "loopy.test", env={"CRASH_FILE": marker}))
        with open(marker, "w") as f:
            f.write("crash")
        self.assertEqual(self.get(ika, "loopy.test", "/crash").status, 502)
        t0 = time.monotonic()
        wait_until(lambda: self.status(ika, "loopy")["state"] == "crash-loop", timeout=30,
                   message="a crash-looping app should be reported as such")
        elapsed = time.monotonic() - t0
        restarts = self.instances(ika, "loopy")[0]["restarts"]
        # 0.5 s, 1 s, 2 s between attempts: three failures take >= 1.5 s.
        self.assertGreaterEqual(elapsed, 1.4)
        self.assertLessEqual(restarts, 4)
        logs = ika.cli("logs", "loopy", "-n", "50", check=True).stdout
        self.assertIn("crashing on purpose", logs)
        os.unlink(marker)
        wait_until(lambda: self.status(ika, "loopy")["state"] == "running", timeout=40,
                   message="the app should recover once it stops crashing")


class HealthTest(AppsTestCase):

    def test_unhealthy_instance_leaves_and_rejoins_the_balancer(self):
        ika = self.node()
        health_dir = tempfile.mkdtemp(prefix="ika-health-")
        self.addCleanup(shutil.rmtree, health_dir, True)
        d = self.py_app("doc", "doc.test", instances=2, env={"HEALTH_DIR": health_dir},
                        health={"path": '"/health"', "interval": '"300ms"', "timeout": '"250ms"',
                                "healthy_threshold": 1, "unhealthy_threshold": 1})
        self.deploy(ika, d)
        sick, well = sorted(i["id"] for i in self.instances(ika, "doc"))
        open(os.path.join(health_dir, sick), "w").close()

        def state_of(inst):
            return [i for i in self.instances(ika, "doc") if i["id"] == inst][0]["state"]

        wait_until(lambda: state_of(sick) == "unhealthy", timeout=5, message="the failing instance stays healthy")
        self.assertEqual(self.status(ika, "doc")["healthy"], 1)
        served = {self.get(ika, "doc.test", "/x%d" % i).body.split()[0].decode() for i in range(20)}
        self.assertEqual(served, {well}, "an unhealthy instance still got traffic")
        os.unlink(os.path.join(health_dir, sick))
        wait_until(lambda: state_of(sick) == "healthy", timeout=5, message="the instance did not come back")
        wait_until(lambda: len({self.get(ika, "doc.test").body.split()[0] for _ in range(20)}) == 2, timeout=5,
                   message="the recovered instance gets no traffic")


class CommandsTest(AppsTestCase):

    def test_status_scale_stop_start_delete_logs(self):
        ika = self.node()
        self.deploy(ika, self.py_app("cmd", "cmd.test"))
        st = ika.cli_json("scale", "cmd", "3")
        self.assertEqual(st["instances"], 3)
        wait_until(lambda: self.status(ika, "cmd")["healthy"] == 3, timeout=30, message="scale up")
        ika.cli_json("scale", "cmd", "1")
        wait_until(lambda: len(self.instances(ika, "cmd")) == 1, timeout=30, message="scale down")
        text = ika.cli("status", "cmd", check=True).stdout
        for col in ("INSTANCE", "PID", "PORT", "STATE", "UPTIME", "RESTARTS", "IN-FLIGHT", "RELEASE"):
            self.assertIn(col, text)

        logs = ika.cli_json("logs", "cmd", "-n", "100")
        texts = [l["text"] for l in logs]
        self.assertTrue(any(t.startswith("starting cmd-production-") for t in texts), texts)
        self.assertIn("stderr", {l["stream"] for l in logs})
        one = self.instances(ika, "cmd")[0]["id"]
        only = ika.cli_json("logs", "cmd", "--instance", one)
        self.assertTrue(only and all(l["instance"] == one for l in only))
        # Its number alone names it too; what names no instance of the app
        # is a usage error, not an empty answer.
        by_number = ika.cli_json("logs", "cmd", "--instance", one.rsplit("-", 1)[1])
        self.assertTrue(by_number and all(l["instance"] == one for l in by_number))
        for bad in ("other-production-1", "cmd-production-x", "../1"):
            proc = ika.cli("logs", "cmd", "--instance", bad)
            self.assertEqual(proc.returncode, 2, proc.stderr)
            self.assertIn("not an instance of cmd/production", proc.stderr)

        st = ika.cli_json("stop", "cmd")
        self.assertEqual(st["state"], "stopped")
        self.assertEqual(st["instance_list"], [])
        self.assertEqual(self.get(ika, "cmd.test").status, 503)
        ika.cli_json("start", "cmd")
        wait_until(lambda: self.get(ika, "cmd.test").status == 200, timeout=30, message="start")

        out = ika.cli_json("delete", "cmd")
        self.assertTrue(out["deleted"])
        self.assertEqual(ika.cli_json("apps"), [])
        self.assertEqual(self.get(ika, "cmd.test").status, 404)

    def test_logs_follow(self):
        ika = self.node()
        self.deploy(ika, self.py_app("tail", "tail.test"))
        # The client splits its credentials into private files for the TLS
        # handshake under $TMPDIR: none may remain once it is connected (so
        # none after it is killed either).
        tmp = tempfile.mkdtemp(prefix="ika-client-tmp-")
        self.addCleanup(shutil.rmtree, tmp, True)
        proc = __import__("subprocess").Popen(
            [os.environ.get("IKA_BIN", "ika"), "logs", "tail", "-f", "-n", "1", "--data", ika.data_dir],
            stdout=__import__("subprocess").PIPE, stderr=__import__("subprocess").PIPE, text=True,
            env=dict(os.environ, TMPDIR=tmp))
        try:
            lines = []
            reader = threading.Thread(target=lambda: [lines.append(l) for l in proc.stdout], daemon=True)
            reader.start()
            wait_until(lambda: len(lines) >= 1, timeout=15, message="logs -f printed nothing")
            self.assertEqual(os.listdir(tmp), [], "a connected client left its key files behind")
            inst = self.instances(ika, "tail")[0]
            os.kill(inst["pid"], signal.SIGKILL)
            wait_until(lambda: any("starting tail-production-1" in l for l in lines[1:]), timeout=30,
                       message="followed logs did not show the restart: %r" % lines)
        finally:
            proc.kill()
            proc.wait(10)
            proc.stdout.close()
            proc.stderr.close()
        self.assertEqual(os.listdir(tmp), [], "a killed client left its key files behind")


class PersistenceTest(AppsTestCase):

    def test_node_kill_9_then_restart_restores_everything(self):
        data = tempfile.mkdtemp(prefix="ika-data-")
        self.addCleanup(shutil.rmtree, data, True)
        first = self.start_ika(args=["serve", "--http", "127.0.0.1:0", "--data", data])
        # A shell that does not exec leaves its python child as a grandchild
        # of ika: the case PDEATHSIG alone cannot cover.
        d = self.py_app("keep", "keep.test", instances=2, command='["sh", "-c", "python3 app.py"]')
        self.deploy(first, d)
        self.deploy(first, self.py_app("idle", "idle.test"))
        first.cli_json("stop", "idle")
        before = self.status(first, "keep")
        ports = [i["port"] for i in before["instance_list"]]
        first.send_signal(signal.SIGKILL)
        first.wait(10)

        second = self.start_ika(args=["serve", "--http", "127.0.0.1:0", "--data", data])

        # Nothing of the old node serves any more: its instance ports are
        # free or serve the new instances.
        def old_gone():
            now = [i["port"] for i in self.instances(second, "keep")]
            return all(p in now or not _port_open(p) for p in ports)

        wait_until(lambda: self.status(second, "keep")["healthy"] == 2, timeout=60, message="keep not restored")
        wait_until(old_gone, timeout=20, message="instances of the killed node still serve")
        after = self.status(second, "keep")
        self.assertEqual(after["release"], before["release"])
        self.assertEqual(self.get(second, "keep.test").status, 200)
        idle = self.status(second, "idle")
        self.assertEqual(idle["desired"], "stopped")
        self.assertEqual(self.get(second, "idle.test").status, 503)


class ShutdownTest(AppsTestCase):

    def test_sigterm_stops_the_node_and_its_instances(self):
        ika = self.node()
        self.deploy(ika, self.py_app("bye", "bye.test", instances=2))
        self.assertEqual(self.get(ika, "bye.test").status, 200)
        pids = [i["pid"] for i in self.instances(ika, "bye")]
        ika.send_signal(signal.SIGTERM)
        self.assertEqual(ika.wait(20), 0, ika.stderr[-2000:])

        def gone(pid):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            return open("/proc/%d/stat" % pid).read().split()[2] == "Z"

        wait_until(lambda: all(gone(p) for p in pids), timeout=10, message="instances outlived the node")

    def test_sigterm_while_instances_start(self):
        data = tempfile.mkdtemp(prefix="ika-data-")
        self.addCleanup(shutil.rmtree, data, True)
        first = self.start_ika(args=["serve", "--http", "127.0.0.1:0", "--data", data])
        self.deploy(first, self.py_app("slow", "slow.test", env={"SLOW_START": "5"}, extra='start_timeout = "20s"'))
        first.send_signal(signal.SIGTERM)
        self.assertEqual(first.wait(20), 0)
        second = self.start_ika(args=["serve", "--http", "127.0.0.1:0", "--data", data])
        second.send_signal(signal.SIGTERM)
        self.assertEqual(second.wait(20), 0, "a node whose instances are still starting must stop on SIGTERM")


def _port_open(port):
    import socket
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


if __name__ == "__main__":
    unittest.main()
