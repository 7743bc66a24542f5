"""A trained ConVIRT run as retrieval embedders: the rebuilt towers equal the trained ones, embeddings do not depend
on batching or padding, text <-> image Precision@k equals a NumPy re-derivation, the comparison adapter and
``tools/retrieval.py --convirt_run`` hand the embedders on, and bad inputs say what is wrong."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from raddino_monai.data.sample_data import load_sample_datalist
from raddino_monai.data.sample_reports import with_metadata_reports
from raddino_monai.evaluation.retrieval_run import RetrievalConfig
from raddino_monai.experiments.convirt_embedders import (
    convirt_embedders,
    convirt_retrieval_job,
    load_convirt_run,
    text_items,
)
from raddino_monai.experiments.convirt_pretrain import build_convirt_trainer
from raddino_monai.experiments.pretraining_methods import PretrainedEncoder, load_pretrained, save_pretrained
from raddino_monai.models.convirt import tokenize_texts
from raddino_monai.ssl.convirt import ConVIRTConfig
from raddino_monai.text.build import random_bert
from raddino_monai.transforms import LoadCXRd
from raddino_monai.transforms.convirt_augment import convirt_eval_transforms

REPO = Path(__file__).resolve().parents[2]
TINY_BERT = {"hidden_size": 16, "num_layers": 3, "num_heads": 2, "intermediate_size": 32,
             "max_position_embeddings": 64}
REPORTS = {"No Finding": "Lungs are clear. No effusion.", "Effusion": "Small left pleural effusion is seen."}


@pytest.fixture(scope="module")
def items() -> list[dict]:
    found = with_metadata_reports(load_sample_datalist("training"))[:12]
    return [{**it, "report": REPORTS.get(it["label"], it["report"])} for it in found]


@pytest.fixture(scope="module")
def run(items: list[dict], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, torch.nn.Module]:
    root = tmp_path_factory.mktemp("convirt")
    bert = random_bert([i["report"] for i in items], root / "bert", model=TINY_BERT)
    config = ConVIRTConfig.from_recipe("tiny", model={"text_encoder": str(bert)}, augment={"size": 32})
    trainer = build_convirt_trainer(config, items, root / "run", max_iters=2, log_interval=1)
    trainer.run()
    return root / "run", trainer.model


def test_loaded_run_equals_the_trained_towers(run) -> None:
    folder, trained = run
    loaded = load_convirt_run(folder)
    assert loaded.iteration == 2 and loaded.checkpoint.parent == folder / "checkpoints"
    assert not loaded.model.training
    state = trained.model.state_dict()
    assert set(loaded.model.state_dict()) == set(state)
    for key, value in loaded.model.state_dict().items():
        assert torch.equal(value, state[key]), key


def test_embeddings_are_the_projected_towers_and_batch_independent(run, items) -> None:
    folder, trained = run
    loaded = load_convirt_run(folder)
    embed = convirt_embedders(loaded, batch_size=2)
    images, texts = embed["image"](items[:3]), embed["text"]([{"text": "Clear lungs."}, {"text": REPORTS["Effusion"]}])
    assert images.shape == (3, loaded.config.model.projection_dim) and images.dtype == np.float32
    transform = convirt_eval_transforms("image", loaded.config.augment)
    x = torch.stack([transform(LoadCXRd("image")({"image": it["image"]}))["image"] for it in items[:3]])
    with torch.no_grad():
        trained.eval()
        np.testing.assert_allclose(images, trained.model.embed_image(x).numpy(), rtol=1e-5, atol=1e-6)
        alone = tokenize_texts(loaded.tokenizer, ["Clear lungs."])  # unpadded: padding must not change u
        u = trained.model.embed_text(alone["input_ids"], alone["attention_mask"], alone.get("token_type_ids"))
    np.testing.assert_allclose(texts[0], u[0].numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(embed["image"](items[:3]), images)  # deterministic: no random step


def _precision(queries: np.ndarray, candidates: np.ndarray, hit: np.ndarray, allowed: np.ndarray, k: int) -> float:
    """Independent Precision@k: cosine ranking (stable on ties), candidates of the query's patient left out."""
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    c = candidates / np.linalg.norm(candidates, axis=1, keepdims=True)
    sims = q @ c.T
    values = []
    for i in range(len(q)):
        order = [j for j in np.argsort(-sims[i], kind="stable") if allowed[i, j]][:k]
        values.append(hit[i, order].mean())
    return float(np.mean(values))


def test_text_image_retrieval_matches_a_numpy_derivation(run, items, tmp_path: Path) -> None:
    folder, _ = run
    datalist = tmp_path / "datalist.json"
    datalist.write_text(json.dumps({"training": items}))
    config = RetrievalConfig(ks=(1, 3), batch_size=4)
    result = convirt_retrieval_job(folder, tmp_path / "out", config, datalist=datalist)
    assert {r["setting"] for r in result["records"]} == {"text_to_image", "image_to_text"}
    assert (tmp_path / "out" / "results.csv").is_file() and (tmp_path / "out" / "per_class.csv").is_file()
    assert json.loads((tmp_path / "out" / "config.json").read_text())["iteration"] == 2

    embed = convirt_embedders(load_convirt_run(folder))
    v, u = embed["image"](items), embed["text"](text_items(items))
    labels = np.array([it["label"] for it in items])
    patients = np.array([it["patient_id"] for it in items])
    hit = labels[:, None] == labels[None, :]
    allowed = patients[:, None] != patients[None, :]
    for k in (1, 3):
        got = result["results"]["text_to_image"]["precision"][k]
        assert got == pytest.approx(_precision(u, v, hit, allowed, k), abs=1e-6)
        got = result["results"]["image_to_text"]["precision"][k]
        assert got == pytest.approx(_precision(v, u, hit, allowed, k), abs=1e-6)


def test_the_comparison_adapter_gets_the_embedders_back(run, tmp_path: Path) -> None:
    folder, _ = run
    save_pretrained(PretrainedEncoder("tiny_vit_p16:x", {"iterations": 2.0}), folder / "encoder.json")
    try:
        embedders = load_pretrained(folder / "encoder.json").embedders  # loaded at the first call, not here
        assert set(embedders) == {"image", "text"}
        expected = convirt_embedders(load_convirt_run(folder))["text"]([{"text": "Clear lungs."}])
        np.testing.assert_allclose(embedders["text"]([{"text": "Clear lungs."}]), expected, rtol=1e-6)
    finally:
        (folder / "encoder.json").unlink()
    save_pretrained(PretrainedEncoder("tiny_vit_p16:x"), tmp_path / "encoder.json")
    assert load_pretrained(tmp_path / "encoder.json").embedders == {}


def test_bad_inputs_say_what_is_wrong(run, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="convirt_config.json not found"):
        load_convirt_run(tmp_path)
    (tmp_path / "convirt_config.json").write_text((run[0] / "convirt_config.json").read_text())
    with pytest.raises(FileNotFoundError, match="no readable checkpoint"):
        load_convirt_run(tmp_path)
    embed = convirt_embedders(load_convirt_run(run[0]))
    with pytest.raises(KeyError, match="item lacks 'text'"):
        embed["text"]([{"report": "x"}])


@pytest.mark.slow
def test_retrieval_tool_runs_a_convirt_run(run, items, tmp_path: Path) -> None:
    import subprocess
    import sys

    datalist = tmp_path / "datalist.json"
    datalist.write_text(json.dumps({"training": items}))
    cmd = [sys.executable, str(REPO / "tools/retrieval.py"), "--convirt_run", str(run[0]), "--datalist",
           str(datalist), "--output_dir", str(tmp_path / "out"), "--ks", "[1,3]"]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "text_to_image" in done.stdout and "image_to_text" in done.stdout
    both = subprocess.run(cmd + ["--encoder", "tiny_vit_p16"], capture_output=True, text=True, cwd=REPO)
    assert both.returncode != 0 and "exactly one of --encoder" in both.stderr
