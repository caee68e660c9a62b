#include "CProcessMemory.h"

#if defined(__GLIBC__)
#include <malloc.h>

int berth_limit_malloc_arenas(int count) {
    return mallopt(M_ARENA_MAX, count);
}

int berth_trim_heap(void) {
    return malloc_trim(0);
}
#else
int berth_limit_malloc_arenas(int count) {
    (void)count;
    return 0;
}

int berth_trim_heap(void) {
    return 0;
}
#endif
