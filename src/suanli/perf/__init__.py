"""The analytic performance model: pure functions, one per cost term, with a visible sum.

- ``ops``: parameters, FLOPs and bytes per layer (the architecture's arithmetic)
- ``memory``: bytes per device (weights, gradients, optimizer, activations, buffers)
- ``comm``: collectives over the link class that carries them (alpha-beta)
- ``efficiency``: achievable fraction of peak, a fitted curve per accelerator family (data)
- ``stack``: what a software stack enables (kernels, overlaps, allocator; data)
- ``train_terms``: the time terms of a training step, one function per term
- ``plan_rules``: which parallel plans are valid, and why not
- ``training``: the visible sum, MFU/HFU, time/cost/energy of a training run
"""
