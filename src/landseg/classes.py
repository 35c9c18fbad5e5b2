"""The class table: one place that says which index means which land-cover class.

Every module, file and report reads class names, colours and whether a class counts in the
mean metrics from a :class:`ClassTable`, so no palette or class list is ever hard-coded twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_IGNORE_INDEX = 255


@dataclass(frozen=True)
class ClassInfo:
    """One class: its display name, RGB colour and whether it counts in mean metrics."""

    name: str
    color: tuple[int, int, int]
    count_in_means: bool = True


@dataclass(frozen=True)
class ClassTable:
    """Ordered classes; a class's index is its position (the value stored in mask PNGs)."""

    classes: tuple[ClassInfo, ...]
    ignore_index: int = DEFAULT_IGNORE_INDEX
    _by_name: dict[str, int] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.classes:
            raise ValueError("A class table needs at least one class.")
        names = [c.name for c in self.classes]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"Class names must be unique; repeated: {', '.join(dupes)}.")
        if 0 <= self.ignore_index < len(self.classes):
            raise ValueError(
                f"ignore_index {self.ignore_index} collides with class index "
                f"{self.ignore_index} ({names[self.ignore_index]!r}); use a value >= {len(self.classes)}, e.g. 255."
            )
        for c in self.classes:
            if len(c.color) != 3 or not all(0 <= int(v) <= 255 for v in c.color):
                raise ValueError(f"Class {c.name!r} has colour {c.color}; expected three integers 0..255.")
        object.__setattr__(self, "_by_name", {n.lower(): i for i, n in enumerate(names)})

    def __len__(self) -> int:
        return len(self.classes)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.classes]

    @property
    def colors(self) -> list[tuple[int, int, int]]:
        return [tuple(int(v) for v in c.color) for c in self.classes]  # type: ignore[misc]

    @property
    def mean_indices(self) -> list[int]:
        """Indices of the classes that count in mean metrics (mIoU, mean F1)."""
        return [i for i, c in enumerate(self.classes) if c.count_in_means]

    def index(self, name: str) -> int:
        """Index of a class by (case-insensitive) name; the error lists the valid names."""
        try:
            return self._by_name[name.lower()]
        except KeyError:
            raise KeyError(
                f"Unknown class {name!r}. Valid classes: {', '.join(self.names)}."
            ) from None

    def palette(self) -> list[int]:
        """A flat 768-entry palette for PIL 'P' images (unused entries black, ignore white)."""
        pal = [0] * 768
        for i, (r, g, b) in enumerate(self.colors):
            pal[3 * i : 3 * i + 3] = [r, g, b]
        if 0 <= self.ignore_index < 256:
            pal[3 * self.ignore_index : 3 * self.ignore_index + 3] = [255, 255, 255]
        return pal

    def to_list(self) -> list[dict]:
        """Plain data for configs and checkpoints (JSON/YAML friendly)."""
        return [
            {"name": c.name, "color": list(c.color), "count_in_means": c.count_in_means}
            for c in self.classes
        ]

    @classmethod
    def from_list(
        cls, items: Iterable[Mapping | Sequence], ignore_index: int = DEFAULT_IGNORE_INDEX
    ) -> ClassTable:
        """Build from ``[{"name", "color", "count_in_means"?}, ...]`` or ``[(name, color), ...]``."""
        out = []
        for i, item in enumerate(items):
            if isinstance(item, Mapping):
                unknown = set(item) - {"name", "color", "count_in_means"}
                if unknown:
                    raise ValueError(
                        f"Class entry {i} has unknown key(s) {sorted(unknown)}; "
                        "valid keys: name, color, count_in_means."
                    )
                if "name" not in item or "color" not in item:
                    raise ValueError(f"Class entry {i} needs both 'name' and 'color': {dict(item)}.")
                out.append(
                    ClassInfo(str(item["name"]), tuple(int(v) for v in item["color"]),  # type: ignore[arg-type]
                              bool(item.get("count_in_means", True)))
                )
            else:
                name, color, *rest = item
                out.append(ClassInfo(str(name), tuple(int(v) for v in color),  # type: ignore[arg-type]
                                     bool(rest[0]) if rest else True))
        return cls(tuple(out), ignore_index=ignore_index)

    @classmethod
    def from_data(cls, data: Any, where: str) -> ClassTable:
        """A table as written in a YAML/JSON file: a list of ``{name, color[, count_in_means]}`` or a
        mapping ``{classes: [...], ignore_index: N}``. Errors (:class:`ConfigError`) begin with ``where``.

        The one parser of class tables in files: ``landseg stats --classes`` and a class mapping's
        inline ``target`` both read tables through it.
        """
        from landseg.errors import ConfigError

        ignore: Any = DEFAULT_IGNORE_INDEX
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - {"classes", "ignore_index"})
            if unknown:
                raise ConfigError(f"{where}: unknown key(s) {', '.join(map(str, unknown))}; valid: classes, ignore_index.")
            ignore, data = data.get("ignore_index", ignore), data.get("classes")
        if not isinstance(data, list) or not data:
            raise ConfigError(f"{where} must hold a list of {{name, color}} entries (or a mapping with 'classes' "
                              "and optional 'ignore_index'), e.g. [{name: Forest, color: [34, 139, 34]}].")
        if isinstance(ignore, bool) or not isinstance(ignore, int) or not 0 <= ignore <= 255:
            raise ConfigError(f"{where}: ignore_index must be an integer 0-255, got {ignore!r}.")
        try:
            return cls.from_list(data, ignore_index=ignore)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{where}: {exc}") from None

    @classmethod
    def from_file(cls, path: str | Path) -> ClassTable:
        """A class table from a YAML or JSON file (see :meth:`from_data`); errors name the file."""
        import yaml

        from landseg.errors import ConfigError

        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text())  # JSON is YAML, so one parser reads both
        except OSError as exc:
            raise ConfigError(f"cannot read class file {path}: {exc.strerror or exc}.") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"class file {path} is not valid YAML/JSON: {exc}") from exc
        return cls.from_data(data, f"class file {path}")


#: The biodiversity (rural Ireland) classes, the default everywhere. Background is left out of the
#: headline means (a near-perfect Background IoU inflates mIoU); every report also shows the mean
#: over all six classes, labelled unambiguously.
BIODIVERSITY = ClassTable(
    (
        ClassInfo("Background", (0, 0, 0), count_in_means=False),
        ClassInfo("Forest Land", (34, 139, 34)),
        ClassInfo("Grassland", (144, 238, 144)),
        ClassInfo("Cropland", (255, 215, 0)),
        ClassInfo("Settlement", (220, 20, 60)),
        ClassInfo("SemiNatural Grassland", (160, 82, 45)),
    )
)
