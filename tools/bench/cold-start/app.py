#!/usr/bin/env python3
"""The cold-start benchmark's app. Its first action records when the script
started; once it listens it records that too (wall clock, time.time_ns(), so
the client's timestamps compare), appends both to $COLD_LOG, and tells ika it
is ready (`READY <port>` on $IKA_READY_FD, else it listens on $PORT)."""
import time

T_START = time.time_ns()  # first action: "app process start" for the benchmark

import http.server  # noqa: E402  (after the timestamp on purpose)
import os  # noqa: E402


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = b"cold\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        pass


def main():
    ready_fd = os.environ.get("IKA_READY_FD")
    port = 0 if ready_fd else int(os.environ["PORT"])
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)  # binds and listens
    t_listen = time.time_ns()
    with open(os.environ["COLD_LOG"], "a") as log:
        log.write("%d %d %d\n" % (os.getpid(), T_START, t_listen))
    if ready_fd:
        fd = int(ready_fd)
        os.write(fd, b"READY %d\n" % server.server_address[1])
        os.close(fd)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
