# The only OpenMP shim (see _openmp.h): without OpenMP the calls are
# single-threaded stand-ins, so the modules never test _OPENMP themselves.

cdef extern from "_openmp.h" nogil:
    int FASTMLP_OPENMP      # 1 when built with OpenMP
    int omp_get_thread_num() noexcept
    int omp_get_max_threads() noexcept
    int omp_get_num_threads() noexcept
    double omp_get_wtime() noexcept
    void fm_barrier() noexcept
    double fm_thread_cpu_time() noexcept
