/*
 * stress.c: a randomized allocation stress with content checks, for any malloc (built once with webmalloc,
 * once with wasi-libc's dlmalloc for the benchmark).
 *
 *   stress [seed [operations [slots]]]      defaults: 1, 200000, 2000
 *
 * A table of slots holds live blocks. Each operation picks a slot at random: an empty slot gets a new block
 * (malloc, calloc, aligned_alloc or posix_memalign, sizes from 1 byte to 1 MiB, mostly small); a full slot's
 * block is checked and then freed or reallocated (realloc keeps the contents up to the smaller size, which
 * is checked too). Every block is filled with a pattern of its own seed, so a block that overlaps another,
 * or that the allocator changed, is found when it is checked. Output, one line of JSON:
 *   {"program":"stress","seed":..,"operations":..,"ms":..,"checksum":..,"errors":0}
 * Exit status 1 when a check failed.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef WITH_WEBMALLOC
#include "webmalloc.h"
#endif

struct slot {
  uint32_t *p;
  size_t size;
  uint32_t seed;
};

static uint64_t rng_state;
static uint32_t next(void) { /* xorshift64* */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return (uint32_t)((rng_state * 2685821657736338717ull) >> 32);
}

static size_t random_size(void) {
  uint32_t r = next() % 1000;
  if (r < 600) return 1 + next() % 128;
  if (r < 900) return 129 + next() % 4000;
  if (r < 985) return 4097 + next() % 60000;
  if (r < 998) return 65537 + next() % 300000;
  return 400000 + next() % 700000;
}

static long errors;

/* Byte j of a block is byte j % 4 (little-endian) of word(seed, j / 4): the pattern does not depend on the
   block's size, so it survives realloc both ways. */
static inline uint32_t word(uint32_t seed, size_t i) { return seed * (uint32_t)i + (seed ^ (uint32_t)i); }

static void fill(struct slot *s, size_t from) {
  size_t words = s->size / 4;
  for (size_t i = from / 4; i < words; i++) s->p[i] = word(s->seed, i);
  unsigned char *b = (unsigned char *)s->p;
  uint32_t last = word(s->seed, words);
  for (size_t j = words * 4; j < s->size; j++) b[j] = (unsigned char)(last >> (8 * (j & 3)));
}

static void report(const struct slot *s, size_t at, const char *when) {
  if (++errors <= 10) printf("content error (%s): block %p of %zu bytes, byte %zu\n", when, (void *)s->p, s->size, at);
}

static int verify(const struct slot *s, size_t upto, const char *when) {
  size_t words = upto / 4;
  for (size_t i = 0; i < words; i++) {
    if (s->p[i] != word(s->seed, i)) {
      report(s, i * 4, when);
      return 0;
    }
  }
  const unsigned char *b = (const unsigned char *)s->p;
  uint32_t last = word(s->seed, words);
  for (size_t j = words * 4; j < upto; j++) {
    if (b[j] != (unsigned char)(last >> (8 * (j & 3)))) {
      report(s, j, when);
      return 0;
    }
  }
  return 1;
}

static int zero(const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++)
    if (b[i]) return 0;
  return 1;
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
  uint32_t seed = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 0) : 1;
  long ops = argc > 2 ? strtol(argv[2], NULL, 0) : 200000;
  size_t nslots = argc > 3 ? (size_t)strtoul(argv[3], NULL, 0) : 2000;
  rng_state = 0x9e3779b97f4a7c15ull ^ seed;
  struct slot *slots = calloc(nslots, sizeof *slots);
  if (!slots) return 2;
  uint64_t checksum = 0;
  double t0 = now_ms();
  for (long op = 0; op < ops; op++) {
    struct slot *s = &slots[next() % nslots];
    uint32_t r = next() % 100;
    if (s->p == NULL) {
      s->size = random_size();
      s->seed = next() | 1;
      if (r < 70) {
        s->p = malloc(s->size);
      } else if (r < 85) {
        s->p = calloc(1, s->size);
        if (s->p && !zero(s->p, s->size)) {
          printf("calloc(%zu) is not zeroed\n", s->size);
          errors++;
        }
      } else if (r < 95) {
        size_t align = (size_t)16 << (next() % 13); /* 16 .. 64 KiB */
        s->p = aligned_alloc(align, s->size);
        if (s->p && ((uintptr_t)s->p & (align - 1))) {
          printf("aligned_alloc(%zu) returned %p\n", align, (void *)s->p);
          errors++;
        }
      } else {
        void *q = NULL;
        size_t align = (size_t)8 << (next() % 10);
        if (posix_memalign(&q, align, s->size) != 0) q = NULL;
        s->p = q;
      }
      if (s->p == NULL) {
        printf("out of memory for %zu bytes\n", s->size);
        errors++;
        break;
      }
      fill(s, 0);
    } else if (r < 75) {
      verify(s, s->size, "before free");
      checksum += (uintptr_t)s->p & 0xfff0;
      free(s->p);
      s->p = NULL;
    } else {
      verify(s, s->size, "before realloc");
      size_t n = r < 90 ? s->size + 1 + next() % (s->size * 2 + 64) : 1 + next() % s->size;
      uint32_t *q = realloc(s->p, n);
      if (q == NULL) {
        printf("realloc to %zu failed\n", n);
        errors++;
        break;
      }
      s->p = q;
      size_t old = s->size;
      s->size = n;
      verify(s, old < n ? old : n, "after realloc");
      if (n > old) fill(s, old & ~(size_t)3);
    }
  }
  for (size_t i = 0; i < nslots; i++) {
    if (slots[i].p) {
      verify(&slots[i], slots[i].size, "at the end");
      free(slots[i].p);
    }
  }
  double ms = now_ms() - t0;
  free(slots);
#ifdef WITH_WEBMALLOC
  if (webmalloc_check() != 0) {
    printf("webmalloc_check found problems\n");
    errors++;
  }
#endif
  printf("{\"program\":\"stress\",\"seed\":%u,\"operations\":%ld,\"ms\":%.3f,\"checksum\":%llu,\"errors\":%ld}\n", seed, ops,
         ms, (unsigned long long)checksum, errors);
  return errors != 0;
}
