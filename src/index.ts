// webmalloc: a lock-free, multi-threaded malloc over one linear memory. See README.md and docs/design.md.

export { Allocator, attach, createAllocator, EINVAL, ENOMEM, VALLOC_ALIGNMENT } from './allocator.js';
export { MemoryError } from './memory.js';
export { WebmallocError, type WebmallocErrorCode } from './errors.js';
export { RegistryFullError } from './registry.js';
export { shareWithWebWorker, spawnWorker, type NodeLikeWorker, type WebLikeWorker } from './workers.js';
export { BIN_SIZE as SIZE_CLASSES, MEDIUM_MAX } from './sizeclass.js';
export type { AttachOptions, BinStats, CheckResult, CreateOptions, HeapStats, LinearMemory, WorkerHandoff } from './types.js';
