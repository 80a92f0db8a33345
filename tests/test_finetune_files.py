"""bert-finetune on the user's own files (CSV, TSV, JSON lines) without --task, end to end with a tiny preset.

Each task's dev file is its training file, so a tiny model must learn every dev example; bert-predict must
then answer with the user's label names. Bad files must fail in one line with exit status 2 and leave the
output directory as it was.
"""

import json
import re
from pathlib import Path

import pytest

from finetune import cli, predict_cli
from bert.errors import InputError
from finetune.sentence.file_task import choose_label_space
from finetune.sentence.metrics import macro_f1
from finetune.table_files import read_table

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

# review text -> star rating: three string classes, texts with commas, a quote and a line break
REVIEWS = [
    ("A wonderful, joyful film", "good"), ("I loved every minute", "good"),
    ('Brilliant acting, a superb "story"', "good"), ("delightful and moving", "good"),
    ("awful boring mess", "bad"), ("terrible plot, dreadful acting", "bad"),
    ("I hated it", "bad"), ("a complete waste\nof time", "bad"),
    ("it was okay", "meh"), ("fine, nothing special", "meh"), ("average at best", "meh"), ("so so", "meh"),
]
# (first sentence, second sentence, same meaning?): a sentence-pair task with two string classes
PAIRS = [
    ("the cat sat on the mat", "a cat was sitting on the mat", "yes"),
    ("he left early", "he did not stay long", "yes"),
    ("the shop opens at nine", "the store opens at nine", "yes"),
    ("she bought a red car", "her new car is red", "yes"),
    ("the cat sat on the mat", "the dog ran in the park", "no"),
    ("he left early", "the train was late", "no"),
    ("the shop opens at nine", "rain fell all night", "no"),
    ("she bought a red car", "he sold his old bike", "no"),
]
# sentence -> a score with a fractional part: regression
SCORES = [("not at all", 0.0), ("hardly", 0.5), ("a little", 1.5), ("somewhat", 2.5), ("quite a lot", 3.5),
          ("very much", 4.5), ("completely", 5.0), ("barely", 0.5)]

ALL_TEXT = " ".join([t for t, _ in REVIEWS] + [a + " " + b for a, b, _ in PAIRS] + [t for t, _ in SCORES])



def write_csv(path: Path, header: list[str], rows: list[tuple], delimiter: str = ",", bom: bool = False) -> Path:
    """RFC 4180: fields holding the delimiter, a quote or a line break are quoted, quotes doubled."""
    def field(value) -> str:
        value = str(value)
        if any(c in value for c in (delimiter, '"', "\n")):
            return '"' + value.replace('"', '""') + '"'
        return value

    lines = [delimiter.join(field(v) for v in row) for row in [header, *rows]]
    path.write_text(("\ufeff" if bom else "") + "\r\n".join(lines) + "\r\n", encoding="utf-8")
    return path


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    """vocab.txt (every word of the data, so no [UNK]) and the data files of the three tasks."""
    root = tmp_path_factory.mktemp("files")
    words = sorted(set(re.findall(r"\w+|[^\w\s]", ALL_TEXT.lower())))
    (root / "vocab.txt").write_text("\n".join(SPECIAL + words) + "\n")
    write_csv(root / "reviews.csv", ["review text", "star rating"], REVIEWS, bom=True)
    write_csv(root / "reviews-test.csv", ["review text"], [("I loved it",), ("awful acting",)])
    write_csv(root / "pairs.tsv", ["first sentence", "second sentence", "same meaning"], PAIRS, delimiter="\t")
    write_jsonl(root / "scores.jsonl", [{"text": t, "score": s, "source": {"kept": "out"}} for t, s in SCORES])
    return root


def file_args(files: Path, output: Path, train: str, text_columns: str, label_column: str, *extra: str) -> list[str]:
    return ["--train-file", str(files / train), "--validation-file", str(files / train),
            "--text-columns", text_columns, "--label-column", label_column, "--model", "tiny",
            "--vocab", str(files / "vocab.txt"), "--output", str(output), "--seeds", "1", *extra]


def read_tsv(path: Path) -> list[list[str]]:
    return [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()]


# ------------------------------------------------------------------ three tasks end to end

@pytest.fixture(scope="module")
def reviews_run(files) -> Path:
    output = files / "reviews-run"
    args = file_args(files, output, "reviews.csv", "review text", "star rating", "--test-file",
                     str(files / "reviews-test.csv"), "--epochs", "30", "--lr", "3e-3", "--batch-size", "4")
    assert cli.main(args) == 0
    return output


def test_csv_with_string_labels_learns_three_classes(reviews_run):
    summary = json.loads((reviews_run / "summary.json").read_text())
    assert summary["task"] == "reviews.csv" and summary["main_metric"] == "accuracy"
    assert summary["median"] == {"accuracy": 1.0, "macro_f1": 1.0}
    config = json.loads((reviews_run / "seed-1" / "model" / "config.json").read_text())
    assert config["id2label"] == {"0": "bad", "1": "good", "2": "meh"}  # sorted order


def test_csv_predictions_carry_the_users_texts_and_label_names(reviews_run):
    dev = read_tsv(reviews_run / "seed-1" / "dev_predictions.tsv")
    assert dev[0] == ["index", "review text", "label", "prediction", "probability"]
    assert [row[1] for row in dev[1:]] == [" ".join(text.split()) for text, _ in REVIEWS]  # the line break: a space
    assert [row[2] for row in dev[1:]] == [label for _, label in REVIEWS] == [row[3] for row in dev[1:]]
    test = read_tsv(reviews_run / "seed-1" / "test_predictions.tsv")
    assert test[0] == ["index", "review text", "prediction", "probability"]  # unlabelled: no label column
    assert [row[1] for row in test[1:]] == ["I loved it", "awful acting"]
    assert all(row[2] in ("bad", "good", "meh") for row in test[1:])
    assert "test_median" not in json.loads((reviews_run / "summary.json").read_text())


def test_predict_answers_with_the_users_label_names(reviews_run, capsys):
    for text, label in [REVIEWS[0], REVIEWS[4], REVIEWS[9]]:
        assert predict_cli.main(["--model", str(reviews_run), text]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert lines[0].split()[0] == label
        assert {line.split()[0] for line in lines[1:]} == {"bad", "good", "meh"}


def test_predict_reads_the_users_table_by_its_text_column(files, reviews_run, tmp_path, capsys):
    output = tmp_path / "predictions.tsv"
    assert predict_cli.main(["--model", str(reviews_run), "--input", str(files / "reviews.csv"),
                         "--text-columns", "review text", "--output", str(output)]) == 0
    rows = read_tsv(output)
    assert len(rows) == len(REVIEWS) + 1  # a header, then one prediction per row of the CSV
    assert [row[1] for row in rows[1:]] == [label for _, label in REVIEWS]  # it learned them all (accuracy 1.0)

    assert predict_cli.main(["--model", str(reviews_run), "--input", str(files / "reviews.csv"),
                         "--text-columns", "review"]) == 2
    assert capsys.readouterr().err.endswith("reviews.csv: no column 'review' (--text-columns); the file has: "
                                            "'review text', 'star rating'\n")


def test_tsv_sentence_pairs_with_a_labelled_test_file(files, tmp_path, capsys):
    args = file_args(files, tmp_path, "pairs.tsv", "first sentence,second sentence", "same meaning",
                     "--test-file", str(files / "pairs.tsv"), "--epochs", "40", "--lr", "3e-3", "--batch-size", "4")
    assert cli.main(args) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["median"] == {"accuracy": 1.0, "macro_f1": 1.0, "f1": 1.0, "mcc": 1.0}
    assert summary["test_median"] == {"test_accuracy": 1.0, "test_macro_f1": 1.0, "test_f1": 1.0, "test_mcc": 1.0}
    assert summary["seeds"][0]["test_accuracy"] == 1.0
    test = read_tsv(tmp_path / "seed-1" / "test_predictions.tsv")
    assert test[0] == ["index", "first sentence", "second sentence", "label", "prediction", "probability"]
    assert [row[4] for row in test[1:]] == [label for _, _, label in PAIRS]
    capsys.readouterr()
    assert predict_cli.main(["--model", str(tmp_path), PAIRS[1][0], PAIRS[1][1]]) == 0
    assert capsys.readouterr().out.split()[0] == "yes"


def test_jsonl_with_float_labels_is_regression(files, tmp_path, capsys):
    args = file_args(files, tmp_path, "scores.jsonl", "text", "score", "--epochs", "30", "--lr", "3e-3",
                     "--batch-size", "4")
    assert cli.main(args) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["main_metric"] == "pearson" and set(summary["median"]) == {"pearson", "spearman"}
    assert summary["median"]["pearson"] > 0.9
    dev = read_tsv(tmp_path / "seed-1" / "dev_predictions.tsv")
    assert dev[0] == ["index", "text", "label", "prediction"]
    assert [row[2] for row in dev[1:]] == [f"{score:.3f}" for _, score in SCORES]
    config = json.loads((tmp_path / "seed-1" / "model" / "config.json").read_text())
    assert (config["num_labels"], config["problem_type"]) == (1, "regression")
    capsys.readouterr()
    assert predict_cli.main(["--model", str(tmp_path), "completely"]) == 0
    assert re.fullmatch(r"score -?\d+\.\d{4}\n", capsys.readouterr().out)


# ------------------------------------------------------------------ labels and tables, without training

def label_space(tmp_path: Path, labels: list, task_type: str = "auto", positive: str | None = None):
    table = read_table(write_jsonl(tmp_path / "labels.jsonl", [{"label": label} for label in labels]))
    return choose_label_space(table, "label", task_type, positive)


@pytest.mark.parametrize("labels, task_type, positive, names", [
    (["10", "2", "1", "2"], "auto", None, ("1", "2", "10")),  # integers: numeric order
    ([3, 1, 2], "auto", None, ("1", "2", "3")),  # JSON numbers read as their text
    (["1", "2", "good"], "auto", None, ("1", "2", "good")),  # not all integers: three string classes
    (["07", "7", "8"], "auto", None, ("7", "8")),  # "07" is the integer 7
    (["10.0", "2.0", "1"], "auto", None, ("1", "2", "10")),  # whole numbers written as floats: integers too
    ([2.0, 1.0], "auto", "2", ("1", "2")),  # JSON floats; --positive-label names the integer
    (["pos", "neg"], "auto", None, ("neg", "pos")),
    (["pos", "neg"], "auto", "neg", ("pos", "neg")),  # the positive class goes second: class 1
    (["1", "0"], "auto", "0", ("1", "0")),
    (["2.5", "3"], "classification", None, ("2.5", "3")),  # fractional labels as class names
    (["2.5", "3"], "auto", None, ()),  # a fractional part: regression
    (["1", "2"], "regression", None, ()),
])
def test_label_space(tmp_path, labels, task_type, positive, names):
    assert label_space(tmp_path, labels, task_type, positive).names == names


def test_labels_become_targets(tmp_path):
    integers = label_space(tmp_path, ["10", "2"])
    assert integers.target(" 10 ", "f:1") == 1 and integers.target("02", "f:1") == 0
    assert integers.target("10.0", "f:1") == 1
    assert label_space(tmp_path, ["0.5", "1"]).target("1e-1", "f:1") == 0.1


def test_macro_f1_by_hand():
    # class 0: TP 1, FP 0, FN 1 -> 2/3; class 1: TP 1, FP 1, FN 0 -> 2/3; class 2: TP 1 -> 1
    assert macro_f1([0, 1, 1, 2], [0, 0, 1, 2]) == pytest.approx((2 / 3 + 2 / 3 + 1) / 3, abs=1e-12)
    assert macro_f1([1, 1], [1, 1]) == 1.0  # classes seen in neither are left out


def test_tables_read_alike_in_every_format(tmp_path):
    rows = [("x, y", "1"), ('say "hi"', "2")]
    csv_table = read_table(write_csv(tmp_path / "a.csv", ["a text", "b"], rows, bom=True))
    tsv_table = read_table(write_csv(tmp_path / "a.tsv", ["a text", "b"], rows, delimiter="\t"))
    json_table = read_table(write_jsonl(tmp_path / "a.jsonl", [{"a text": a, "b": int(b)} for a, b in rows]))
    for table in (csv_table, tsv_table, json_table):
        assert table.columns == ["a text", "b"]
        assert [[table.cell(row, c) for c in table.columns] for row in table.rows] == [list(r) for r in rows]
    assert [row.line for row in csv_table.rows] == [2, 3]


def test_plain_tsv_keeps_its_quotes(tmp_path):
    """GLUE's TSVs are not quoted: a sentence may begin with a quote it never closes as a field."""
    path = tmp_path / "glue.tsv"
    path.write_text('sentence\tlabel\n"Hello," she said.\t1\nplain text\t0\n')
    table = read_table(path)
    assert [table.cell(row, "sentence") for row in table.rows] == ['"Hello," she said.', "plain text"]


# ------------------------------------------------------------------ bad input

@pytest.fixture
def previous_run(tmp_path) -> Path:
    """An output directory holding an earlier run's files, which a failed run must leave alone."""
    output = tmp_path / "out"
    (output / "seed-1").mkdir(parents=True)
    (output / "summary.json").write_text('{"task": "reviews.csv", "median": {"accuracy": 0.5}}\n')
    (output / "seed-1" / "dev_predictions.tsv").write_text("index\n")
    return output


def snapshot(directory: Path) -> dict:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def set_option(args: list[str], name: str, value: str) -> None:
    args[args.index(name) + 1] = value


def drop_option(args: list[str], name: str) -> None:
    del args[args.index(name):args.index(name) + 2]


def bad_file(name: str, content: str, option: str = "--validation-file"):
    """Make the file of `option` one named `name` that holds `content`."""
    def change(args, files, tmp):
        (tmp / name).write_text(content, encoding="utf-8")
        if option not in args:
            args += [option, ""]
        set_option(args, option, str(tmp / name))
    return change


def other_task(train: str, text_columns: str, label_column: str, content: str | None = None, flags=()):
    """Train and validate on another file (a data file of the module's, or `content` written to `train`),
    with more `flags`."""
    def change(args, files, tmp):
        path = files / train
        if content is not None:
            path = tmp / train
            path.write_text(content, encoding="utf-8")
        for option, value in [("--train-file", str(path)), ("--validation-file", str(path)),
                              ("--text-columns", text_columns), ("--label-column", label_column)]:
            set_option(args, option, value)
        args.extend(flags)
    return change


def with_flags(*flags: str):
    return lambda args, files, tmp: args.extend(flags)


SCORES_JSONL = "".join(json.dumps({"text": t, "score": s}) + "\n" for t, s in SCORES)
COLUMNS = r"'review text', 'star rating'"

BAD_FILES = {
    "missing label column": (lambda args, files, tmp: set_option(args, "--label-column", "stars"),
                             rf".*reviews.csv: no column 'stars' \(--label-column\); the file has: {COLUMNS}"),
    "missing text column in dev": (bad_file("dev.csv", "review,star rating\nnice,good\n"),
                                   r".*dev.csv: no column 'review text' \(--text-columns\); the file has: "
                                   r"'review', 'star rating'"),
    "test file without the text column": (bad_file("test.csv", "text\nnice\n", "--test-file"),
                                          r".*test.csv: no column 'review text' \(--text-columns\); .*"),
    "empty file": (bad_file("dev.csv", ""), r".*dev.csv: the file is empty"),
    "header and no rows": (bad_file("dev.csv", "review text,star rating\n"),
                           rf".*dev.csv: a header line \({COLUMNS}\) but no rows"),
    "dev label not in training": (bad_file("dev.csv", "review text,star rating\nnice,good\nnice,great\n"),
                                  r".*dev.csv:3: label 'great' never appears in the training file "
                                  r"\(its labels: bad, good, meh\)"),
    "empty label": (bad_file("dev.csv", "review text,star rating\nnice,\n"), r".*dev.csv:2: the label is empty"),
    "regression label not a number": (other_task("scores.jsonl", "text", "score",
                                                 SCORES_JSONL + '{"text": "hm", "score": "n/a"}\n'),
                                      r".*scores.jsonl:9: label 'n/a' is not a number \(labels with a fractional "
                                      r"part, such as '0.5' at .*scores.jsonl:2, make this a regression task; "
                                      r"--task-type classification makes them class names\)"),
    "string label with --task-type regression": (with_flags("--task-type", "regression"),
                                                 r".*reviews.csv:2: label 'good' is not a number "
                                                 r"\(--task-type regression\)"),
    "JSON line that does not parse": (other_task("scores.jsonl", "text", "score",
                                                 "".join(SCORES_JSONL.splitlines(True)[:2]) + '{"text": "a", \n'),
                                      r".*scores.jsonl:3: not valid JSON \(Expecting property name enclosed in "
                                      r"double quotes, column 15\); the file must hold one JSON object per line"),
    "JSON line with a lone surrogate": (other_task("scores.jsonl", "text", "score",
                                                SCORES_JSONL + '{"text": "a \\udc80 b", "score": 1.5}\n'),
                                        r".*scores.jsonl:9: 'text' holds '\\udc80' at position 2, which is not a "
                                        r"Unicode character .*"),
    "JSON line that is not an object": (other_task("scores.jsonl", "text", "score", '["text", 1]\n'),
                                        r".*scores.jsonl:1: a JSON list, not an object; .*"),
    "row with a field too many": (bad_file("dev.csv", "review text,star rating\nnice,good\nnice,good,extra\n"),
                                  r".*dev.csv:3: 3 fields, but the header has 2 columns"),
    "unclosed quote": (bad_file("dev.csv", 'review text,star rating\n"nice,good\n'),
                       r".*dev.csv:\d: malformed CSV quoting \(unexpected end of data\)"),
    "column named twice": (bad_file("dev.csv", "review text,review text\nnice,good\n"),
                           r".*dev.csv:1: column 'review text' appears twice in the header"),
    "unknown extension": (bad_file("dev.txt", "review text,star rating\nnice,good\n"),
                          r".*dev.txt: unknown format; name the file .csv, .tsv, .jsonl or .json \(JSON lines\)"),
    "one class": (other_task("one.csv", "review text", "star rating", "review text,star rating\nok,good\nfine,good\n"),
                  r".*one.csv: the training labels have only one class \(good\); classification needs at least two"),
    "positive label with three classes": (with_flags("--positive-label", "good"),
                                          r"--positive-label is for two classes; the training labels have 3"),
    "positive label not a label": (other_task("pairs.tsv", "first sentence,second sentence", "same meaning",
                                              flags=("--positive-label", "maybe")),
                                   r"--positive-label 'maybe' is not a training label \(no, yes\)"),
    "no text columns": (lambda args, files, tmp: drop_option(args, "--text-columns"),
                        rf"--text-columns is needed with --train-file; .*reviews.csv has: {COLUMNS}"),
    "no validation file": (lambda args, files, tmp: drop_option(args, "--validation-file"),
                           r"--train-file needs --validation-file: the dev set that picks the best epoch"),
    "GLUE task and files": (with_flags("--task", "cola"),
                            r"--text-columns describes your own files; --task cola has columns of its own \(leave "
                            r"--task out to fine-tune on your files\)"),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_bad_file_is_one_line_and_overwrites_nothing(files, tmp_path, previous_run, capsys, case):
    change, message = BAD_FILES[case]
    args = file_args(files, previous_run, "reviews.csv", "review text", "star rating", "--overwrite")
    change(args, files, tmp_path)
    before = snapshot(previous_run)
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert re.fullmatch("error: " + message + "\n", err), err  # exactly one line
    assert snapshot(previous_run) == before


@pytest.mark.parametrize("task, flags", [("cola", ("--text-columns", "review text")),
                                         ("squad", ("--label-column", "stars")),
                                         ("conll2003", ("--task-type", "regression")),
                                         ("mrpc", ("--positive-label", "1"))])
def test_own_file_flags_beside_a_named_task_are_an_error(tmp_path, capsys, task, flags):
    assert cli.main(["--task", task, "--model", "tiny", "--output", str(tmp_path / "out"), *flags]) == 2
    assert capsys.readouterr().err == (f"error: {flags[0]} describes your own files; --task {task} has columns of "
                                       "its own (leave --task out to fine-tune on your files)\n")
    assert not (tmp_path / "out").exists()


def test_a_training_file_without_labels(tmp_path):
    with pytest.raises(InputError, match=r"labels.jsonl: the training labels have only one class \(none\)"):
        label_space(tmp_path, [None, ""])
