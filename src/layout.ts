// The memory layout: every structure's fields and offsets, in one place. docs/design.md explains the same
// layout in prose; every other module reads offsets from here and never writes a raw number.
//
// Addresses are byte offsets into the memory (unsigned 32-bit). Structures are arrays of 32-bit words and
// are addressed internally by *word index* (byte offset >>> 2); field constants below are word offsets.
//
//   0           start        base (= start rounded up to 64 KiB)
//   |  not ours  |  padding  | segment 0 | segment 1 | segment 2 | ...          | unclaimed ... limit
//                            ^ 1 MiB each, counted from base; the last one may be shorter (limit)
//
// A segment is 16 slices of 64 KiB. It begins with its header (page descriptors, in checked mode a
// live-block bitmap); the rest is block memory. Segment 0's first slices hold the heap header instead
// of blocks (a META span).
//
//   segment: | descriptors[16] (2 KiB) | root (seg 0 only) | [checked: live bitmap 16 KiB] | blocks ...
//
// A page is a span of 1..16 slices inside one segment holding blocks of one size class (SMALL), or one
// block (LARGE). A HUGE block spans whole segments; its descriptor sits in the first segment's header,
// the later segments of the span are block memory through and through (their headers are not kept).

/** The layout constants. A const enum: TypeScript inlines every use, so reading a field offset costs nothing. */
export const enum Layout {
  WORD = 4,

  SLICE_SHIFT = 16,
  SLICE_SIZE = 1 << SLICE_SHIFT, // 64 KiB: the unit of the shared pool and the size of a small page
  SEGMENT_SHIFT = 20,
  SEGMENT_SIZE = 1 << SEGMENT_SHIFT, // 1 MiB: the unit of memory growth
  SEGMENT_MASK = SEGMENT_SIZE - 1,
  // The same in words (structures and blocks are addressed by word index)
  SLICE_WORDS_SHIFT = SLICE_SHIFT - 2,
  SEGMENT_WORDS_SHIFT = SEGMENT_SHIFT - 2,
  SEGMENT_WORDS_MASK = SEGMENT_SIZE / WORD - 1,
  SLICES_PER_SEGMENT = SEGMENT_SIZE / SLICE_SIZE, // 16
  ALL_SLICES = (1 << SLICES_PER_SEGMENT) - 1, // 0xFFFF
  /** Pointers are unsigned 32-bit: the heap never reaches past 4 GiB. */
  MAX_ADDRESS = 4294967296,
  MAX_SEGMENTS = MAX_ADDRESS / SEGMENT_SIZE, // 4096

  // ---------------------------------------------------------------------------------------------------------
  // Page descriptor: 32 words (two cache lines), one per slice, in the segment header. For the first slice of
  // a span it describes the page; the other slices of the span are TAIL and point back to it. The first line
  // holds what any thread's free reads (kind, owner, block geometry) and the remote-free flags it may set;
  // the second what the owner writes on every malloc and free (P_USED, P_FREE), so that another thread's free
  // does not take the line from the owner's core, nor the owner's next malloc take it back.
  DESC_WORDS = 32,
  DESC_SIZE = DESC_WORDS * WORD, // 128 bytes
  /** Byte offset of descriptor `i` in its segment. */
  DESC_OFFSET = 0,

  P_KIND = 0, //        page kind, one of the KIND_* below
  P_SPAN = 1, //        slices in the span (head); slices back to the head (TAIL); segments (HUGE)
  P_BIN = 2, //         size class (SMALL)
  P_BLOCK_SIZE = 3, //  block size (SMALL); usable size = span end - block (LARGE, HUGE; unsigned: may reach 2^32 - 2^16)
  P_AREA = 4, //        address of the first block (SMALL); of the block (LARGE, HUGE)
  P_CAPACITY = 5, //    blocks that fit in the span (SMALL)
  P_RESERVED = 6, //    blocks carved from the area so far, in address order (SMALL)
  P_CARVED_BOUND = 7, // P_RESERVED << 5 | s, where the class's words are 2^s * odd (SMALL): see Heap.isCarvedBlock
  //                    word 8 unused
  P_REMOTE = 9, //      remote frees: TF_PENDING (bits may wait in the remote bitmap) | TF_DELAYED (atomic)
  P_OWNER = 10, //      owning thread slot + 1, or ABANDONED (SMALL); LIVE_BLOCK / 0 / LARGE_HELD | slot (LARGE); LIVE_BLOCK (HUGE) (atomic)
  P_NEXT = 11, //       next page in the owner's bin queue or full list (descriptor word index)
  P_PREV = 12, //       previous page in that list
  P_FLAGS = 13, //      PF_* flags (owner only)
  P_DIVISOR = 14, //    BLOCK_INVERSE of the class (SMALL): tells a block start from any other address without a divide
  P_SPARE = 15, //      unused (room for secure mode's per-page key)
  // second line: the owner's
  P_USED = 16, //       blocks not on `free`: live + awaiting collection (owner only)
  P_FREE = 17, //       free list: the owner allocates from it and frees onto it (owner only)
  //                    words 18..31 unused

  KIND_FREE = 0, //  slice in the pool
  KIND_SMALL = 1, // blocks of one size class
  KIND_LARGE = 2, // one block in a span of slices
  KIND_HUGE = 3, //  one block over whole segments
  KIND_TAIL = 4, //  a later slice of a span
  KIND_META = 5, //  heap header (segment 0)

  /**
   * P_REMOTE: the owner parked the page on its full list, and the next remote free tells the owner (threadfree.ts).
   * Set by the owner's park, cleared only by that remote free (or when the page is given up): a page back in its
   * queue through its owner's own free may still carry it.
   */
  TF_DELAYED = 1,
  /** P_REMOTE: another thread has freed blocks of the page into the remote bitmap since the owner last looked. */
  TF_PENDING = 2,
  /** P_OWNER of a live LARGE or HUGE block. A large block's free swaps it to 0 (and owns the release); a huge
   *  block's free swaps its segment-table word instead (SEG_HUGE to SEG_HUGE_CACHED) and leaves this as it is. */
  LIVE_BLOCK = 1,
  /** P_OWNER of a freed LARGE block's span that a thread holds for its next large block (heldspans.ts):
   *  LARGE_HELD | the thread's slot. Only that thread changes it (a dead one's, reclaim). */
  LARGE_HELD = 0x10000,
  /** P_OWNER of an abandoned SMALL page; the thread whose CAS replaces it with its own tag owns the page. */
  ABANDONED = 0xffff,

  PF_IN_FULL = 1, // on the owner's full list (not in a bin queue)
  PF_FRESH = 2, //   nothing was ever freed into the page and its span was never used before: blocks
  //                              read as zero except their first word (the free-list link)
  PF_SLOW_FREE = PF_IN_FULL | PF_FRESH, // flags that send the owner's free to its slow path
  PF_LOST_BLOCKS = 4, // a dead owner lost blocks it was handing (reclaim counted them live); check() allows it
  PF_KEPT = 8, //   emptied and on its owner's list of kept pages (kept.ts; that list is in JS memory), whose
  //                              entry's stamp is in the bits above the flags (P_FLAGS >>> 4)
  PF_ALL = 15, //   the flag bits

  // ---------------------------------------------------------------------------------------------------------
  // Segment header: descriptors, then (segment 0 only) the root record, the remote bitmap, then in checked mode
  // the live bitmap. Both bitmaps have one bit per 8-byte granule of the segment: bit (g & 31) of word g >>> 5
  // for granule g (bitmapWordOf, bitOf in pages.ts).
  ROOT_OFFSET = 2048, //     byte offset of the root record in segment 0
  REMOTE_BITMAP_OFFSET = 3072, // a block starts here and another thread freed it; its owner has not taken it yet
  BITMAP_SIZE = SEGMENT_SIZE / 8 / 8, // 16 KiB
  SEGMENT_HEADER_PLAIN = REMOTE_BITMAP_OFFSET + BITMAP_SIZE, // segment header size without the live bitmap
  LIVE_BITMAP_OFFSET = SEGMENT_HEADER_PLAIN, // checked mode: a block starts here and is live
  SEGMENT_HEADER_CHECKED = LIVE_BITMAP_OFFSET + BITMAP_SIZE,

  // Root record (words from ROOT_OFFSET): how `attach` finds and validates the heap.
  R_MAGIC = 0,
  R_VERSION = 1,
  R_HEADER = 2, // byte offset of the heap header
  MAGIC = 0x6d426557, // "WeBm"
  LAYOUT_VERSION = 18,

  // ---------------------------------------------------------------------------------------------------------
  // Heap header: in segment 0 after its segment header; covered by a META span.
  H_FLAGS = 0, //          HF_* flags, fixed at creation
  H_BASE = 1, //           heap base (byte offset, 64 KiB aligned)
  H_LIMIT_SLICES = 2, //   the heap ends at H_LIMIT_SLICES * 64 KiB (absolute)
  H_SEGMENT_HEADER = 3, // segment header size in bytes (plain or checked)
  H_MAX_THREADS = 4,
  H_MAX_SEGMENTS = 5, //   segments that fit below the limit
  H_TOP = 6, //            segments claimed from the memory so far (atomic; only grows)
  H_FRESH_FROM = 7, //     memory at and above this byte offset read as zero when first claimed
  H_HEADER_SIZE = 8, //    bytes of the heap header
  H_UNUSED = 9, //         unused (up to layout 17 where the pool's search started; it starts at the lowest segment now)
  H_SEGMENT_TABLE = 10, // byte offset of the segment table
  H_THREADS = 11, //       byte offset of the thread table
  H_ABANDONED = 12, //     byte offset of the abandoned-page bitmap (one bit per slice)
  H_SUMMARY = 13, //       byte offset of the segment summary bitmap
  H_ABANDONED_SUMMARY = 14, // byte offset of the per-class summaries of abandoned pages (one bit per segment)
  H_SLOT_CHANGES = 15, //  counts thread slots taken and handed back (atomic adds; read plainly, as a hint)
  H_EMPTY_PAGE = 16, //    an empty page descriptor (DESC_WORDS words, never changes): empty bin queues point here
  H_FIXED_WORDS = H_EMPTY_PAGE + DESC_WORDS, // 48 words; variable parts follow

  HF_CHECKED = 1,

  // Segment table: 2 words per segment, indexed by segment number.
  S_WORDS = 2,
  S_KIND = 0, //   SEG_* | argument << S_COUNT_SHIFT, and for SEG_HUGE_SETUP and SEG_HUGE_HELD a thread slot << S_SLOT_SHIFT (atomic)
  S_SLICES = 1, // bit i: slice i free; bit 16 + i: slice i was used before (not known zero) (atomic)
  SEG_UNCLAIMED = 0,
  SEG_NORMAL = 1, //    a segment with a header and slices
  SEG_HUGE = 2, //      first segment of a live huge block; argument = segments in the span
  SEG_HUGE_TAIL = 3, // later segment of a huge run (any of the three); argument 0: its head is the nearest non-tail before it
  SEG_HUGE_CACHED = 4, // first segment of a freed huge block's run, kept whole for the next huge block; argument = segments
  SEG_HUGE_SETUP = 5, // first segment of a cached run a thread has claimed (to set a block up in it, to join it
  //                     to its neighbour, or to release it): not live, not claimable; argument = segments it
  //                     had when claimed; it covers the tails after it up to the first segment that is not a
  //                     tail (joined neighbours, whatever its argument); the word names the claiming slot
  SEG_HUGE_HELD = 6, //  first segment of a freed huge block's run that the thread it names keeps for its own next
  //                     huge block (held.ts): not claimable by others; argument = segments; it covers the tails
  //                     after it up to the first segment that is not a tail, as SETUP does
  S_COUNT_SHIFT = 8, // a head's argument: (word >>> S_COUNT_SHIFT) & S_COUNT_MASK
  S_COUNT_MASK = 0x1fff, //  13 bits: up to MAX_SEGMENTS
  S_SLOT_SHIFT = 21, //      SEG_HUGE_SETUP, SEG_HUGE_HELD: the thread's slot (10 bits: up to 1024 slots)
  DIRTY_SHIFT = 16,

  // Segment summary: one bit per segment, set when the segment may have free slices (a hint kept up to date
  // by whoever frees slices; cleared only after re-checking the segment).


  // Thread table: one record per thread slot.
  THREAD_SIZE = 1024,
  THREAD_WORDS = THREAD_SIZE / WORD,
  T_STATE = 0, //        generation << 2 | TS_* (atomic)
  T_DELAYED = 1, //      blocks other threads freed into this thread's full pages, pushed with one CAS (atomic)
  T_FULL = 2, //         head of the full-pages list (descriptor word index, 0 = none)
  T_SEGMENT_HINT = 3, // segment to try first for new pages (locality)
  // What the thread has in flight between a shared step and the end of its operation, named before the
  // step's atomic operation (inflight.ts), cleared when the operation is complete. reclaim()
  // finishes or undoes exactly this for a thread that died (see docs/design.md, "dying at any instruction").
  T_CLAIM_SPAN = 4, //    segment * 16 + first slice + 1 of a span claimed from the pool, or of slices a span grows into (0 = none)
  T_CLAIM_SLICES = 5, //  its length in slices
  T_CLAIM_SEGMENTS = 6, // first segment + 1 of whole segments claimed (for a huge block, or a cached run taken)
  T_CLAIM_COUNT = 7, //   how many of them are claimed so far
  T_RELEASING = 8, //     descriptor of a large block whose release this thread won (0 = none)
  T_HANDOVER = 9, //     descriptor of a page being abandoned or adopted: between its owner and its abandoned bit
  T_RELEASE_AT = 10, //   segment * 16 + first slice + 1 of a span (or segments) being given back (0 = none)
  T_RELEASE_COUNT = 11, // its slices, or RELEASE_SEGMENTS | segments
  RELEASE_SEGMENTS = 1 << 16,
  T_BLOCK = 12, //        checked mode: the block between its live bit and its free list (word index)
  T_ATTACHED = 13, //     1 once an instance runs on the slot; 0 while it is only reserved (handoff) (atomic)
  T_QUEUES = 16, //      per size class: first page of the bin queue (descriptor word index)
  T_QUEUE_TAILS = T_QUEUES + 96, // per size class: last page of the bin queue (0 = empty)
  TS_FREE = 0,
  TS_LIVE = 1,
  TS_LEAVING = 2, // detaching or being reclaimed: its pages are being handed over
}
