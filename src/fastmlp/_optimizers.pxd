# The sgd/adam updates of the packed parameters (_optimizers.h) and the
# hyper-parameters they read, inline for the epochs (_epochs).

from cython cimport floating

from fastmlp._typedefs cimport intp

cdef enum:
    SOLVER_SGD = 0
    SOLVER_ADAM = 1


cdef struct OptSpec:
    int solver
    bint nesterov
    double learning_rate    # sgd: the current rate (changed between epochs)
    double momentum
    double learning_rate_init
    double beta_1
    double beta_2
    double epsilon
    long long t             # adam: updates done so far


cdef extern from "_optimizers.h" nogil:
    # the element-wise updates, vectorised in C (exactness notes there)
    void fm_sgd_d(double* p, const double* g, double* vel, intp n, double lr,
                   double mom, int nesterov) noexcept
    void fm_sgd_f(float* p, const float* g, float* vel, intp n, float lr,
                   float mom, int nesterov) noexcept
    void fm_adam_d(double* p, const double* g, double* ms, double* vs, intp n,
                    double neg_lr, double b1, double c1, double b2, double c2,
                    double eps) noexcept
    void fm_adam_f(float* p, const float* g, float* ms, float* vs, intp n,
                    double neg_lr, float b1, float c1, float b2, float c2,
                    float eps) noexcept
    int fm_set_level_cap(int cap) noexcept


cdef inline void update_range(const OptSpec* opt, floating* p, const floating* g,
                              floating* s1, floating* s2, intp lo, intp hi,
                              double lr_t) noexcept nogil:
    # sklearn's hyper-parameters are Python floats: numpy casts them to the
    # parameters' dtype (1 - beta is computed in double first)
    if opt.solver == SOLVER_SGD:
        if floating is double:
            fm_sgd_d(p + lo, g + lo, s1 + lo, hi - lo, opt.learning_rate,
                      opt.momentum, opt.nesterov)
        else:
            fm_sgd_f(p + lo, g + lo, s1 + lo, hi - lo, <float> opt.learning_rate,
                      <float> opt.momentum, opt.nesterov)
    else:
        if floating is double:
            fm_adam_d(p + lo, g + lo, s1 + lo, s2 + lo, hi - lo, -lr_t, opt.beta_1,
                       1 - opt.beta_1, opt.beta_2, 1 - opt.beta_2, opt.epsilon)
        else:
            fm_adam_f(p + lo, g + lo, s1 + lo, s2 + lo, hi - lo, -lr_t,
                       <float> opt.beta_1, <float> (1 - opt.beta_1),
                       <float> opt.beta_2, <float> (1 - opt.beta_2),
                       <float> opt.epsilon)
