"""edge/files.py: every writer's atomic write, on temporary folders only."""

from __future__ import annotations

import json
import os

import pytest

from edge.files import atomic_path, cannot_write, json_text, replace_folder, write_all_atomic, write_atomic, write_json


def test_write_atomic_replaces_text_and_bytes_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "a.txt"
    write_atomic(path, "old")
    write_atomic(path, b"new")
    assert path.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_a_failed_write_keeps_the_earlier_file(tmp_path):
    path = tmp_path / "plot.png"
    path.write_text("earlier")
    with pytest.raises(RuntimeError), atomic_path(path) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".png"  # writers that pick a format by suffix see it
        tmp.write_text("half")
        raise RuntimeError("disk full")
    assert path.read_text() == "earlier"
    assert [p.name for p in tmp_path.iterdir()] == ["plot.png"]


def test_files_that_belong_together_are_written_together(tmp_path):
    c, h = tmp_path / "m.c", tmp_path / "m.h"
    write_all_atomic({c: "source", h: "header"}, encoding="ascii")
    assert (c.read_text(), h.read_text()) == ("source", "header")
    with pytest.raises(UnicodeEncodeError):
        write_all_atomic({c: "new source", h: "not ascii: é"}, encoding="ascii")
    assert (c.read_text(), h.read_text()) == ("source", "header")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.c", "m.h"]


def test_json_keeps_lists_of_numbers_on_one_line(tmp_path):
    data = {"confusion_matrix": [[1, 2], [3, 4]], "names": ["a", "b"], "rate": None, "path": tmp_path}
    text = json_text(data)
    assert "[1, 2]" in text and "[3, 4]" in text and text.endswith("}\n")
    assert json.loads(text) == {**data, "path": str(tmp_path)}
    write_json(tmp_path / "m.json", data)
    assert (tmp_path / "m.json").read_text() == text


def test_replace_folder_swaps_a_finished_folder_in(tmp_path):
    target, new = tmp_path / "weights", tmp_path / ".weights-new"
    target.mkdir()
    (target / "old.txt").write_text("old")
    new.mkdir()
    (new / "new.txt").write_text("new")
    replace_folder(new, target)
    assert [p.name for p in target.iterdir()] == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["weights"]


def test_cannot_write_says_why_in_a_few_words(tmp_path):
    assert cannot_write(tmp_path / "new" / "folder") is None and (tmp_path / "new" / "folder").is_dir()
    (tmp_path / "file").write_text("x")
    why = cannot_write(tmp_path / "file" / "out")
    assert why and "\n" not in why
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        assert cannot_write(locked) == "Permission denied"
