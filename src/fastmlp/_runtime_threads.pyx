"""How many threads a parallel region runs on, decided while a fit or a
predict runs: a segment of sgd/adam minibatches, an L-BFGS loss + gradient
evaluation, a forward pass (the static rules, decided once per call or fit,
are in _threads.py). Every region splits its work into parts fixed before it
runs, so the results never depend on this decision."""

from fastmlp._openmp cimport fm_thread_cpu_time, omp_get_wtime
from fastmlp._typedefs cimport intp


# On idle cores the threads pay (about 1.5-1.9x on two), but when other
# processes hold the cores they cost many times over: the threads wait for each
# other at every barrier while descheduled. So while a runner (an EpochRunner,
# or a Workspace's evaluations and forward passes) uses all its threads it
# measures, in windows of a few regions (a region: one segment of minibatches,
# one evaluation or one forward pass), the region's wall time against the CPU
# time its threads spent working (what one thread would need). When the
# threads stop clearly beating one thread, every runner of the process goes on
# with one thread for a while (20 ms at first, doubling up to 2 s while the
# threads keep losing, halving while they pay, and at least 8 times the losing
# regions' time) and then tries them again, the first region allowed the
# millisecond a slept worker takes to wake on a virtual machine. Between
# windows the threads run unmeasured regions, a growing number of them, whose
# wall time alone is checked: one far slower a row than the last window's ends
# the threads' turn at once. The results do not depend on any of this.

cdef enum:
    WINDOW = 4            # minibatches per measurement
    GAP_MAX = 28          # unmeasured minibatches between windows while threads pay
    GAP_STEP = 4          # the gap grows as gap -> 2 gap + GAP_STEP: 4, 12, 28

# threads pay while their region's wall time stays under this share of the
# CPU time they worked (what one thread would need); the margin keeps a
# measurement's noise from holding on to threads that only break even
cdef double PAYING_SHARE = 0.9

# an unmeasured region this many times slower a row than the last paying
# window's regions: the threads lose (calls of other sizes on the same runner
# differ by less: 10 and 100 rows of a forward pass by 1.5x)
cdef double SLOW_REGION = 3.0

cdef double BACKOFF_MIN = 0.02, BACKOFF_MAX = 2.0, BACKOFF_REGIONS = 8

# the first region of a retry may take this much longer than the threads'
# work: a worker that slept takes ~1 ms to wake on a virtual machine
cdef double WAKE_ALLOWANCE = 0.002

# process-wide: until when threads are not tried again, and the next backoff
# (shared by concurrent fits; a race only moves a retry, never a result)
cdef double g_retry_at = 0, g_backoff = 0.02


cdef void adapt_start_window(Adapt* a) noexcept nogil:
    a.threads = a.parts
    # threads that have slept (while one thread ran, or between calls) take a
    # millisecond to wake on a virtual machine, several times a small
    # region's work: their first region is allowed that
    a.waking = True
    a.gap = 0
    a.until_window = 0
    a.window_left = WINDOW
    a.wall = a.cpu = a.rows = 0


cdef void adapt_init(Adapt* a, int parts) noexcept nogil:
    a.parts = parts
    a.forced = 0
    a.on_threads = a.on_one = 0
    a.wall_per_row = 0
    # no per-thread CPU clock here (Windows): all the threads, unmeasured
    a.blind = fm_thread_cpu_time() < 0
    adapt_start_window(a)
    if parts > 1 and omp_get_wtime() < g_retry_at:
        a.threads = 1


cdef int adapt_threads(Adapt* a) noexcept nogil:
    if a.forced > 0:
        return a.forced if a.forced < a.parts else a.parts
    if a.blind or a.parts == 1:
        return a.parts
    if omp_get_wtime() < g_retry_at:
        # another runner of the process found the threads losing: one
        # thread here too, whatever this runner measured last
        a.threads = 1
    elif a.threads == 1:
        adapt_start_window(a)
    return a.threads


cdef bint adapt_measuring(const Adapt* a) noexcept nogil:
    """Whether the next segment on several threads is a measured one."""
    return a.forced == 0 and not a.blind and a.threads > 1 and a.until_window == 0


cdef intp adapt_segment(const Adapt* a) noexcept nogil:
    """Most minibatches the next segment on several threads may have. A
    retry's first minibatch wakes the threads (judged with the wake's
    allowance), then its window opens with a one-minibatch probe: on cores
    that other processes hold, a segment costs a time slice at every barrier,
    so a retry stops after one or two minibatches."""
    if a.forced > 0 or a.blind:
        return GAP_MAX + WINDOW
    if a.waking:
        return 1
    if a.until_window > 0:
        return a.until_window
    return 1 if a.window_left == WINDOW else a.window_left


cdef void adapt_lose(Adapt* a, double wall) noexcept nogil:
    """The threads lose (wall: the losing region's, or window's, seconds):
    every runner of the process on one thread until the backoff ends, which
    doubles while they keep losing and is never shorter than BACKOFF_REGIONS
    such regions (a retry of a long region costs as long a region)."""
    global g_retry_at, g_backoff
    cdef double wait = g_backoff if g_backoff > BACKOFF_REGIONS * wall else BACKOFF_REGIONS * wall
    a.threads = 1
    g_retry_at = omp_get_wtime() + wait
    g_backoff = 2 * g_backoff if g_backoff < BACKOFF_MAX else BACKOFF_MAX


cdef void adapt_after(Adapt* a, intp n_batches, double rows, double wall,
                      const double* cpu) noexcept nogil:
    """Book a segment of n_batches minibatches (regions) over rows rows run
    on several threads: its region's wall time, and its threads' CPU times
    when it was measured."""
    global g_backoff
    cdef int k
    cdef double c = 0
    if a.forced > 0 or a.blind or a.threads == 1:
        return
    if a.waking:
        # judged with the wake's allowance on top: beside busy processes a
        # worker waits longer for a core, and this region loses at once
        a.waking = False
        for k in range(a.parts):
            c += cpu[k]
        if wall > PAYING_SHARE * c + WAKE_ALLOWANCE:
            adapt_lose(a, wall)
        return
    if a.until_window > 0:
        # unmeasured, but the wall clock is cheap: a region far slower a row
        # than the last window's (a thread descheduled for a time slice,
        # milliseconds) ends the threads' turn at once, not after the gap
        if a.wall_per_row > 0 and wall > SLOW_REGION * a.wall_per_row * rows:
            adapt_start_window(a)
            adapt_lose(a, wall)
            return
        a.until_window -= n_batches
        return
    for k in range(a.parts):
        c += cpu[k]
    a.cpu += c
    a.wall += wall
    a.rows += rows
    a.window_left -= n_batches
    if a.window_left > 0 and not a.wall > a.cpu:
        return
    if a.wall < PAYING_SHARE * a.cpu:
        # the threads pay: stay, and measure again after a gap that grows
        # while they keep paying (the clocks cost ~1 us a minibatch). The
        # backoff comes down by halves: beside busy processes a retry's
        # window pays now and then, and a reset would retry every 20 ms
        g_backoff = g_backoff / 2 if g_backoff > 2 * BACKOFF_MIN else BACKOFF_MIN
        a.gap = 2 * a.gap + GAP_STEP if 2 * a.gap + GAP_STEP < GAP_MAX else GAP_MAX
        a.until_window = a.gap
        a.wall_per_row = a.wall / a.rows if a.rows > 0 else 0
    else:
        # no better than one thread (or worse already: stop at once)
        adapt_lose(a, a.wall)
    a.window_left = WINDOW
    a.wall = a.cpu = a.rows = 0


cdef class ThreadRule:
    """What a runner exposes of its rule (tests and measurements read it)."""

    @property
    def threads(self):
        """Threads the next region will run on (1 to the parts)."""
        return adapt_threads(&self.adapt)

    @property
    def regions_on_threads(self):
        """(regions run on several threads, regions run on one) so far; an
        EpochRunner counts minibatches."""
        return self.adapt.on_threads, self.adapt.on_one

    @property
    def fixed_threads(self):
        """0: the threads follow the measured speed; n > 0: always n (capped
        at the parts). Results are the same either way."""
        return self.adapt.forced

    @fixed_threads.setter
    def fixed_threads(self, int value):
        if value < 0:
            raise ValueError("fixed_threads must be >= 0")
        self.adapt.forced = value


def hold_one_thread(double seconds):
    """Every runner of the process on one thread for the next seconds, as
    when the threads were found losing (tests: a fallback in mid-fit)."""
    global g_retry_at
    g_retry_at = omp_get_wtime() + seconds


def replay(int parts, regions, double backoff=BACKOFF_MIN):
    """Run a fresh runner's rule over made-up regions, [(wall seconds, CPU
    seconds of each of the parts' threads), ...], each of one minibatch, and
    give (threads it ran on, the process's backoff after it) for each (tests
    drive the rule with these clocks). The process's own rule state is put
    back afterwards."""
    global g_retry_at, g_backoff
    cdef Adapt a
    cdef double saved_at = g_retry_at, saved_backoff = g_backoff
    cdef double cpu[64]
    cdef int n
    if not 1 < parts <= 64:
        raise ValueError("parts must be in 2 .. 64")
    out = []
    g_retry_at, g_backoff = 0, backoff
    try:
        adapt_init(&a, parts)
        if a.blind:
            raise RuntimeError("no per-thread CPU clock here: the rule does not measure")
        for wall, cpus in regions:
            if len(cpus) != parts:
                raise ValueError("one CPU time per part")
            for n in range(parts):
                cpu[n] = cpus[n]
            n = adapt_threads(&a)
            if n > 1:
                adapt_after(&a, 1, 1.0, wall, cpu)
            out.append((n, g_backoff))
    finally:
        g_retry_at, g_backoff = saved_at, saved_backoff
    return out
