/*
 * threads.c: pthreads sharing one webmalloc heap (Emscripten, -pthread -sMALLOC=none, see
 * scripts/build-wasm-tests.sh). Each pthread runs in its own worker, which attached to the heap as its own
 * allocator thread.
 *
 *   threads [threads [rounds]]      defaults: 4, 20000
 *
 * Every thread allocates blocks of random sizes (8 B .. 256 KiB), fills them with a pattern of its own, and
 * passes some on through a shared mailbox to the next thread, which checks them, sometimes reallocs them, and
 * frees them: frees from a thread that is not the owner, and reallocs of another thread's blocks. The rest it
 * checks and frees itself. At the end main frees what is left, checks the heap, and prints one JSON line:
 *   {"program":"threads","threads":..,"allocations":..,"remoteFrees":..,"errors":0,"heapProblems":0,
 *    "leakedBlocks":0,"heapThreads":..}   (heapThreads: allocator threads attached, main + one per worker)
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "webmalloc.h"

#define MAX_THREADS 16
#define MAILBOX 64

struct block {
  uint32_t *p;
  uint32_t words;
  uint32_t seed;
};

/* One mailbox per thread: thread t posts into mailbox (t + 1) % n. Each slot is empty (p == NULL) or full. */
struct mailbox {
  pthread_mutex_t lock;
  struct block slot[MAILBOX];
};

static struct mailbox boxes[MAX_THREADS];
static int nthreads = 4;
static long rounds = 20000;
static atomic_long allocations, remote_frees, errors;

static uint32_t next(uint32_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 17;
  *s ^= *s << 5;
  return *s;
}

static void fill(struct block *b) {
  for (uint32_t i = 0; i < b->words; i++) b->p[i] = b->seed ^ (i * 2654435761u);
}

static int holds(const struct block *b, uint32_t words) {
  for (uint32_t i = 0; i < words; i++)
    if (b->p[i] != (b->seed ^ (i * 2654435761u))) return 0;
  return 1;
}

static uint32_t random_words(uint32_t *s) {
  uint32_t r = next(s) % 100;
  if (r < 80) return 2 + next(s) % 64;
  if (r < 98) return 64 + next(s) % 4096;
  return 4096 + next(s) % 60000;
}

static void *worker(void *arg) {
  int me = (int)(intptr_t)arg;
  uint32_t s = 0x9e3779b9u * (uint32_t)(me + 1);
  struct block mine[32] = {{0}};
  struct mailbox *out = &boxes[(me + 1) % nthreads], *in = &boxes[me];
  for (long r = 0; r < rounds; r++) {
    struct block *b = &mine[next(&s) % 32];
    if (b->p) {
      if (!holds(b, b->words)) atomic_fetch_add(&errors, 1);
      if (next(&s) & 1) {
        free(b->p);
        b->p = NULL;
      } else {
        /* hand it over to the next thread */
        pthread_mutex_lock(&out->lock);
        struct block *slot = &out->slot[next(&s) % MAILBOX];
        struct block old = *slot;
        *slot = *b;
        pthread_mutex_unlock(&out->lock);
        b->p = NULL;
        if (old.p) { /* the slot was full: that block was another's to free; free it here instead */
          if (!holds(&old, old.words)) atomic_fetch_add(&errors, 1);
          free(old.p);
          atomic_fetch_add(&remote_frees, 1);
        }
      }
    } else {
      b->words = random_words(&s);
      b->seed = next(&s);
      b->p = malloc(b->words * 4);
      if (!b->p) {
        atomic_fetch_add(&errors, 1);
        break;
      }
      atomic_fetch_add(&allocations, 1);
      fill(b);
    }
    if ((r & 7) == 0) { /* take one block from my mailbox: check, maybe realloc, free */
      pthread_mutex_lock(&in->lock);
      struct block *slot = &in->slot[next(&s) % MAILBOX];
      struct block got = *slot;
      slot->p = NULL;
      pthread_mutex_unlock(&in->lock);
      if (got.p) {
        if (!holds(&got, got.words)) atomic_fetch_add(&errors, 1);
        if (next(&s) & 1) {
          uint32_t words = got.words * 2 + 1;
          uint32_t *q = realloc(got.p, words * 4);
          if (!q) {
            atomic_fetch_add(&errors, 1);
          } else {
            got.p = q;
            if (!holds(&got, got.words)) atomic_fetch_add(&errors, 1);
            got.words = words;
            fill(&got);
          }
        }
        free(got.p);
        atomic_fetch_add(&remote_frees, 1);
      }
    }
  }
  for (int i = 0; i < 32; i++) {
    if (mine[i].p) {
      if (!holds(&mine[i], mine[i].words)) atomic_fetch_add(&errors, 1);
      free(mine[i].p);
    }
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc > 1) nthreads = atoi(argv[1]);
  if (argc > 2) rounds = atol(argv[2]);
  if (nthreads < 1 || nthreads > MAX_THREADS) return 2;
  for (int i = 0; i < nthreads; i++) pthread_mutex_init(&boxes[i].lock, NULL);
  size_t live0 = webmalloc_live_blocks();
  pthread_t t[MAX_THREADS];
  for (int i = 0; i < nthreads; i++)
    if (pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i) != 0) return 3;
  for (int i = 0; i < nthreads; i++) pthread_join(t[i], NULL);
  for (int i = 0; i < nthreads; i++) {
    for (int j = 0; j < MAILBOX; j++) {
      struct block *b = &boxes[i].slot[j];
      if (b->p) {
        if (!holds(b, b->words)) atomic_fetch_add(&errors, 1);
        free(b->p);
        b->p = NULL;
        atomic_fetch_add(&remote_frees, 1);
      }
    }
  }
  size_t attached = webmalloc_threads();
  int problems = webmalloc_check();
  long leaked = (long)webmalloc_live_blocks() - (long)live0;
  printf("{\"program\":\"threads\",\"threads\":%d,\"allocations\":%ld,\"remoteFrees\":%ld,\"errors\":%ld,\"heapProblems\":%d,"
         "\"leakedBlocks\":%ld,\"heapThreads\":%zu}\n",
         nthreads, atomic_load(&allocations), atomic_load(&remote_frees), atomic_load(&errors), problems, leaked, attached);
  return atomic_load(&errors) != 0 || problems != 0;
}
