"""Data loaders for training: datasets from an experiment's ``data`` section."""

from __future__ import annotations

from collections.abc import Iterator

import pytorch_lightning as pl
import torch
import torch.distributed as dist
from pytorch_lightning.utilities import rank_zero_info
from torch.utils.data import DataLoader, DistributedSampler, Sampler

from landseg.classes import ClassTable
from landseg.data import SegmentationDataset, train_transform, val_transform
from landseg.training.config import DataConfig, SamplingConfig
from landseg.training.sampling import WeightedEpochSampler, epoch_length, match_weights, read_weights


class UnrepeatedDistributedSampler(Sampler[int]):
    """Each rank evaluates a disjoint share; together they cover every sample exactly once.

    torch's DistributedSampler pads the last share by repeating samples, which would count some
    validation tiles twice in the synced confusion matrix; metrics must see each tile once.
    """

    def __init__(self, length: int, num_replicas: int, rank: int) -> None:
        self.indices = list(range(rank, length, num_replicas))

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


class SegmentationDataModule(pl.LightningDataModule):
    def __init__(self, cfg: DataConfig, classes: ClassTable, seed: int = 42, pin_memory: bool = False,
                 sampling: SamplingConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        self.sampling = sampling
        self.sample_weights: list[float] | None = None
        self.classes = classes
        self.seed = seed
        self.pin_memory = pin_memory
        self.train_set: SegmentationDataset | None = None
        self.val_set: SegmentationDataset | None = None

    def setup(self, stage: str | None = None) -> None:
        c = self.cfg
        if self.train_set is None:
            self.train_set = SegmentationDataset(
                c.root, c.train_split, classes=self.classes, image_dir=c.image_dir, mask_dir=c.mask_dir,
                transform=train_transform(crop_size=c.crop_size, scale_range=tuple(c.scale_range),
                                          ignore_index=self.classes.ignore_index, mean=c.mean, std=c.std,
                                          seed=self.seed))
            self.val_set = SegmentationDataset(
                c.val_root or c.root, c.val_split, classes=self.classes, image_dir=c.image_dir, mask_dir=c.mask_dir,
                transform=val_transform(mean=c.mean, std=c.std))
            if self.sampling is not None:
                self._load_weights()

    def _load_weights(self) -> None:
        sm = self.sampling
        assert sm is not None and self.train_set is not None
        match = match_weights(self.train_set.names, read_weights(sm.weights), sm.missing, sm.default_weight,
                              sm.unknown)
        self.sample_weights = match.weights
        n, total = len(match.weights), epoch_length(match.weights, sm.epoch_size)
        notes = []
        if match.missing:
            notes.append(f"{len(match.missing)} tiles without a weight use {sm.default_weight}")
        if match.unknown:
            notes.append(f"{len(match.unknown)} names in {sm.weights} are not in the dataset (ignored)")
        rank_zero_info(f"Hard-sample {sm.mode} sampling: {n:,} unique tiles → {total:,} samples per epoch"
                       + (f" ({'; '.join(notes)})" if notes else ""))

    def _distributed(self) -> tuple[int, int] | None:
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            return dist.get_world_size(), dist.get_rank()
        return None

    @property
    def workers(self) -> int:
        from landseg.utils import default_workers

        return self.cfg.num_workers if self.cfg.num_workers is not None else default_workers()

    def train_dataloader(self) -> DataLoader:
        assert self.train_set is not None
        ddp = self._distributed()
        sampler: Sampler[int] | None = None
        if self.sample_weights is not None:
            assert self.sampling is not None
            world, rank = ddp or (1, 0)
            sampler = WeightedEpochSampler(self.sample_weights, self.sampling.mode, self.sampling.epoch_size,
                                           seed=self.seed, num_replicas=world, rank=rank)
        elif ddp:
            sampler = DistributedSampler(self.train_set, num_replicas=ddp[0], rank=ddp[1], shuffle=True,
                                         seed=self.seed, drop_last=True)
        gen = torch.Generator().manual_seed(self.seed)
        return DataLoader(self.train_set, batch_size=self.cfg.batch_size, shuffle=sampler is None,
                          sampler=sampler, num_workers=self.workers, pin_memory=self.pin_memory,
                          drop_last=True, persistent_workers=self.workers > 0,
                          generator=gen)

    def val_dataloader(self) -> DataLoader:
        assert self.val_set is not None
        ddp = self._distributed()
        sampler = UnrepeatedDistributedSampler(len(self.val_set), *ddp) if ddp else None
        return DataLoader(self.val_set, batch_size=self.cfg.val_batch_size, shuffle=False, sampler=sampler,
                          num_workers=self.workers, pin_memory=self.pin_memory,
                          persistent_workers=self.workers > 0)
