"""Inference serving: per-op roofline of prefill and decode, KV cache, compression, curves,
capacity planning, a continuous-batching simulator and the cost waterfall.

The narrow interface for other modules is :func:`suanli.infer.api.serving_quote`.
"""
