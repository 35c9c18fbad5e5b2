# Demo step 3: distillation from step 2 with hard-sample oversampling (weights from hard-samples).
base = "kd.py"

name = "demo_step3_kd_hard"
output_dir = "runs/demo/step3_kd_hard"
sampling = dict(weights="runs/demo/hard_samples/out/sample_weights.tsv", mode="repeat", epoch_size="sum_of_weights")
optim = dict(lr=1e-3, warmup_epochs=0)
trainer = dict(max_epochs=5)
