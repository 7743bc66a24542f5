"""RadGraph F1 (Delbrouck et al., EMNLP Findings 2022) from a local RadGraph model folder.

RadGraph annotates entities (observation / anatomy, definitely present / absent / uncertain) and relations with a
DyGIE++ model; ``radgraph`` (PyPI, MIT; Stanford-AIMI/radgraph) implements it on a vendored AllenNLP. Re-writing that
model here would be a second implementation of a large dependency, so this adapter drives the ``radgraph`` package
with a model folder the user already has, and never lets it download: ``radgraph.RadGraph`` only fetches
``StanfordAIMI/RRG_scorers/<model_type>.tar.gz`` when ``<model_cache_dir>/<model_type>/`` is missing or empty
(``radgraph/radgraph.py``), so the adapter points ``model_cache_dir`` at a folder whose ``<model_type>`` entry is the
user's extracted archive (``config.json``, ``weights.th``, ``vocabulary/``). The archive's ``config.json`` names the
BERT its embedder uses (``model.embedder.token_embedders.bert.model_name``); that model must be in the local Hugging
Face cache too (``HF_HUB_OFFLINE=1``).

The three rewards per report are radgraph's ``F1RadGraph(reward_level="all")``: RG_E (entities), RG_ER (entities
whose relation existence matches; the one most papers report) and RG_ER-bar (entities and relations). A report pair
with an empty side scores 0 (radgraph's convention).

Example::

    >>> scorer = RadGraphF1("/models/radgraph-xl", model_type="radgraph-xl")
    >>> scorer(["No effusion."], ["No pleural effusion."])     # (1, 3): RG_E, RG_ER, RG_ER-bar in [0, 1]
"""

from __future__ import annotations

import importlib
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["RADGRAPH_MODEL_TYPES", "RADGRAPH_REWARDS", "RadGraphUnavailable", "check_radgraph_folder", "RadGraphF1"]

#: model types the radgraph package knows (``MODEL_MAPPING`` of radgraph 0.1.18)
RADGRAPH_MODEL_TYPES: tuple[str, ...] = ("radgraph", "radgraph-xl", "modern-radgraph-xl")
#: the rewards, in radgraph's "all" order
RADGRAPH_REWARDS: tuple[str, ...] = ("rg_e", "rg_er", "rg_er_bar")
_REQUIRED = ("config.json", "weights.th", "vocabulary")


class RadGraphUnavailable(RuntimeError):
    """RadGraph F1 cannot be computed here (the ``radgraph`` package is not installed); the message says why."""


def check_radgraph_folder(model_dir: str | os.PathLike[str]) -> Path:
    """Check an extracted RadGraph archive.

    Args:
        model_dir: folder with ``config.json``, ``weights.th`` and ``vocabulary/``.

    Returns:
        the folder (absolute).

    Raises:
        FileNotFoundError: the folder or one of its entries is missing (all missing entries listed).
    """
    folder = Path(model_dir).expanduser().resolve()
    if not folder.is_dir():
        raise FileNotFoundError(f"RadGraph model folder {folder} does not exist (extract radgraph-xl.tar.gz there).")
    missing = [name for name in _REQUIRED if not (folder / name).exists()]
    if missing:
        raise FileNotFoundError(f"RadGraph model folder {folder} lacks {missing}; expected the extracted archive "
                                f"with {list(_REQUIRED)}.")  # fmt: skip
    return folder


class RadGraphF1:
    """Per-report RadGraph rewards from a local model folder through the ``radgraph`` package.

    Args:
        model_dir: extracted archive (:func:`check_radgraph_folder`).
        model_type: one of :data:`RADGRAPH_MODEL_TYPES` (must match the archive).
        device: ``"cpu"`` or ``"cuda[:i]"``.

    Raises:
        ValueError: unknown ``model_type`` (valid values listed).
        FileNotFoundError: incomplete model folder.
        RadGraphUnavailable: the ``radgraph`` package is not installed.
    """

    def __init__(self, model_dir: str | os.PathLike[str], model_type: str = "radgraph-xl", device: str = "cpu") -> None:
        if model_type not in RADGRAPH_MODEL_TYPES:
            raise ValueError(f"model_type={model_type!r} is not valid; valid values are {list(RADGRAPH_MODEL_TYPES)}.")
        self.model_dir = check_radgraph_folder(model_dir)
        try:
            radgraph = importlib.import_module("radgraph")
        except ImportError as err:
            raise RadGraphUnavailable(
                "the radgraph package is not installed (pip install radgraph==0.1.18 in an environment where its "
                "dependencies fit; it is not part of raddino_monai's extras)"
            ) from err
        config = json.loads((self.model_dir / "config.json").read_text())
        self.embedder = config.get("model", {}).get("embedder", {}).get("token_embedders", {}).get("bert", {}).get(
            "model_name", "")
        # radgraph loads <model_cache_dir>/<model_type>/ and downloads only when that folder is missing or empty
        self._cache = tempfile.TemporaryDirectory(prefix="radgraph_")
        (Path(self._cache.name) / model_type).symlink_to(self.model_dir, target_is_directory=True)
        cuda = -1 if str(device) == "cpu" else int(str(device).partition(":")[2] or 0)
        self._scorer: Any = radgraph.F1RadGraph(
            reward_level="all", model_type=model_type, model_cache_dir=self._cache.name, cuda=cuda
        )

    def __call__(self, predictions: Sequence[str], references: Sequence[str]) -> np.ndarray:
        """Rewards of each prediction against its reference.

        Returns:
            ``(N, 3)`` array (RG_E, RG_ER, RG_ER-bar) in [0, 1].

        Raises:
            ValueError: lengths differ.
        """
        if len(predictions) != len(references):
            raise ValueError(f"need one reference per prediction, found {len(predictions)} and {len(references)}.")
        _, rewards, _, _ = self._scorer(refs=list(references), hyps=list(predictions))
        return np.stack([np.asarray(r, dtype=float) for r in rewards], axis=1).reshape(len(predictions), 3)
