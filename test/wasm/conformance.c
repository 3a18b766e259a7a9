/*
 * conformance.c: the C allocation API of a wasm32-wasi program linked with wasm/webmalloc.c, checked against
 * what C and POSIX specify: results, alignment, zeroing, contents across realloc, errno, posix_memalign's
 * codes, and that libc's own allocations (strdup, stdio, getline) come from webmalloc too.
 *
 *   conformance             run every check; prints "conformance: N checks, F failed" (exit 1 if F > 0)
 *   conformance MISUSE      commit one misuse (see misuse() below); webmalloc must abort the program
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "webmalloc.h"

static int checks, failures;
#define CHECK(cond)                                                                  \
  do {                                                                               \
    checks++;                                                                        \
    if (!(cond)) {                                                                   \
      failures++;                                                                    \
      printf("FAIL %s:%d: %s (errno %d)\n", __FILE__, __LINE__, #cond, errno);       \
    }                                                                                \
  } while (0)

static int aligned(const void *p, size_t a) { return ((uintptr_t)p & (a - 1)) == 0; }

static void fill(unsigned char *p, size_t n, unsigned seed) {
  for (size_t i = 0; i < n; i++) p[i] = (unsigned char)((seed + i) * 167u + (i >> 8));
}

static int holds(const unsigned char *p, size_t n, unsigned seed) {
  for (size_t i = 0; i < n; i++)
    if (p[i] != (unsigned char)((seed + i) * 167u + (i >> 8))) return 0;
  return 1;
}

static int all_zero(const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i] != 0) return 0;
  return 1;
}

static void test_malloc(void) {
  void *a = malloc(0), *b = malloc(0);
  CHECK(a != NULL && b != NULL && a != b);
  free(a);
  free(b);

  for (size_t n = 1; n <= 4096; n += (n < 64 ? 1 : n / 8)) {
    unsigned char *p = malloc(n);
    CHECK(p != NULL);
    if (!p) continue;
    CHECK(aligned(p, n >= 16 ? 16 : 8));
    CHECK(malloc_usable_size(p) >= n);
    fill(p, malloc_usable_size(p), (unsigned)n);
    CHECK(holds(p, malloc_usable_size(p), (unsigned)n));
    free(p);
  }
  for (size_t n = 8192; n <= ((size_t)16 << 20); n *= 2) {
    unsigned char *p = malloc(n + 3);
    CHECK(p != NULL && aligned(p, 16) && malloc_usable_size(p) >= n + 3);
    if (p) {
      p[0] = 1;
      p[n + 2] = 2;
      CHECK(p[0] == 1 && p[n + 2] == 2);
    }
    free(p);
  }

  size_t impossible[] = {SIZE_MAX, SIZE_MAX - 8, (size_t)0xffffff00u};
  for (unsigned i = 0; i < sizeof impossible / sizeof impossible[0]; i++) {
    errno = 0;
    CHECK(malloc(impossible[i]) == NULL);
    CHECK(errno == ENOMEM);
  }
  CHECK(malloc_usable_size(NULL) == 0);
  free(NULL);
}

static void test_calloc(void) {
  unsigned char *p = malloc(1000);
  CHECK(p != NULL);
  memset(p, 0xab, 1000);
  free(p);
  for (int round = 0; round < 4; round++) {
    unsigned char *z = calloc(10, 100); /* most likely the block just freed */
    CHECK(z != NULL && all_zero(z, 1000));
    memset(z, 0xcd, 1000);
    free(z);
  }
  unsigned char *big = calloc(1, (size_t)3 << 20);
  CHECK(big != NULL && all_zero(big, (size_t)3 << 20));
  free(big);
  void *none = calloc(0, 10);
  CHECK(none != NULL);
  free(none);

  errno = 0;
  CHECK(calloc(SIZE_MAX / 2, 4) == NULL && errno == ENOMEM); /* the product overflows */
  errno = 0;
  CHECK(calloc(65536, 65537) == NULL && errno == ENOMEM);
  errno = 0;
  CHECK(calloc(1, SIZE_MAX) == NULL && errno == ENOMEM);
}

static void test_realloc(void) {
  unsigned char *p = realloc(NULL, 100); /* realloc(NULL, n) is malloc(n) */
  CHECK(p != NULL);
  fill(p, 100, 7);
  size_t sizes[] = {200, 5000, 70000, (size_t)2 << 20, 300, 50, 100000};
  size_t have = 100;
  for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    size_t n = sizes[i];
    unsigned char *q = realloc(p, n);
    CHECK(q != NULL);
    if (!q) break;
    size_t keep = have < n ? have : n;
    CHECK(holds(q, keep, 7));
    fill(q, n, 7);
    p = q;
    have = n;
  }
  errno = 0;
  unsigned char *fail = realloc(p, SIZE_MAX - 16);
  CHECK(fail == NULL && errno == ENOMEM);
  CHECK(holds(p, have, 7)); /* still valid, unchanged */
  free(p);

  unsigned char *a = malloc(64);
  fill(a, 64, 3);
  errno = 0;
  CHECK(reallocarray(a, SIZE_MAX / 2, 3) == NULL && errno == ENOMEM);
  CHECK(holds(a, 64, 3));
  unsigned char *b = reallocarray(a, 100, 8);
  CHECK(b != NULL && holds(b, 64, 3) && malloc_usable_size(b) >= 800);
  free(b);
}

static void test_aligned(void) {
  for (size_t align = 1; align <= ((size_t)1 << 20); align *= 2) {
    size_t sizes[] = {1, align, align + 1, 3 * align + 5, 100000};
    for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
      unsigned char *p = aligned_alloc(align, sizes[i]);
      CHECK(p != NULL && aligned(p, align) && malloc_usable_size(p) >= sizes[i]);
      if (p) {
        fill(p, sizes[i], (unsigned)align);
        CHECK(holds(p, sizes[i], (unsigned)align));
      }
      free(p);

      void *q = (void *)1;
      int rc = posix_memalign(&q, align < sizeof(void *) ? sizeof(void *) : align, sizes[i]);
      CHECK(rc == 0 && q != NULL && aligned(q, align));
      free(q);

      unsigned char *m = memalign(align, sizes[i]);
      CHECK(m != NULL && aligned(m, align));
      free(m);
    }
  }
  size_t bad[] = {0, 3, 12, 24, 100, 4095};
  for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    errno = 0;
    CHECK(aligned_alloc(bad[i], 64) == NULL && errno == EINVAL);
    errno = 0;
    CHECK(memalign(bad[i], 64) == NULL && errno == EINVAL);
    void *q = (void *)1;
    CHECK(posix_memalign(&q, bad[i], 64) == EINVAL && q == (void *)1);
  }
  void *q = (void *)1;
  CHECK(posix_memalign(&q, 2, 64) == EINVAL && q == (void *)1); /* below sizeof(void *) */
  errno = 0;
  CHECK(posix_memalign(&q, 64, SIZE_MAX - 64) == ENOMEM && q == (void *)1 && errno == 0);
  errno = 0;
  CHECK(aligned_alloc(4096, SIZE_MAX - 4096) == NULL && errno == ENOMEM);

  unsigned char *v = valloc(10);
  CHECK(v != NULL && aligned(v, 4096));
  free(v);
  unsigned char *pv = pvalloc(5000);
  CHECK(pv != NULL && aligned(pv, 4096) && malloc_usable_size(pv) >= 8192);
  free(pv);
}

static void test_libc(void) {
  /* libc's own allocations are webmalloc blocks: malloc_usable_size would abort on anything else. */
  char *s = strdup("webmalloc");
  CHECK(s != NULL && strcmp(s, "webmalloc") == 0 && malloc_usable_size(s) >= 10);
  free(s);
  char *d = strndup("abcdefgh", 3);
  CHECK(d != NULL && strcmp(d, "abc") == 0 && malloc_usable_size(d) >= 4);
  free(d);
  char *f = NULL;
  int n = asprintf(&f, "%d-%s-%.2f", 42, "x", 1.5);
  CHECK(n == 9 && f != NULL && strcmp(f, "42-x-1.50") == 0 && malloc_usable_size(f) >= 10);
  free(f);

  FILE *mem = open_memstream(&f, &(size_t){0});
  CHECK(mem != NULL);
  if (mem) {
    for (int i = 0; i < 1000; i++) fprintf(mem, "%04d", i);
    fclose(mem);
    CHECK(f != NULL && strlen(f) == 4000 && malloc_usable_size(f) >= 4001);
    free(f);
  }
}

struct block {
  unsigned char *p;
  size_t n;
};

static int by_address(const void *x, const void *y) {
  uintptr_t a = (uintptr_t)((const struct block *)x)->p, b = (uintptr_t)((const struct block *)y)->p;
  return a < b ? -1 : a > b;
}

static void test_no_overlap(void) {
  enum { N = 5000 };
  static struct block blocks[N];
  unsigned r = 12345;
  for (int i = 0; i < N; i++) {
    r = r * 1103515245u + 12345u;
    size_t n = (r >> 8) % (i % 10 == 0 ? 40000 : 300) + 1;
    blocks[i].p = malloc(n);
    blocks[i].n = n;
    CHECK(blocks[i].p != NULL);
    fill(blocks[i].p, n, (unsigned)i);
  }
  int ok = 1;
  for (int i = 0; i < N; i++) ok &= holds(blocks[i].p, blocks[i].n, (unsigned)i);
  CHECK(ok);
  qsort(blocks, N, sizeof blocks[0], by_address);
  int disjoint = 1;
  for (int i = 1; i < N; i++)
    if (blocks[i - 1].p + malloc_usable_size(blocks[i - 1].p) > blocks[i].p) disjoint = 0;
  CHECK(disjoint);
  for (int i = 0; i < N; i++) free(blocks[i].p);
}

static int misuse(const char *what) {
  if (strcmp(what, "double-free") == 0) {
    void *p = malloc(32);
    free(p);
    free(p);
  } else if (strcmp(what, "double-free-large") == 0) {
    void *p = malloc((size_t)1 << 20);
    free(p);
    free(p);
  } else if (strcmp(what, "interior-free") == 0) {
    char *p = malloc(64);
    free(p + 16);
  } else if (strcmp(what, "wild-free") == 0) {
    free((void *)(uintptr_t)0x10);
  } else if (strcmp(what, "realloc-freed") == 0) {
    void *p = malloc(100);
    free(p);
    p = realloc(p, 200);
  } else if (strcmp(what, "usable-size-interior") == 0) {
    char *p = malloc(100);
    printf("%zu\n", malloc_usable_size(p + 8));
  } else {
    printf("unknown misuse %s\n", what);
    return 2;
  }
  printf("%s: not caught\n", what);
  return 0;
}

int main(int argc, char **argv) {
  if (argc > 1) return misuse(argv[1]);
  size_t live0 = webmalloc_live_blocks();
  test_malloc();
  test_calloc();
  test_realloc();
  test_aligned();
  test_libc();
  test_no_overlap();
  CHECK(webmalloc_live_blocks() == live0);
  CHECK(webmalloc_check() == 0);
  printf("conformance: %d checks, %d failed\n", checks, failures);
  return failures != 0;
}
