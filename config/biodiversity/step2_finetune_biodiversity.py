# Three-step training, step 2: fine-tune on the biodiversity set, starting from step 1's best weights.
# init_from is required and never named here (it is another stage's output): the pipeline passes it,
# by hand give it on the command line:
#   landseg train -c config/biodiversity/step2_finetune_biodiversity.py \
#       init_from=runs/biodiversity/step1_pretrain/run/checkpoints/best.ckpt
base = "ftunetformer-512-crop-ms-e45.py"

name = "step2_finetune_biodiversity"
required = ["init_from"]
