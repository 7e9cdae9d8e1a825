/* Inverted dropout on a hidden layer's activations (training only), with
 * masks from a counter-based hash: unit j of the row at position `pos` of an
 * epoch's row order (its minibatch and its row in it) in hidden layer `layer`
 * is dropped when the hash of (key, layer, pos, j) falls below the rate's
 * threshold, key being the fit's seed and the epoch (fm_drop_key). A mask is
 * a function of those numbers alone, never of the thread or the chunk that
 * computes it, and the backward pass computes it again rather than keeping it.
 *
 * The row's key is splitmix64's finaliser, twice (once per layer and chunk,
 * once per row); a unit's bits are murmur3's 32-bit finaliser of the row key
 * and the unit, which vectorises with 32-bit multiplies. Kept units are
 * scaled by 1 / (1 - rate), dropped ones set to 0 (selected, so a NaN or an
 * infinity there is dropped too).
 */
#ifndef FASTMLP_DROPOUT_H
#define FASTMLP_DROPOUT_H

#include <stdint.h>
#include <stddef.h>

#include "_clones.h"

/* As in _elementwise.h: GCC if-converts the selects below (so the loops
 * vectorise) only when it may assume that floating-point operations do not
 * trap. Values are unchanged by this. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("no-trapping-math")
#endif

static inline uint64_t fm_mix64(uint64_t z)
{
    z += 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* The key of one epoch of one fit. */
static inline uint64_t fm_drop_key(uint64_t seed, uint64_t epoch)
{
    return fm_mix64(fm_mix64(seed) ^ epoch);
}

static inline uint64_t fm_drop_row_key(uint64_t key, int layer, ptrdiff_t pos)
{
    return fm_mix64(fm_mix64(key ^ (uint64_t)layer) ^ (uint64_t)pos);
}

static inline uint32_t fm_drop_bits(uint64_t row_key, uint32_t j)
{
    uint32_t h = ((uint32_t)row_key + j * 0x9E3779B9U) ^ (uint32_t)(row_key >> 32);
    h ^= h >> 16;
    h *= 0x85EBCA6BU;
    h ^= h >> 13;
    h *= 0xC2B2AE35U;
    return h ^ (h >> 16);
}

/* A (m x w, rows at positions pos0 .. pos0 + m): kept units times scale,
 * dropped ones 0. */
#define FM_DROP_FORWARD(NAME, T)                                                \
FM_CLONES static void NAME(T* A, ptrdiff_t m, int w, uint64_t key, int layer,  \
                           ptrdiff_t pos0, uint32_t threshold, T scale)         \
{                                                                               \
    for (ptrdiff_t i = 0; i < m; i++) {                                         \
        uint64_t rk = fm_drop_row_key(key, layer, pos0 + i);                    \
        T* a = A + i * w;                                                       \
        for (int j = 0; j < w; j++)                                             \
            a[j] = fm_drop_bits(rk, (uint32_t)j) >= threshold ? a[j] * scale : (T)0; \
    }                                                                           \
}
FM_DROP_FORWARD(fm_drop_forward_d, double)
FM_DROP_FORWARD(fm_drop_forward_f, float)

/* Backward through the same mask: the gradient T with respect to the
 * dropped-out activations becomes the gradient with respect to the
 * activations (kept: times scale; dropped: 0), and A, as the forward pass
 * left it, goes back to the activations where their derivative reads them
 * (restore: 1 - rate; else 1, which leaves A as it is). */
#define FM_DROP_BACKWARD(NAME, T_)                                              \
FM_CLONES static void NAME(T_* T, T_* A, ptrdiff_t m, int w, uint64_t key,     \
                           int layer, ptrdiff_t pos0, uint32_t threshold,       \
                           T_ scale, T_ restore)                                \
{                                                                               \
    for (ptrdiff_t i = 0; i < m; i++) {                                         \
        uint64_t rk = fm_drop_row_key(key, layer, pos0 + i);                    \
        T_* t = T + i * w;                                                      \
        T_* a = A + i * w;                                                      \
        for (int j = 0; j < w; j++) {                                           \
            t[j] = fm_drop_bits(rk, (uint32_t)j) >= threshold ? t[j] * scale : (T_)0; \
            a[j] = a[j] * restore;                                              \
        }                                                                       \
    }                                                                           \
}
FM_DROP_BACKWARD(fm_drop_backward_d, double)
FM_DROP_BACKWARD(fm_drop_backward_f, float)

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

#endif
