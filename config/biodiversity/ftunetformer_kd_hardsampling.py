# Three-step training, step 3: distillation from the step-2 model with hard-sample oversampling.
#   landseg hard-samples --checkpoint runs/step2_finetune_biodiversity/checkpoints/best.ckpt \
#       --data data/biodiversity --split Train/Rural --out runs/hard_samples
base = "ftunetformer_kd_512-crop-ms-e45.py"

name = "ftunetformer_kd_hardsampling"
init_from = "runs/step2_finetune_biodiversity/checkpoints/best.ckpt"
teacher = dict(checkpoint="runs/step2_finetune_biodiversity/checkpoints/best.ckpt")
# Each tile is shown floor(w) times plus once more with probability w - floor(w), reshuffled every
# epoch, so an epoch really holds sum(weights) samples (printed at start).
sampling = dict(weights="runs/hard_samples/sample_weights.tsv", mode="repeat", epoch_size="sum_of_weights")
