/*
 * headload: a minimal wrk-like HTTP/1.1 keep-alive load generator, for HEAD.
 *
 * wrk 4.1 (Debian's) cannot measure HEAD: its http-parser is never told that the answer to a HEAD
 * has no body, so it waits for Content-Length bytes that never come (wg/wrk issue #198) and every
 * request times out. This tool sends one fixed request per connection at a time, reads the status
 * line and headers, and for HEAD treats the header end as the end of the answer (for other methods
 * it reads Content-Length bytes; chunked answers are counted as errors). Output mimics wrk's, so
 * bench/load.ts parses both the same way.
 *
 *   cc -O2 -pthread -o headload bench/headload.c
 *   headload -t2 -c32 -d10 -m HEAD -H 'Host: x' -H 'Accept: y' http://127.0.0.1:8080/path
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF 65536

typedef struct {
  int fd;
  int connected;
  size_t sent;          /* bytes of the request written */
  size_t have;          /* bytes of the answer buffered */
  long long body_left;  /* -1 while reading headers */
  int close_after;      /* the answer said Connection: close */
  uint64_t started_ns;
  char buf[BUF];
} conn_t;

typedef struct {
  int id, nconns;
  uint64_t done, non2xx, e_connect, e_read, e_write, e_timeout, bytes;
  uint32_t *lat;        /* microseconds */
  size_t nlat, caplat;
  pthread_t thread;
} worker_t;

static struct sockaddr_in addr;
static char *request;
static size_t request_len;
static int is_head;
static uint64_t deadline_ns;
static const uint64_t timeout_ns = 2000000000ull;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void record(worker_t *w, uint64_t ns) {
  if (w->nlat == w->caplat) {
    w->caplat = w->caplat ? w->caplat * 2 : 65536;
    w->lat = realloc(w->lat, w->caplat * sizeof *w->lat);
    if (!w->lat) { perror("realloc"); exit(2); }
  }
  uint64_t us = ns / 1000;
  w->lat[w->nlat++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static int open_conn(int ep, conn_t *c) {
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (c->fd < 0) return -1;
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  c->connected = 0;
  c->sent = 0;
  c->have = 0;
  c->body_left = -1;
  c->close_after = 0;
  c->started_ns = now_ns();
  if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) < 0 && errno != EINPROGRESS) {
    close(c->fd);
    return -1;
  }
  struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.ptr = c};
  return epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
}

static void reopen(int ep, worker_t *w, conn_t *c) {
  epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  while (open_conn(ep, c) < 0) {
    w->e_connect++;
    if (now_ns() > deadline_ns) return;
    usleep(1000);
  }
}

/* Writes (the rest of) the request; 1 when all of it is out, 0 on EAGAIN, -1 on error. */
static int send_request(int ep, conn_t *c) {
  if (c->sent == 0) c->started_ns = now_ns();
  while (c->sent < request_len) {
    ssize_t n = write(c->fd, request + c->sent, request_len - c->sent);
    if (n < 0) {
      if (errno == EAGAIN) {
        struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
        return 0;
      }
      return -1;
    }
    c->sent += (size_t)n;
  }
  return 1;
}

/* Consumes buffered bytes; returns 1 when an answer is complete (and shifts what follows it). */
static int parse(worker_t *w, conn_t *c) {
  if (c->body_left < 0) {
    char *end = memmem(c->buf, c->have, "\r\n\r\n", 4);
    if (!end) return c->have == BUF ? -1 : 0;
    size_t head = (size_t)(end - c->buf) + 4;
    int status = 0;
    if (c->have < 12 || sscanf(c->buf, "HTTP/1.%*d %d", &status) != 1) return -1;
    if (status < 200 || status > 399) w->non2xx++;
    long long length = 0;
    for (char *p = c->buf; p < end;) {
      char *eol = memmem(p, (size_t)(end + 2 - p), "\r\n", 2);
      size_t len = (size_t)(eol - p);
      if (len > 15 && strncasecmp(p, "content-length:", 15) == 0) length = atoll(p + 15);
      if (len > 18 && strncasecmp(p, "transfer-encoding:", 18) == 0 && !is_head) return -1;
      if (len > 11 && strncasecmp(p, "connection:", 11) == 0 && memmem(p + 11, len - 11, "close", 5)) c->close_after = 1;
      p = eol + 2;
    }
    c->body_left = is_head ? 0 : length;
    memmove(c->buf, c->buf + head, c->have - head);
    c->have -= head;
  }
  size_t take = (size_t)c->body_left < c->have ? (size_t)c->body_left : c->have;
  c->body_left -= (long long)take;
  memmove(c->buf, c->buf + take, c->have - take);
  c->have -= take;
  return c->body_left == 0 ? 1 : 0;
}

static void *run(void *arg) {
  worker_t *w = arg;
  int ep = epoll_create1(0);
  conn_t *conns = calloc((size_t)w->nconns, sizeof *conns);
  for (int i = 0; i < w->nconns; i++)
    if (open_conn(ep, &conns[i]) < 0) w->e_connect++;
  struct epoll_event events[256];
  for (;;) {
    uint64_t now = now_ns();
    if (now >= deadline_ns) break;
    int n = epoll_wait(ep, events, 256, 10);
    for (int i = 0; i < n; i++) {
      conn_t *c = events[i].data.ptr;
      if (!c->connected) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) { w->e_connect++; reopen(ep, w, c); continue; }
        c->connected = 1;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
        if (send_request(ep, c) < 0) { w->e_write++; reopen(ep, w, c); }
        continue;
      }
      if (events[i].events & EPOLLOUT && c->sent < request_len) {
        int r = send_request(ep, c);
        if (r < 0) { w->e_write++; reopen(ep, w, c); continue; }
        if (r == 1) {
          struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
          epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
        }
      }
      if (!(events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) continue;
      ssize_t got = read(c->fd, c->buf + c->have, BUF - c->have);
      if (got <= 0) {
        if (got < 0 && errno == EAGAIN) continue;
        w->e_read++;
        reopen(ep, w, c);
        continue;
      }
      w->bytes += (uint64_t)got;
      c->have += (size_t)got;
      for (;;) {
        int r = parse(w, c);
        if (r < 0) { w->e_read++; reopen(ep, w, c); break; }
        if (r == 0) break;
        uint64_t t = now_ns();
        record(w, t - c->started_ns);
        w->done++;
        c->sent = 0;
        c->body_left = -1;
        if (t >= deadline_ns) break;
        if (c->close_after) { reopen(ep, w, c); break; } /* as wrk does: not an error */
        if (send_request(ep, c) < 0) { w->e_write++; reopen(ep, w, c); break; }
        if (c->have == 0) break;
      }
    }
    /* wrk counts an answer slower than its timeout (2 s) as a timeout error. */
    now = now_ns();
    for (int i = 0; i < w->nconns; i++) {
      conn_t *c = &conns[i];
      if (now - c->started_ns > timeout_ns && now < deadline_ns) { w->e_timeout++; reopen(ep, w, c); }
    }
  }
  for (int i = 0; i < w->nconns; i++) close(conns[i].fd);
  free(conns);
  close(ep);
  return NULL;
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

static void print_latency(const char *label, double us) {
  if (us >= 1000000) printf("%s %.2fs\n", label, us / 1e6);
  else if (us >= 1000) printf("%s %.2fms\n", label, us / 1e3);
  else printf("%s %.2fus\n", label, us);
}

int main(int argc, char **argv) {
  int threads = 2, conns = 32, seconds = 10;
  const char *method = "HEAD";
  char headers[4096] = "";
  const char *url = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strncmp(a, "-t", 2)) threads = atoi(a[2] ? a + 2 : argv[++i]);
    else if (!strncmp(a, "-c", 2)) conns = atoi(a[2] ? a + 2 : argv[++i]);
    else if (!strncmp(a, "-d", 2)) seconds = atoi(a[2] ? a + 2 : argv[++i]);
    else if (!strcmp(a, "-m")) method = argv[++i];
    else if (!strcmp(a, "-H")) {
      strncat(headers, argv[++i], sizeof headers - strlen(headers) - 3);
      strcat(headers, "\r\n");
    } else url = a;
  }
  char host[256], path[2048] = "/";
  int port = 80;
  if (!url || sscanf(url, "http://%255[^:/]:%d%2047s", host, &port, path) < 2 || threads < 1 || conns < threads) {
    fprintf(stderr, "usage: headload -tN -cN -dSECONDS [-m METHOD] [-H 'Name: value']... http://IPv4:PORT/path\n");
    return 2;
  }
  is_head = !strcmp(method, "HEAD");
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
    fprintf(stderr, "headload: %s is not an IPv4 address\n", host);
    return 2;
  }
  if (asprintf(&request, "%s %s HTTP/1.1\r\n%s%s\r\n", method, path, strcasestr(headers, "host:") ? "" : "Host: localhost\r\n", headers) < 0) return 2;
  request_len = strlen(request);

  printf("Running %ds test @ %s\n  %d threads and %d connections (%s)\n", seconds, url, threads, conns, method);
  worker_t *w = calloc((size_t)threads, sizeof *w);
  uint64_t start = now_ns();
  deadline_ns = start + (uint64_t)seconds * 1000000000ull;
  for (int i = 0; i < threads; i++) {
    w[i].id = i;
    w[i].nconns = conns / threads + (i < conns % threads);
    pthread_create(&w[i].thread, NULL, run, &w[i]);
  }
  uint64_t done = 0, non2xx = 0, ec = 0, er = 0, ew = 0, et = 0, bytes = 0;
  size_t total = 0;
  for (int i = 0; i < threads; i++) {
    pthread_join(w[i].thread, NULL);
    done += w[i].done; non2xx += w[i].non2xx; ec += w[i].e_connect; er += w[i].e_read;
    ew += w[i].e_write; et += w[i].e_timeout; bytes += w[i].bytes; total += w[i].nlat;
  }
  double elapsed = (double)(now_ns() - start) / 1e9;
  uint32_t *all = malloc((total ? total : 1) * sizeof *all);
  size_t k = 0;
  for (int i = 0; i < threads; i++) {
    memcpy(all + k, w[i].lat, w[i].nlat * sizeof *all);
    k += w[i].nlat;
  }
  qsort(all, total, sizeof *all, cmp_u32);
  printf("  Latency Distribution\n");
  const int pct[] = {50, 75, 90, 99};
  for (int i = 0; i < 4; i++) {
    char label[16];
    snprintf(label, sizeof label, "    %d%%", pct[i]);
    print_latency(label, total ? (double)all[(size_t)((double)(total - 1) * pct[i] / 100.0)] : 0);
  }
  printf("  %llu requests in %.2fs, %.2fMB read\n", (unsigned long long)done, elapsed, (double)bytes / 1048576.0);
  if (ec || er || ew || et)
    printf("  Socket errors: connect %llu, read %llu, write %llu, timeout %llu\n", (unsigned long long)ec, (unsigned long long)er, (unsigned long long)ew, (unsigned long long)et);
  if (non2xx) printf("  Non-2xx or 3xx responses: %llu\n", (unsigned long long)non2xx);
  printf("Requests/sec: %10.2f\n", (double)done / elapsed);
  return 0;
}
