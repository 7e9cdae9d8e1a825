/* FM_CLONES: the function is compiled for x86-64-v4 (AVX-512), v3 (AVX2 +
 * FMA) and the baseline, the best chosen at load time (GCC on x86-64 Linux);
 * and, being defined in a header, it may go unused in a module that includes
 * it for something else. Code that must not fuse a multiply and an add says
 * so itself (fp-contract=off). */
#ifndef FASTMLP_CLONES_H
#define FASTMLP_CLONES_H

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) \
    && !defined(FASTMLP_NO_CLONES)
#define FM_CLONES __attribute__((unused, target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define FM_CLONES __attribute__((unused))
#endif

#endif
