// glibc's malloc tuning, which Swift's Glibc module does not export (malloc.h is not in it).
#ifndef BERTH_CMALLOCTUNING_H
#define BERTH_CMALLOCTUNING_H

/// Caps the number of malloc arenas (mallopt M_ARENA_MAX); returns 1 on success, 0 where it
/// failed or the C library is not glibc.
int berth_limit_malloc_arenas(int count);

#endif
