# Knowledge distillation: the frozen baseline teaches a fresh FT-UNetFormer (same recipe otherwise).
#   total = (1 - alpha) * (CE + Dice) + alpha * T^2 * KL(teacher || student), KL over labelled pixels.
# The teacher checkpoint is another stage's output: the pipeline passes it; by hand:
#   landseg train -c config/biodiversity/ftunetformer_kd_512-crop-ms-e45.py \
#       teacher.checkpoint=runs/biodiversity/baseline/run/checkpoints/best.ckpt
base = "ftunetformer-512-crop-ms-e45.py"

name = "ftunetformer_kd_512-crop-ms-e45"
teacher = dict(
    # checkpoint: required (loaded strictly), from the command line or the pipeline.
    # precision "auto" (default): the frozen teacher's forward runs in bf16 where the CPU (AMX/AVX512-BF16)
    # or GPU has it natively, else fp32 — never emulated bf16.
)
distill = dict(loss="kl", temperature=4.0, alpha=0.5)   # or loss="dist" / "cwd"
