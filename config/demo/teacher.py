# Demo teacher: a larger FT-UNetFormer (ftunetformer_small) on the synthetic benchmark.
base = "baseline.py"

name = "demo_teacher"
output_dir = "runs/demo/teacher"
model = dict(name="ftunetformer_small")
