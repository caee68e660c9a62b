#include "CProcessMemory.h"

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#if defined(__GLIBC__)
#include <malloc.h>

int berth_limit_malloc_arenas(int count) {
    return mallopt(M_ARENA_MAX, count);
}

int berth_trim_heap(void) {
    return malloc_trim(0);
}
#else
int berth_trim_heap(void) {
    return 0;
}

int berth_limit_malloc_arenas(int count) {
    (void)count;
    return 0;
}
#endif

/// One mapping of /proc/self/smaps as far as `berth_drop_code_pages` needs it.
struct code_mapping {
    unsigned long start, end;
    int eligible;
    long resident_kb, dirty_kb;
};

static long drop_if_clean(const struct code_mapping *m) {
    // A page written in a code mapping (text relocations) would lose what was written.
    if (!m->eligible || m->dirty_kb != 0 || m->resident_kb == 0) return 0;
    if (madvise((void *)m->start, m->end - m->start, MADV_DONTNEED) != 0) return 0;
    return m->resident_kb * 1024;
}

long berth_drop_code_pages(void) {
    FILE *smaps = fopen("/proc/self/smaps", "r");
    if (smaps == NULL) return -1;
    char line[4096];
    long dropped = 0;
    struct code_mapping current = {0};
    while (fgets(line, sizeof line, smaps) != NULL) {
        unsigned long start = 0, end = 0, inode = 0;
        char perms[5] = {0};
        long kb = 0;
        if (sscanf(line, "%lx-%lx %4s %*s %*s %lu", &start, &end, perms, &inode) == 4) {
            dropped += drop_if_clean(&current);
            current.start = start;
            current.end = end;
            current.eligible = inode != 0 && perms[0] == 'r' && perms[1] != 'w' && perms[2] == 'x' && perms[3] == 'p';
            current.resident_kb = 0;
            current.dirty_kb = 0;
        } else if (sscanf(line, "Rss: %ld kB", &kb) == 1) {
            current.resident_kb = kb;
        } else if (sscanf(line, "Private_Dirty: %ld kB", &kb) == 1) {
            current.dirty_kb = kb;
        }
    }
    dropped += drop_if_clean(&current);
    fclose(smaps);
    return dropped;
}
