"""The analytic performance model: pure functions, one per cost term, with a visible sum.

- ``ops``: parameters, FLOPs and bytes per layer (the architecture's arithmetic)
- ``memory``: bytes per device (weights, gradients, optimizer, activations, buffers)
- ``comm``: collectives over the link class that carries them (alpha-beta)
- ``efficiency``: achievable fraction of peak, a fitted curve per accelerator family (data)
- ``training``: step time, MFU/HFU, time/cost/energy of a training run
"""
