# Demo step 3: distillation from step 2 with hard-sample oversampling.
# The pipeline passes data.root, teacher.checkpoint, init_from (step 2) and sampling.weights (hard_samples).
base = "kd.py"

name = "demo_step3_kd_hard"
output_dir = "runs/demo/step3_kd_hard"
required = ["init_from"]
sampling = dict(mode="repeat", epoch_size="sum_of_weights")   # weights: from the command line or the pipeline
optim = dict(lr=1e-3, warmup_epochs=0)
trainer = dict(max_epochs=5)
