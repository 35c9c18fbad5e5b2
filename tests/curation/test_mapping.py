"""Class mappings as data: the shipped files load, remap correctly, and bad files are clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from landseg.classes import BIODIVERSITY
from landseg.curation.mapping import load_mapping
from landseg.errors import ConfigError, DatasetError

MAPPINGS = Path(__file__).resolve().parents[2] / "config" / "mappings"
IGN = 255
BG, FOREST, GRASS, CROP, SETTLE = (BIODIVERSITY.index(n) for n in
                                   ("Background", "Forest Land", "Grassland", "Cropland", "Settlement"))

VALID = """\
name: tiny
source:
  name: toy
  codes: {0: nothing, 1: wood, 2: houses}
target: biodiversity
mapping:
  0: ignore
  1: Forest Land
  2: settlement
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "m.yaml"
    path.write_text(text)
    return path


def test_shipped_oem_mapping() -> None:
    m = load_mapping(MAPPINGS / "oem_to_biodiversity.yaml")
    assert m.name == "oem_to_biodiversity" and m.source_name == "openearthmap" and m.target is BIODIVERSITY
    assert m.lut.shape == (256,) and m.lut.dtype == np.uint8
    assert m.lut[:9].tolist() == [IGN, IGN, GRASS, SETTLE, SETTLE, FOREST, IGN, CROP, SETTLE]
    assert m.source_codes[3] == "developed space"
    assert "1 bareland -> ignore" in m.describe()


def test_shipped_loveda_mapping() -> None:
    m = load_mapping(MAPPINGS / "loveda_to_biodiversity.yaml")
    assert m.lut[:8].tolist() == [IGN, BG, SETTLE, SETTLE, BG, BG, FOREST, CROP]
    assert sorted(m.source_codes) == list(range(8))


def test_apply_remaps_and_names_undefined_codes(tmp_path: Path) -> None:
    m = load_mapping(write(tmp_path, VALID))
    labels = np.array([[0, 1], [2, 2]], np.uint8)
    assert m.apply(labels, "x.tif").tolist() == [[IGN, FOREST], [SETTLE, SETTLE]]
    assert m.apply(labels.astype(np.int32), "x.tif").tolist() == [[IGN, FOREST], [SETTLE, SETTLE]]
    with pytest.raises(DatasetError, match=r"label file lbl/a\.tif holds code\(s\) 9 \(2 pixels\).*0 nothing, 1 wood"):
        m.apply(np.array([9, 9, 1], np.uint8), "lbl/a.tif")
    assert m.undefined_codes(np.array([300, 1])) == {300: 1}


def test_inline_target_classes(tmp_path: Path) -> None:
    text = VALID.replace("target: biodiversity", "target:\n  classes:\n    - {name: Other, color: [0, 0, 0]}\n"
                         "    - {name: Forest Land, color: [0, 99, 0]}\n    - {name: Settlement, color: [9, 9, 9]}\n"
                         "  ignore_index: 200")
    m = load_mapping(write(tmp_path, text))
    assert m.target.names == ["Other", "Forest Land", "Settlement"]
    assert m.lut[:3].tolist() == [200, 1, 2]


@pytest.mark.parametrize(("text", "message"), [
    (VALID.replace("  2: settlement\n", ""), r"source code\(s\) 2 \(houses\) are not mapped"),
    (VALID + "  7: Cropland\n", r"code 7 is mapped but not listed in source.codes"),
    (VALID.replace("Forest Land", "Woodland"), r"unknown class 'Woodland'; valid classes: Background, Forest Land, "
                                               r"Grassland, Cropland, Settlement, SemiNatural Grassland"),
    ("source: [unclosed\n", r"is not valid YAML"),
    (VALID.replace("target: biodiversity\n", ""), r"the file is missing key\(s\) target"),
    (VALID.replace("  codes:", "  kodes:"), r"unknown key\(s\) kodes in source"),
    (VALID.replace("target: biodiversity", "target: corine"), r"unknown target class table 'corine'"),
    (VALID.replace("1: wood", "300: wood"), r"source code 300 is not a label code"),
    (VALID.replace("1: Forest Land", "1: 3"), r"code 1 maps to 3; give a class name"),
])
def test_bad_mapping_files(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as err:
        load_mapping(path)
    assert str(path) in str(err.value)


def test_missing_mapping_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"mapping file .*nope.yaml does not exist"):
        load_mapping(tmp_path / "nope.yaml")
