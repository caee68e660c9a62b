#include "CMallocTuning.h"

#if defined(__GLIBC__)
#include <malloc.h>

int berth_limit_malloc_arenas(int count) {
    return mallopt(M_ARENA_MAX, count);
}
#else
int berth_limit_malloc_arenas(int count) {
    (void)count;
    return 0;
}
#endif
