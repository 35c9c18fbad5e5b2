# Demo distillation: the tiny student learns from the demo teacher (KL at T=2, alpha 0.5).
base = "baseline.py"

name = "demo_kd"
output_dir = "runs/demo/kd"
teacher = dict(checkpoint="runs/demo/teacher/checkpoints/best.ckpt")
distill = dict(loss="kl", temperature=2.0, alpha=0.5)
trainer = dict(max_epochs=8)
