"""Real workloads the service can run and measure: a GPT-style model trained for N steps on
synthetic tokens, and a batched serving loop (prefill + decode with a KV cache).

PyTorch is an optional extra (``pip install 'suanli[workloads]'``); only :mod:`.gpt` and
:mod:`.run` import it, lazily. :mod:`.shapes` and :mod:`.record` are plain Python so the
predictor and the service can describe a workload without torch installed.
"""
