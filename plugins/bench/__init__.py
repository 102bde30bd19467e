"""``pycr bench``: compare isolation strategies on the same machine in one run.

A *strategy* (:mod:`.strategies`) says how a container is run -- which
runtime, cgroup backend, root switch, namespace set, extra pycr plugins; a
*workload* (:mod:`.workloads`) says what runs inside.  :mod:`.matrix` crosses
them, :mod:`.runner` executes the samples in randomized order, :mod:`.stats`
turns them into medians with bootstrap confidence intervals and ranking
warnings, :mod:`.report` writes CSV/JSON/PNG.  Nothing here is imported by
the runtime's hot path.
"""
