"""Benchmarks: SSL step throughput and efficiency, loader throughput, cost growth (``tools/benchmark_ssl.py``).

* :mod:`.timing`: synchronised clocks, :class:`PhaseClock`, the measured GEMM peak.
* :mod:`.flops`: ``FlopCounterMode`` with CPU attention counted, saved-activation bytes.
* :mod:`.ssl_step`: the SSL step of :class:`~raddino_monai.engines.SSLTrainer` timed phase by phase.
* :mod:`.levers`: side-by-side comparisons of the speed levers (AdamW implementation, EMA, attention, compile).
* :mod:`.loader`: the multi-crop loader's items/s per worker count against the step's consumption.
* :mod:`.cost`: step time and memory against image size and batch, as a PNG.

Numbers depend on the machine and its load; they are printed as ratios measured side by side, never asserted.
"""

from __future__ import annotations
