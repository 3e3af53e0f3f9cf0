"""The `ika` command line: help, version, bad flags (exit code 2), the quick
`ika proxy` mode with round robin, and `ika serve` listener reporting."""

import resource
import subprocess
import unittest

from ikatest import IKA_BIN, IkaTestCase, Origin, make_config, run_ika, wait_stable


def run(*args):
    try:
        return run_ika(list(args), timeout=5)
    except subprocess.TimeoutExpired:
        raise AssertionError("`ika %s` kept running" % " ".join(args)) from None


class HelpTest(unittest.TestCase):

    def test_help(self):
        """`ika --help` exits 0 and lists every command."""
        proc = run("--help")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        for command in ("proxy", "serve", "deploy", "apps", "status", "scale", "logs", "stop", "start", "delete"):
            self.assertIn(command, proc.stdout)

    def test_client_help(self):
        """Every client command documents --json, --data, --node and
        --credentials."""
        for command in ("deploy", "apps", "status", "scale", "logs", "stop", "start", "delete"):
            with self.subTest(command=command):
                proc = run(command, "--help")
                self.assertEqual(proc.returncode, 0, proc.stderr)
                for flag in ("--json", "--data", "--node", "--credentials"):
                    self.assertIn(flag, proc.stdout)

    def test_proxy_help(self):
        """`ika proxy --help` exits 0 and documents --from and --to."""
        proc = run("proxy", "--help")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("--from", proc.stdout)
        self.assertIn("--to", proc.stdout)

    def test_serve_help(self):
        """`ika serve --help` exits 0 and documents --config."""
        proc = run("serve", "--help")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("--config", proc.stdout)

    def test_version(self):
        """`ika --version` exits 0 and prints a version number."""
        proc = run("--version")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertRegex(proc.stdout + proc.stderr, r"\d+\.\d+")


class BadFlagsTest(unittest.TestCase):

    def assert_usage_error(self, *args):
        proc = run(*args)
        self.assertEqual(proc.returncode, 2, "`ika %s`: stdout %r stderr %r" % (" ".join(args), proc.stdout,
                                                                               proc.stderr))
        self.assertNotIn("listening", proc.stdout)
        self.assertTrue(proc.stderr.strip(), "a usage error should say what is wrong on stderr")

    def test_unknown_flag(self):
        """An unknown flag is a usage error (exit 2)."""
        self.assert_usage_error("--bogus")

    def test_unknown_command(self):
        """An unknown command is a usage error (exit 2)."""
        self.assert_usage_error("frobnicate")
        for args, name in ((["frobnicate"], "ika frobnicate"), (["secrets", "frob", "app"], "ika secrets frob")):
            with self.subTest(args=args):
                proc = run(*args)
                self.assertIn("unknown command '%s'" % name, proc.stderr)
                self.assertIn("deploy" if len(args) == 1 else "unset", proc.stderr)

    def test_no_command(self):
        """`ika` without a command does not start anything and exits
        non-zero."""
        proc = run()
        self.assertNotEqual(proc.returncode, 0)
        self.assertNotIn("listening", proc.stdout)
        self.assertIn("deploy", proc.stderr, "`ika` alone should show the commands")

    def test_proxy_without_to(self):
        """`ika proxy` without --to is a usage error."""
        self.assert_usage_error("proxy", "--from", "127.0.0.1:0")

    def test_proxy_without_from(self):
        """`ika proxy` without --from is a usage error."""
        self.assert_usage_error("proxy", "--to", "127.0.0.1:9")

    def test_proxy_bad_addresses(self):
        """Malformed --from / --to addresses are usage errors."""
        for args in (["--from", "nonsense", "--to", "127.0.0.1:9"], ["--from", "127.0.0.1:0", "--to", "127.0.0.1"],
                     ["--from", "127.0.0.1:99999", "--to", "127.0.0.1:9"],
                     ["--from", "127.0.0.1:0", "--to", "127.0.0.1:70000"]):
            with self.subTest(args=args):
                self.assert_usage_error("proxy", *args)

    def test_serve_bad_addresses(self):
        """`ika serve` with a bad --http or --admin address is a usage error,
        and nothing is started."""
        for args in (["--http", "nonsense"], ["--http", "127.0.0.1:99999"], ["--admin", "localhost"],
                     ["--admin", "127.0.0.1:70000"]):
            with self.subTest(args=args):
                self.assert_usage_error("serve", "--data", "/nonexistent/ika-test-data", *args)

    def test_client_commands_need_their_arguments(self):
        """Client commands without their required arguments are usage
        errors; so are bad numbers."""
        for args in (["scale"], ["scale", "app"], ["scale", "app", "many"], ["logs"], ["stop"], ["start"],
                     ["delete"], ["logs", "app", "-n", "x"], ["scale", "app", "65"], ["scale", "app", "-1"]):
            with self.subTest(args=args):
                self.assert_usage_error(*args)

    def test_client_without_a_node(self):
        """A client command with no node in its data dir says so (exit 1)."""
        proc = run("apps", "--data", "/nonexistent/ika-test-data")
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("admin-credentials.pem", proc.stderr)

    def test_bad_workers(self):
        """A --workers that is not a number from 0 to 1024 is a usage error,
        for both commands that take it."""
        for bad in ("many", "-1", "1025", "100000"):
            with self.subTest(workers=bad):
                self.assert_usage_error("proxy", "--from", "127.0.0.1:0", "--to", "127.0.0.1:9", "--workers", bad)
                self.assert_usage_error("serve", "--data", "/nonexistent/ika-test-data", "--workers", bad)

    def test_io_threads_that_cannot_start(self):
        """More io threads than the file-descriptor limit allows: a clear
        error naming the cause and exit 1, not an actor's unhandled
        exception."""
        def low_fd_limit():
            resource.setrlimit(resource.RLIMIT_NOFILE, (200, 200))
        proc = subprocess.run([IKA_BIN, "proxy", "--from", "127.0.0.1:0", "--to", "127.0.0.1:9", "--workers", "500"],
                              stdin=subprocess.DEVNULL, capture_output=True, timeout=10, text=True,
                              preexec_fn=low_fd_limit)
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("ika: error: cannot start the io threads (500): they need 1564 file descriptors and the "
                      "limit is 200 (ulimit -n)", proc.stderr)
        self.assertNotIn("unhandled exception", proc.stderr)
        self.assertNotIn("listening", proc.stdout)

    def test_missing_certificate_file(self):
        """`ika proxy --cert` naming a missing file: the error is the file
        and the reason, without CAF's error code around it."""
        proc = run("proxy", "--from", "127.0.0.1:0", "--to", "127.0.0.1:9", "--cert", "/nonexistent/c.pem",
                   "--key", "/nonexistent/k.pem")
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("/nonexistent/c.pem", proc.stderr)
        self.assertIn("No such file or directory", proc.stderr)
        self.assertNotIn("system_error(", proc.stderr)


class ProxyCommandTest(IkaTestCase):

    def test_proxy_forwards(self):
        """`ika proxy --from 127.0.0.1:0 --to ORIGIN` prints its listening
        line and forwards requests for any host."""
        origin = self.start(Origin(b"via ika proxy"))
        ika = self.start_ika(args=["proxy", "--from", "127.0.0.1:0", "--to", origin.address])
        self.assertEqual(len(ika.listeners), 1)
        self.assertEqual(ika.listeners[0][1], "127.0.0.1")
        self.assertGreater(ika.port, 0)
        for host in ("a.test", "b.test:8080", "127.0.0.1"):
            resp = self.fetch(ika.port, host=host)
            self.assertEqual((resp.status, resp.body), (200, b"via ika proxy"))

    def test_proxy_round_robin(self):
        """Two --to upstreams take turns: 10 requests on one connection are
        split 5 and 5, alternating."""
        a = self.start(Origin(b"a"))
        b = self.start(Origin(b"b"))
        ika = self.start_ika(args=["proxy", "--from", "127.0.0.1:0", "--to", a.address, "--to", b.address])
        c = self.client(ika.port)
        bodies = [c.roundtrip("GET", "/%d" % i).body for i in range(10)]
        self.assertEqual((len(a.requests), len(b.requests)), (5, 5), bodies)
        self.assertTrue(all(bodies[i] != bodies[i + 1] for i in range(9)), "not alternating: %r" % bodies)

    def test_proxy_with_workers(self):
        """`--workers 1` is accepted and the proxy works."""
        origin = self.start(Origin(b"one worker"))
        ika = self.start_ika(args=["proxy", "--from", "127.0.0.1:0", "--to", origin.address, "--workers", "1"])
        self.assertEqual(self.fetch(ika.port).body, b"one worker")

    def test_no_per_request_logging(self):
        """Requests produce no log lines (stdout holds only the listening
        line, stderr does not grow with traffic)."""
        origin = self.start(Origin())
        ika = self.start_ika(args=["proxy", "--from", "127.0.0.1:0", "--to", origin.address])
        c = self.client(ika.port)
        self.assertEqual(c.roundtrip("GET", "/first").status, 200)
        before = wait_stable(lambda: len(ika.stderr), quiet=0.3, timeout=10)  # start-up logs are done
        for i in range(50):
            self.assertEqual(c.roundtrip("GET", "/%d" % i).status, 200)
        self.assertEqual(len(ika.stderr), before, "stderr grew with requests: %r" % ika.stderr[before:][:300])
        self.assertEqual(len(ika.stdout_lines), 1, ika.stdout_lines)


class ServeCommandTest(IkaTestCase):

    def test_two_listeners_are_reported_by_name(self):
        """Each configured listener gets its own `listening` line with its
        name and bound port, and both serve the routes."""
        origin = self.start(Origin(b"served"))
        ika = self.start_ika(make_config(origin, listeners=[{"name": "front", "address": "127.0.0.1:0"},
                                                            {"name": "back", "address": "127.0.0.1:0"}]))
        self.assertEqual(sorted(ika.ports), ["back", "front"])
        self.assertNotEqual(ika.ports["front"], ika.ports["back"])
        self.assertEqual(len(ika.stdout_lines), 3, ika.stdout_lines)
        for line in ika.stdout_lines[:2]:
            self.assertRegex(line, r"^ika: listening on http://127\.0\.0\.1:\d+ \((front|back)\)$")
        self.assertRegex(ika.stdout_lines[2], r"^ika: admin on 127\.0\.0\.1:\d+ \(mutual TLS\)$")
        for port in ika.ports.values():
            self.assertEqual(self.fetch(port).body, b"served")

    def test_default_listener_name(self):
        """A listener without a name is reported as `http`."""
        origin = self.start(Origin())
        ika = self.start_ika(make_config(origin, listeners=[{"address": "127.0.0.1:0"}]))
        self.assertEqual(list(ika.ports), ["http"])

    def test_serve_workers_flag(self):
        """`ika serve --config FILE --workers 1` starts and serves."""
        origin = self.start(Origin(b"w1"))
        ika = self.start_ika(make_config(origin), workers=1)
        self.assertEqual(self.fetch(ika.port).body, b"w1")


if __name__ == "__main__":
    unittest.main()
