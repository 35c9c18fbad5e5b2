# Knowledge distillation: the frozen baseline teaches a fresh FT-UNetFormer (same recipe otherwise).
#   total = (1 - alpha) * (CE + Dice) + alpha * T^2 * KL(teacher || student), KL over labelled pixels.
base = "ftunetformer-512-crop-ms-e45.py"

name = "ftunetformer_kd_512-crop-ms-e45"
teacher = dict(
    checkpoint="runs/ftunetformer-512-crop-ms-e45/checkpoints/best.ckpt",  # loaded strictly
    # precision "auto" (default): the frozen teacher's forward runs in bf16 where the CPU (AMX/AVX512-BF16)
    # or GPU has it natively, else fp32 — never emulated bf16.
)
distill = dict(loss="kl", temperature=4.0, alpha=0.5)   # or loss="dist" / "cwd"
