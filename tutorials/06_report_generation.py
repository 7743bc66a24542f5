"""Tutorial 06: LLaVA-style report generation on a frozen encoder, end to end on the embedded sample radiographs.

    .venv/bin/python tutorials/06_report_generation.py OUTPUT_DIR
    .venv/bin/python tutorials/06_report_generation.py OUTPUT_DIR --lm=smollm2 --template=chat --mode=projector

Everything runs offline with tiny random-init models (a real run swaps in ``--lm=/models/vicuna-7b-v1.5`` or the
packaged ``--lm=smollm2``, and RAD-DINO weights for the encoder). The sample data carry no reports, so the tutorial
writes a short synthetic finding per image from its label (three handwritten sentences, below): the point is the
mechanics, not clinical text. Writes into ``OUTPUT_DIR``: ``features.npz``, ``run/`` (checkpoints, TensorBoard,
``model/``), ``reports.csv`` (generated, ``id,report``), ``references.csv`` and ``report_generation.png``.

Steps:
    1. A random-init causal LM (GPT-2 family, BPE tokenizer trained on the synthetic reports) saved as an HF folder:
       the stand-in for Vicuna-7B v1.5 / SmolLM2, loaded by path like any other.
    2. ``cache_features``: the frozen encoder's patch tokens of every training and test image, extracted once with
       the public extraction API (the encoder is never trained; caching it is what makes CPU training possible).
    3. ``ReportGenerator``: two-layer GELU MLP projector -> image tokens spliced at the ``<image>`` special token of
       the prompt "<image> Provide a description of the findings in the radiology image."
    4. ``train_report_model``: mode ``full`` (projector + LM, the paper), ``lora`` or ``projector``; resumable
       checkpoints, TensorBoard, the LLaVA-1.5 schedule (cosine, 3 % warm-up) on a small global batch.
    5. Save, reload, and generate for the test images (greedy, KV cache, batched); the reloaded model gives the same
       reports, and the KV cache changes nothing but the speed.
"""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path

import fire
import numpy as np
import torch
from ignite.engine import Events
from PIL import Image

from raddino_monai.data.datalist import load_datalist
from raddino_monai.data.sample_data import sample_datalist_path
from raddino_monai.visualize.figure import agg_pyplot
from raddino_monai.report import (
    EncoderReference,
    ReportGenerationConfig,
    ReportGenerator,
    ReportModelConfig,
    ReportTrainConfig,
    cache_features,
    generate_reports,
    load_causal_lm,
    load_feature_tokens,
    load_report_model,
    read_reports,
    save_report_model,
    write_reports,
)
from raddino_monai.report.tiny import build_random_lm
from raddino_monai.report.train import build_report_trainer

#: one synthetic finding per sample label (handwritten for this tutorial; not clinical reports)
SYNTHETIC_FINDINGS = {
    "COVID-19": "Bilateral peripheral ground-glass opacities in the lower zones. No pleural effusion.",
    "No Finding": "The lungs are clear. The heart size is normal. No pleural effusion or pneumothorax.",
    "Pneumocystis": "Diffuse bilateral interstitial opacities. No focal consolidation.",
}


def _items(split: str, n: int) -> list[dict]:
    items = load_datalist(sample_datalist_path(), split=split)[:n]
    return [{"id": Path(it["image"]).stem, "image": it["image"], "report": SYNTHETIC_FINDINGS[it["label"]]}
            for it in items]


def _figure(test: list[dict], generated: dict[str, str], losses: list[float], path: Path) -> Path:
    plt = agg_pyplot()
    n = min(3, len(test))
    fig, axes = plt.subplots(1, n + 1, figsize=(4.2 * (n + 1), 4.8))
    axes[0].plot(range(1, len(losses) + 1), losses, marker="o")
    axes[0].set(title="training loss (mean token CE)", xlabel="optimizer step", ylabel="loss")
    for ax, item in zip(axes[1:], test[:n]):
        with Image.open(item["image"]) as image:
            ax.imshow(np.asarray(image.convert("L")), cmap="gray")
        ax.set_axis_off()
        ax.set_title(item["id"], fontsize=9)
        text = "\n".join(textwrap.wrap(f"reference: {item['report']}", 48) + [""]
                         + textwrap.wrap(f"generated: {generated[item['id']]}", 48))
        ax.text(0.0, -0.02, text, transform=ax.transAxes, va="top", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def main(
    output_dir: str,
    lm: str | None = None,
    template: str = "plain",
    mode: str = "full",
    arch: str = "tiny_vit_p14",
    image_size: int = 56,
    n_train: int = 24,
    n_test: int = 6,
    epochs: int = 8,
    seed: int = 0,
) -> dict[str, float]:
    """Run the five steps and print what each one shows.

    Args:
        output_dir: folder for features, the run and the outputs (must not hold an earlier run's ``run/model``).
        lm: LM spec; default: a random-init GPT-2 built in step 1 (``smollm2`` = the packaged SmolLM2-135M).
        template: prompt template (``plain`` for the random LM, ``chat`` for SmolLM2, ``vicuna_v1`` for Vicuna).
        mode: ``full``, ``lora`` or ``projector``.
        arch: frozen encoder architecture (random init; use RAD-DINO weights for real features).
        image_size: encoder input side.
        n_train: training images (from the sample datalist's training split).
        n_test: test images (its test split).
        epochs: training epochs.
        seed: seed of the encoder init and of the training run.

    Returns:
        ``{"first_loss", "last_loss", "distinct_reports", "n_test"}``.
    """
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    train, test = _items("training", n_train), _items("test", n_test)

    # 1. the language model: a local HF folder (here random-init), loaded by path
    if lm is None:
        lm = str(build_random_lm(out / "tiny_lm", list(SYNTHETIC_FINDINGS.values()) * 4, family="gpt2",
                                 hidden_size=64, num_layers=2, vocab_size=400, seed=seed))
    language_model, tokenizer = load_causal_lm(lm)
    print(f"1. LM {type(language_model).__name__}: {sum(p.numel() for p in language_model.parameters()):,} "
          f"parameters, hidden {language_model.config.hidden_size}, vocabulary {len(tokenizer)}")

    # 2. frozen-encoder features, extracted once (resumable) with the public extraction API
    encoder = EncoderReference(arch, weights=None, init_seed=seed, image_size=image_size)
    feats = out / "features.npz"
    if not feats.exists():
        cache_features([it["image"] for it in train + test], feats, encoder, batch_size=8, progress=False)
    paths, tokens = load_feature_tokens(feats, use_cls=False)
    rows = {Path(p).stem: n for n, p in enumerate(paths)}
    print(f"2. encoder {arch} at {image_size} px: {tokens.shape[1]} patch tokens of width {tokens.shape[2]} per image")

    # 3. the report model: projector + image tokens at the <image> special token
    model = ReportGenerator(language_model, tokenizer, tokens.shape[2], ReportModelConfig(template=template),
                            lm_source=lm, encoder_ref=encoder)
    prompt = tokenizer.convert_ids_to_tokens(model.prompt_ids)
    print(f"3. prompt: {len(model.prompt_ids)} tokens, the image token {model.config.image_token!r} (id "
          f"{model.image_token_id}) at position {model.prompt_ids.index(model.image_token_id)} -> {tokens.shape[1]} "
          f"image tokens; first prompt tokens {prompt[:4]}")

    # 4. training (resumable): a small global batch instead of the paper's 128 (24 images)
    pairs = [{"id": it["id"], "features": tokens[rows[it["id"]]], "report": it["report"]} for it in train]
    config = ReportTrainConfig(mode=mode, epochs=epochs, global_batch_size=8, micro_batch_size=4, precision="fp32",
                               lr=1e-2 if mode == "full" else None, projector_lr=1e-2 if mode == "full" else None,
                               lora_r=8, lora_alpha=16, seed=seed, save_interval=10)
    losses: list[float] = []
    t0 = time.perf_counter()
    # train_report_model(model, pairs, out / "run", config) does build + run + save in one call; the tutorial builds
    # the trainer itself to keep the loss curve for the figure
    trainer = build_report_trainer(model, pairs, out / "run", config, progress=False)
    trainer.add_event_handler(Events.ITERATION_COMPLETED, lambda e: losses.append(e.state.output["losses"]["loss"]))
    trainer.run()
    folder = save_report_model(model, out / "run" / "model")
    print(f"4. mode {mode}: {len(losses)} steps in {time.perf_counter() - t0:.1f} s, loss {losses[0]:.3f} -> "
          f"{losses[-1]:.3f}; saved {sorted(p.name for p in folder.iterdir())}")

    # 5. reload and generate for the test images (greedy, KV cache, batched)
    reloaded = load_report_model(folder)
    test_tokens = np.stack([tokens[rows[it["id"]]] for it in test])
    generation = ReportGenerationConfig(max_new_tokens=40, batch_size=4)
    reports_csv = generate_reports(reloaded, [it["id"] for it in test], test_tokens, out / "reports.csv", generation,
                                   overwrite=True, progress=False)
    write_reports(out / "references.csv", [{"id": it["id"], "report": it["report"]} for it in test], overwrite=True)
    generated = {r["id"]: r["report"] for r in read_reports(reports_csv)}
    feats_t = torch.from_numpy(test_tokens)
    same_after_reload = model.generate(feats_t, generation) == list(generated.values())
    no_cache = ReportGenerationConfig(max_new_tokens=40, batch_size=4, use_cache=False)
    cache_invariant = reloaded.generate(feats_t, no_cache) == list(generated.values())
    print(f"5. reloaded model gives the same reports: {same_after_reload}; KV cache off gives the same reports: "
          f"{cache_invariant}; distinct reports for {len(test)} test images: {len(set(generated.values()))}")
    for item in test[:3]:
        print(f"   {item['id']}: {generated[item['id']]!r}")
    png = _figure(test, generated, losses, out / "report_generation.png")
    print(json.dumps({"reports": str(reports_csv), "figure": str(png)}))
    print(png)
    return {"first_loss": losses[0], "last_loss": losses[-1], "distinct_reports": len(set(generated.values())),
            "n_test": len(test)}


if __name__ == "__main__":
    fire.Fire(main)
