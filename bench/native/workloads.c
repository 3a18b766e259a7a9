/*
 * webmalloc native reference: the benchmark's workloads run against the C library's malloc (or whatever
 * allocator is LD_PRELOADed), so that the JS/wasm figures have a native yardstick.
 *
 * Build: cc -O2 -fno-builtin-malloc -fno-builtin-free -pthread -o workloads workloads.c
 *        (scripts/bench-native.sh adds -fno-builtin-{calloc,realloc,aligned_alloc} too: the same intent)
 * Run:   ./workloads [--quick] [--rounds N] [--only NAME] [--label NAME] [--list]
 *
 * Prints one JSON object per line and result on stdout; progress and errors go to stderr.
 * Every workload runs in a forked child so that peak_rss_bytes (getrusage ru_maxrss) belongs to that workload
 * alone and no allocator state carries over from one workload to the next. The parent never starts a thread,
 * so forking is safe.
 * Like the JS side of the benchmark, the child runs the workload once untimed (warm-up: the allocator has
 * its memory and its caches when the clock starts), then N timed rounds (default 5), and prints the median
 * round, with best_ns_per_op and spread ((slowest - fastest) / median) beside it.
 *
 * Figures:
 *   ops            number of allocator calls timed (malloc, free, realloc, aligned_alloc each count one),
 *                  summed over all threads
 *   ns_per_op      wall time / ops (inverse of total throughput; for one thread the cost of one call)
 *   thread_ns_per_op  wall time * threads / ops (what one call costs a thread when several run at once)
 *   ops_per_sec    ops / wall seconds
 *   peak_rss_bytes the child's peak resident set (includes the program's own few hundred KiB)
 *   peak_live_bytes the most requested bytes live at once, counted by the workload (sum over threads)
 *   malloc_from    the file the called malloc lives in (shows whether an LD_PRELOAD took effect)
 *
 * The pseudo-random numbers come from xorshift64 with fixed seeds, so every run makes the same requests.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------------------------------------ basics */

static int quick = 0;
static int rounds_wanted = 5;
static const char *label = NULL;
/* Where emit() writes: a memory stream per round (run_job keeps the median round's line). */
static FILE *out = NULL;
static double last_ns_per_op = 0;

/* Bytes read back from blocks end here, so that the writes into blocks are observable. */
static volatile uint64_t sink;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* xorshift64 (13, 7, 17); state must never be zero. */
typedef struct { uint64_t s; } rng_t;

static inline uint64_t rng_next(rng_t *r) {
  uint64_t x = r->s;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  r->s = x;
  return x;
}

/* Uniform-ish integer in [lo, hi] (modulo bias is irrelevant here). */
static inline size_t rng_range(rng_t *r, size_t lo, size_t hi) {
  return lo + (size_t)(rng_next(r) % (uint64_t)(hi - lo + 1));
}

static rng_t rng_seeded(uint64_t seed) {
  rng_t r = { seed ? seed : 0x9E3779B97F4A7C15ull };
  for (int i = 0; i < 8; i++) rng_next(&r); /* spread out small seeds */
  return r;
}

static void die(const char *what) {
  fprintf(stderr, "workloads: %s\n", what);
  exit(2);
}

static void *xmalloc_checked(size_t n) {
  void *p = malloc(n);
  if (!p) die("out of memory (malloc returned NULL)");
  return p;
}

/* Write the first and last byte of a block: keeps the call from being optimised away and touches the memory
 * the way a user would. */
static inline void touch(void *p, size_t n, unsigned v) {
  unsigned char *b = (unsigned char *)p;
  b[0] = (unsigned char)v;
  b[n - 1] = (unsigned char)(v >> 8);
}

static inline unsigned peek(void *p) { return ((unsigned char *)p)[0]; }

typedef struct {
  uint64_t ops;
  uint64_t elapsed_ns;
  uint64_t peak_live;
} result_t;

/* The file of the malloc this program really calls ("libc.so.6", or the LD_PRELOADed library). */
static const char *malloc_origin(void) {
  static char name[128];
  if (!name[0]) {
    Dl_info info;
    void *(*fn)(size_t) = malloc;
    const char *f = (dladdr(*(void **)&fn, &info) && info.dli_fname) ? info.dli_fname : "unknown";
    const char *slash = strrchr(f, '/');
    snprintf(name, sizeof name, "%s", slash ? slash + 1 : f);
    for (char *c = name; *c; c++) if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20) *c = '_';
  }
  return name;
}

static void emit(const char *workload, int threads, const result_t *res, const char *extra) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double ns = (double)res->elapsed_ns;
  double per_op = res->ops ? ns / (double)res->ops : 0.0;
  double ops_s = ns > 0 ? (double)res->ops * 1e9 / ns : 0.0;
  fprintf(out, "{");
  if (label) fprintf(out, "\"allocator\":\"%s\",", label);
  fprintf(out, "\"workload\":\"%s\",\"threads\":%d,\"ops\":%llu,\"ns_per_op\":%.3f,\"thread_ns_per_op\":%.3f,"
         "\"ops_per_sec\":%.0f,\"elapsed_ms\":%.3f,\"peak_rss_bytes\":%lld,\"peak_live_bytes\":%llu",
         workload, threads, (unsigned long long)res->ops, per_op, per_op * threads, ops_s, ns / 1e6,
         (long long)ru.ru_maxrss * 1024ll, (unsigned long long)res->peak_live);
  if (extra && *extra) fprintf(out, ",%s", extra);
  fprintf(out, ",\"malloc_from\":\"%s\",\"quick\":%s}\n", malloc_origin(), quick ? "true" : "false");
  last_ns_per_op = per_op;
}

/* ------------------------------------------------------------------------------------------------ pairs-N */

/* malloc(n) immediately followed by free(p); ops = 2 * iterations. */
static void run_pairs(const char *name, size_t n) {
  uint64_t iters = quick ? 2000000 : 20000000;
  uint64_t acc = 0;
  uint64_t t0 = now_ns();
  for (uint64_t i = 0; i < iters; i++) {
    void *p = malloc(n);
    touch(p, n, (unsigned)i);
    acc += peek(p);
    free(p);
  }
  uint64_t t1 = now_ns();
  sink += acc;
  result_t r = { 2 * iters, t1 - t0, n };
  char extra[96];
  snprintf(extra, sizeof extra, "\"iterations\":%llu,\"size\":%zu", (unsigned long long)iters, n);
  emit(name, 1, &r, extra);
}

/* ------------------------------------------------------------------------------------------------ batch-64 */

/* 1000 blocks of 64 bytes allocated into an array, then all freed (in allocation order); repeated. */
static void run_batch(void) {
  enum { BATCH = 1000, SIZE = 64 };
  uint64_t reps = quick ? 2000 : 20000;
  void **slots = xmalloc_checked(BATCH * sizeof(void *));
  uint64_t acc = 0;
  uint64_t t0 = now_ns();
  for (uint64_t r = 0; r < reps; r++) {
    for (int i = 0; i < BATCH; i++) {
      void *p = malloc(SIZE);
      touch(p, SIZE, (unsigned)i);
      slots[i] = p;
    }
    for (int i = 0; i < BATCH; i++) {
      acc += peek(slots[i]);
      free(slots[i]);
    }
  }
  uint64_t t1 = now_ns();
  sink += acc;
  free(slots);
  result_t res = { 2ull * BATCH * reps, t1 - t0, (uint64_t)BATCH * SIZE };
  char extra[96];
  snprintf(extra, sizeof extra, "\"rounds\":%llu,\"blocks\":%d,\"size\":%d", (unsigned long long)reps, BATCH, SIZE);
  emit("batch-64", 1, &res, extra);
}

/* ------------------------------------------------------------------------------------------------ random-N */

/* `blocks` blocks of random size [8, max] allocated, then freed in a random order; repeated `rounds` times.
 * Sizes and the free order are drawn before the clock starts (a fresh order per round). */
static void run_random(const char *name, size_t max, size_t blocks, int rounds) {
  rng_t rng = rng_seeded(0x5EED0000ull + max);
  size_t *sizes = xmalloc_checked(blocks * sizeof(size_t));
  uint32_t *order = xmalloc_checked(blocks * sizeof(uint32_t) * (size_t)rounds);
  void **ptrs = xmalloc_checked(blocks * sizeof(void *));
  uint64_t total = 0;
  for (size_t i = 0; i < blocks; i++) {
    sizes[i] = rng_range(&rng, 8, max);
    total += sizes[i];
  }
  for (int r = 0; r < rounds; r++) {
    uint32_t *o = order + (size_t)r * blocks;
    for (size_t i = 0; i < blocks; i++) o[i] = (uint32_t)i;
    for (size_t i = blocks - 1; i > 0; i--) { /* Fisher-Yates */
      size_t j = rng_range(&rng, 0, i);
      uint32_t t = o[i]; o[i] = o[j]; o[j] = t;
    }
  }
  uint64_t acc = 0;
  uint64_t alloc_ns = 0; /* the two phases apart (bench/phases.ts): two clock reads per phase of `blocks` calls */
  uint64_t t0 = now_ns();
  for (int r = 0; r < rounds; r++) {
    uint64_t ta = now_ns();
    for (size_t i = 0; i < blocks; i++) {
      void *p = malloc(sizes[i]);
      touch(p, sizes[i], (unsigned)i);
      ptrs[i] = p;
    }
    alloc_ns += now_ns() - ta;
    const uint32_t *o = order + (size_t)r * blocks;
    for (size_t i = 0; i < blocks; i++) {
      void *p = ptrs[o[i]];
      acc += peek(p);
      free(p);
    }
  }
  uint64_t t1 = now_ns();
  sink += acc;
  free(sizes); free(order); free(ptrs);
  result_t res = { 2ull * blocks * (uint64_t)rounds, t1 - t0, total };
  double calls = (double)blocks * rounds;
  char extra[256];
  snprintf(extra, sizeof extra,
           "\"rounds\":%d,\"blocks\":%zu,\"min_size\":8,\"max_size\":%zu,\"alloc_ns_per_op\":%.3f,\"free_ns_per_op\":%.3f",
           rounds, blocks, max, (double)alloc_ns / calls, (double)(t1 - t0 - alloc_ns) / calls);
  emit(name, 1, &res, extra);
}

/* ------------------------------------------------------------------------------------------------ larson */

/* Each thread owns 1000 slots filled before timing; each step frees a random slot's block and puts a new
 * block of random size [16, 1024] in its place (2 ops per step). */
enum { LARSON_SLOTS = 1000, LARSON_MIN = 16, LARSON_MAX = 1024 };

/* A thread of a multi-thread workload that every thread runs alike (larson, xmalloc-local): it sets up, waits at
 * the barrier, does `count` units of work, waits at the barrier again, then cleans up. */
typedef struct {
  int id;
  uint64_t count;
  pthread_barrier_t *barrier;
  uint64_t peak_live; /* out: most bytes it had live */
  uint64_t acc;       /* out: bytes read back */
  uint64_t start_ns;  /* out: its clock when it began its work (after the first barrier) */
  uint64_t end_ns;    /* out: its clock when it was done (before the second) */
} worker_arg_t;

/* Runs `threads` threads of fn, each given `count`; times the threads' work between the two barriers (set-up
 * and clean-up untimed): from the first thread's start to the last one's end, as each thread read its clock.
 * (Read by this thread after the barrier, the clock started late whenever the workers outnumbered the cores:
 * xmalloc-local x2 in quick mode took 0.18 to 5.0 ms per 2 million calls, 0.09 ns per call at best.) Returns
 * the ops (ops_per_count per unit, summed over threads), the time and the summed peak. */
static result_t run_workers(int threads, void *(*fn)(void *), uint64_t count, uint64_t ops_per_count) {
  pthread_t tid[16];
  worker_arg_t args[16];
  pthread_barrier_t bar;
  pthread_barrier_init(&bar, NULL, (unsigned)threads + 1);
  for (int t = 0; t < threads; t++) {
    args[t] = (worker_arg_t){ .id = t, .count = count, .barrier = &bar };
    if (pthread_create(&tid[t], NULL, fn, &args[t])) die("pthread_create failed");
  }
  pthread_barrier_wait(&bar); /* all threads are set up */
  pthread_barrier_wait(&bar); /* all threads are done */
  uint64_t peak = 0, t0 = UINT64_MAX, t1 = 0;
  for (int t = 0; t < threads; t++) {
    pthread_join(tid[t], NULL);
    peak += args[t].peak_live;
    sink += args[t].acc;
    if (args[t].start_ns < t0) t0 = args[t].start_ns;
    if (args[t].end_ns > t1) t1 = args[t].end_ns;
  }
  pthread_barrier_destroy(&bar);
  return (result_t){ ops_per_count * count * (uint64_t)threads, t1 - t0, peak };
}

static void *larson_thread(void *vp) {
  worker_arg_t *a = vp;
  rng_t rng = rng_seeded(0x1A250000ull + (uint64_t)a->id);
  void *slot[LARSON_SLOTS];
  uint32_t size[LARSON_SLOTS];
  uint64_t live = 0, peak = 0, acc = 0;
  for (int i = 0; i < LARSON_SLOTS; i++) {
    size[i] = (uint32_t)rng_range(&rng, LARSON_MIN, LARSON_MAX);
    slot[i] = xmalloc_checked(size[i]);
    touch(slot[i], size[i], (unsigned)i);
    live += size[i];
  }
  peak = live;
  pthread_barrier_wait(a->barrier);
  a->start_ns = now_ns();
  for (uint64_t s = 0; s < a->count; s++) {
    uint64_t x = rng_next(&rng);
    uint32_t i = (uint32_t)(x % LARSON_SLOTS);
    uint32_t n = LARSON_MIN + (uint32_t)((x >> 32) % (LARSON_MAX - LARSON_MIN + 1));
    acc += peek(slot[i]);
    free(slot[i]);
    live -= size[i];
    void *p = malloc(n);
    touch(p, n, (unsigned)s);
    slot[i] = p;
    size[i] = n;
    live += n;
    if (live > peak) peak = live;
  }
  a->end_ns = now_ns();
  pthread_barrier_wait(a->barrier);
  for (int i = 0; i < LARSON_SLOTS; i++) free(slot[i]);
  a->peak_live = peak;
  a->acc = acc;
  return NULL;
}

static void run_larson(int threads) {
  uint64_t steps = quick ? 500000 : 5000000; /* per thread */
  result_t res = run_workers(threads, larson_thread, steps, 2);
  char extra[96];
  snprintf(extra, sizeof extra, "\"steps_per_thread\":%llu,\"slots\":%d", (unsigned long long)steps, LARSON_SLOTS);
  emit("larson", threads, &res, extra);
}

/* ------------------------------------------------------------------------------------------------ xmalloc */

/* Producer/consumer pairs: the producer mallocs blocks of random size [16, 256] and passes them through a
 * bounded single-producer single-consumer ring to its consumer, which frees them. Every block is freed by a
 * thread other than the one that allocated it. ops = 2 * blocks (one malloc, one free each).
 * Each side publishes its index every RING_BATCH slots (and before it waits), so that the ring's own
 * cache-line traffic stays small next to the allocator's. */
enum { RING_CAP = 1024, RING_BATCH = 32, XM_MIN = 16, XM_MAX = 256 };

typedef struct {
  _Alignas(64) _Atomic uint64_t head; /* next slot the producer fills; written by the producer only */
  _Alignas(64) _Atomic uint64_t tail; /* next slot the consumer empties; written by the consumer only */
  _Alignas(64) void *ptr[RING_CAP];
  uint32_t size[RING_CAP];
} ring_t;

typedef struct {
  ring_t *ring;
  uint64_t blocks;
  pthread_barrier_t *start;
  uint64_t peak_live; /* producer: most bytes it saw in flight */
  uint64_t acc;       /* consumer: bytes read back */
  uint64_t start_ns;  /* its clock when it began (after the barrier), and when it was done: see run_workers */
  uint64_t end_ns;
} xm_arg_t;

/* Spin a little, then give the core away (2 cores here: a waiting thread must not starve its partner). */
static inline void backoff(unsigned *spins) {
  if (++*spins < 64) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  } else {
    sched_yield();
  }
}

static void *xm_producer(void *vp) {
  xm_arg_t *a = vp;
  ring_t *q = a->ring;
  rng_t rng = rng_seeded(0x3A110000ull + (uint64_t)(uintptr_t)q);
  uint64_t head = 0, tail_seen = 0, in_flight = 0, peak = 0;
  pthread_barrier_wait(a->start);
  a->start_ns = now_ns();
  for (uint64_t i = 0; i < a->blocks; i++) {
    uint32_t n = (uint32_t)rng_range(&rng, XM_MIN, XM_MAX);
    void *p = malloc(n);
    touch(p, n, (unsigned)i);
    if (head - tail_seen == RING_CAP) {
      unsigned spins = 0;
      uint64_t t;
      atomic_store_explicit(&q->head, head, memory_order_release); /* publish before waiting */
      while ((t = atomic_load_explicit(&q->tail, memory_order_acquire)) == tail_seen) backoff(&spins);
      /* slots tail_seen..t-1 were consumed: their sizes are still in the ring */
      for (; tail_seen < t; tail_seen++) in_flight -= q->size[tail_seen % RING_CAP];
    }
    q->ptr[head % RING_CAP] = p;
    q->size[head % RING_CAP] = n;
    head++;
    if (head % RING_BATCH == 0) atomic_store_explicit(&q->head, head, memory_order_release);
    in_flight += n;
    if (in_flight > peak) peak = in_flight;
  }
  atomic_store_explicit(&q->head, head, memory_order_release);
  a->end_ns = now_ns();
  a->peak_live = peak;
  return NULL;
}

static void *xm_consumer(void *vp) {
  xm_arg_t *a = vp;
  ring_t *q = a->ring;
  uint64_t tail = 0, head_seen = 0, acc = 0;
  pthread_barrier_wait(a->start);
  a->start_ns = now_ns();
  while (tail < a->blocks) {
    if (tail == head_seen) {
      unsigned spins = 0;
      atomic_store_explicit(&q->tail, tail, memory_order_release); /* publish before waiting */
      while ((head_seen = atomic_load_explicit(&q->head, memory_order_acquire)) == tail) backoff(&spins);
    }
    void *p = q->ptr[tail % RING_CAP];
    acc += peek(p);
    free(p);
    tail++;
    if (tail % RING_BATCH == 0) atomic_store_explicit(&q->tail, tail, memory_order_release);
  }
  atomic_store_explicit(&q->tail, tail, memory_order_release);
  a->end_ns = now_ns();
  a->acc = acc;
  return NULL;
}

static void run_xmalloc(int pairs) {
  uint64_t blocks = quick ? 500000 : 5000000; /* per pair */
  int threads = 2 * pairs;
  pthread_t tid[16];
  xm_arg_t args[16];
  ring_t *rings = aligned_alloc(64, sizeof(ring_t) * (size_t)pairs);
  if (!rings) die("out of memory (ring)");
  memset(rings, 0, sizeof(ring_t) * (size_t)pairs);
  pthread_barrier_t bar;
  pthread_barrier_init(&bar, NULL, (unsigned)threads + 1);
  for (int k = 0; k < pairs; k++) {
    atomic_init(&rings[k].head, 0);
    atomic_init(&rings[k].tail, 0);
    args[2 * k] = (xm_arg_t){ .ring = &rings[k], .blocks = blocks, .start = &bar };
    args[2 * k + 1] = (xm_arg_t){ .ring = &rings[k], .blocks = blocks, .start = &bar };
    if (pthread_create(&tid[2 * k], NULL, xm_producer, &args[2 * k])) die("pthread_create failed");
    if (pthread_create(&tid[2 * k + 1], NULL, xm_consumer, &args[2 * k + 1])) die("pthread_create failed");
  }
  pthread_barrier_wait(&bar);
  uint64_t t0 = UINT64_MAX, t1 = 0; /* the threads' own clocks: see run_workers */
  for (int t = 0; t < threads; t++) {
    pthread_join(tid[t], NULL);
    if (args[t].start_ns < t0) t0 = args[t].start_ns;
    if (args[t].end_ns > t1) t1 = args[t].end_ns;
  }
  uint64_t peak = 0;
  for (int k = 0; k < pairs; k++) {
    peak += args[2 * k].peak_live;
    sink += args[2 * k + 1].acc;
  }
  pthread_barrier_destroy(&bar);
  free(rings);
  result_t res = { 2ull * blocks * (uint64_t)pairs, t1 - t0, peak };
  char extra[128];
  snprintf(extra, sizeof extra, "\"pairs\":%d,\"blocks_per_pair\":%llu,\"ring\":%d", pairs,
           (unsigned long long)blocks, RING_CAP);
  emit("xmalloc", threads, &res, extra);
}

/* The thread-local baseline of xmalloc (JS: xmLocal): 2 * pairs threads, each mallocing the blocks a producer
 * would (random size [16, 256]) in batches of XM_LOCAL_BATCH and then freeing the batch itself, in the order a
 * consumer would. ops = 2 * blocks per thread * threads, so xmalloc / xmalloc-local is the cost of handing
 * blocks to another thread. */
enum { XM_LOCAL_BATCH = 256 };

static void *xm_local_thread(void *vp) {
  worker_arg_t *a = vp;
  rng_t rng = rng_seeded(0x3A110000ull + (uint64_t)a->id);
  void *batch[XM_LOCAL_BATCH];
  uint64_t acc = 0, peak = 0;
  pthread_barrier_wait(a->barrier);
  a->start_ns = now_ns();
  for (uint64_t done = 0; done < a->count; done += XM_LOCAL_BATCH) {
    uint64_t live = 0;
    for (int i = 0; i < XM_LOCAL_BATCH; i++) {
      size_t n = rng_range(&rng, XM_MIN, XM_MAX);
      batch[i] = malloc(n);
      touch(batch[i], n, (unsigned)i);
      live += n;
    }
    if (live > peak) peak = live;
    for (int i = 0; i < XM_LOCAL_BATCH; i++) {
      acc += peek(batch[i]);
      free(batch[i]);
    }
  }
  a->end_ns = now_ns();
  pthread_barrier_wait(a->barrier);
  a->peak_live = peak;
  a->acc = acc;
  return NULL;
}

static void run_xmalloc_local(int pairs) {
  uint64_t blocks = quick ? 500000 : 5000000; /* per thread: whole batches */
  blocks -= blocks % XM_LOCAL_BATCH;
  int threads = 2 * pairs;
  result_t res = run_workers(threads, xm_local_thread, blocks, 2);
  char extra[96];
  snprintf(extra, sizeof extra, "\"pairs\":%d,\"blocks_per_thread\":%llu,\"batch\":%d", pairs,
           (unsigned long long)blocks, XM_LOCAL_BATCH);
  emit("xmalloc-local", threads, &res, extra);
}

/* ------------------------------------------------------------------------------------------------ realloc-grow */

/* A buffer starts at 16 bytes and grows by random steps of 16..64 bytes with realloc up to 64 KiB, then is
 * freed; repeated. ops = 1 malloc + every realloc + 1 free. */
static void run_realloc_grow(void) {
  enum { LIMIT = 65536 };
  uint64_t rounds = quick ? 1000 : 10000;
  rng_t rng = rng_seeded(0x4EA110Cull);
  uint64_t ops = 0, acc = 0;
  uint64_t t0 = now_ns();
  for (uint64_t r = 0; r < rounds; r++) {
    size_t n = 16;
    unsigned char *p = malloc(n);
    touch(p, n, (unsigned)r);
    ops++;
    while (n < LIMIT) {
      size_t m = n + rng_range(&rng, 16, 64);
      if (m > LIMIT) m = LIMIT;
      p = realloc(p, m);
      if (!p) die("out of memory (realloc)");
      p[m - 1] = (unsigned char)m;
      n = m;
      ops++;
    }
    acc += p[0] + p[n - 1];
    free(p);
    ops++;
  }
  uint64_t t1 = now_ns();
  sink += acc;
  result_t res = { ops, t1 - t0, LIMIT };
  char extra[96];
  snprintf(extra, sizeof extra, "\"rounds\":%llu,\"limit\":%d", (unsigned long long)rounds, LIMIT);
  emit("realloc-grow", 1, &res, extra);
}

/* ------------------------------------------------------------------------------------------------ aligned */

/* aligned_alloc with an alignment of 16 << [0, 8] (16..4096) and a size of [16, 1024], freed at once.
 * The size is passed as is (not rounded to the alignment: glibc, mimalloc and wasi-libc accept that, and
 * C17 allows it). */
static void run_aligned(void) {
  uint64_t iters = quick ? 500000 : 5000000;
  rng_t rng = rng_seeded(0xA11611EDull);
  uint64_t acc = 0, peak = 0, misaligned = 0;
  uint64_t t0 = now_ns();
  for (uint64_t i = 0; i < iters; i++) {
    uint64_t x = rng_next(&rng);
    size_t align = (size_t)16 << (x % 9);
    size_t n = 16 + (size_t)((x >> 32) % (1024 - 16 + 1));
    void *p = aligned_alloc(align, n);
    if (!p) die("out of memory (aligned_alloc returned NULL)");
    if ((uintptr_t)p & (align - 1)) misaligned++; /* mimalloc 2.0.9 (Debian 12) does this for size == k*align, align 256..1024 */
    touch(p, n, (unsigned)i);
    acc += peek(p);
    free(p);
    if (n > peak) peak = n;
  }
  uint64_t t1 = now_ns();
  sink += acc;
  result_t res = { 2 * iters, t1 - t0, peak };
  char extra[96];
  snprintf(extra, sizeof extra, "\"iterations\":%llu,\"misaligned\":%llu", (unsigned long long)iters,
           (unsigned long long)misaligned);
  if (misaligned)
    fprintf(stderr, "workloads: aligned: %llu of %llu blocks were NOT aligned as asked (allocator bug)\n",
            (unsigned long long)misaligned, (unsigned long long)iters);
  emit("aligned", 1, &res, extra);
}

/* ------------------------------------------------------------------------------------------------ large */

/* malloc of a random size in [1 MiB, 64 MiB], first and last byte touched, then free. */
static void run_large(void) {
  uint64_t iters = quick ? 200 : 2000;
  rng_t rng = rng_seeded(0x1A26Eull);
  uint64_t acc = 0, peak = 0;
  uint64_t t0 = now_ns();
  for (uint64_t i = 0; i < iters; i++) {
    size_t n = rng_range(&rng, (size_t)1 << 20, (size_t)64 << 20);
    void *p = malloc(n);
    if (!p) die("out of memory (large)");
    touch(p, n, (unsigned)i);
    acc += peek(p);
    free(p);
    if (n > peak) peak = n;
  }
  uint64_t t1 = now_ns();
  sink += acc;
  result_t res = { 2 * iters, t1 - t0, peak };
  char extra[64];
  snprintf(extra, sizeof extra, "\"iterations\":%llu", (unsigned long long)iters);
  emit("large", 1, &res, extra);
}

/* ------------------------------------------------------------------------------------------------ driver */

typedef struct {
  const char *name;
  void (*fn)(int arg);
  int arg;
} job_t;

static void job_pairs(int n) {
  char name[32];
  snprintf(name, sizeof name, "pairs-%d", n);
  run_pairs(name, (size_t)n);
}
static void job_batch(int unused) { (void)unused; run_batch(); }
/* 100,000 blocks up to 512 bytes (~26 MB live); 10,000 blocks up to 64 KiB (~330 MB live: 100,000 would be
 * ~3.3 GB live, beyond what the 32-bit JS/wasm heaps being compared can hold). */
static void job_random512(int unused) { (void)unused; run_random("random-512", 512, 100000, quick ? 2 : 10); }
static void job_random64k(int unused) { (void)unused; run_random("random-64k", 65536, 10000, quick ? 2 : 10); }
static void job_larson(int threads) { run_larson(threads); }
static void job_xmalloc(int pairs) { run_xmalloc(pairs); }
static void job_xmalloc_local(int pairs) { run_xmalloc_local(pairs); }
static void job_realloc(int unused) { (void)unused; run_realloc_grow(); }
static void job_aligned(int unused) { (void)unused; run_aligned(); }
static void job_large(int unused) { (void)unused; run_large(); }

static const job_t jobs[] = {
  { "pairs-16", job_pairs, 16 },
  { "pairs-64", job_pairs, 64 },
  { "pairs-256", job_pairs, 256 },
  { "pairs-4096", job_pairs, 4096 },
  { "batch-64", job_batch, 0 },
  { "random-512", job_random512, 0 },
  { "random-64k", job_random64k, 0 },
  { "larson", job_larson, 1 },
  { "larson", job_larson, 2 },
  { "larson", job_larson, 4 },
  { "xmalloc", job_xmalloc, 1 },
  { "xmalloc", job_xmalloc, 2 },
  { "xmalloc-local", job_xmalloc_local, 1 },
  { "xmalloc-local", job_xmalloc_local, 2 },
  { "realloc-grow", job_realloc, 0 },
  { "aligned", job_aligned, 0 },
  { "large", job_large, 0 },
};
enum { NJOBS = sizeof jobs / sizeof jobs[0] };

/* In the forked child: one untimed round, then rounds_wanted timed ones; prints the median round's line. */
static void run_job(const job_t *job) {
  char *bufs[100];
  double ns[100];
  size_t len;
  char *warm = NULL;
  out = open_memstream(&warm, &len);
  if (!out) die("open_memstream failed");
  job->fn(job->arg);
  fclose(out);
  free(warm);
  for (int r = 0; r < rounds_wanted; r++) {
    bufs[r] = NULL;
    out = open_memstream(&bufs[r], &len);
    if (!out) die("open_memstream failed");
    job->fn(job->arg);
    fclose(out);
    ns[r] = last_ns_per_op;
  }
  /* order the rounds by time (insertion sort: a handful of them) */
  for (int i = 1; i < rounds_wanted; i++)
    for (int k = i; k > 0 && ns[k] < ns[k - 1]; k--) {
      double t = ns[k]; ns[k] = ns[k - 1]; ns[k - 1] = t;
      char *b = bufs[k]; bufs[k] = bufs[k - 1]; bufs[k - 1] = b;
    }
  int mid = rounds_wanted / 2;
  char *line = bufs[mid];
  size_t n = strlen(line);
  while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '}')) line[--n] = 0;
  printf("%s,\"timed_rounds\":%d,\"best_ns_per_op\":%.3f,\"spread\":%.4f}\n", line, rounds_wanted, ns[0],
         ns[mid] > 0 ? (ns[rounds_wanted - 1] - ns[0]) / ns[mid] : 0.0);
  for (int r = 0; r < rounds_wanted; r++) free(bufs[r]);
}

static void usage(FILE *f) {
  fprintf(f, "usage: workloads [--quick] [--rounds N] [--only NAME] [--label ALLOCATOR] [--list]\n"
             "  --quick        smaller counts (whole program in a few seconds)\n"
             "  --rounds N     timed rounds per workload after the warm-up (default 5); the median is printed\n"
             "  --only NAME    run only the workload NAME (all its thread counts)\n"
             "  --label NAME   add \"allocator\":\"NAME\" to every result line\n"
             "  --list         print the workload names and exit\n");
}

int main(int argc, char **argv) {
  const char *only = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--quick")) quick = 1;
    else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) {
      rounds_wanted = atoi(argv[++i]);
      if (rounds_wanted < 1 || rounds_wanted > 99) { usage(stderr); return 2; }
    }
    else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
    else if (!strcmp(argv[i], "--label") && i + 1 < argc) label = argv[++i];
    else if (!strcmp(argv[i], "--list")) {
      for (int j = 0; j < NJOBS; j++)
        if (j == 0 || strcmp(jobs[j].name, jobs[j - 1].name)) printf("%s\n", jobs[j].name);
      return 0;
    } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      usage(stdout);
      return 0;
    } else {
      usage(stderr);
      return 2;
    }
  }
  int ran = 0, failed = 0;
  for (int j = 0; j < NJOBS; j++) {
    if (only && strcmp(only, jobs[j].name)) continue;
    ran++;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) die("fork failed");
    if (pid == 0) {
      run_job(&jobs[j]);
      fflush(stdout);
      _exit(0);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      failed++;
      if (WIFSIGNALED(status))
        fprintf(stderr, "workloads: %s (arg %d) died of signal %d\n", jobs[j].name, jobs[j].arg, WTERMSIG(status));
      else
        fprintf(stderr, "workloads: %s (arg %d) exited with %d\n", jobs[j].name, jobs[j].arg, WEXITSTATUS(status));
    }
  }
  if (!ran) {
    fprintf(stderr, "workloads: no workload named '%s' (try --list)\n", only ? only : "");
    return 2;
  }
  return failed ? 1 : 0;
}
