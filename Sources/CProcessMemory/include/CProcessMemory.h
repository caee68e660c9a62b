// berthd's process memory tuning, in C: glibc's mallopt (two malloc arenas, set before main:
// see CProcessMemory.c) and malloc_trim (malloc.h is not in Swift's Glibc module).
#ifndef BERTH_CPROCESSMEMORY_H
#define BERTH_CPROCESSMEMORY_H

/// Returns the free memory in malloc's heaps to the kernel (malloc_trim): glibc keeps what is
/// freed inside a heap, so a burst of work (a hundred containers started at once) leaves
/// resident memory that nothing uses. Returns 1 when memory was released, 0 otherwise.
int berth_trim_heap(void);

#endif
