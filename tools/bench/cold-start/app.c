/* The cold-start benchmark's native app: with no interpreter before main(),
 * "the app's own start-up" is what it does itself. main() first records the
 * wall clock, listens on a loopback port, records the clock again, appends
 * "pid start listen" (ns) to $COLD_LOG and writes "READY <port>" to
 * $IKA_READY_FD. Then it answers every request with a fixed 200. A bench
 * prop, not an HTTP server: it reads a request head up to the blank line
 * and ignores what it says. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(void) {
  long long start = now_ns();
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || bind(fd, (struct sockaddr*)&a, sizeof a) != 0 || listen(fd, 128) != 0)
    return 1;
  socklen_t len = sizeof a;
  getsockname(fd, (struct sockaddr*)&a, &len);
  long long listening = now_ns();
  const char* log = getenv("COLD_LOG");
  FILE* f = log ? fopen(log, "a") : NULL;
  if (f) {
    fprintf(f, "%d %lld %lld\n", (int)getpid(), start, listening);
    fclose(f);
  }
  const char* ready = getenv("IKA_READY_FD");
  if (ready) {
    char line[32];
    int n = snprintf(line, sizeof line, "READY %d\n", ntohs(a.sin_port));
    if (write(atoi(ready), line, (size_t)n) != n)
      return 1;
    close(atoi(ready));
  }
  static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\ncold\n";
  for (;;) {
    int c = accept(fd, NULL, NULL);
    if (c < 0)
      continue;
    char buf[8192];
    size_t have = 0;
    ssize_t n;
    while (have < sizeof buf - 1 && (n = read(c, buf + have, sizeof buf - 1 - have)) > 0) {
      have += (size_t)n;
      buf[have] = 0;
      if (strstr(buf, "\r\n\r\n")) {
        /* Keep-alive requests from ika on this connection: answer each. */
        if (write(c, reply, sizeof reply - 1) < 0)
          break;
        have = 0;
      }
    }
    close(c);
  }
}
