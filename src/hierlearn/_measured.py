"""Numbers the code depends on that were measured on one machine, each with how to remeasure.

Machine of every entry unless stated: the project's 2-core, 24 GiB x86-64 VM (Intel Xeon,
Sapphire Rapids, AVX-512), OpenBLAS 0.3.30/0.3.31 from the numpy/scipy wheels, numba 0.6x.
Change a value only with a new measurement, and update its date and method here.
"""

from __future__ import annotations

__all__ = [
    "BLAS_COSINE_MIN_DIM",
    "BLAS_SINGLE_THREAD_FLOPS",
    "CHOLESKY_BLOCK",
    "DASK_STARTUP_S",
    "EIGH_OVER_CHOLESKY",
    "PROCESS_STARTUP_S",
    "SAFE_POTRF_N",
    "SWEEP_JOB_S",
    "SWEEP_KERNEL_S_PER_N3",
    "SWEEP_NET_S_PER_SIZE",
    "SWEEP_NET_S_PER_UNIT",
    "SWEEP_RANDOMIZED_FACTOR",
    "TILE_COLS",
]

#: Largest order handed to a multi-threaded LAPACK ``dpotrf`` or BLAS ``dsyrk`` (numpy's
#: ``A @ A.T``). OpenBLAS's threaded Cholesky (SkylakeX kernels, 2 threads) dies with SIGSEGV at
#: n >= 16000; 15000 and 15500 are fine, as is one thread or OPENBLAS_CORETYPE=Haswell. Measured
#: 2026-11-23 by factoring a random SPD matrix of each order in a subprocess. Its threaded
#: ``dsyrk``, which ``dpotrf`` calls (probably the same bug), dies the same way for n x n
#: outputs from n = 18 500 with k = 270 columns (2026-12-02; details in ``hierlearn._products``).
#: tests/test_linalg.py keeps regression tests for both at n = 16384 / 19 661 through the safe
#: paths.
SAFE_POTRF_N = 15000

#: Diagonal block order of the crash-safe blocked Cholesky (below SAFE_POTRF_N). At n = 15000:
#: threaded dpotrf 13.6-14.6 s, blocked 17.5 s with block 7500, 19.0 s with 4096 (2026-11-23,
#: ``python -m hierlearn solvers --large``).
CHOLESKY_BLOCK = 8192

#: Cost of one symmetric eigendecomposition (scipy ``eigh``, driver ``evd``) in units of one
#: Cholesky factorisation of the same order, 2 threads: about 25 at n = 4000 (2026-11-23,
#: ``python -m hierlearn solvers``); the learning-curve planner uses a rounder 15 for the
#: flop model (eigh n^3 against Cholesky n^3/3).
EIGH_OVER_CHOLESKY = 15.0

#: Gram tile side by number of columns: (columns at least, side). Long rows amortise each
#: row's fixed costs (relu K_NTK matvec, one thread, n = 12 000, d = 16: 7.5 / 6.1 / 5.1 ns
#: per entry at sides 128 / 256 / 512; 2026-11-26), short ones leave enough tiles for the
#: threads. Depends on the columns only, so row blocks of K are tiled exactly as the whole K.
TILE_COLS = ((16384, 512), (2048, 256), (0, 128))

#: Matrix products below this many flops run with one BLAS thread inside optimiser loops:
#: two-thread OpenBLAS on small products interleaved with other work costs up to 10x here
#: (a Quad-Net fit with n 400, m 512, D 40: 36.5 s with 2 threads, 3.7 s with 1; 2026-12-01).
#: Measured 2026-12-01 with ``python -m hierlearn quadnet --threads-sweep`` (20 iterations of
#: the Quad-Net fit's own L-BFGS on its objective, m = 256, D = 128, n = 32 ... 8192, i.e.
#: 2.1e6 ... 5.4e8 flops per product; one and two threads alternately, best of 5 each), three
#: runs on the shared 2-core VM, whose load from other sessions varies by the minute. At load
#: ~2, two threads won by 1.04-1.2x below 2e7 flops and by 1.4-1.7x from 3.4e7 on; at load
#: 3-7 one thread won everywhere, by 2-25x below 3.4e7 and by 1.2-2x from 1.3e8 on. The
#: threshold was 1e8 then, on the side of the risk. Remeasured 2026-12-02 04:57-04:58 UTC,
#: three sweeps on the quiet machine (load 1.4): two threads gained 1.07-1.28x at 1.7e7 flops,
#: 1.17-1.45x at 3.4e7 and 1.31-1.47x at 6.7e7; the Quad-Net evaluation at (n, m, D) =
#: (724, 200, 100) (2.9e7 per product) took 1.79 ms inside a fit on one thread and 0.89 ms on
#: two. The threshold now sits in that crossover, at 2e7: the 10x case above (1.6e7) stays on
#: one thread; between 2e7 and 1e8 two threads now run, which a busy machine (load 3-7, above)
#: can make slower. The choice depends on the problem size only, never on the load, because
#: the thread count changes OpenBLAS's summation order and so the last bits of a fit
#: (2.6e-10 at (724, 200, 100)): the same seed must give the same numbers on a busy machine.
BLAS_SINGLE_THREAD_FLOPS = 2.0e7

#: Seconds an embedded Dask LocalCluster takes to start (2 workers, 2026-11-26): sweeps
#: expected to take less than a few times this run serially instead.
DASK_STARTUP_S = 5.0

#: Input width (coordinates of the unit augmented rows) from which the Gram loops take their
#: cosines from one BLAS product per tile instead of the numba dot. Measured 2026-12-02 (quiet
#: machine, relu K_NTK, n = 8000, best of 5, two rounds; M entries/s numba dot / BLAS): Gram
#: d = 12: 635 / 489 and 488 / 457, d = 16: 446 / 481 and 430 / 505, d = 32: 278 / 410;
#: symmetric matvec d = 8: 646 / 865, d = 16: 571 / 692 and 571 / 685. Remeasure by forcing
#: ``hierlearn.kernels.closed_form.BLAS_COSINE_MIN_DIM`` to 1 and 10**9 around one Gram.
BLAS_COSINE_MIN_DIM = 16

#: Seconds a pool of 2 spawned worker processes takes to start and import the engine, as seen
#: by a whole command: `hierlearn run` of 8 tiny kernel jobs took 3.2-4.6 s serially,
#: 3.3-8.6 s on 2 processes and 7.8-10.6 s on the embedded Dask cluster (2026-12-01, two
#: rounds each on the shared 2-core VM). Remeasure with the same three commands.
PROCESS_STARTUP_S = 3.0

#: The sweep's cost model (hierlearn.bench.execute.expected_seconds), used only to order jobs
#: and to choose a backend for small sweeps; it is rough by design. Remeasured 2026-12-02
#: (timing pilots of the paper preset at seed 100, d = 16, ``run_job`` wall time): dense kernel
#: jobs with 2 threads took 120-202 s at n_max = 16384 (19661 points with the held-out ones;
#: the ridge search's factorisations and the exact error dominate: ~3e-11 s n^3 on one
#: thread); the Quad-Net with one thread 29.5 s on raw x (m = 270, 16 features, 23 sizes up to
#: 5161) and 39.7 s on h(x) (D = 256, 20 sizes up to 2580): a small cost per size plus a cost
#: per n m F unit (at max_iter = 500; scaled linearly in max_iter).
SWEEP_JOB_S = 0.05
SWEEP_KERNEL_S_PER_N3 = 3.0e-11
SWEEP_NET_S_PER_SIZE = 0.1
SWEEP_NET_S_PER_UNIT = 2.5e-7
#: The faithful learner (``randomized = true``: sign-sampled SGD on the real network, no fused
#: pass) against the formula above: its d = 10 job of the default preset (width 216, sizes up
#: to 1290) took 585 s per seed on 2026-12-02 (``fit_time_s`` of the fresh-clone default run, the
#: machine at load 4-8, so roughly half that quiet) against 5.1 s from the formula: ~60x.
SWEEP_RANDOMIZED_FACTOR = 60.0
