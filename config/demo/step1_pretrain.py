# Demo step 1: pretrain on the combined set (corrected synthetic + imported OEM-like tiles, settlement-
# heavy tiles filtered out). The pipeline passes data.root, data.train_split and data.val_root.
base = "baseline.py"

name = "demo_step1_pretrain"
output_dir = "runs/demo/step1_pretrain"
trainer = dict(max_epochs=8)
