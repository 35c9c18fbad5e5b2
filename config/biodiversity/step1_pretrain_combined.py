# Three-step training, step 1: pretrain on the combined set (biodiversity + remapped OpenEarthMap,
# settlement-heavy tiles filtered out), validating on the biodiversity validation split. The recipe is
# the baseline's; which data it reads is the pipeline's business (config/biodiversity/pipeline.yaml):
#   landseg train -c config/biodiversity/step1_pretrain_combined.py data.root=runs/biodiversity/combined \
#       data.train_split=Train data.val_root=runs/biodiversity/replace_masks/data
base = "ftunetformer-512-crop-ms-e45.py"

name = "step1_pretrain_combined"
