# Three-step training, step 2: fine-tune on the biodiversity set, starting from step 1's best weights.
base = "ftunetformer-512-crop-ms-e45.py"

name = "step2_finetune_biodiversity"
init_from = "runs/step1_pretrain_combined/checkpoints/best.ckpt"
