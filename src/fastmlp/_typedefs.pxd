# Types shared by the compiled modules. The enums are cpdef: Python sees them
# as fastmlp._typedefs.Activation / Output, so the codes live here only.

ctypedef Py_ssize_t intp    # row, column and parameter indices (numpy's intp)

cpdef enum Activation:
    ACT_IDENTITY = 0
    ACT_LOGISTIC = 1
    ACT_TANH = 2
    ACT_RELU = 3
    ACT_GELU = 4         # beyond sklearn (issue 24)
    ACT_SILU = 5
    ACT_LEAKY_RELU = 6
    ACT_ELU = 7
    ACT_SOFTPLUS = 8

cpdef enum Output:
    OUT_IDENTITY = 0   # squared error
    OUT_LOGISTIC = 1   # binary / multilabel log-loss
    OUT_SOFTMAX = 2    # multiclass log-loss
    OUT_EXP = 3        # Poisson deviance
    OUT_ABSOLUTE_ERROR = 4   # identity output, robust losses (issue 24)
    OUT_HUBER = 5
    OUT_QUANTILE = 6
