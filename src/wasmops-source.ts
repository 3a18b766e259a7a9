// The source of wasmops.ts's module: WebAssembly text, its offsets and flags read from layout.ts.
// scripts/assemble-wasmops.mjs assembles it with wabt (a dev dependency) into wasmops-binary.ts, which is
// what ships; test/wasmops.test.ts assembles it again and fails if the two differ, so the binary cannot drift
// from this text or from the layout.

import { Layout as L } from './layout.js';

/**
 * WebAssembly text that leaves on the stack the word index of block `$w`'s word in the bitmap at byte `offset`
 * of its segment (pages.ts's bitmapWordOf), the heap's base in words being `$baseW`; `$inSegment` is a scratch
 * local.
 */
function bitmapWordWat(offset: number): string {
  return `local.get $w local.get $baseW i32.sub i32.const ${L.SEGMENT_WORDS_MASK} i32.and local.set $inSegment
    local.get $w local.get $inSegment i32.sub i32.const ${offset / 4} i32.add
    local.get $inSegment i32.const 6 i32.shr_u i32.add`;
}

/** WebAssembly text that leaves on the stack block `$w`'s bit within its bitmap word (pages.ts's bitOf). */
const BIT_WAT = 'i32.const 1 local.get $w i32.const 1 i32.shr_u i32.shl';

/**
 * WebAssembly text of threadfree.ts's setBit for block `$w` (word index) of the page whose flags are at byte
 * `$rwB`, the heap's base in words `$baseW` (scratch locals `$flags`, `$seen`, `$inSegment`, `$bw`, `$bit`):
 * the text given for each outcome ends the function (see setRemoteBit).
 */
function remoteBitWat(freed: string, twice: string, delayed: string): string {
  return `${bitmapWordWat(L.REMOTE_BITMAP_OFFSET)} local.set $bw
    ${BIT_WAT} local.set $bit
    local.get $bw i32.const 2 i32.shl local.get $bit i32.atomic.rmw.or
    local.get $bit i32.and
    if ${twice} return end
    local.get $rwB i32.atomic.load local.set $flags
    block $parked
      loop $retry
        local.get $flags i32.const ${L.TF_PENDING} i32.and
        if ${freed} return end
        local.get $flags i32.const ${L.TF_DELAYED} i32.and
        br_if $parked
        local.get $rwB local.get $flags local.get $flags i32.const ${L.TF_PENDING} i32.or i32.atomic.rmw.cmpxchg
        local.tee $seen local.get $flags i32.eq
        if ${freed} return end
        local.get $seen local.set $flags
        br $retry
      end
    end
    local.get $bw i32.const 2 i32.shl local.get $bit i32.const -1 i32.xor i32.atomic.rmw.and
    local.get $bit i32.and
    if ${delayed} return end
    ${freed}`;
}

/**
 * WebAssembly text of heap.ts's free of a small block, whole: exported as freeBlock, or as freeCheckedBlock
 * for a checked heap. Parameters: `$p` an address (as u32); the views' base, words and segment table (word
 * indexes); `$tag` the calling thread's owner tag; checked, `$recordW` the thread's T_BLOCK record. It
 * finds the block as heap.ts's sliceOf, spanHeadOf and isCarvedBlock do. Checked, it then begins the free as
 * beginCheckedFree does (the record names the block, the segment is still a normal one, the live bit is
 * cleared), and clears the record once the block is on a list. Returns:
 * - 0 when freed (onto its page's list when the page is the caller's, else in its remote bitmap);
 * - the page's descriptor (a word index) when freed onto a page of the caller's that needs localFreeSlow;
 * - -2 when the block's remote bit was set already: a double free (nothing changed, but for a checked heap's
 *   live bit and record, as the JS path leaves them);
 * - -1 when it is none of these (not a carved block of a small page the views cover; unchecked, a page parked
 *   on its owner's full list): nothing changed, the JS path decides;
 * - checked only: -4 when the page is parked on its owner's full list (the live bit cleared: the JS path
 *   tells the owner, then clears the record), -5 when the segment is no longer a normal one and -6 when the
 *   live bit was clear (refused: the JS path clears the record and throws).
 */
function freeBlockWat(checked: boolean): string {
  const clearRecord = checked ? 'local.get $recordW i32.const 2 i32.shl i32.const 0 i32.store' : '';
  return `  (func (export "${checked ? 'freeCheckedBlock' : 'freeBlock'}") (param $p i32) (param $baseW i32) (param $heapWords i32) (param $segTableW i32) (param $tag i32)${checked ? ' (param $recordW i32)' : ''} (result i32)
    (local $w i32) (local $off i32) (local $dwB i32) (local $bound i32) (local $used i32) (local $owner i32) (local $kind i32)${checked ? ' (local $done i32) (local $segW i32)' : ''}
    (local $rwB i32) (local $flags i32) (local $seen i32) (local $inSegment i32) (local $bw i32) (local $bit i32)
    local.get $p i32.const 7 i32.and if i32.const -1 return end
    local.get $p i32.const 2 i32.shr_u local.tee $w local.get $baseW i32.sub local.tee $off
    local.get $heapWords i32.ge_u if i32.const -1 return end
    local.get $off i32.const ${L.SEGMENT_WORDS_SHIFT} i32.shr_u i32.const ${L.S_WORDS} i32.mul local.get $segTableW i32.add${checked ? ' local.tee $segW' : ''}
    i32.const 2 i32.shl i32.load i32.const ${L.SEG_NORMAL} i32.ne if i32.const -1 return end
    local.get $w local.get $off i32.const ${L.SEGMENT_WORDS_MASK} i32.and i32.sub
    local.get $off i32.const ${L.SLICE_WORDS_SHIFT} i32.shr_u i32.const 15 i32.and i32.const ${L.DESC_WORDS} i32.mul i32.add
    i32.const ${L.DESC_OFFSET / 4} i32.add i32.const 2 i32.shl local.tee $dwB
    i32.load offset=${L.P_OWNER * L.WORD} local.tee $owner local.get $tag i32.ne
    if
      ;; Not the caller's slice: a later slice of a page (its head's descriptor), or another thread's page.
      local.get $dwB i32.load offset=${L.P_KIND * L.WORD} local.tee $kind i32.const ${L.KIND_TAIL} i32.eq
      if
        local.get $dwB local.get $dwB i32.load offset=${L.P_SPAN * L.WORD} i32.const ${L.DESC_SIZE} i32.mul i32.sub local.tee $dwB
        i32.load offset=${L.P_KIND * L.WORD} local.set $kind
        local.get $dwB i32.load offset=${L.P_OWNER * L.WORD} local.set $owner
      end
      local.get $kind i32.const ${L.KIND_SMALL} i32.ne if i32.const -1 return end
    end
    local.get $w local.get $dwB i32.load offset=${L.P_AREA * L.WORD} i32.sub local.get $dwB i32.load offset=${L.P_DIVISOR * L.WORD} i32.mul
    local.get $dwB i32.load offset=${L.P_CARVED_BOUND * L.WORD} local.tee $bound i32.rotr
    local.get $bound i32.const 5 i32.shr_u i32.ge_u if i32.const -1 return end${checked ? `
    ;; Checked: the record, the segment's state, the live bit (beginCheckedFree); 1 and 2 are refusals.
    local.get $recordW local.get $w local.get $baseW local.get $segW call $beginCheckedFree local.tee $done
    if i32.const -4 local.get $done i32.sub return end` : ''}
    local.get $owner local.get $tag i32.ne
    if
      ;; Another thread's page: its remote bitmap.
      local.get $dwB i32.const ${L.P_REMOTE * L.WORD} i32.add local.set $rwB
      ${remoteBitWat(`${clearRecord} i32.const 0`, 'i32.const -2', `i32.const ${checked ? -4 : -1}`)} return
    end
    ;; The caller's page: a push onto its free list.
    local.get $p local.get $dwB i32.load offset=${L.P_FREE * L.WORD} i32.store
    local.get $dwB local.get $w i32.store offset=${L.P_FREE * L.WORD}
    ${clearRecord}
    local.get $dwB local.get $dwB i32.load offset=${L.P_USED * L.WORD} i32.const 1 i32.sub local.tee $used i32.store offset=${L.P_USED * L.WORD}
    local.get $used i32.eqz if local.get $dwB i32.load offset=${L.P_PREV * L.WORD} if local.get $dwB i32.const 2 i32.shr_u return end end
    local.get $dwB i32.load offset=${L.P_FLAGS * L.WORD} i32.const ${L.PF_SLOW_FREE} i32.and
    if local.get $dwB i32.const 2 i32.shr_u return end
    i32.const 0)`;
}

/**
 * The module for a memory that is `shared` or not. The import must say which, and a shared one must declare a
 * maximum (65536 pages, which every shared memory meets); a memory that is not shared gets limits with no
 * maximum, which any such memory meets.
 */
export function wasmOpsWat(shared: boolean): string {
  return `(module
  (import "e" "m" (memory 0 ${shared ? '65536 shared' : ''}))

  ;; memmove and memset.
  (func (export "copy") (param $to i32) (param $from i32) (param $n i32)
    local.get $to local.get $from local.get $n memory.copy)
  (func (export "fill") (param $to i32) (param $value i32) (param $n i32)
    local.get $to local.get $value local.get $n memory.fill)

  ;; threadfree.ts's setBit for block $w of the page whose flags are word $rw (word indexes; $baseW: the heap's
  ;; base, in words): the block's bit in its segment's remote bitmap (pages.ts's bitmapWordOf and bitOf) set
  ;; with an atomic or, then TF_PENDING in the page's flags unless they say so already. 0 when freed; 2 when
  ;; the bit was set already (nothing changed); 1 when the page carries TF_DELAYED, whose owner the JS code
  ;; must tell: the bit is then taken back first, unless the owner took it meanwhile (then 0: the block is free).
  (func (export "setRemoteBit") (param $rw i32) (param $w i32) (param $baseW i32) (result i32)
    (local $rwB i32) (local $flags i32) (local $seen i32) (local $inSegment i32) (local $bw i32) (local $bit i32)
    local.get $rw i32.const 2 i32.shl local.set $rwB
    ${remoteBitWat('i32.const 0', 'i32.const 2', 'i32.const 1')})

  ;; Atomics.store, Atomics.compareExchange and Atomics.or on word $w (memory.ts's store, compareExchange and
  ;; or: the in-flight records, the atomics of large and huge blocks, and of abandoning and adopting pages):
  ;; one locked instruction each, where a JS Atomics call is a builtin call.
  (func (export "atomicStore") (param $w i32) (param $value i32)
    local.get $w i32.const 2 i32.shl local.get $value i32.atomic.store)
  (func (export "atomicCompareExchange") (param $w i32) (param $expected i32) (param $value i32) (result i32)
    local.get $w i32.const 2 i32.shl local.get $expected local.get $value i32.atomic.rmw.cmpxchg)
  (func (export "atomicOr") (param $w i32) (param $bits i32) (result i32)
    local.get $w i32.const 2 i32.shl local.get $bits i32.atomic.rmw.or)

  ;; A large block's free begins (spanblocks.ts's freeSpanBlock): the thread's record (word $recordW) names its
  ;; descriptor $dw, an atomic store; then, read atomically, its segment's table word (word $segW) must say
  ;; SEG_NORMAL, else 1 (the segment was reused: the block was freed by another thread meanwhile); then its
  ;; owner word is swapped from LIVE_BLOCK to $owner, else 2 (already freed). 0: freed, the span now the
  ;; caller's. (The caller clears the record.)
  (func (export "beginLargeFree") (param $recordW i32) (param $dw i32) (param $segW i32) (param $owner i32) (result i32)
    local.get $recordW i32.const 2 i32.shl local.get $dw i32.atomic.store
    local.get $segW i32.const 2 i32.shl i32.atomic.load i32.const ${L.SEG_NORMAL} i32.ne
    if i32.const 1 return end
    local.get $dw i32.const 2 i32.shl i32.const ${L.LIVE_BLOCK} local.get $owner
    i32.atomic.rmw.cmpxchg offset=${L.P_OWNER * L.WORD}
    i32.const ${L.LIVE_BLOCK} i32.ne
    if i32.const 2 return end
    i32.const 0)

  ;; Checked mode (heap.ts): block $w's live bit set, with an atomic or (the owner's malloc).
  (func (export "setLiveBit") (param $w i32) (param $baseW i32)
    (local $inSegment i32)
    ${bitmapWordWat(L.LIVE_BITMAP_OFFSET)} i32.const 2 i32.shl ${BIT_WAT} i32.atomic.rmw.or drop)

  ;; Checked mode (heap.ts's freeChecked): the free of block $w begins. The thread's record (word $recordW)
  ;; names the block, an atomic store; then, read atomically, its segment's table word (word $segW) must say
  ;; SEG_NORMAL, else 1 (the segment was reused: the block was freed by another thread meanwhile); then its
  ;; live bit is cleared with an atomic and, whose old value must have it, else 2 (already freed). 0: the
  ;; block was live and is now the caller's to free. (The caller clears the record.)
  (func $beginCheckedFree (export "beginCheckedFree") (param $recordW i32) (param $w i32) (param $baseW i32) (param $segW i32) (result i32)
    (local $inSegment i32) (local $bit i32)
    local.get $recordW i32.const 2 i32.shl local.get $w i32.atomic.store
    local.get $segW i32.const 2 i32.shl i32.atomic.load i32.const ${L.SEG_NORMAL} i32.ne
    if i32.const 1 return end
    ${BIT_WAT} local.set $bit
    ${bitmapWordWat(L.LIVE_BITMAP_OFFSET)} i32.const 2 i32.shl local.get $bit i32.const -1 i32.xor i32.atomic.rmw.and
    local.get $bit i32.and
    if i32.const 0 return end
    i32.const 2)

  ;; pages.ts's collect, once the page's TF_PENDING is cleared: the remote-bitmap words [$from, $to) of page
  ;; $dw (word indexes), each with bits taken with one exchange, its blocks (word index: 64 * word + 2 * bit +
  ;; $k, modulo 2^32) pushed onto the page's free list, a bit that names no carved block dropped (the test of
  ;; Heap.isCarvedBlock). The page's count and flags then say so. Returns how many blocks. Last word first
  ;; and highest bit first, so that the list runs up through memory, as after extend, and the owner's pops
  ;; read the links in address order: the producer/consumer benchmark with 2 workers took 15.3 ns per call
  ;; instead of 17.0 (medians of eight alternated processes; 4 workers 7.40 against 7.27).
  (func (export "collectRemoteBits") (param $dw i32) (param $from i32) (param $to i32) (param $k i32) (result i32)
    (local $dwB i32) (local $bw i32) (local $bits i32) (local $bit i32) (local $w i32) (local $free i32) (local $n i32)
    (local $area i32) (local $divisor i32) (local $bound i32) (local $carved i32)
    local.get $dw i32.const 2 i32.shl local.tee $dwB
    i32.load offset=${L.P_AREA * L.WORD} local.set $area
    local.get $dwB i32.load offset=${L.P_DIVISOR * L.WORD} local.set $divisor
    local.get $dwB i32.load offset=${L.P_CARVED_BOUND * L.WORD} local.tee $bound
    i32.const 5 i32.shr_u local.set $carved
    local.get $dwB i32.load offset=${L.P_FREE * L.WORD} local.set $free
    local.get $to local.set $bw
    block $done
      loop $words
        local.get $bw local.get $from i32.le_u br_if $done
        local.get $bw i32.const 1 i32.sub local.set $bw
        local.get $bw i32.const 2 i32.shl i32.load
        if
          local.get $bw i32.const 2 i32.shl i32.const 0 i32.atomic.rmw.xchg local.set $bits
          block $taken
            loop $each
              local.get $bits i32.eqz br_if $taken
              i32.const 31 local.get $bits i32.clz i32.sub local.set $bit
              local.get $bits i32.const 1 local.get $bit i32.shl i32.xor local.set $bits
              local.get $bw i32.const 6 i32.shl local.get $bit i32.const 1 i32.shl i32.add local.get $k i32.add
              local.set $w
              local.get $w local.get $area i32.sub local.get $divisor i32.mul
              local.get $bound i32.rotr
              local.get $carved i32.ge_u br_if $each
              local.get $w i32.const 2 i32.shl local.get $free i32.store
              local.get $w local.set $free
              local.get $n i32.const 1 i32.add local.set $n
              br $each
            end
          end
        end
        br $words
      end
    end
    local.get $n
    if
      local.get $dwB local.get $free i32.store offset=${L.P_FREE * L.WORD}
      local.get $dwB local.get $dwB i32.load offset=${L.P_USED * L.WORD} local.get $n i32.sub i32.store offset=${L.P_USED * L.WORD}
      local.get $dwB local.get $dwB i32.load offset=${L.P_FLAGS * L.WORD} i32.const ${~L.PF_FRESH} i32.and i32.store offset=${L.P_FLAGS * L.WORD}
    end
    local.get $n)

${freeBlockWat(false)}
${freeBlockWat(true)}
)
`;
}
