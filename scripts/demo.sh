#!/usr/bin/env bash
# README command 1: install, then run the main job on the embedded sample data (CPU, a few minutes):
#   1. SSL-pretrain a tiny ViT with the RAD-DINO recipe through the MONAI bundle (bundles/raddino, CPU overlay);
#   2. evaluate the exported teacher against the same architecture at random init on frozen features
#      (metadata probes for sex and view, a linear probe of the view), printing one table. Two epochs on 100 images
#      are a smoke run, so expect numbers close to random init; docs/ssl_evidence.md has a real comparison.
# Outputs: runs/raddino_cpu_smoke/ (checkpoints, TensorBoard, teacher_hf/ HF folder) and runs/demo/ (probe tables).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh test,dicom
py=.venv/bin/python

$py -m monai.bundle run \
    --config_file "['bundles/raddino/configs/train.json','bundles/raddino/configs/cpu_smoke.json']"

# Frozen-feature evaluation of the SSL teacher vs the same architecture at random init, in one table:
# metadata probes (sex, view; 5-fold CV grouped by patient) and a linear probe of the view (AUPRC).
$py tools/evaluate.py \
    --encoders "['tiny_vit_p16:runs/raddino_cpu_smoke/teacher_hf','tiny_vit_p16']" \
    --tasks "['metadata_probe','linear_probe']" \
    --metadata_probe "{'attributes': ['sex', 'view_group'], 'image_size': 112}" \
    --linear_probe "{'task': 'multiclass', 'label_key': 'view_group', 'image_size': 112, 'augment': False, 'epochs': 50, 'base_lr': 0.001, 'seeds': [0, 1, 2], 'label_fractions': [1.0]}" \
    --output_dir runs/demo/evaluation
