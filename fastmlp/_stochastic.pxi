# Included at the end of _kernels.pyx: whole sgd/adam epochs in compiled code,
# built on loss_grad_impl (same module, so every cdef function is visible).
