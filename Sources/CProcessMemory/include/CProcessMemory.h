// berthd's process memory tuning, in C: glibc's mallopt (malloc.h is not in Swift's Glibc
// module) and madvise over the process's own mappings, read from /proc/self/maps.
#ifndef BERTH_CPROCESSMEMORY_H
#define BERTH_CPROCESSMEMORY_H

/// Caps the number of malloc arenas (mallopt M_ARENA_MAX); returns 1 on success, 0 where it
/// failed or the C library is not glibc.
int berth_limit_malloc_arenas(int count);

/// Unmaps the resident pages of the process's file-backed code mappings (read and execute, none
/// of their pages written) with MADV_DONTNEED: they stay in the page cache, and code that runs
/// again maps its page back at its next use (a minor fault). For after startup, whose code
/// (configuration, migrations, recovery, the runtime's first scans of its type tables) does not
/// run again. Returns the bytes that were resident in the mappings advised, or -1 when
/// /proc/self/smaps cannot be read.
long berth_drop_code_pages(void);

/// Returns the free memory in malloc's heaps to the kernel (malloc_trim): glibc keeps what is
/// freed inside a heap, so a burst of work (a hundred containers started at once) leaves
/// resident memory that nothing uses. Returns 1 when memory was released, 0 otherwise.
int berth_trim_heap(void);

#endif
