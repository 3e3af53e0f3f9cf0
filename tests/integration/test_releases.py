"""Release history: `ika releases` lists an app's kept releases (the last
10, the live one marked), `ika rollback` rolls back to the previous live
release or a named one (a version prefix), older releases are pruned from
the store and the data dir, and the history survives a node restart.

Every test starts its own node (port 0, temp data dir) and deploys a small
python app whose answer is its release's version.txt.
"""

import json
import os
import shutil
import signal
import tempfile
import unittest

from test_apps import AppsTestCase, manifest

# Answers GET with the content of version.txt next to it; "broken" exits at
# start (a deploy that fails).
VERSION_APP = r'''
import http.server, os, socketserver, sys
VERSION = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "version.txt")).read().strip()
if VERSION == "broken":
    print("broken on purpose", file=sys.stderr, flush=True)
    sys.exit(3)
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = (VERSION + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
S((os.environ["HOST"], int(os.environ["PORT"])), H).serve_forever()
'''

FAST = '\n[deploy]\nhold = "0s"\n'


class ReleasesTest(AppsTestCase):

    def version_dir(self, name, host):
        return self.app_dir({"ika.toml": manifest(name, host, extra=FAST), "app.py": VERSION_APP,
                             "version.txt": "v0\n"})

    def deploy_version(self, ika, d, text, ok=True):
        with open(os.path.join(d, "version.txt"), "w") as f:
            f.write(text + "\n")
        proc = self.deploy(ika, d, ok=ok)
        return proc

    def serves(self, ika, host):
        resp = self.get(ika, host)
        self.assertEqual(resp.status, 200, resp.body)
        return resp.body.decode().strip()

    def live(self, ika, app):
        return self.status(ika, app)["release"]

    def releases(self, ika, app):
        return ika.cli_json("releases", app)

    def rollback(self, ika, *args, ok=True):
        proc = ika.cli("rollback", *args, timeout=90)
        if ok and proc.returncode != 0:
            self.fail("rollback failed (%d)\nstdout:\n%s\nstderr:\n%s\nnode stderr:\n%s" % (
                proc.returncode, proc.stdout, proc.stderr, ika.stderr[-3000:]))
        return proc

    def release_dir(self, ika, name, version):
        return os.path.join(ika.data_dir, "apps", name, "production", "releases", version)

    def test_releases_and_rollback(self):
        ika = self.node()
        d = self.version_dir("ver", "ver.test")
        self.deploy_version(ika, d, "v1")
        v1 = self.live(ika, "ver")
        self.deploy_version(ika, d, "v2")
        v2 = self.live(ika, "ver")
        self.assertNotEqual(v1, v2)
        self.assertEqual(self.serves(ika, "ver.test"), "v2")

        rs = self.releases(ika, "ver")
        self.assertEqual([r["version"] for r in rs], [v2, v1], "newest first")
        self.assertEqual([r["live"] for r in rs], [True, False])
        for r in rs:
            self.assertEqual(r["files"], 3, r)  # ika.toml, app.py, version.txt
            self.assertGreater(r["bytes"], len(VERSION_APP), r)
            self.assertGreater(r["created_ms"], 1_600_000_000_000, r)
        self.assertLessEqual(rs[1]["created_ms"], rs[0]["created_ms"])
        table = ika.cli("releases", "ver", check=True).stdout
        self.assertIn("VERSION", table)
        live_line = next(l for l in table.splitlines() if l.startswith(v2[:12]))
        self.assertIn("*", live_line)
        self.assertNotIn("*", next(l for l in table.splitlines() if l.startswith(v1[:12])))

        # A deploy that fails does not count as live: the previous release
        # is still v1.
        proc = self.deploy_version(ika, d, "broken", ok=False)
        self.assertNotEqual(proc.returncode, 0)
        self.assertEqual(self.live(ika, "ver"), v2)
        self.assertEqual(len(self.releases(ika, "ver")), 3)

        proc = self.rollback(ika, "ver")
        self.assertIn("rolling ver/production back to the previous release", proc.stdout)
        self.assertIn("release %s is live" % v1, proc.stdout)
        self.assertEqual(self.serves(ika, "ver.test"), "v1")
        self.assertEqual(self.live(ika, "ver"), v1)
        rs = self.releases(ika, "ver")
        self.assertEqual([r["version"] for r in rs if r["live"]], [v1])
        self.assertEqual(rs[-1]["version"], v1, "the list stays ordered by creation")

        # The previous one is now v2 (live before v1): rollback goes back and forth.
        self.rollback(ika, "ver")
        self.assertEqual(self.serves(ika, "ver.test"), "v2")
        # By a prefix.
        proc = self.rollback(ika, "ver", v1[:8])
        self.assertIn("release %s is live" % v1, proc.stdout)
        self.assertEqual(self.serves(ika, "ver.test"), "v1")
        # To the live one: nothing changes.
        proc = self.rollback(ika, "ver", v1)
        self.assertIn("unchanged", proc.stdout)
        self.assertEqual(self.serves(ika, "ver.test"), "v1")
        # JSON like deploy's: one line per progress event, then the result.
        proc = ika.cli("rollback", "ver", v2[:10], "--json", timeout=90, check=True)
        docs, text, pos = [], proc.stdout, 0
        while text[pos:].strip():
            doc, pos = json.JSONDecoder().raw_decode(text, len(text) - len(text[pos:].lstrip()))
            docs.append(doc)
        self.assertTrue(any(d.get("event") == "instance" for d in docs[:-1]), docs)
        out = docs[-1]
        self.assertTrue(out["ok"])
        self.assertTrue(out["changed"])
        self.assertEqual(out["release"], v2)
        self.assertEqual(self.serves(ika, "ver.test"), "v2")

        # Unknown, malformed and ambiguous-free errors name what is kept.
        proc = self.rollback(ika, "ver", "deadbeef00", ok=False)
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("no kept release matches 'deadbeef00'", proc.stderr)
        self.assertIn(v1[:12], proc.stderr)
        proc = self.rollback(ika, "ver", "abc", ok=False)
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("at least 7", proc.stderr)
        proc = self.rollback(ika, "ghost", ok=False)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("no app 'ghost/production'", proc.stderr)
        proc = ika.cli("releases", "ghost")
        self.assertEqual(proc.returncode, 1)
        self.assertIn("no app 'ghost/production'", proc.stderr)
        self.assertEqual(self.serves(ika, "ver.test"), "v2")

        # Status shows the rollout fields (empty when none runs) and each
        # instance's release.
        st = self.status(ika, "ver")
        self.assertEqual(st["next_release"], "")
        self.assertEqual(st["rollout"], "")
        self.assertEqual([i["release"] for i in st["instance_list"]], [v2])

    def test_rollback_with_one_release_is_refused(self):
        ika = self.node()
        d = self.version_dir("single", "single.test")
        self.deploy_version(ika, d, "only")
        proc = self.rollback(ika, "single", ok=False)
        self.assertEqual(proc.returncode, 1, proc.stdout + proc.stderr)
        self.assertIn("only one release", proc.stderr)
        self.assertEqual(self.serves(ika, "single.test"), "only")

    def test_twelve_releases_keep_ten_and_the_history_survives_a_restart(self):
        data = tempfile.mkdtemp(prefix="ika-data-")
        self.addCleanup(shutil.rmtree, data, True)
        first = self.start_ika(args=["serve", "--http", "127.0.0.1:0", "--data", data])
        d = self.version_dir("many", "many.test")
        versions = []
        for i in range(12):
            self.deploy_version(first, d, "r%d" % i)
            versions.append(self.live(first, "many"))
        self.assertEqual(len(set(versions)), 12)
        rs = self.releases(first, "many")
        self.assertEqual([r["version"] for r in rs], versions[::-1][:10])
        self.assertEqual([r["version"] for r in rs if r["live"]], [versions[11]])
        for v in versions[:2]:
            self.assertFalse(os.path.exists(self.release_dir(first, "many", v)), "release %s not pruned" % v)
        for v in versions[2:]:
            self.assertTrue(os.path.isdir(self.release_dir(first, "many", v)), "release %s gone" % v)
        # A pruned release cannot be rolled back to.
        proc = self.rollback(first, "many", versions[0], ok=False)
        self.assertIn("no kept release matches", proc.stderr)

        # Roll back to the oldest kept one: it becomes live and recent.
        self.rollback(first, "many", versions[2][:7])
        self.assertEqual(self.serves(first, "many.test"), "r2")
        first.send_signal(signal.SIGTERM)
        self.assertEqual(first.wait(30), 0)

        second = self.start_ika(args=["serve", "--http", "127.0.0.1:0", "--data", data])
        self.assertEqual(self.live(second, "many"), versions[2])
        rs = self.releases(second, "many")
        self.assertEqual([r["version"] for r in rs], versions[::-1][:10])
        self.assertEqual([r["version"] for r in rs if r["live"]], [versions[2]])
        # The history survived: the previous release is r11 (live before r2).
        self.rollback(second, "many")
        self.assertEqual(self.serves(second, "many.test"), "r11")
        # A 13th release prunes the least recently live or created one: r3
        # (r2 was live a moment ago).
        self.deploy_version(second, d, "r12")
        kept = {r["version"] for r in self.releases(second, "many")}
        self.assertEqual(len(kept), 10)
        self.assertIn(versions[2], kept)
        self.assertNotIn(versions[3], kept)
        self.assertFalse(os.path.exists(self.release_dir(second, "many", versions[3])))
        self.assertTrue(os.path.isdir(self.release_dir(second, "many", versions[2])))


if __name__ == "__main__":
    unittest.main()
