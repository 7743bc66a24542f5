"""python tools/make_sample_data.py /path/to/covid_chestxray [--out raddino_monai/sample_data] [--max_side 256]

Developer tool: regenerate the sample data embedded in the package (``raddino_monai/sample_data``) from a local copy
of the ieee8023 covid-chestxray-dataset (compact copy layout: ``images_index.csv``, ``images/<stem>.png`` and
``masks_lungs_v7labs/<stem>.png``; see the data README).

Only images whose per-image licence is exactly ``CC BY``, ``CC BY 3.0`` or ``CC BY 4.0`` are copied (no NC / SA
images). Images are downscaled to at most ``max_side`` pixels on the longest side with PIL LANCZOS, lung masks
with NEAREST to the same size and re-binarised to 0/255; both are written as 8-bit grey PNG. Written files:

* ``images/<stem>.png``, ``masks/<stem>.png``
* ``metadata.csv``: image, mask, patient_id, sex, age, view, view_group, finding, license, doi, url, orig_filename
* ``datalist.json``: decathlon datalist split by patient (70/10/20 %, seed 0, stratified by finding) with
  :func:`raddino_monai.data.splits.patient_split`
* ``ATTRIBUTION.md``: per-image credit and licence.

The free-text ``clinical_notes`` of the source metadata (CC BY-NC-SA 4.0) are never copied.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import fire
import numpy as np
from PIL import Image

from raddino_monai.data.splits import patient_split

ALLOWED_LICENSES = ("CC BY", "CC BY 3.0", "CC BY 4.0")
VIEW_GROUPS = {"PA": "PA", "AP": "AP", "AP Supine": "AP", "AP Erect": "AP", "L": "LATERAL", "Lateral": "LATERAL"}
METADATA_COLUMNS = (
    "image", "mask", "patient_id", "sex", "age", "view", "view_group", "finding", "license", "doi", "url",
    "orig_filename",
)  # fmt: skip
DATASET_CITATION = (
    "Joseph Paul Cohen, Paul Morrison, Lan Dao, Karsten Roth, Tim Q Duong, Marzyeh Ghassemi. "
    "COVID-19 Image Data Collection: Prospective Predictions Are the Future. arXiv:2006.11988, 2020. "
    "https://github.com/ieee8023/covid-chestxray-dataset"
)
MASK_CREDIT = (
    'Lung masks: V7 Labs "COVID-19 X-ray" lung annotations (https://github.com/v7labs/covid-19-xray-dataset), '
    "CC BY 4.0, as renamed to covid-chestxray-dataset file names in torchxrayvision 1.5.7 "
    "(torchxrayvision/data/semantic_masks_v7labs_lungs.zip); downscaled with nearest-neighbour interpolation."
)


def _resized(path: Path, max_side: int, resample: Image.Resampling) -> Image.Image:
    image = Image.open(path).convert("L")
    scale = max_side / max(image.size)
    if scale < 1.0:
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, resample)
    return image


def _record(row: dict[str, str], stem: str, has_mask: bool) -> dict[str, Any]:
    sex = row["sex"].strip().upper()
    age = row["age"].strip()
    view = row["view"].strip()
    return {
        "image": f"images/{stem}.png",
        "mask": f"masks/{stem}.png" if has_mask else None,
        "patient_id": row["patientid"].strip(),
        "sex": sex if sex in ("M", "F") else None,
        "age": float(age) if age and not math.isnan(float(age)) else None,
        "view": view or None,
        "view_group": VIEW_GROUPS.get(view),
        "finding": row["finding"].strip() or None,
        "license": row["license"].strip(),
        "doi": row["doi"].strip() or None,
        "url": row["url"].strip() or None,
        "orig_filename": row["filename"].strip(),
    }


def _attribution(records: list[dict[str, Any]]) -> str:
    lines = [
        "# Attribution of the embedded sample data",
        "",
        "The chest radiographs in `images/` come from the COVID-19 image data collection "
        "(ieee8023/covid-chestxray-dataset, snapshot of 2020-06-22). Please cite:",
        "",
        f"> {DATASET_CITATION}",
        "",
        "Only images whose per-image licence is CC BY, CC BY 3.0 or CC BY 4.0 were copied. They were converted to "
        "8-bit greyscale and downscaled (PIL LANCZOS); no other change was made. The licence of each image is "
        "the one stated by its source (link below); the package's Apache-2.0 licence does not apply to them.",
        "",
        MASK_CREDIT,
        "",
        "`metadata.csv` holds per-image facts (patient number within the collection, sex, age, view, finding) and "
        "the source of each image; the free-text clinical notes of the collection (CC BY-NC-SA 4.0) are not included.",
        "",
        "| image | licence | source DOI | source URL | original file |",
        "|---|---|---|---|---|",
    ]
    for r in records:
        doi = f"[{r['doi']}](https://doi.org/{r['doi']})" if r["doi"] else ""
        url = f"<{r['url']}>" if r["url"] else ""
        lines.append(f"| `{r['image']}` | {r['license']} | {doi} | {url} | `{r['orig_filename']}` |")
    return "\n".join(lines) + "\n"


def make_sample_data(source: str, out: str = "raddino_monai/sample_data", max_side: int = 256) -> dict[str, int]:
    """Write the embedded sample data (see module docstring) from ``source`` into ``out``.

    Args:
        source: folder with ``images_index.csv`` of the compact covid-chestxray-dataset copy.
        out: output folder; ``images/``, ``masks/`` and the three metadata files inside it are replaced.
        max_side: longest side of the written images in pixels.

    Returns:
        counts: ``images``, ``masks``, ``patients`` and ``bytes`` written.

    Raises:
        FileNotFoundError: if ``source/images_index.csv`` or a listed PNG is missing.
    """
    src, dst = Path(source), Path(out)
    index = src / "images_index.csv"
    if not index.is_file():
        raise FileNotFoundError(f"make_sample_data: expected {index} (compact covid-chestxray copy), not found.")
    with index.open(newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["license"].strip() in ALLOWED_LICENSES]
    for sub in ("images", "masks"):
        (dst / sub).mkdir(parents=True, exist_ok=True)
        for old in (dst / sub).glob("*.png"):
            old.unlink()
    records = []
    for row in sorted(rows, key=lambda r: Path(r["png"]).stem):
        stem = Path(row["png"]).stem
        image = _resized(src / row["png"], max_side, Image.Resampling.LANCZOS)
        image.save(dst / "images" / f"{stem}.png", optimize=True)
        has_mask = bool(row["lung_mask"].strip())
        if has_mask:
            mask = Image.open(src / row["lung_mask"]).convert("L").resize(image.size, Image.Resampling.NEAREST)
            binary = np.where(np.asarray(mask) > 127, 255, 0).astype(np.uint8)
            Image.fromarray(binary, mode="L").save(dst / "masks" / f"{stem}.png", optimize=True)
        records.append(_record(row, stem, has_mask))

    with (dst / "metadata.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=METADATA_COLUMNS)
        writer.writeheader()
        writer.writerows({k: ("" if r[k] is None else r[k]) for k in METADATA_COLUMNS} for r in records)

    items = []
    for r in records:
        item = {k: r[k] for k in ("image", "mask", "patient_id", "sex", "age", "view", "view_group", "finding")}
        item["label"] = r["finding"]
        items.append({k: v for k, v in item.items() if not (k == "mask" and v is None)})
    parts = patient_split(items, seed=0, patient_key="patient_id", stratify_key="finding")
    datalist = {
        "name": "raddino_monai sample: covid-chestxray-dataset CC BY subset",
        "description": "Patient-level split (patient_split seed 0, stratified by finding); see ATTRIBUTION.md.",
        **parts,
    }
    (dst / "datalist.json").write_text(json.dumps(datalist, indent=1) + "\n", encoding="utf-8")
    (dst / "ATTRIBUTION.md").write_text(_attribution(records), encoding="utf-8")
    written = sum(p.stat().st_size for p in dst.rglob("*") if p.is_file() and p.parent.name != "dicom")
    return {
        "images": len(records),
        "masks": sum(r["mask"] is not None for r in records),
        "patients": len({r["patient_id"] for r in records}),
        "bytes": written,
    }


if __name__ == "__main__":
    fire.Fire(make_sample_data)
