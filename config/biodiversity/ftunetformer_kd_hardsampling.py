# Three-step training, step 3: distillation from the step-2 model with hard-sample oversampling.
# teacher.checkpoint, init_from (both step 2's best checkpoint) and sampling.weights (hard-samples'
# sample_weights.tsv) are other stages' outputs: the pipeline passes them; by hand:
#   landseg hard-samples --checkpoint STEP2.ckpt --data data/biodiversity --split Train/Rural --out runs/hard_samples
#   landseg train -c config/biodiversity/ftunetformer_kd_hardsampling.py teacher.checkpoint=STEP2.ckpt \
#       init_from=STEP2.ckpt sampling.weights=runs/hard_samples/sample_weights.tsv
base = "ftunetformer_kd_512-crop-ms-e45.py"

name = "ftunetformer_kd_hardsampling"
required = ["init_from"]
# Each tile is shown floor(w) times plus once more with probability w - floor(w), reshuffled every
# epoch, so an epoch really holds sum(weights) samples (printed at start).
sampling = dict(mode="repeat", epoch_size="sum_of_weights")
