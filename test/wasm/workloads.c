/*
 * workloads.c: allocation-heavy C workloads for comparing mallocs in wasm (built once with webmalloc, once
 * with wasi-libc's dlmalloc; see bench/wasm-dropin.ts). Each workload does real work with its blocks (writes
 * them, reads them back into a checksum) so that no call can be optimized away, and times itself.
 *
 *   workloads [--quick] [name...]      names: pairs batch tree strings mixed realloc (default: all)
 *
 * One JSON line per workload: {"workload":..,"operations":..,"ms":..,"checksum":..}
 * "operations" counts allocation calls (malloc, calloc, realloc); every block is freed again.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static uint32_t rng = 2463534242u;
static inline uint32_t next(void) {
  rng ^= rng << 13;
  rng ^= rng >> 17;
  rng ^= rng << 5;
  return rng;
}

static int quick;
#define SCALE(n) (quick ? (n) / 10 : (n))

/* malloc/free pairs of sizes 16..256: the fast path of both calls. */
static uint64_t pairs(long *ops) {
  uint64_t sum = 0;
  long n = SCALE(2000000);
  for (long i = 0; i < n; i++) {
    size_t size = 16 + (size_t)(i & 15) * 16;
    unsigned char *p = malloc(size);
    p[0] = (unsigned char)i;
    p[size - 1] = (unsigned char)(i >> 8);
    sum += p[0] + p[size - 1];
    free(p);
  }
  *ops = n;
  return sum;
}

/* Allocate 10000 blocks of 8..512 bytes, then free them all (in allocation order, then reverse). */
static uint64_t batch(long *ops) {
  enum { K = 10000 };
  static unsigned char *blocks[K];
  uint64_t sum = 0;
  long rounds = SCALE(200);
  for (long r = 0; r < rounds; r++) {
    for (int i = 0; i < K; i++) {
      size_t size = 8 + (next() & 504);
      blocks[i] = malloc(size);
      blocks[i][0] = (unsigned char)i;
    }
    if (r & 1)
      for (int i = 0; i < K; i++) sum += blocks[i][0], free(blocks[i]);
    else
      for (int i = K - 1; i >= 0; i--) sum += blocks[i][0], free(blocks[i]);
  }
  *ops = rounds * K;
  return sum;
}

/* Binary trees (the classic allocation benchmark): build, walk and free trees of depth 4..16. */
struct node {
  struct node *left, *right;
  int value;
};

static long tree_allocs;

static struct node *make(int depth) {
  struct node *n = malloc(sizeof *n);
  tree_allocs++;
  n->value = depth;
  if (depth > 0) {
    n->left = make(depth - 1);
    n->right = make(depth - 1);
  } else {
    n->left = n->right = NULL;
  }
  return n;
}

static long check_and_free(struct node *n) {
  long v = n->value;
  if (n->left) v += check_and_free(n->left) - check_and_free(n->right);
  free(n);
  return v;
}

static uint64_t tree(long *ops) {
  uint64_t sum = 0;
  tree_allocs = 0;
  int max_depth = quick ? 14 : 16;
  struct node *long_lived = make(max_depth);
  for (int depth = 4; depth <= max_depth; depth += 2) {
    int iterations = 1 << (max_depth - depth + 4);
    for (int i = 0; i < iterations; i++) sum += (uint64_t)check_and_free(make(depth));
  }
  sum += (uint64_t)check_and_free(long_lived);
  *ops = tree_allocs;
  return sum;
}

/* Strings: build words with strdup and snprintf into malloc'd buffers, keep a window of 4096, free the rest. */
static uint64_t strings(long *ops) {
  enum { W = 4096 };
  static char *window[W];
  uint64_t sum = 0;
  long n = SCALE(1000000);
  for (long i = 0; i < n; i++) {
    int slot = (int)(next() % W);
    free(window[slot]);
    size_t len = 4 + next() % 60;
    char *s = malloc(len + 1);
    for (size_t j = 0; j < len; j++) s[j] = (char)('a' + (i + j) % 26);
    s[len] = 0;
    window[slot] = s;
    sum += (unsigned char)s[len / 2];
  }
  for (int i = 0; i < W; i++) free(window[i]), window[i] = NULL;
  *ops = n;
  return sum;
}

/* Mixed sizes and lifetimes: a table of 8192 blocks, each replaced at random by one of 8 B .. 32 KiB (rarely
   up to 256 KiB), written at both ends. */
static uint64_t mixed(long *ops) {
  enum { T = 8192 };
  static unsigned char *table[T];
  static size_t sizes[T];
  uint64_t sum = 0;
  long n = SCALE(1000000);
  for (long i = 0; i < n; i++) {
    int slot = (int)(next() % T);
    if (table[slot]) {
      sum += table[slot][0] + table[slot][sizes[slot] - 1];
      free(table[slot]);
    }
    uint32_t r = next();
    size_t size = (r & 1023) < 1000 ? 8 + (r >> 10) % 1024 : (r & 1023) < 1020 ? 1024 + (r >> 10) % 31744 : 32768 + (r >> 10) % 229376;
    unsigned char *p = (r & 7) == 0 ? calloc(1, size) : malloc(size);
    p[0] = (unsigned char)i;
    p[size - 1] = (unsigned char)(i >> 3);
    table[slot] = p;
    sizes[slot] = size;
  }
  for (int i = 0; i < T; i++) free(table[i]), table[i] = NULL;
  *ops = n;
  return sum;
}

/* Growing buffers: 64 vectors that grow by realloc one element at a time (amortized doubling is NOT used:
   every push reallocs, as naive C code does), then are freed. */
static uint64_t grow(long *ops) {
  uint64_t sum = 0;
  long calls = 0;
  int rounds = quick ? 2 : 20;
  for (int r = 0; r < rounds; r++) {
    int *vec[64] = {0};
    for (int len = 1; len <= 2000; len++) {
      for (int v = 0; v < 64; v++) {
        vec[v] = realloc(vec[v], (size_t)len * sizeof(int));
        vec[v][len - 1] = len + v;
        calls++;
      }
    }
    for (int v = 0; v < 64; v++) sum += (uint64_t)vec[v][1999], free(vec[v]);
  }
  *ops = calls;
  return sum;
}

struct workload {
  const char *name;
  uint64_t (*run)(long *ops);
};

static const struct workload all[] = {
    {"pairs", pairs}, {"batch", batch}, {"tree", tree}, {"strings", strings}, {"mixed", mixed}, {"realloc", grow},
};

int main(int argc, char **argv) {
  int first = 1;
  if (argc > 1 && strcmp(argv[1], "--quick") == 0) quick = 1, first = 2;
  for (unsigned w = 0; w < sizeof all / sizeof all[0]; w++) {
    int wanted = first >= argc;
    for (int i = first; i < argc; i++) wanted |= strcmp(argv[i], all[w].name) == 0;
    if (!wanted) continue;
    long ops = 0;
    double t0 = now_ms();
    uint64_t sum = all[w].run(&ops);
    double ms = now_ms() - t0;
    printf("{\"workload\":\"%s\",\"operations\":%ld,\"ms\":%.3f,\"checksum\":%llu}\n", all[w].name, ops, ms, (unsigned long long)sum);
  }
  return 0;
}
