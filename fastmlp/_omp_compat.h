/* OpenMP entry points, or single-threaded stand-ins when the build has no OpenMP. */
#ifndef FASTMLP_OMP_COMPAT_H
#define FASTMLP_OMP_COMPAT_H
#ifdef _OPENMP
#include <omp.h>
#define FASTMLP_OPENMP 1
#else
#define FASTMLP_OPENMP 0
static inline int omp_get_thread_num(void) { return 0; }
static inline int omp_get_max_threads(void) { return 1; }
static inline int omp_get_num_threads(void) { return 1; }
#endif
#endif
