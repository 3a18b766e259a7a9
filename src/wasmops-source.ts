// The source of wasmops.ts's module: WebAssembly text, its offsets and flags read from layout.ts.
// scripts/assemble-wasmops.mjs assembles it with wabt (a dev dependency) into wasmops-binary.ts, which is
// what ships; test/wasmops.test.ts assembles it again and fails if the two differ, so the binary cannot drift
// from this text or from the layout.

import { Layout as L } from './layout.js';

/**
 * The module for a memory that is `shared` or not. The import must say which, and a shared one must declare a
 * maximum (65536 pages, which every shared memory meets); a memory that is not shared gets limits with no
 * maximum, which any such memory meets.
 */
export function wasmOpsWat(shared: boolean): string {
  const threadFree = L.P_THREAD_FREE * L.WORD;
  return `(module
  (import "e" "m" (memory 0 ${shared ? '65536 shared' : ''}))

  ;; memmove and memset.
  (func (export "copy") (param $to i32) (param $from i32) (param $n i32)
    local.get $to local.get $from local.get $n memory.copy)
  (func (export "fill") (param $to i32) (param $value i32) (param $n i32)
    local.get $to local.get $value local.get $n memory.fill)

  ;; threadfree.ts's pushThreadFree, except for a page flagged as on its owner's full list: block $w (a word
  ;; index) pushed onto the thread_free list of the page whose descriptor is word $dw, with one CAS when
  ;; the first read of the head holds. 0 when pushed; 1 when the page carries the flag (TF_DELAYED), whose
  ;; owner the JS code must tell: nothing has changed then but the first word of the block being freed.
  (func (export "pushThreadFree") (param $dw i32) (param $w i32) (result i32)
    (local $dwB i32) (local $tf i32) (local $seen i32)
    local.get $dw i32.const 2 i32.shl local.tee $dwB
    i32.load offset=${threadFree} local.set $tf
    loop $retry
      local.get $tf i32.const ${L.TF_DELAYED} i32.and
      if i32.const 1 return end
      local.get $w i32.const 2 i32.shl local.get $tf i32.store
      local.get $dwB local.get $tf local.get $w i32.atomic.rmw.cmpxchg offset=${threadFree}
      local.tee $seen local.get $tf i32.ne
      if
        local.get $seen local.set $tf
        br $retry
      end
    end
    i32.const 0)
)
`;
}
