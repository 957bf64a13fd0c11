#pragma once

#include <string>

namespace camreg::app {

// Starts the program again (same process, same arguments) with glibc's malloc asking
// the kernel for transparent huge pages (GLIBC_TUNABLES glibc.malloc.hugetlb=1), where
// the kernel offers them on request and the operator set no hugetlb tunable of their own
// (glibc.malloc.hugetlb=0 turns this off). At 100,000 cameras a round touches ~220 MB
// of fresh memory: in 4 kB pages its faults and TLB misses were a third of the worker's
// CPU on a virtual machine. Not done under a sanitizer or valgrind, for a
// secure-execution process, or with a glibc older than 2.35 (which ignores the tunable).
// Execs the executable's own path, so the process keeps its name, and at most once.
// Call first in main, before any thread starts; returns when nothing is to be done or
// the exec failed (the program then runs as it is).
void exec_with_huge_pages(char** argv);

// What malloc was asked for, for the start log: "asked" (huge pages), or why not.
std::string huge_pages_status();

} // namespace camreg::app
