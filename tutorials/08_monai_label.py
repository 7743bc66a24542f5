"""Serve bundles in MONAI Label, run every task on a sample image, save the answers, stop the server.

    .venv-label/bin/python tutorials/08_monai_label.py OUTPUT_DIR [--bundles DIR] [--image PATH]

Runs in the serving environment (``bash scripts/label_env.sh build``; docs/monai_label.md). Without ``--bundles`` it
first makes three small bundles the way a user does (``tools/linear_probe.py`` / ``tools/segment.py train`` with
``--bundle_dir``): a linear probe and a UPerNet head trained for a few seconds on the embedded sample data over a
random-init tiny encoder, and a report bundle (``tools/report.py train --bundle_dir`` writes the same) around an
untrained tiny report model (random-init GPT-2, seeded projector), so the answers show the plumbing, not a useful
model. Then it starts a server on
127.0.0.1, asks each served model about ``--image`` (default: a sample radiograph) through MONAI Label's HTTP API, and
writes into OUTPUT_DIR ``info.json``, ``<model>.json`` per model (class scores, mask summary or report text),
``<model>_mask.png`` (the label map) and ``<model>_overlay.png`` (the mask over the image). Last line: the overlay.
"""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import numpy as np
import requests
import torch
from PIL import Image

from raddino_monai.data.sample_data import sample_datalist_path
from raddino_monai.evaluation import LinearProbeConfig, SegmentationConfig
from raddino_monai.transforms.masks import write_overlay_png
from raddino_monai.evaluation.runners import linear_probe_job, segment_train_job
from raddino_monai.report import EncoderReference, ReportGenerator, ReportModelConfig, load_causal_lm
from raddino_monai.report import save_report_model
from raddino_monai.report.tiny import build_random_lm
from raddino_monai.serving.bundle_export import export_classification_bundle, export_segmentation_bundle
from raddino_monai.serving.report_bundle import export_report_bundle
from raddino_monai.serving.label.server import free_port, start_server, stop_server, wait_ready
from raddino_monai.transforms import LoadCXR

SAMPLE_IMAGE = sample_datalist_path().parent / "images" / "X-ray_of_cyst_in_pneumocystis_pneumonia_1.png"
#: tokenizer texts of the demo report LM (handwritten for this tutorial; not clinical reports)
DEMO_TEXTS = ["The lungs are clear. No pleural effusion.", "Right lower lobe consolidation. Heart size is normal.",
              "Bilateral patchy opacities, possibly pneumonia. No pneumothorax."]


def make_demo_bundles(work: Path) -> Path:
    """Train a tiny linear probe and segmentation head on the sample data and export them as servable bundles."""
    probe = LinearProbeConfig(task="multiclass", image_size=56, augment=False, epochs=20, base_lr=1e-3, seeds=(0,),
                              label_fractions=(1.0,))
    result = linear_probe_job("tiny_vit_p14", None, work / "linear_probe", probe)
    bundles = work / "bundles"
    export_classification_bundle(result["head"], "tiny_vit_p14", probe, result["score_names"],
                                 bundles / "raddino_cxr_classification")
    # demo settings, not the paper's: 56 px, 8 epochs, lr 5e-3 (lung Dice ~0.8 on the sample test split at 15)
    seg = SegmentationConfig(head="upernet", head_kwargs={"channels": 16, "neck_channels": 16}, image_size=56,
                             class_names=["background", "lung"], epochs=8, batch_size=16, lr=5e-3, augment=False)
    trained = segment_train_job("tiny_vit_p14", None, work / "segmentation", seg)
    export_segmentation_bundle(trained["checkpoint"], bundles / "raddino_cxr_segmentation")
    lm_dir = build_random_lm(work / "tiny_lm", DEMO_TEXTS, family="gpt2", seed=1)
    lm, tokenizer = load_causal_lm(lm_dir)
    torch.manual_seed(1)
    report = ReportGenerator(lm, tokenizer, 192, ReportModelConfig(template="plain", model_max_length=128),
                             lm_source=str(lm_dir))
    report.encoder_ref = EncoderReference(arch="tiny_vit_p14", image_size=56)
    save_report_model(report, work / "report" / "model")
    export_report_bundle(work / "report" / "model", bundles / "raddino_cxr_report")
    return bundles


def ask(url: str, model: str, image_id: str, spec: dict, out: Path, image: np.ndarray) -> dict:
    """Run one model on one datastore image; writes ``<model>.json`` (+ mask and overlay PNGs for label maps)."""
    if spec["type"] == "segmentation":
        answer = requests.post(f"{url}/infer/{model}", params={"image": image_id, "output": "image"}, timeout=600)
        answer.raise_for_status()
        label_map = np.asarray(Image.open(io.BytesIO(answer.content)))
        Image.fromarray(label_map).save(out / f"{model}_mask.png")
        structures = {name: label_map == idx for name, idx in sorted(spec["labels"].items(), key=lambda kv: kv[1])}
        write_overlay_png(image, np.stack(list(structures.values())), out / f"{model}_overlay.png")
        params = {"shape": list(label_map.shape), "fraction": {n: float(m.mean()) for n, m in structures.items()}}
    else:
        answer = requests.post(f"{url}/infer/{model}", params={"image": image_id, "output": "json"}, timeout=600)
        answer.raise_for_status()
        params = {k: v for k, v in answer.json().items() if k in ("prediction", "scores", "report")}
    (out / f"{model}.json").write_text(json.dumps(params, indent=2) + "\n")
    return params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("output_dir", type=Path)
    parser.add_argument("--bundles", type=Path, default=None, help="folder of servable bundles (default: make demo)")
    parser.add_argument("--image", type=Path, default=SAMPLE_IMAGE)
    args = parser.parse_args()
    out = args.output_dir
    out.mkdir(parents=True, exist_ok=True)
    bundles = args.bundles or make_demo_bundles(out / "work")
    studies = out / "studies"
    studies.mkdir(exist_ok=True)
    image_id = args.image.name.split(".")[0]
    (studies / args.image.name).write_bytes(args.image.read_bytes())
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_server(bundles, studies, port, out / "server.log")
    try:
        info = wait_ready(url, server)
        (out / "info.json").write_text(json.dumps(info, indent=2) + "\n")
        image = np.asarray(LoadCXR()(str(args.image)))[0]
        for model, spec in info["models"].items():
            params = ask(url, model, image_id, spec, out, image)
            print(f"{model} ({spec['type']}): {json.dumps(params)[:200]}")
    finally:
        code = stop_server(server)
    print(f"server stopped (exit code {code})")
    overlays = sorted(out.glob("*_overlay.png"))
    print(overlays[-1] if overlays else out / "info.json")


if __name__ == "__main__":
    main()
