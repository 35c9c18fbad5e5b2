# Demo step 2: fine-tune on the (corrected) synthetic biodiversity set from step 1's weights.
base = "baseline.py"

name = "demo_step2_finetune"
output_dir = "runs/demo/step2_finetune"
optim = dict(lr=1e-3, warmup_epochs=0)
trainer = dict(max_epochs=6)
