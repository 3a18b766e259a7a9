/*
 * shared.c: a library module (a WASI reactor) whose blocks JavaScript shares: test/wasm-shared.test.ts calls
 * these exports and allocates, reads, writes and frees blocks itself through the same webmalloc heap.
 *
 * The byte pattern is the one of the test: byte i of a block with seed s is ((s + i) * 167 + (i >> 8)) & 255.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "webmalloc.h"

#define EXPORT(name) __attribute__((export_name(#name)))

static unsigned char pattern(uint32_t seed, size_t i) { return (unsigned char)((seed + (uint32_t)i) * 167u + (uint32_t)(i >> 8)); }

/* A new block of n bytes holding the pattern of seed. */
EXPORT(make) unsigned char *make(size_t n, uint32_t seed) {
  unsigned char *p = malloc(n);
  if (p)
    for (size_t i = 0; i < n; i++) p[i] = pattern(seed, i);
  return p;
}

/* Whether the n bytes at p hold the pattern of seed. */
EXPORT(holds) int holds(const unsigned char *p, size_t n, uint32_t seed) {
  for (size_t i = 0; i < n; i++)
    if (p[i] != pattern(seed, i)) return 0;
  return 1;
}

/* Checks a block (from JS or C) and frees it: 1 when it held the pattern. */
EXPORT(check_and_free) int check_and_free(unsigned char *p, size_t n, uint32_t seed) {
  int ok = holds(p, n, seed);
  free(p);
  return ok;
}

/* realloc, then the pattern of seed on the whole new size (what was kept must still be the old pattern). */
EXPORT(regrow) unsigned char *regrow(unsigned char *p, size_t old_n, size_t n, uint32_t seed) {
  unsigned char *q = realloc(p, n);
  if (!q) return NULL;
  if (!holds(q, old_n < n ? old_n : n, seed)) return NULL;
  for (size_t i = 0; i < n; i++) q[i] = pattern(seed, i);
  return q;
}

EXPORT(release) void release(void *p) { free(p); }
EXPORT(usable) size_t usable(void *p) { return malloc_usable_size(p); }
EXPORT(heap_check) int heap_check(void) { return webmalloc_check(); }

/* A copy of the NUL-terminated string s (which JS wrote), upper-cased, in a new block. */
EXPORT(upper) char *upper(const char *s) {
  size_t n = strlen(s);
  char *t = malloc(n + 1);
  if (!t) return NULL;
  for (size_t i = 0; i <= n; i++) t[i] = (s[i] >= 'a' && s[i] <= 'z') ? (char)(s[i] - 32) : s[i];
  return t;
}

/* A linked list: nodes of 8 bytes {value, next}, built by one side and consumed (summed and freed) by the other. */
struct node {
  int32_t value;
  struct node *next;
};

EXPORT(list_make) struct node *list_make(int32_t n) {
  struct node *head = NULL;
  for (int32_t i = n; i > 0; i--) {
    struct node *x = malloc(sizeof *x);
    if (!x) return NULL;
    x->value = i;
    x->next = head;
    head = x;
  }
  return head;
}

EXPORT(list_sum_and_free) int64_t list_sum_and_free(struct node *head) {
  int64_t sum = 0;
  while (head) {
    struct node *next = head->next;
    sum += head->value;
    free(head);
    head = next;
  }
  return sum;
}

/* An array of n pointers to blocks of sizes 1..n, each with the pattern of its index: JS checks and frees
   them all, then frees the array. */
EXPORT(many) unsigned char **many(size_t n) {
  unsigned char **a = calloc(n, sizeof *a);
  if (!a) return NULL;
  for (size_t i = 0; i < n; i++) a[i] = make(i + 1, (uint32_t)i);
  return a;
}
