# Demo baseline: a tiny FT-UNetFormer (1.4M params) on the embedded synthetic benchmark, on CPU.
#   landseg synth runs/demo/data --tiles 160 --size 256 --label-noise 0.3
#   landseg train -c config/demo/baseline.py
# Under the demo profile (config/demo/profile.yaml) the pipeline passes data.root itself.
base = "../biodiversity/ftunetformer-512-crop-ms-e45.py"

name = "demo_baseline"
output_dir = "runs/demo/baseline"
model = dict(name="ftunetformer_tiny")
data = dict(root="runs/demo/data", crop_size=256, batch_size=8, val_batch_size=8)
optim = dict(lr=2e-3, weight_decay=0.01, warmup_epochs=1)
# precision, threads and loader workers are left to the defaults: "auto" precision (bf16 only where
# the CPU/GPU computes it natively, else fp32), every available core, half of them as loader workers.
trainer = dict(max_epochs=10, log_images=2)
