"""The activation and output codes of the compiled core, for Python
(Activation, Output: IntEnums made by Cython from _typedefs.pxd)."""
