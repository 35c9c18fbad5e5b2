# Demo distillation: the tiny student learns from the frozen demo baseline (KL at T=2, alpha 0.5).
#   landseg train -c config/demo/kd.py teacher.checkpoint=runs/demo/baseline/checkpoints/best.ckpt
# The pipeline passes teacher.checkpoint (the baseline stage's best checkpoint).
base = "baseline.py"

name = "demo_kd"
output_dir = "runs/demo/kd"
teacher = dict()   # checkpoint: from the command line or the pipeline
distill = dict(loss="kl", temperature=2.0, alpha=0.5)
trainer = dict(max_epochs=8)
