"""ConVIRTLoss against an independent NumPy derivation, finite differences and a 2-process gloo DDP run."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from reference import dist_convirt_worker as worker
from reference import numpy_convirt

import raddino_monai
from raddino_monai.losses import ConVIRTLoss

WORKER = Path(worker.__file__)


def _pairs(n: int = 6, d: int = 5, seed: int = 0, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=dtype), torch.randn(n, d, generator=g, dtype=dtype)


@pytest.mark.parametrize("temperature", [0.1, 0.5, 1.0])
@pytest.mark.parametrize("weight", [0.0, 0.3, 0.75, 1.0])
def test_matches_numpy_derivation(temperature: float, weight: float) -> None:
    v, u = _pairs(seed=int(temperature * 10 + weight * 100))
    terms = ConVIRTLoss(temperature=temperature, image_to_text_weight=weight).terms(v, u)
    expected = numpy_convirt.convirt_loss(v.double().numpy(), u.double().numpy(), temperature, weight)
    for key, value in expected.items():
        assert terms[key].item() == pytest.approx(value, rel=1e-5, abs=1e-6), key


def test_defaults_are_the_paper_values() -> None:
    loss = ConVIRTLoss()
    assert (loss.temperature, loss.image_to_text_weight) == (0.1, 0.75)


def test_weight_selects_each_direction() -> None:
    v, u = _pairs()
    i2t = numpy_convirt.direction_losses(v.double().numpy(), u.double().numpy(), 0.1).mean()
    t2i = numpy_convirt.direction_losses(u.double().numpy(), v.double().numpy(), 0.1).mean()
    assert ConVIRTLoss(image_to_text_weight=1.0)(v, u).item() == pytest.approx(i2t, rel=1e-5)
    assert ConVIRTLoss(image_to_text_weight=0.0)(v, u).item() == pytest.approx(t2i, rel=1e-5)
    assert not math.isclose(i2t, t2i, rel_tol=1e-3)  # the two directions really differ on this batch


def test_symmetry() -> None:
    v, u = _pairs(seed=3)
    half = ConVIRTLoss(image_to_text_weight=0.5)
    torch.testing.assert_close(half(v, u), half(u, v))
    torch.testing.assert_close(ConVIRTLoss(image_to_text_weight=0.75)(v, u), ConVIRTLoss(image_to_text_weight=0.25)(u, v))
    assert not torch.allclose(ConVIRTLoss()(v, u), ConVIRTLoss()(u, v))


def test_cosine_similarity_is_scale_invariant() -> None:
    v, u = _pairs(seed=4)
    loss = ConVIRTLoss()
    torch.testing.assert_close(loss(v, u), loss(3.0 * v, 0.2 * u))


def test_known_values() -> None:
    # identical embeddings for all rows: every logit equal -> log(N) in both directions
    same = torch.ones(5, 4)
    assert ConVIRTLoss()(same, same).item() == pytest.approx(math.log(5), rel=1e-6)
    # orthonormal pairs: positive logit 1/tau, negatives 0 -> log(1 + (N - 1) exp(-1/tau))
    eye = torch.eye(4, dtype=torch.float64)  # float64: the loss is ~1e-4, below float32 cancellation noise
    expected = math.log(1 + 3 * math.exp(-1 / 0.1))
    terms = ConVIRTLoss().terms(eye, eye)
    assert terms["loss"].item() == pytest.approx(expected, rel=1e-5)
    assert terms["accuracy_image_to_text"].item() == terms["accuracy_text_to_image"].item() == 1.0


def test_in_batch_accuracy() -> None:
    images = torch.eye(3)
    texts = torch.eye(3)[[0, 2, 1]]  # rows 1 and 2 swapped: only pair 0 is retrieved correctly
    terms = ConVIRTLoss().terms(images, texts)
    assert terms["accuracy_image_to_text"].item() == pytest.approx(1 / 3)
    assert terms["accuracy_text_to_image"].item() == pytest.approx(1 / 3)


def test_gradients_match_finite_differences() -> None:
    v, u = _pairs(n=5, d=4, seed=5, dtype=torch.float64)
    loss = ConVIRTLoss(temperature=0.2, image_to_text_weight=0.75)
    assert torch.autograd.gradcheck(loss, (v.requires_grad_(), u.requires_grad_()), eps=1e-6, atol=1e-6)


def test_gradients_match_autograd_of_reference_expression() -> None:
    v, u = _pairs(n=6, d=3, seed=6, dtype=torch.float64)
    v1, u1 = v.clone().requires_grad_(), u.clone().requires_grad_()
    ConVIRTLoss(temperature=0.1, image_to_text_weight=0.75)(v1, u1).backward()
    # the NumPy formula written with torch ops, term by term
    v2, u2 = v.clone().requires_grad_(), u.clone().requires_grad_()
    vn, un = v2 / v2.norm(dim=1, keepdim=True), u2 / u2.norm(dim=1, keepdim=True)
    sims = vn @ un.t() / 0.1
    i2t = -(torch.diag(sims) - torch.logsumexp(sims, dim=1))
    t2i = -(torch.diag(sims) - torch.logsumexp(sims, dim=0))
    (0.75 * i2t + 0.25 * t2i).mean().backward()
    torch.testing.assert_close(v1.grad, v2.grad)
    torch.testing.assert_close(u1.grad, u2.grad)


def test_half_precision_inputs_computed_in_float32() -> None:
    v, u = _pairs(seed=7)
    out = ConVIRTLoss()(v.to(torch.bfloat16), u.to(torch.bfloat16))
    assert out.dtype == torch.float32
    assert out.item() == pytest.approx(ConVIRTLoss()(v, u).item(), rel=2e-2)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"temperature": 0.0}, "temperature must be > 0"), ({"image_to_text_weight": 1.5}, r"in \[0, 1\]")],
)
def test_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ConVIRTLoss(**kwargs)


@pytest.mark.parametrize(
    ("v", "u", "match"),
    [
        (torch.zeros(4, 3), torch.zeros(5, 3), "same shape"),
        (torch.zeros(4, 3), torch.zeros(4, 2), "same shape"),
        (torch.zeros(4), torch.zeros(4), r"\(B, D\)"),
        (torch.zeros(0, 3), torch.zeros(0, 3), "empty batch"),
    ],
)
def test_bad_inputs(v: torch.Tensor, u: torch.Tensor, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ConVIRTLoss()(v, u)


def _single_process() -> dict:
    images, texts = worker.global_batch()
    images.requires_grad_(True)
    texts.requires_grad_(True)
    model = worker.make_model()
    loss_fn = ConVIRTLoss(temperature=worker.TEMPERATURE, image_to_text_weight=worker.WEIGHT)
    terms = loss_fn.terms(*model(images, texts))
    terms["loss"].backward()
    expected = numpy_convirt.convirt_loss(
        *(t.detach().double().numpy() for t in model(images, texts)), worker.TEMPERATURE, worker.WEIGHT
    )
    assert terms["loss"].item() == pytest.approx(expected["loss"], rel=1e-5)
    return {"loss": terms["loss"].item(), "grads": {k: p.grad for k, p in model.named_parameters()},
            "input_grads": (images.grad, texts.grad)}


def test_two_process_gloo_matches_single_process(tmp_path: Path) -> None:
    repo_root = str(Path(raddino_monai.__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([repo_root, os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    init_file = tmp_path / "store"
    procs = [
        subprocess.Popen([sys.executable, str(WORKER), str(rank), "2", str(init_file), str(tmp_path)], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for rank in range(2)
    ]
    logs = [p.communicate(timeout=240)[0].decode(errors="replace") for p in procs]
    assert [p.returncode for p in procs] == [0, 0], "\n".join(logs)[-4000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    reference = _single_process()
    for name, counts in worker.SPLITS.items():
        per_rank = [r[name] for r in ranks]
        # DDP averages the per-rank losses' gradients: the mean of the local losses is the global loss
        mean_loss = sum(r["terms"]["loss"].item() for r in per_rank) / 2
        assert mean_loss == pytest.approx(reference["loss"], rel=1e-5), name
        for key, grad in reference["grads"].items():
            torch.testing.assert_close(per_rank[0]["grads"][key], per_rank[1]["grads"][key], msg=name)
            torch.testing.assert_close(per_rank[0]["grads"][key], grad, rtol=1e-5, atol=1e-6, msg=f"{name} {key}")
        # input rows: each rank's gradient is world_size x the single-process gradient of its rows
        start = 0
        for rank, n in enumerate(counts):
            for got, want in zip(per_rank[rank]["input_grads"], reference["input_grads"]):
                torch.testing.assert_close(got / 2, want[start : start + n], rtol=1e-5, atol=1e-6)
            start += n
        # negative control: negatives gathered without gradient give different parameter gradients
        control = per_rank[0]["no_grad_gather_grads"]
        assert any(not torch.allclose(control[k], g, rtol=1e-3, atol=1e-5) for k, g in reference["grads"].items())
