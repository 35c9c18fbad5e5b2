# Three-step training, step 1: pretrain on the combined set (biodiversity + remapped OpenEarthMap,
# settlement-heavy tiles filtered out), validating on the biodiversity validation split.
base = "ftunetformer-512-crop-ms-e45.py"

name = "step1_pretrain_combined"
data = dict(root="data/biodiversity_combined", train_split="Train", val_root="data/biodiversity")
