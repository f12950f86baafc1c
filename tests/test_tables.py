"""Corpus tables as everyday tools write them, through the real CLI entry point:
spreadsheet CSVs with a byte-order mark, TSV, JSONL, empty labels, leaks across splits."""

import json

import numpy as np
import pytest

from conftest import WORDS
from fastnews.errors import TableError
from fastnews.tables import read_table
from test_bad_input import run


def _rows(n_per_class=12, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for label, words in WORDS.items():
        for i in range(n_per_class):
            rows.append((" ".join(rng.choice(words.split(), size=8)), label, "test" if i % 4 == 0 else "train"))
    return rows


def _train(capsys, small_run, data, tmp_path, *flags):
    return run(capsys, "train", "--data", data, "--glove", small_run / "glove.txt", "--epochs", "1",
               "--filters", "4", "--max-len", "16", "--batch-size", "8", "--out", tmp_path / "run", "--quiet", *flags)


def _csv(rows, delimiter=",", header=("text", "label", "split")):
    lines = [delimiter.join(header)] + [delimiter.join(f'"{t}"' if delimiter == "," else t for t in r) for r in rows]
    return "\r\n".join(lines) + "\r\n"


def test_a_spreadsheet_csv_with_a_bom_trains(tmp_path, capsys, small_run):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + _csv(_rows()).encode())
    code, _, err = _train(capsys, small_run, path, tmp_path)
    assert code == 0, err
    assert "27 train, 9 test (split column), 3 classes of 9-9 training documents" in err


def test_a_jsonl_with_a_bom_and_other_column_names_trains(tmp_path, capsys, small_run):
    path = tmp_path / "bom.jsonl"
    lines = [json.dumps({"body": t, "topic": label, "split": s}) for t, label, s in _rows()]
    path.write_bytes(b"\xef\xbb\xbf" + "\n".join(lines).encode())
    code, _, err = _train(capsys, small_run, path, tmp_path, "--text-column", "body", "--label-column", "topic")
    assert code == 0, err
    code, _, err = _train(capsys, small_run, path, tmp_path / "b")
    assert code == 1 and err.count("\n") == 1 and "bom.jsonl:1: JSONL record needs 'text' and 'label'" in err


def test_a_tsv_trains(tmp_path, capsys, small_run):
    path = tmp_path / "corpus.tsv"
    path.write_text(_csv(_rows(), delimiter="\t"))
    code, _, err = _train(capsys, small_run, path, tmp_path)
    assert code == 0, err


def test_an_empty_label_is_reported_with_its_row(tmp_path, capsys, small_run):
    rows = _rows()
    rows[20] = (rows[20][0], "   ", "train")
    path = tmp_path / "labels.csv"
    path.write_text(_csv(rows))
    code, _, err = _train(capsys, small_run, path, tmp_path)
    assert code == 1 and err.count("\n") == 1
    assert err.strip().endswith(f"{path}:22: empty label"), err  # row 21 of data is line 22


def test_labels_are_trimmed_and_a_merge_is_reported(tmp_path, capsys, small_run):
    rows = [(t, label + " " if i % 2 else label, s) for i, (t, label, s) in enumerate(_rows())]
    path = tmp_path / "spaces.csv"
    path.write_text(_csv(rows))
    code, _, err = _train(capsys, small_run, path, tmp_path)
    assert code == 0, err
    assert "3 classes" in err and "3 labels differ only in surrounding whitespace and were merged" in err


def test_a_text_in_both_splits_and_a_rare_class_are_warned_about(tmp_path, capsys, small_run):
    rows = _rows()
    rows.append((rows[1][0], rows[1][1], "test"))  # a training text, again in test
    rows += [("orbit moon rare", "rare", "train"), ("orbit moon rare", "rare", "test")]
    path = tmp_path / "leak.csv"
    path.write_text(_csv(rows))
    code, _, err = _train(capsys, small_run, path, tmp_path)
    assert code == 0, err
    assert "warning: 2 test documents also appear, word for word, in train" in err
    assert "warning: 1 classes have fewer than 5 training documents: rare (1)" in err


def test_a_csv_cell_longer_than_the_csv_modules_default_is_read(tmp_path):
    long_text = "word " * 60_000  # 300,000 characters; csv stops at 131,072 by default
    path = tmp_path / "c.csv"
    path.write_text(f'text,label\n"{long_text}",a\nshort,b\n')
    rows, _ = read_table(path)
    assert [r[1] for r in rows] == [("a",), ("b",)] and rows[0][3] == long_text
    import csv
    assert csv.field_size_limit() == 131_072  # the process-wide limit is restored


@pytest.mark.parametrize("record, message", [
    ('{"text": null, "label": "a"}', "c.jsonl:2: 'text' is null, not a string"),
    ('{"text": ["x", "y"], "label": "a"}', "c.jsonl:2: 'text' is a list, not a string"),
    ('{"text": {"body": "x"}, "label": "a"}', "c.jsonl:2: 'text' is an object, not a string"),
    ('{"text": "x", "label": 1.0}', "c.jsonl:2: 'label' holds a number; a label is a string or an integer"),
    ('{"text": "x", "label": true}', "c.jsonl:2: 'label' holds a boolean"),
    ('{"text": "x", "label": null}', "c.jsonl:2: 'label' holds null"),
])
def test_jsonl_values_that_are_not_text_or_labels_name_their_line(tmp_path, record, message):
    path = tmp_path / "c.jsonl"
    path.write_text('{"text": "fine", "label": "a"}\n' + record + "\n")
    with pytest.raises(TableError) as info:
        read_table(path)
    assert str(info.value).startswith(str(tmp_path / message.split(":")[0]) + ":" + message.split(":", 1)[1])


def test_integer_labels_and_their_strings_are_one_class(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text('{"text": "x", "label": 1}\n{"text": "y", "label": "1"}\n{"text": "z", "label": 2}\n')
    assert [r[1] for r in read_table(path)[0]] == [("1",), ("1",), ("2",)]


def test_fasttext_files_with_a_test_and_a_val_file_train_and_evaluate(tmp_path, capsys, small_run):
    """fastText's format, train, validation and test in three files: the splits are the
    files, and evaluate scores the same test file from the model's own metadata."""
    rows = _rows(n_per_class=20)
    files = {"train": rows[:36], "valid": rows[36:48], "test": rows[48:]}
    for name, part in files.items():
        (tmp_path / f"c.{name}").write_text("".join(f"__label__{label}  {text}\n" for text, label, _ in part))
    code, _, err = _train(capsys, small_run, tmp_path / "c.train", tmp_path, "--test", tmp_path / "c.test",
                          "--val", tmp_path / "c.valid", "--folds", "1")
    assert code == 0, err
    assert f"48 train, {len(files['test'])} test (test file)" in err
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert (metrics["n_train"], metrics["n_val"], metrics["n_test"]) == (36, 12, len(files["test"]))
    code, out, err = run(capsys, "evaluate", tmp_path / "run", "--data", tmp_path / "c.train", "--json")
    assert code == 0, err
    assert json.loads(out)["n"] == len(files["test"]) and json.loads(out)["accuracy"] == metrics["test_accuracy"]


@pytest.mark.parametrize("line, message", [
    ("no label on this line", "c.txt:2: no __label__ label at the start of the line"),
])
def test_fasttext_lines_that_do_not_fit_name_their_line(tmp_path, line, message):
    path = tmp_path / "c.txt"
    path.write_text(f"__label__a fine text\n{line}\n")
    with pytest.raises(TableError, match=message):
        read_table(path)
