"""App secrets (issue 4 section 4): `ika secrets set|list|unset` on a real
node. Values reach the app's instances as environment variables and appear
nowhere else: not in any file of the data dir, not in the node's output,
not in `ika status --json`, not in any process's argv. A node whose secret
key is wrong or missing while secrets are stored refuses to start and
changes nothing.

Every test starts its own node (port 0, its own data dir); processes are
only signalled by the pids these tests started.
"""

import hashlib
import os
import shutil
import signal
import stat
import subprocess
import tempfile
import textwrap
import threading
import time
import unittest

from ikatest import IKA_BIN, Client, Ika, IkaTestCase, wait_until

# Answers GET /env/NAME with the value of $NAME ("<unset>" without one).
ENV_APP = textwrap.dedent(r'''
    import http.server, os, socketserver
    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        def do_GET(self):
            name = self.path.rsplit("/", 1)[-1]
            body = os.environ.get(name, "<unset>").encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.wfile.write(b"".join(self._headers_buffer) + b"\r\n" + body)
            self._headers_buffer = []
        def log_message(self, *a):
            pass
    class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True
    print("env app up", flush=True)
    S((os.environ["HOST"], int(os.environ["PORT"])), H).serve_forever()
''')

SECRET = "s3cr3t-Value-" + os.urandom(8).hex()
FILE_SECRET = "f1le-Value-" + os.urandom(8).hex()


def sha256_of(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def snapshot(root):
    """Every entry under `root`: a file's content hash and mode, a
    directory's mode, a symlink's target; keyed by relative path."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                what = ("link", os.readlink(path))
            elif stat.S_ISDIR(st.st_mode):
                what = ("dir", stat.S_IMODE(st.st_mode))
            else:
                what = ("file", stat.S_IMODE(st.st_mode), sha256_of(path))
            out[os.path.relpath(path, root)] = what
    out["."] = ("dir", stat.S_IMODE(os.stat(root).st_mode))
    return out


class SecretsTestCase(IkaTestCase):

    def temp_dir(self, prefix):
        d = tempfile.mkdtemp(prefix=prefix)
        self.addCleanup(shutil.rmtree, d, True)
        return d

    def node(self, data):
        return self.start_ika(args=["serve", "--http", "127.0.0.1:0", "--data", data])

    def app_dir(self, name, host, env=None, instances=1):
        d = self.temp_dir("ika-app-")
        toml = 'name = "%s"\ncommand = ["python3", "app.py"]\ninstances = %d\n\n[[routes]]\nhost = "%s"\n' % (
            name, instances, host)
        if env:
            toml += "\n[env]\n" + "".join('%s = "%s"\n' % kv for kv in env.items())
        with open(os.path.join(d, "ika.toml"), "w") as f:
            f.write(toml)
        with open(os.path.join(d, "app.py"), "w") as f:
            f.write(ENV_APP)
        return d

    def deploy(self, ika, d):
        proc = ika.cli("deploy", d, timeout=90)
        if proc.returncode != 0:
            self.fail("deploy failed (%d)\nstdout:\n%s\nstderr:\n%s\nnode stderr:\n%s" % (
                proc.returncode, proc.stdout, proc.stderr, ika.stderr[-3000:]))

    def env_of(self, ika, host, name):
        c = Client(ika.port)
        try:
            c.request("GET", "/env/" + name, host=host)
            resp = c.response()
            return resp.body.decode() if resp.status == 200 else None
        finally:
            c.close()

    def apply(self, ika, app, *args, input=None):
        """`ika secrets ARGS`, which must store the change and roll the app's
        instances (a rolling restart: the new processes get the new
        environment, no stop and start needed)."""
        proc = ika.cli("secrets", *args, input=input, timeout=120)
        self.assertEqual(proc.returncode, 0, "secrets %s: %s %s" % (args, proc.stdout, proc.stderr))
        return proc

    def serve_refused(self, data):
        """Runs `ika serve` on `data`, which must refuse to start; returns
        its stderr."""
        proc = subprocess.run([IKA_BIN, "serve", "--http", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--data", data],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace",
                              timeout=60)
        self.assertNotEqual(proc.returncode, 0, "the node started: %s %s" % (proc.stdout, proc.stderr))
        self.assertNotIn("listening on", proc.stdout)
        self.assertNotIn(SECRET, proc.stdout + proc.stderr)
        return proc.stderr


class SecretsTest(SecretsTestCase):

    def test_set_list_unset_reach_the_app_and_nothing_else(self):
        data = self.temp_dir("ika-data-")
        ika = self.node(data)
        self.deploy(ika, self.app_dir("sec", "sec.test", env={"TOKEN": "from-manifest"}))
        self.assertEqual(self.env_of(ika, "sec.test", "TOKEN"), "from-manifest")

        # From stdin (one trailing newline dropped); it overrides [env].
        self.apply(ika, "sec", "set", "sec", "TOKEN", input=SECRET + "\n")
        wait_until(lambda: self.env_of(ika, "sec.test", "TOKEN") == SECRET, timeout=60,
                   message="the app to see the secret")
        # From a file, as is.
        path = os.path.join(self.temp_dir("ika-secret-"), "value")
        with open(path, "w") as f:
            f.write(FILE_SECRET)
        self.apply(ika, "sec", "set", "sec", "API_KEY", "--from-file", path)
        wait_until(lambda: self.env_of(ika, "sec.test", "API_KEY") == FILE_SECRET, timeout=60,
                   message="the app to see the second secret")
        self.assertEqual(self.env_of(ika, "sec.test", "TOKEN"), SECRET)

        listed = ika.cli_json("secrets", "list", "sec")
        self.assertEqual(sorted(s["name"] for s in listed), ["API_KEY", "TOKEN"])
        self.assertTrue(all(s["set_ms"] > 0 for s in listed))
        text = ika.cli("secrets", "list", "sec", check=True)
        self.assertIn("TOKEN", text.stdout)
        self.assertIn("API_KEY", text.stdout)

        # Nowhere else: the data dir, the node's output, status, argv.
        outputs = [text.stdout, text.stderr, str(listed)]
        outputs.append(ika.cli("status", "sec", "--json", check=True).stdout)
        outputs.append(ika.cli("status", "--json", check=True).stdout)
        outputs.append(ika.cli("apps", "--json", check=True).stdout)
        outputs.append(ika.cli("logs", "sec", "--json", check=True).stdout)
        outputs.append("\n".join(ika.stdout_lines) + ika.stderr)
        for out in outputs:
            self.assertNotIn(SECRET, out)
            self.assertNotIn(FILE_SECRET, out)
        self.assert_not_in_files(data, SECRET.encode(), FILE_SECRET.encode())
        pids = [i["pid"] for i in ika.cli_json("status", "sec")["instance_list"] if i["pid"]]
        self.assertTrue(pids)
        for pid in pids + [ika.pid]:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                self.assertNotIn(SECRET.encode(), f.read())
        key_path = os.path.join(data, "secrets.key")
        self.assertEqual(stat.S_IMODE(os.stat(key_path).st_mode), 0o600)

        # Unset: the manifest's value is back; list no longer names it.
        self.apply(ika, "sec", "unset", "sec", "TOKEN")
        wait_until(lambda: self.env_of(ika, "sec.test", "TOKEN") == "from-manifest", timeout=60,
                   message="the secret to be gone")
        self.assertEqual([s["name"] for s in ika.cli_json("secrets", "list", "sec")], ["API_KEY"])

    def test_refusals_are_clear_and_never_echo_the_value(self):
        data = self.temp_dir("ika-data-")
        ika = self.node(data)
        cases = [
            (("set", "sec", "PORT"), SECRET, "PORT is set by ika"),
            (("set", "sec", "IKA_X"), SECRET, "reserved"),
            (("set", "sec", "1BAD"), SECRET, "invalid secret name"),
            (("set", "Bad_App", "OK"), SECRET, "a name is"),
            (("set", "sec", "NUL"), SECRET + "\0x", "NUL byte"),
            (("set", "sec", "BIG"), SECRET + "x" * (64 * 1024), "at most 65536"),
            (("unset", "sec", "NEVER_SET"), None, "no secret 'NEVER_SET'"),
            # A value on argv (ps and shell history show it): refused
            # before anything is sent, and not echoed back.
            (("set", "sec", "ARGV", SECRET), None, "never from the command line"),
            (("set", "sec", "ARGV", SECRET), SECRET, "never from the command line"),
        ]
        for args, value, why in cases:
            proc = ika.cli("secrets", *args, input=value)
            self.assertNotEqual(proc.returncode, 0, args)
            self.assertIn(why, proc.stderr, args)
            self.assertNotIn(SECRET, proc.stdout + proc.stderr)
        proc = ika.cli("secrets", "set", "sec", "OK", "--from-file", "/nonexistent/file")
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("/nonexistent/file", proc.stderr)
        # An endless source is read only as far as the limit.
        proc = ika.cli("secrets", "set", "sec", "ZERO", "--from-file", "/dev/zero")
        self.assertEqual(proc.returncode, 2, proc.stderr)
        self.assertIn("at most 65536", proc.stderr)
        self.assertEqual(ika.cli_json("secrets", "list", "sec"), [])
        self.assertNotIn(SECRET, ika.stderr + "\n".join(ika.stdout_lines))
        self.assert_not_in_files(data, SECRET.encode())

    def test_wrong_or_missing_key_refuses_to_start_and_changes_nothing(self):
        data = self.temp_dir("ika-data-")
        ika = self.node(data)
        # A secret for an app that is not deployed yet: kept for its first start.
        proc = ika.cli("secrets", "set", "later", "TOKEN", input=SECRET, check=True)
        self.assertIn("not deployed", proc.stdout)
        self.assertEqual(ika.stop(), 0)

        key_path = os.path.join(data, "secrets.key")
        with open(key_path, "rb") as f:
            right_key = f.read()
        self.assertTrue(os.path.isfile(os.path.join(data, "state.db")))

        def refused_changes_nothing(why):
            """`ika serve` refuses with `why`; every entry of the data dir
            (state.db and its -wal/-shm, the key, node files, logs, run/)
            is as it was, byte for byte and mode for mode: no exclusions."""
            before = snapshot(data)
            self.assertIn("state.db", before)
            err = self.serve_refused(data)
            self.assertIn(why, err)
            self.assertEqual(snapshot(data), before, "a refused start changed the data dir")
            return err

        # Another valid key.
        wrong = b"ika-secret-key 1\n" + os.urandom(32).hex().encode() + b"\n"
        os.remove(key_path)
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, wrong)
        os.close(fd)
        err = refused_changes_nothing("is not the key the stored secrets were sealed with")
        self.assertIn(key_path, err)

        # No key at all: not created anew.
        os.remove(key_path)
        refused_changes_nothing("is missing")
        self.assertFalse(os.path.exists(key_path))

        # The right key, readable by others.
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, right_key)
        os.close(fd)
        os.chmod(key_path, 0o644)
        refused_changes_nothing("chmod 0600")

        # The right key, 0600: the node starts, and the app deployed now
        # gets the secret stored before.
        os.chmod(key_path, 0o600)
        ika = self.node(data)
        self.assertEqual([s["name"] for s in ika.cli_json("secrets", "list", "later")], ["TOKEN"])
        self.deploy(ika, self.app_dir("later", "later.test"))
        self.assertEqual(self.env_of(ika, "later.test", "TOKEN"), SECRET)
        self.assert_not_in_files(data, SECRET.encode())

    def test_a_change_is_a_rolling_restart_without_a_failed_request(self):
        """`ika secrets set` on an app of 2 instances under a request loop:
        every request gets 200 (old or new value, the new one once the
        command returned), new instances overlap the old ones before those
        leave, there is always one serving, and every pid is replaced."""
        data = self.temp_dir("ika-data-")
        ika = self.node(data)
        self.deploy(ika, self.app_dir("roll", "roll.test", instances=2))
        old = {i["id"]: i["pid"] for i in ika.cli_json("status", "roll")["instance_list"]}
        self.assertEqual(len(old), 2, old)
        self.assertEqual(self.env_of(ika, "roll.test", "TOKEN"), "<unset>")

        stop = threading.Event()
        deadline = time.monotonic() + 60  # a bound for a broken test only
        results = []  # (sent at, status or exception, body)
        samples = []  # `ika status roll` as seen before, during and after

        def load():
            while not stop.is_set() and time.monotonic() < deadline and len(results) < 50000:
                sent = time.monotonic()
                c = Client(ika.port, timeout=30)
                try:
                    c.request("GET", "/env/TOKEN", host="roll.test")
                    r = c.response()
                    results.append((sent, r.status, r.body.decode()))
                except Exception as e:  # noqa: BLE001 - a failed request, reported below
                    results.append((sent, e, ""))
                finally:
                    c.close()

        def sample():
            while not stop.is_set() and time.monotonic() < deadline:
                samples.append(ika.cli_json("status", "roll"))

        threads = [threading.Thread(target=load) for _ in range(4)] + [threading.Thread(target=sample)]
        for t in threads:
            t.start()
        try:
            wait_until(lambda: len(results) >= 50 and samples, timeout=30, message="the load to run")
            began = time.monotonic()
            proc = self.apply(ika, "roll", "set", "roll", "TOKEN", input=SECRET)
            returned = time.monotonic()
            mark = len(results)
            wait_until(lambda: len(results) >= mark + 50, timeout=30, message="load after the change")
        finally:
            stop.set()
            for t in threads:
                t.join(40)
        self.assertNotIn(SECRET, proc.stdout + proc.stderr)

        failed = [(status, body) for _, status, body in results if status != 200]
        self.assertEqual(failed, [], "%d of %d requests failed" % (len(failed), len(results)))
        self.assertEqual({body for _, _, body in results} - {"<unset>", SECRET}, set())
        during = [body for sent, _, body in results if began <= sent <= returned]
        self.assertGreater(len(during), 20, "too few requests during the restart to tell")
        late = [body for sent, _, body in results if sent > returned]
        self.assertTrue(late)
        self.assertEqual(set(late), {SECRET}, "a request after the change saw the old environment")

        # Every instance is new: ids and pids.
        now = ika.cli_json("status", "roll")
        new = {i["id"]: i["pid"] for i in now["instance_list"]}
        self.assertEqual(len(new), 2, now)
        self.assertEqual(now["healthy"], 2, now)
        self.assertFalse(set(new) & set(old), (old, new))
        self.assertFalse(set(new.values()) & set(old.values()), (old, new))

        # A rolling update: no sample without a serving instance (`healthy`
        # counts those in the balancer), and in some sample an old and a new
        # instance were both up and healthy.
        self.assertGreater(len(samples), 3)
        for st in samples:
            self.assertGreaterEqual(st["healthy"], 1, "a moment with no serving instance: %r" % st)
        both = [st for st in samples
                if {i["id"] for i in st["instance_list"] if i["state"] == "healthy"} & set(old)
                and {i["id"] for i in st["instance_list"] if i["state"] == "healthy"} - set(old)]
        self.assertTrue(both, "old and new instances never ran side by side: %r" % samples)
        self.assertEqual(self.env_of(ika, "roll.test", "TOKEN"), SECRET)

    def assert_not_in_files(self, root, *needles):
        checked = 0
        for dirpath, _, files in os.walk(root):
            for name in files:
                path = os.path.join(dirpath, name)
                if os.path.islink(path) or not os.path.isfile(path):
                    continue
                with open(path, "rb") as f:
                    content = f.read()
                checked += 1
                for needle in needles:
                    self.assertNotIn(needle, content, "a secret value is in " + path)
        self.assertGreater(checked, 3)


if __name__ == "__main__":
    unittest.main()
