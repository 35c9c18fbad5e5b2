# Demo step 1: pretrain on the combined set (corrected synthetic + imported OEM-like tiles, settlement-
# heavy tiles filtered out); the pipeline points data.root/val_root at the stage outputs.
base = "baseline.py"

name = "demo_step1_pretrain"
output_dir = "runs/demo/step1_pretrain"
data = dict(train_split="Train", val_split="Val/Rural")
trainer = dict(max_epochs=8)
