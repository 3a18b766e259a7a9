/*
 * webmalloc-emscripten.js: an Emscripten JS library (emcc --js-library) that gives a program linked with
 * -sMALLOC=none and wasm/webmalloc.c its malloc from webmalloc, on the main thread and on every pthread.
 *
 *   emcc -O2 -fno-builtin -pthread -sMALLOC=none -sALLOW_MEMORY_GROWTH=1 -sPTHREAD_POOL_SIZE=4 \
 *        --js-library path/to/webmalloc/wasm/webmalloc-emscripten.js \
 *        program.c path/to/webmalloc/wasm/webmalloc.c -o program.js
 *
 * How it works:
 *   - Every thread (the main thread and each pthread's worker) loads the webmalloc package with import()
 *     while Emscripten starts up: the load is a run dependency, so main() does not start, and a worker does
 *     not report "loaded" (so no pthread starts on it), before webmalloc is there.
 *   - The main thread creates the heap in the module's memory above __heap_base on its first malloc call
 *     (Emscripten's runtime mallocs before anything else runs). A worker attaches to that heap on its first
 *     call: one webmalloc allocator thread per worker, reused by each pthread the worker runs.
 *   - webmalloc grows the memory itself (WebAssembly.Memory.grow). -sALLOW_MEMORY_GROWTH=1 gives the memory
 *     room to grow (without it, its maximum is its initial size); Emscripten's HEAP* views are renewed after
 *     each allocation that grew it.
 *   - Without -pthread it works the same, on the main thread only.
 *
 * Options, set on Module before the program loads (main thread):
 *   Module.webmallocChecked  catch every double free (default true; false is faster)
 *   Module.webmalloc         where to import webmalloc from (a URL or specifier)
 * In Node, WEBMALLOC_MODULE (a file path) overrides where every thread imports webmalloc from; otherwise it
 * is resolved as the package "webmalloc" from the program's directory.
 * Module.webmallocHeap is the thread's webmalloc Allocator: JavaScript can malloc, free and read blocks with it.
 */

mergeInto(LibraryManager.library, {
  $WEBMALLOC__deps: ['webmalloc_heap_base'],
  $WEBMALLOC: {
    api: null,
    heap: null,
    specifier: function() {
      if (Module['webmalloc']) return String(Module['webmalloc']);
      if (ENVIRONMENT_IS_NODE) {
        var url = require('url');
        if (process.env['WEBMALLOC_MODULE']) return url.pathToFileURL(process.env['WEBMALLOC_MODULE']).href;
        try {
          var req = require('module').createRequire(require('path').join(scriptDirectory || process.cwd(), 'program.js'));
          return url.pathToFileURL(req.resolve('webmalloc')).href;
        } catch (e) {
          // fall through to the bare specifier
        }
      }
      return 'webmalloc';
    },
    load: function() {
#if ENVIRONMENT_MAY_BE_NODE
      // Emscripten 3.1.6 fetch()es the .wasm by its file path whenever fetch exists, which fails in Node >= 18:
      // read it from the file instead.
      if (ENVIRONMENT_IS_NODE && !WEBMALLOC.pthread() && !wasmBinary && !isDataURI(wasmBinaryFile)) {
        wasmBinary = readBinary(wasmBinaryFile);
      }
#endif
      var spec = WEBMALLOC.specifier();
      addRunDependency('webmalloc');
      import(spec).then(function(api) {
        WEBMALLOC.api = api;
        removeRunDependency('webmalloc');
      }, function(e) {
        err('webmalloc: cannot import ' + spec + ': ' + e);
        abort('webmalloc could not be loaded');
      });
    },
    pthread: function() {
      return typeof ENVIRONMENT_IS_PTHREAD != 'undefined' && ENVIRONMENT_IS_PTHREAD;
    },
    // Emscripten's HEAP* views follow a growth of the memory only when its own sbrk grew it (or, with pthreads
    // and ALLOW_MEMORY_GROWTH, on every access). webmalloc grows it itself: renew the views after a call that
    // may have grown it.
    grown: function(p) {
      if (wasmMemory.buffer !== buffer) updateGlobalBufferAndViews(wasmMemory.buffer);
      return p;
    },
    open: function() {
      var api = WEBMALLOC.api;
      if (!api) abort('webmalloc: malloc was called before webmalloc was loaded');
      var start = _webmalloc_heap_base() >>> 0;
      if (WEBMALLOC.pthread()) {
        WEBMALLOC.heap = api.attach(wasmMemory, { start: start });
      } else {
        WEBMALLOC.heap = api.createAllocator({
          memory: wasmMemory,
          start: start,
          checked: Module['webmallocChecked'] !== false,
          zeroed: true,
        });
      }
      Module['webmallocHeap'] = WEBMALLOC.heap;
      return WEBMALLOC.heap;
    },
    // Error codes of wasm/webmalloc.c: 1 not a live block, 2 double free.
    code: function(e) {
      if (e && e.name === 'WebmallocError') {
        WEBMALLOC.lastError = e;
        return e.code === 'DOUBLE_FREE' ? 2 : 1;
      }
      throw e;
    },
    lastError: null,
  },
  $WEBMALLOC__postset: 'WEBMALLOC.load();',

  webmalloc_js_malloc__deps: ['$WEBMALLOC'],
  webmalloc_js_malloc: function(size) {
    return WEBMALLOC.grown((WEBMALLOC.heap || WEBMALLOC.open()).malloc(size >>> 0));
  },
  webmalloc_js_calloc__deps: ['$WEBMALLOC'],
  webmalloc_js_calloc: function(count, size) {
    return WEBMALLOC.grown((WEBMALLOC.heap || WEBMALLOC.open()).calloc(count >>> 0, size >>> 0));
  },
  webmalloc_js_realloc__deps: ['$WEBMALLOC'],
  webmalloc_js_realloc: function(ptr, size) {
    try {
      return WEBMALLOC.grown((WEBMALLOC.heap || WEBMALLOC.open()).realloc(ptr >>> 0, size >>> 0));
    } catch (e) {
      return WEBMALLOC.code(e);
    }
  },
  webmalloc_js_aligned_alloc__deps: ['$WEBMALLOC'],
  webmalloc_js_aligned_alloc: function(alignment, size) {
    return WEBMALLOC.grown((WEBMALLOC.heap || WEBMALLOC.open()).alignedAlloc(alignment >>> 0, size >>> 0));
  },
  webmalloc_js_free__deps: ['$WEBMALLOC'],
  webmalloc_js_free: function(ptr) {
    try {
      (WEBMALLOC.heap || WEBMALLOC.open()).free(ptr >>> 0);
      return 0;
    } catch (e) {
      return WEBMALLOC.code(e);
    }
  },
  webmalloc_js_usable_size__deps: ['$WEBMALLOC'],
  webmalloc_js_usable_size: function(ptr) {
    try {
      return (WEBMALLOC.heap || WEBMALLOC.open()).usableSize(ptr >>> 0);
    } catch (e) {
      return WEBMALLOC.code(e);
    }
  },
  webmalloc_js_check__deps: ['$WEBMALLOC'],
  webmalloc_js_check: function() {
    var result = (WEBMALLOC.heap || WEBMALLOC.open()).check();
    for (var i = 0; i < result.errors.length; i++) err('webmalloc check: ' + result.errors[i]);
    return result.errors.length;
  },
  webmalloc_js_collect__deps: ['$WEBMALLOC'],
  webmalloc_js_collect: function() {
    (WEBMALLOC.heap || WEBMALLOC.open()).collect();
  },
  webmalloc_js_stat__deps: ['$WEBMALLOC'],
  webmalloc_js_stat: function(which) {
    var s = (WEBMALLOC.heap || WEBMALLOC.open()).stats();
    return which === 0 ? s.liveBytes : which === 1 ? s.liveBlocks : which === 2 ? s.memorySize : which === 3 ? s.threadsAttached : 0;
  },
});
