"""Output names: unique, traceable to the input (relative path or datalist id), collisions refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from raddino_monai.transforms import OutputNameError, output_name, output_names
from raddino_monai.transforms.output_names import OutputNameRegistry, strip_image_suffix

UID = "1.2.826.0.1.3680043.8.498.1"


def test_dicom_uid_names_keep_the_whole_uid():
    assert strip_image_suffix(f"{UID}.dcm") == UID and strip_image_suffix(UID) == UID  # no suffix: kept whole
    assert strip_image_suffix("a.NII.GZ") == "a" and strip_image_suffix(".png") == ".png"
    assert output_names([f"/d/{UID}.dcm", f"/d/{UID[:-1]}2.dcm"]) == [UID, UID[:-1] + "2"]


def test_equal_names_in_different_folders_mirror_the_relative_path(tmp_path):
    paths = [tmp_path / "a" / f"{UID}.dcm", tmp_path / "b" / f"{UID}.dcm", tmp_path / "a" / "x" / "c.png"]
    assert output_names(paths) == [f"a/{UID}", f"b/{UID}", "a/x/c"]
    assert output_names([paths[0], paths[2]], base_dir=tmp_path / "a") == [UID, "x/c"]
    assert output_names(paths[:1]) == [UID]  # a single input keeps its file name


def test_collisions_are_listed_and_ids_win(tmp_path):
    with pytest.raises(OutputNameError, match=r"2 output name collision.*b\.png and .*b\.dcm -> 'b'.*A\.png and .*a\.png"):
        output_names([tmp_path / "b.dcm", tmp_path / "b.png", tmp_path / "a.png", tmp_path / "A.png"])
    assert output_names([tmp_path / "b.dcm", tmp_path / "b.png"], ids=["p1/s1", "p1/s2"]) == ["p1/s1", "p1/s2"]
    for bad in ("../escape", "/abs", ""):
        with pytest.raises(OutputNameError, match="relative path"):
            output_name(tmp_path / "x.png", image_id=bad)
    with pytest.raises(OutputNameError, match="one id per path"):
        output_names([tmp_path / "x.png"], ids=[])
    assert output_name("/elsewhere/x.png", base_dir=tmp_path) == "x"  # outside the base: the file name
    registry = OutputNameRegistry()
    assert registry.require("n", "s1") == "n" and registry.claim("n", "s1") is None
    with pytest.raises(OutputNameError, match="s2 and s1 would both be written as 'N'"):
        registry.require("N", "s2")


def test_save_maskd_mirrors_data_root_dir_and_refuses_collisions(tmp_path):
    from raddino_monai.transforms.masks import SaveMaskd

    def item(path):
        pred = MetaTensor(torch.zeros(1, 4, 4))
        pred.meta["filename_or_obj"] = str(path)
        return {"pred": pred}

    root = tmp_path / "data"
    saver = SaveMaskd("pred", output_dir=tmp_path / "out", data_root_dir=root)
    for folder in ("a", "b"):
        saver(item(root / folder / f"{UID}.dcm"))
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.png")) == [
        f"a/{UID}_seg.png", f"b/{UID}_seg.png"]
    flat = SaveMaskd("pred", output_dir=tmp_path / "flat")  # no data_root_dir: file names only
    flat(item(root / "a" / f"{UID}.dcm"))
    flat(item(root / "a" / f"{UID}.dcm"))  # the same source again (a rerun of one image) is fine
    with pytest.raises(OutputNameError, match=f"b/{UID}.dcm and .*a/{UID}.dcm would both be written as '{UID}'"):
        flat(item(root / "b" / f"{UID}.dcm"))
    assert np.asarray(list((tmp_path / "flat").glob("*.png"))).size == 1
