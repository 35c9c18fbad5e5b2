# Stage 1 baseline: GeoSeg FT-UNetFormer (Swin-B) on the biodiversity set (LoveDA layout).
#   landseg train -c config/biodiversity/ftunetformer-512-crop-ms-e45.py data.root=/path/to/biodiversity
# Every later stage's config names this one as `base` and states only what differs.

name = "ftunetformer-512-crop-ms-e45"

# Class table: index = value stored in the mask PNGs. `count_in_means: False` drops a class from
# mIoU/mF1 (reports always show both variants).
classes = [
    {"name": "Background", "color": [0, 0, 0], "count_in_means": False},  # reported, not in the headline mean
    {"name": "Forest Land", "color": [34, 139, 34]},
    {"name": "Grassland", "color": [144, 238, 144]},
    {"name": "Cropland", "color": [255, 215, 0]},
    {"name": "Settlement", "color": [220, 20, 60]},
    {"name": "SemiNatural Grassland", "color": [160, 82, 45]},
]
ignore_index = 255

model = dict(
    name="ftunetformer",          # GeoSeg ft_unetformer defaults: Swin-B, decoder 256, window 8, dropout 0.2
    pretrained=None,              # e.g. "pretrain_weights/stseg_base.pth" (a local file; never downloaded)
)

data = dict(
    root="data/biodiversity",
    train_split="Train/Rural",
    val_split="Val/Rural",
    test_split="Test/Rural",
    crop_size=512,                # multi-scale (0.75-1.5) random 512 crop, flips, rotate90
    scale_range=(0.75, 1.5),
    batch_size=8,
    val_batch_size=4,
)

optim = dict(lr=6e-5, weight_decay=0.01, scheduler="cosine", min_lr=1e-6)
loss = dict(label_smoothing=0.05, dice_smooth=0.05)
# precision "auto" (default): bf16-mixed where the hardware computes bf16 natively (AMX / AVX512-BF16
# CPUs, GPUs of compute capability >= 8.0), fp16-mixed on older GPUs, fp32 elsewhere.
# GPU example (explicit): trainer=dict(accelerator="gpu", devices=4, strategy="ddp", precision="bf16-mixed")
trainer = dict(max_epochs=45, monitor="val_mIoU", monitor_mode="max")
