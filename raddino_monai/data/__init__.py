"""Data: datalists, patient-level splits, datasets, SSL collate, sample data and synthetic radiographs.

Import the submodule you need, e.g. ``from raddino_monai.data.synthetic import make_synthetic_cxr``; this package
file deliberately imports nothing.
"""
