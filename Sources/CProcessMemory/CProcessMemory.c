#include "CProcessMemory.h"

// Any C library header defines __GLIBC__ on glibc. When the headers that came before the test
// below were taken out (with the code-page dropping), the fallbacks were compiled, and neither
// the cap nor the trim ran.
#include <stdlib.h>

#if defined(__GLIBC__)
#include <malloc.h>

/// Two malloc arenas, set before main and so before any thread: glibc gives threads that
/// allocate at the same time arenas of their own (up to eight per core), memory freed into one
/// stays resident there, and it fixes its limit the first time a thread asks for an arena, so
/// a cap set later is too late. berthd's cap was once set at the start of its command, after the
/// concurrency pool had started: it had sixteen arenas, 23 MiB of its 28 MiB anonymous memory
/// with 100 containers (bench/start). This runs in every program that links this target (berthd
/// and the tests, which so allocate as berthd does). `MALLOC_ARENA_MAX` in the environment, when
/// set, decides instead (glibc reads it itself).
__attribute__((constructor)) static void berth_cap_malloc_arenas(void) {
    if (getenv("MALLOC_ARENA_MAX") == NULL) {
        mallopt(M_ARENA_MAX, 2);
    }
}

int berth_trim_heap(void) {
    return malloc_trim(0);
}
#else
int berth_trim_heap(void) {
    return 0;
}
#endif
