/* The one OpenMP shim of the compiled core: the OpenMP calls it makes, with
 * single-threaded stand-ins when the build has no OpenMP, and the clocks the
 * stochastic solvers time their threads with. */
#ifndef FASTMLP_OPENMP_H
#define FASTMLP_OPENMP_H

#include <time.h>

#ifdef _OPENMP
#include <omp.h>
#define FASTMLP_OPENMP 1
/* an orphaned barrier: binds to the parallel region it is called from */
static inline void fm_barrier(void)
{
#pragma omp barrier
}
#else
#define FASTMLP_OPENMP 0
static inline int omp_get_thread_num(void) { return 0; }
static inline int omp_get_max_threads(void) { return 1; }
static inline int omp_get_num_threads(void) { return 1; }
static inline double omp_get_wtime(void) { return 0.0; }  /* one thread anyway */
static inline void fm_barrier(void) {}
#endif

/* CPU seconds of the calling thread, or -1 where there is no such clock */
static inline double fm_thread_cpu_time(void)
{
#if defined(CLOCK_THREAD_CPUTIME_ID)
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) == 0)
        return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
#endif
    return -1.0;
}

#endif
