// cxx.cc: a C++ program (Emscripten, no threads, -sMALLOC=none) whose operator new/delete, std containers and
// strings take their memory from webmalloc (through libc++'s calls of malloc and free). It grows the memory
// several times, printing after each growth (Emscripten's own views must follow what webmalloc did), and
// checks what it built. One JSON line:
//   {"program":"cxx","strings":..,"sum":..,"grown":..,"errors":0,"leakedBlocks":0}
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "webmalloc.h"

int main() {
  long errors = 0;
  size_t live0 = webmalloc_live_blocks();
  size_t memory0 = webmalloc_memory_size();
  {
    std::map<std::string, std::vector<int>> index;
    for (int i = 0; i < 20000; i++) index["key-" + std::to_string(i % 5000)].push_back(i);
    long long sum = 0;
    for (auto &kv : index) {
      if (kv.second.size() != 4) errors++;
      for (int v : kv.second) sum += v;
    }
    // Big blocks: each grows the memory; printf goes through Emscripten's views of it.
    std::vector<std::unique_ptr<char[]>> big;
    for (int i = 0; i < 6; i++) {
      big.emplace_back(new char[(8u << 20) + i]);
      big.back()[0] = char(i);
      big.back()[(8u << 20) + i - 1] = char(i + 1);
      std::printf("grew: block %d of %u bytes, memory %zu bytes\n", i, (8u << 20) + i, webmalloc_memory_size());
    }
    for (int i = 0; i < 6; i++)
      if (big[i][0] != char(i) || big[i][(8u << 20) + i - 1] != char(i + 1)) errors++;
    std::string text;
    for (int i = 0; i < 10000; i++) text += "x";
    if (text.size() != 10000) errors++;
    std::printf("{\"program\":\"cxx\",\"strings\":%zu,\"sum\":%lld,\"grown\":%d,", index.size(), sum,
                webmalloc_memory_size() > memory0);
  }
  long leaked = (long)webmalloc_live_blocks() - (long)live0;
  std::printf("\"errors\":%ld,\"leakedBlocks\":%ld,\"heapProblems\":%d}\n", errors, leaked, webmalloc_check());
  return errors != 0;
}
