# Inverted dropout on hidden activations while training (_dropout.h): what a
# minibatch's parts read, and the masks applied forward and backward, inline.

from cython cimport floating
from libc.stdint cimport uint32_t, uint64_t

from fastmlp._typedefs cimport intp, ACT_TANH, ACT_LOGISTIC, ACT_ELU

cdef extern from "_dropout.h" nogil:
    uint64_t fm_drop_key(uint64_t seed, uint64_t epoch) noexcept
    void fm_drop_forward_d(double* A, intp m, int w, uint64_t key, int layer, intp pos0,
                           uint32_t threshold, double scale) noexcept
    void fm_drop_forward_f(float* A, intp m, int w, uint64_t key, int layer, intp pos0,
                           uint32_t threshold, float scale) noexcept
    void fm_drop_backward_d(double* T, double* A, intp m, int w, uint64_t key, int layer,
                            intp pos0, uint32_t threshold, double scale,
                            double restore) noexcept
    void fm_drop_backward_f(float* T, float* A, intp m, int w, uint64_t key, int layer,
                            intp pos0, uint32_t threshold, float scale,
                            float restore) noexcept


cdef struct DropSpec:
    uint64_t key                # the epoch's (fm_drop_key of the fit's seed and the epoch)
    const uint32_t* threshold   # per layer (n_layers): rate * 2^32; 0: no dropout there
    const double* rate          # per layer


cdef inline void drop_forward(const DropSpec* dr, floating* A, intp m, int w, int layer,
                              intp pos0) noexcept nogil:
    """Hidden layer `layer`'s activations A (m x w), rows at positions pos0 ..
    pos0 + m of the epoch's order, through their mask."""
    cdef double scale = 1 / (1 - dr.rate[layer])
    if floating is double:
        fm_drop_forward_d(A, m, w, dr.key, layer, pos0, dr.threshold[layer], scale)
    else:
        fm_drop_forward_f(A, m, w, dr.key, layer, pos0, dr.threshold[layer], <float> scale)


cdef inline void drop_backward(const DropSpec* dr, int act, floating* T, floating* A, intp m,
                               int w, int layer, intp pos0) noexcept nogil:
    """T (the gradient with respect to the layer's dropped-out activations)
    through the same mask, and A back to the activations where act's
    derivative reads them (tanh, logistic, elu; the others read a sign or the
    kept pre-activations)."""
    cdef double scale = 1 / (1 - dr.rate[layer])
    cdef double restore = 1 - dr.rate[layer] if act in (ACT_TANH, ACT_LOGISTIC, ACT_ELU) else 1
    if floating is double:
        fm_drop_backward_d(T, A, m, w, dr.key, layer, pos0, dr.threshold[layer], scale,
                           restore)
    else:
        fm_drop_backward_f(T, A, m, w, dr.key, layer, pos0, dr.threshold[layer],
                           <float> scale, <float> restore)
