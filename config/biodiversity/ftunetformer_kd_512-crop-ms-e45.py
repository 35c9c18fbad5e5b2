# Knowledge distillation: the frozen baseline teaches a fresh FT-UNetFormer (same recipe otherwise).
#   total = (1 - alpha) * (CE + Dice) + alpha * T^2 * KL(teacher || student), KL over labelled pixels.
base = "ftunetformer-512-crop-ms-e45.py"

name = "ftunetformer_kd_512-crop-ms-e45"
teacher = dict(
    checkpoint="runs/ftunetformer-512-crop-ms-e45/checkpoints/best.ckpt",  # loaded strictly
    precision="bf16",   # the teacher only runs forward: bf16 autocast halves its cost on AMX/GPUs
)
distill = dict(loss="kl", temperature=4.0, alpha=0.5)   # or loss="dist" / "cwd"
