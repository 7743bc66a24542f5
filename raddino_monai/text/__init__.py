"""Small report-text models built here: tokenizers (byte-level BPE, WordPiece) trained with ``tokenizers``, a causal
LM (LLaMA / GPT-2) and a BERT encoder, pretrained on report text and saved as ordinary Hugging Face folders.

Report generation loads the causal LM like any local LM (``AutoModelForCausalLM.from_pretrained(folder)``); ConVIRT
and ECAMP load the BERT (``AutoModel.from_pretrained(folder)``). Entry points: :func:`raddino_monai.text.build.build_lm`
and :func:`raddino_monai.text.build.build_bert` (``python tools/report.py build_lm|build_bert``). Import the submodule
you need; this package file imports nothing.
"""
