# Demo step 2: fine-tune on the (corrected) synthetic biodiversity set from step 1's weights.
#   landseg train -c config/demo/step2_finetune.py init_from=runs/demo/step1_pretrain/run/checkpoints/best.ckpt
# The pipeline passes data.root (the corrected snapshot) and init_from (step 1's best checkpoint).
base = "baseline.py"

name = "demo_step2_finetune"
output_dir = "runs/demo/step2_finetune"
required = ["init_from"]
optim = dict(lr=1e-3, warmup_epochs=0)
trainer = dict(max_epochs=6)
