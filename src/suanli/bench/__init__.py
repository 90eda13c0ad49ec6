"""``suanli bench``: measure the hardware where it runs (GEMM by dtype and shape, memory
bandwidth by working-set size, per-op framework overhead, copies, collectives) and write the
result as a site descriptor's ``measured`` section (:mod:`.profile`)."""
