"""load_images and readable on folders, CSV, Parquet and DataFrames built in tmp_path."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from cvnb.data import load_images, readable

from ._images import build_class_folder, gradient_rgb, make_zero_byte, save_jpeg

COLUMNS = ["path", "label", "split", "width", "height", "mode", "format", "error"]


def test_split_layout_with_odd_case_names(split_folder):
    df = load_images(split_folder)
    assert list(df.columns) == COLUMNS
    assert len(df) == 7
    assert df["split"].tolist() == ["train"] * 5 + ["valid"] * 2
    assert df.groupby(["split", "label"]).size().to_dict() == {
        ("train", "a"): 3,
        ("train", "b"): 2,
        ("valid", "a"): 1,
        ("valid", "b"): 1,
    }
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in df["path"])
    assert df.attrs["source"] == str(split_folder)
    assert df["error"].isna().all() and df["error"].dtype == object
    assert str(df["width"].dtype) == "Int64" and df.loc[0, "width"] == 16
    assert set(df["mode"]) == {"RGB"} and set(df["format"]) == {"JPEG"}


def test_rows_are_sorted_by_split_label_path(tmp_path):
    root = tmp_path / "r"
    build_class_folder(root / "test", {"z": 1, "a": 1})
    build_class_folder(root / "valid", {"a": 1})
    build_class_folder(root / "train", {"b": 2, "a": 1})
    (root / "models").mkdir()  # what fastai saves into: ignored beside split folders
    df = load_images(root, check=False)
    keys = list(zip(df["split"], df["label"], strict=True))
    expected = [("train", "a"), ("train", "b"), ("train", "b"), ("valid", "a")]
    assert keys == [*expected, ("test", "a"), ("test", "z")]
    assert df["path"].iloc[1] < df["path"].iloc[2]
    assert df.index.tolist() == list(range(6))


def test_class_layout_is_split_stratified_and_seeded(class_folder):
    df = load_images(class_folder, check=False)
    assert len(df) == 18 and set(df["split"]) == {"train", "valid"}
    per_class = df.groupby("label")["split"].agg(lambda s: set(s))
    for label in ("ant", "bee", "cow"):  # every class with ≥ 2 images is in both splits
        assert per_class[label] == {"train", "valid"}
    assert per_class["owl"] == {"train"}  # a single image goes to train
    assert (df[df["label"] == "ant"]["split"] == "valid").sum() == 2  # 20 % of 10

    again = load_images(class_folder, check=False)
    other = load_images(class_folder, check=False, seed=7)
    assert again["split"].tolist() == df["split"].tolist()
    valid = set(df.loc[df["split"] == "valid", "path"])
    assert set(again.loc[again["split"] == "valid", "path"]) == valid
    assert set(other.loc[other["split"] == "valid", "path"]) != valid


def test_valid_pct(class_folder):
    assert set(load_images(class_folder, valid_pct=0, check=False)["split"]) == {"train"}
    half = load_images(class_folder, valid_pct=0.5, check=False)
    assert (half[half["label"] == "ant"]["split"] == "valid").sum() == 5
    with pytest.raises(ValueError, match="valid_pct"):
        load_images(class_folder, valid_pct=1.0)


def test_broken_files_are_rows_with_reasons(broken_folder):
    df = load_images(broken_folder)
    names = {Path(p).name: err for p, err in zip(df["path"], df["error"], strict=True)}
    assert "notes.txt" not in names and ".hidden.jpg" not in names
    assert len(df) == 9
    assert "truncated" in names["truncated.jpg"]
    assert "empty" in names["zero.jpg"]
    assert "not an image" in names["text.JPG"]  # extension matched in any case
    bad = df[df["error"].notna()]
    assert bad["width"].isna().all() and bad["height"].isna().all()
    good = readable(df)
    assert len(good) == 6 and good["error"].isna().all()
    assert good.index.tolist() == list(range(6))
    assert good["width"].notna().all()


def test_check_false_skips_decoding(broken_folder):
    df = load_images(broken_folder, check=False)
    assert list(df.columns) == COLUMNS
    assert df["error"].isna().all() and df["width"].isna().all()
    assert df["error"].tolist() == [None] * len(df)


def test_csv_with_relative_paths(tmp_path):
    root = build_class_folder(tmp_path / "imgs", {"cat": 2, "dog": 2})
    rows = [
        {"file": f"imgs/{label}/{label}_{i:03d}.jpg", "y": label, "fold": split, "note": i}
        for label in ("cat", "dog")
        for i, split in enumerate(["Train", "validation"])
    ]
    csv = tmp_path / "labels.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    df = load_images(csv, path_col="file", label_col="y", split_col="fold")
    assert list(df.columns) == [*COLUMNS, "note"]  # other columns are kept
    assert set(df["path"]) == {str(p) for p in root.rglob("*.jpg")}
    assert df["split"].tolist() == ["train", "train", "valid", "valid"]
    assert df["error"].isna().all()
    assert df.attrs["source"] == str(csv)


def test_parquet_without_split_column(tmp_path):
    root = build_class_folder(tmp_path / "imgs", {"cat": 5, "dog": 5})
    table = pd.DataFrame(
        {"path": [str(p.relative_to(tmp_path)) for p in sorted(root.rglob("*.jpg"))]}
    )
    table["label"] = [Path(p).parent.name for p in table["path"]]
    parquet = tmp_path / "labels.parquet"
    table.to_parquet(parquet)
    df = load_images(parquet)
    assert len(df) == 10
    assert df.groupby(["label", "split"]).size().to_dict() == {
        ("cat", "train"): 4,
        ("cat", "valid"): 1,
        ("dog", "train"): 4,
        ("dog", "valid"): 1,
    }


def test_dataframe_source(tmp_path):
    good = save_jpeg(tmp_path / "a.jpg")
    empty = make_zero_byte(tmp_path / "b.jpg")
    source = pd.DataFrame(
        {"path": [str(good), str(empty)], "label": [1, 2], "split": ["train", "TEST"]}
    )
    df = load_images(source)
    assert df["label"].tolist() == ["1", "2"]
    assert df["split"].tolist() == ["train", "test"]
    assert df["error"].iloc[0] is None and "empty" in df["error"].iloc[1]
    assert "DataFrame" in df.attrs["source"]


def test_missing_source(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_images(tmp_path / "nowhere")


def test_url_is_refused_at_once():
    with pytest.raises(ValueError, match=r"cvnb\.datasets\.digits\(\).*untar_data"):
        load_images("https://s3.amazonaws.com/fast-ai-imageclas/imagenette2-160.tgz")


def test_empty_folder(tmp_path):
    with pytest.raises(ValueError, match="empty"):
        load_images(tmp_path)


def test_folder_without_class_folders(tmp_path):
    save_jpeg(tmp_path / "loose.jpg")
    with pytest.raises(ValueError, match=r"no class folders.*root/<class>"):
        load_images(tmp_path)


def test_class_folders_without_images(tmp_path):
    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "readme.txt").write_text("hi")
    with pytest.raises(ValueError, match="no image files"):
        load_images(tmp_path)


def test_table_missing_columns_names_what_it_found(tmp_path):
    csv = tmp_path / "t.csv"
    pd.DataFrame({"filename": ["a.jpg"], "label": ["x"]}).to_csv(csv, index=False)
    with pytest.raises(ValueError, match=r"'path'.*\['filename', 'label'\].*path_col"):
        load_images(csv)
    with pytest.raises(ValueError, match="'label'"):
        load_images(pd.DataFrame({"path": ["a.jpg"]}))


def test_unknown_split_values(tmp_path):
    source = pd.DataFrame({"path": ["a.jpg", "b.jpg"], "label": ["x", "y"], "split": ["tr", "ok"]})
    with pytest.raises(ValueError, match=r"Unknown split values \['ok', 'tr'\]"):
        load_images(source)


def test_unsupported_file_source(tmp_path):
    path = tmp_path / "data.json"
    path.write_text("{}")
    with pytest.raises(ValueError, match=r"folder, a \.csv or \.parquet"):
        load_images(path)


def test_coco_crops_real_photos(coco_crops):
    df = load_images(coco_crops)
    assert len(df) == 162
    assert df["label"].nunique() == 5
    assert set(df["split"]) == {"train", "valid"}
    assert df["split"].value_counts().to_dict() == {"train": 117, "valid": 45}
    assert df["error"].isna().all()
    assert (df["width"] >= 40).all() and (df["height"] >= 40).all()


def test_many_files_keep_their_own_results(tmp_path):
    # Enough files for the threaded check; each result must land on its own row.
    root = tmp_path / "many"
    for i in range(80):
        save_jpeg(root / f"c{i % 2}" / f"{i:03d}.jpg", gradient_rgb(8 + i, 8))
    make_zero_byte(root / "c0" / "050_empty.jpg")
    df = load_images(root)
    assert len(df) == 81
    ok = readable(df)
    assert (ok["width"] == [8 + int(Path(p).stem) for p in ok["path"]]).all()
    assert df.loc[df["error"].notna(), "path"].map(lambda p: Path(p).name).tolist() == [
        "050_empty.jpg"
    ]


def test_train_and_test_folders_get_a_valid_split_carved_from_train(tmp_path):
    # root/train + root/test, no valid folder: training needs valid, and test stays as it is.
    root = tmp_path / "r"
    build_class_folder(root / "train", {"a": 10, "b": 5})
    build_class_folder(root / "test", {"a": 2, "b": 2})
    with pytest.warns(UserWarning, match="no valid split: 3 of 15 train images"):
        df = load_images(root, check=False)
    counts = df.groupby(["split", "label"]).size().to_dict()
    assert counts == {
        ("train", "a"): 8,
        ("train", "b"): 4,
        ("valid", "a"): 2,
        ("valid", "b"): 1,
        ("test", "a"): 2,
        ("test", "b"): 2,
    }
    assert "test is left as it is" in df.attrs["split_note"]
    assert df[df.split == "test"].path.str.contains("/test/").all()
    with pytest.warns(UserWarning):
        again = load_images(root, check=False, seed=42)
    assert again.split.tolist() == df.split.tolist()


def test_split_folders_with_valid_are_left_alone(split_folder):
    df = load_images(split_folder, check=False)
    assert "split_note" not in df.attrs
