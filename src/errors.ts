// The errors webmalloc throws for misuse. Out of memory is not an error: those calls return 0.

/** Why a pointer was refused. */
export type WebmallocErrorCode =
  | 'INVALID_POINTER' // not the start of a block: outside the heap, misaligned, interior, in free memory
  | 'DOUBLE_FREE' //     the start of a block that is already free
  | 'DETACHED'; //       the allocator instance was detached

/** Thrown by free, realloc and usableSize for a pointer that is not a live block; nothing was changed. */
export class WebmallocError extends Error {
  override name = 'WebmallocError';
  constructor(
    readonly code: WebmallocErrorCode,
    /** The pointer that was refused. */
    readonly pointer: number,
    detail: string,
  ) {
    super(`${code === 'DOUBLE_FREE' ? 'double free' : 'invalid pointer'} ${pointer} (0x${(pointer >>> 0).toString(16)}): ${detail}`);
  }
}

export function invalidPointer(p: number, detail: string): never {
  throw new WebmallocError('INVALID_POINTER', p, detail);
}

export function doubleFree(p: number, detail: string): never {
  throw new WebmallocError('DOUBLE_FREE', p, detail);
}

/** RangeError for a size, count or alignment that is not a non-negative integer. */
export function badArgument(name: string, value: unknown): never {
  throw new RangeError(`${name} must be a non-negative integer, got ${String(value)}`);
}
