"""The benchmark scripts' data handling (bench/intent_banking77.py, bench/sentiment.py).

Their smallest real runs fine-tune a model for minutes, far over a unit test's budget, so
only the helpers that decide what is trained and what is held out are tested here, on tiny
files.
"""

from __future__ import annotations

import importlib.util
import random
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def load_bench(name: str) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # sentiment.py imports intent_banking77 by this name
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def banking() -> ModuleType:
    return load_bench("intent_banking77")


@pytest.fixture(scope="module")
def sentiment() -> ModuleType:
    return load_bench("sentiment")


def rows_with(counts: dict[str, int], label: str = "category") -> list[dict[str, str]]:
    return [
        {"text": f"{name} example {i}", label: name} for name, n in counts.items() for i in range(n)
    ]


def test_stratified_subsample_keeps_proportions_size_and_order(banking: ModuleType) -> None:
    rows = rows_with({"a": 60, "b": 30, "c": 10})

    sample = banking.stratified_subsample(rows, 50, seed=1)

    assert len(sample) == 50
    assert Counter(r["category"] for r in sample) == {"a": 30, "b": 15, "c": 5}
    assert sample == [r for r in rows if r in sample]  # original order
    assert sample == banking.stratified_subsample(rows, 50, seed=1)
    assert sample != banking.stratified_subsample(rows, 50, seed=2)


def test_stratified_subsample_keeps_two_rows_of_every_label(banking: ModuleType) -> None:
    rows = rows_with({"big": 200, "rare1": 3, "rare2": 2})

    sample = banking.stratified_subsample(rows, 20, seed=0)

    counts = Counter(r["category"] for r in sample)
    assert len(sample) == 20 and counts["rare1"] == 2 and counts["rare2"] == 2


def test_stratified_subsample_refuses_a_limit_below_two_per_label(banking: ModuleType) -> None:
    with pytest.raises(ValueError, match="too small"):
        banking.stratified_subsample(rows_with({"a": 5, "b": 5, "c": 5}), 5, seed=0)


def test_stratified_subsample_of_more_than_there_is_returns_everything(
    banking: ModuleType,
) -> None:
    rows = rows_with({"a": 3, "b": 3})

    assert banking.stratified_subsample(rows, 100, seed=0) == rows


def test_banking77_rows_are_read_from_text_and_category(
    banking: ModuleType, tmp_path: Path
) -> None:
    path = tmp_path / "train.csv"
    path.write_text('text,category\n"card, lost",lost_card\nhi,greet\n', encoding="utf-8")

    rows = banking.read_rows(path)

    assert rows == [
        {"text": "card, lost", "category": "lost_card"},
        {"text": "hi", "category": "greet"},
    ]
    assert banking.read_rows(banking.write_rows(tmp_path / "copy.csv", rows)) == rows


def test_svm_baseline_reports_its_figures(banking: ModuleType) -> None:
    train = [
        {"text": text, "category": label}
        for label, texts in {
            "card": ["my card is lost", "card stolen", "lost my card", "card missing"],
            "pay": ["refund my payment", "payment failed", "payment pending", "pay back"],
        }.items()
        for text in texts
    ]

    figures = banking.svm_baseline(train, train)

    assert figures["svm_accuracy"] == 1.0 and figures["svm_macro_f1"] == 1.0
    assert figures["svm_train_seconds"] >= 0 and figures["svm_ms_per_message"] >= 0


def test_banking_bench_has_no_recipe_of_its_own_only_the_users_budget(
    banking: ModuleType,
) -> None:
    args = banking.parse_args([])

    assert (args.max_minutes, args.limit, args.out, args.svm) == (30.0, None, None, False)
    assert not {"epochs", "batch_size", "lr", "label_smoothing"} & set(vars(args))


def test_banking_bench_skips_with_the_reason_when_the_data_is_absent(
    banking: ModuleType, tmp_path: Path
) -> None:
    result = banking.main(["--data-dir", str(tmp_path)])

    assert result["skipped"].startswith("missing ")


@pytest.fixture(scope="module")
def oos_bench() -> ModuleType:
    return load_bench("intent_oos")


def test_oos_protocol_holds_out_a_quarter_of_the_intents_and_trains_on_50_each(
    oos_bench: ModuleType,
) -> None:
    intents = [f"intent_{i:02d}" for i in range(8)]
    train = [(f"{name} question {i}", name) for name in intents for i in range(60)]
    test = [(f"{name} test {i}", name) for name in intents for i in range(3)]

    chosen, test_rows, held_out = oos_bench.make_split(train, test, ["weather?"], seed=1)

    assert len(held_out) == 2
    assert not {label for _, label in chosen} & set(held_out)
    assert Counter(label for _, label in chosen) == dict.fromkeys(
        sorted(set(intents) - set(held_out)), 50
    )
    oos = [text for text, label in test_rows if label == "oos"]
    assert len(oos) == 2 * 3 + 1 and "weather?" in oos
    assert oos_bench.make_split(train, test, ["weather?"], seed=1)[2] == held_out


def write_tweeteval(directory: Path, split: str, pairs: list[tuple[str, str]]) -> None:
    directory.mkdir(exist_ok=True)
    (directory / "mapping.txt").write_text("0\tnegative\n1\tneutral\n2\tpositive\n")
    (directory / f"{split}_text.txt").write_text("".join(f"{t} \n" for t, _ in pairs))
    (directory / f"{split}_labels.txt").write_text("".join(f"{label}\n" for _, label in pairs))


def test_tweeteval_labels_follow_mapping_txt(sentiment: ModuleType, tmp_path: Path) -> None:
    write_tweeteval(tmp_path, "val", [("awful day", "0"), ("it is tuesday", "1"), ("yay", "2")])

    rows = sentiment.read_tweeteval(tmp_path, "val")

    assert [(r["text"], r["label"]) for r in rows] == [
        ("awful day", "negative"),
        ("it is tuesday", "neutral"),
        ("yay", "positive"),
    ]


def test_tweeteval_splits_are_those_with_both_files(sentiment: ModuleType, tmp_path: Path) -> None:
    write_tweeteval(tmp_path, "val", [("a", "0")])
    write_tweeteval(tmp_path, "test", [("b", "1")])
    (tmp_path / "train_labels.txt").write_text("1\n")  # texts missing, as in the shared copy

    assert sentiment.tweeteval_splits(tmp_path) == ["val", "test"]


def test_tweeteval_misaligned_files_are_refused(sentiment: ModuleType, tmp_path: Path) -> None:
    write_tweeteval(tmp_path, "val", [("a", "0"), ("b", "1")])
    (tmp_path / "val_labels.txt").write_text("0\n")

    with pytest.raises(ValueError, match="has 2 lines but"):
        sentiment.read_tweeteval(tmp_path, "val")


def test_sst5_maps_to_three_classes_and_is_detokenised(
    sentiment: ModuleType, tmp_path: Path
) -> None:
    path = tmp_path / "stsa.fine.train"
    path.write_text(
        "0 it was awful .\n1 i do n't like it -lrb- at all -rrb- .\n2 it 's a film .\n"
        "3 good fun !\n4 a masterpiece , truly .\n"
    )

    rows = sentiment.read_labelled_lines(path, sentiment.SST5_TO_3, "sst")

    assert [r["label"] for r in rows] == ["negative", "negative", "neutral", "positive", "positive"]
    assert [r["text"] for r in rows[1:3]] == ["i don't like it (at all).", "it's a film."]
    assert sentiment.detokenise("it does n 't play .") == "it doesn't play."  # CR's spelling


def test_holdout_split_is_stratified_and_fixed(sentiment: ModuleType) -> None:
    rows = rows_with({"negative": 20, "neutral": 40, "positive": 40}, label="label")

    pool, held = sentiment.holdout_split(rows)

    assert len(held) == 15 and len(pool) == 85
    assert Counter(r["label"] for r in held) == {"negative": 3, "neutral": 6, "positive": 6}
    assert sentiment.holdout_split(rows) == (pool, held)
    assert not {r["text"] for r in held} & {r["text"] for r in pool}


def test_clean_drops_repeats_conflicts_and_held_out_texts(sentiment: ModuleType) -> None:
    rows = [
        {"text": "Great!", "label": "positive"},
        {"text": "great", "label": "positive"},  # the same text, differently spelled
        {"text": "meh", "label": "neutral"},
        {"text": "Meh.", "label": "negative"},  # conflicts with the row above
        {"text": "bad", "label": "negative"},
    ]

    kept = sentiment.clean(rows, exclude=[{"text": "BAD", "label": "negative"}])

    assert kept == [{"text": "Great!", "label": "positive"}]


def test_sentiment_defaults_hold_out_the_full_split(sentiment: ModuleType) -> None:
    args = sentiment.parse_args([])

    assert (args.max_minutes, args.limit, args.holdout_limit, args.extra) == (30.0, None, None, "")


@pytest.fixture(scope="module")
def replay() -> ModuleType:
    return load_bench("alerts_replay")


@pytest.fixture(scope="module")
def resample() -> ModuleType:
    return load_bench("alerts_resample")


TONES = ("negative", "neutral", "positive")


def tiny_pool() -> dict[str, dict[str, list[str]]]:
    return {
        topic: {tone: [f"{topic} {tone} {i}" for i in range(3)] for tone in TONES}
        for topic in ("orders", "payments", "shipping")
    }


def test_alerts_stream_draws_whole_messages_of_the_planned_topic_and_tone(
    replay: ModuleType,
) -> None:
    pool = tiny_pool()
    plan = replay.labelled_stream(random.Random(4), pool, calm=3000, surge=3000, topic="payments")
    assert plan == replay.labelled_stream(
        random.Random(4), pool, calm=3000, surge=3000, topic="payments"
    )
    assert all(text in pool[topic][label] for topic, label, _s, text in plan)

    def negative_share(topic_is_payments: bool, surge: bool) -> float:
        labels = [
            label
            for t, label, s, _x in plan
            if (t == "payments") == topic_is_payments and s == surge
        ]
        return sum(label == "negative" for label in labels) / len(labels)

    assert 0.15 < negative_share(True, surge=False) < 0.25
    assert 0.54 < negative_share(True, surge=True) < 0.66
    assert 0.16 < negative_share(False, surge=True) < 0.24


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "text,topic,label\nfine,orders,neutral\nugh,orders,angry\n",
            "{file}:3: label 'angry' is not one of negative, neutral, positive",
        ),
        ("text,label\nfine,neutral\n", "{file}:1: no topic column; the header is text,topic,label"),
        (
            "text,topic,label\nfine,orders,neutral\n",
            "{file}: topic 'orders' has no negative or positive messages; add some",
        ),
    ],
    ids=["bad-label", "missing-column", "missing-tones"],
)
def test_alerts_stream_file_errors_name_the_file_line_and_fix(
    replay: ModuleType,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: str,
    message: str,
) -> None:
    file = tmp_path / "stream.csv"
    file.write_text(content, encoding="utf-8")
    with pytest.raises(SystemExit):
        replay.stream_messages(file)
    assert message.format(file=file) in capsys.readouterr().err


def test_resampled_run_counts_delay_and_false_alerts_like_the_replay(
    resample: ModuleType,
) -> None:
    import argparse

    pool = tiny_pool()
    # A perfect reader: every message's own topic and tone.
    read = {
        text: (topic, tone == "negative")
        for topic, by_tone in pool.items()
        for tone, texts in by_tone.items()
        for text in texts
    }
    args = argparse.Namespace(
        warmup=600, calm=3000, surge=1500, topic="payments", step=2.0, concurrency=8
    )
    run = resample.one_run(args, {}, pool, read, seed=0)
    assert run["calm"] == 0 and run["other"] == 0
    assert run["delay"] is not None and 5 <= run["delay"] <= 50
    # With no surge there is nothing to find.
    calm_only = argparse.Namespace(**{**vars(args), "surge": 0})
    assert resample.one_run(calm_only, {}, pool, read, seed=0)["delay"] is None


@pytest.fixture(scope="module")
def bound() -> ModuleType:
    return load_bench("alerts_bound")


def test_oracle_cusum_finds_a_surge_it_knows_and_counts_calm_false_alerts(
    bound: ModuleType,
) -> None:
    calm_part = [("payments", i % 5 == 0, False, "payments") for i in range(200)]
    surge_part = [("payments", i % 5 < 3, True, "payments") for i in range(100)]
    stream = calm_part + surge_part
    shares = {"payments": 0.2}

    def run(h: float, within: int = 50) -> tuple[bool, bool]:
        found, false_alert = bound.oracle_run(
            stream, shares, 0.4, topic="payments", h=h, calm=range(200), within=within
        )
        return found, false_alert

    # One negative in five never builds up against 20%; three in five do, within a dozen.
    assert run(4.0) == (True, False)
    assert run(4.0, within=5) == (False, False)
    # A threshold below one negative's evidence fires in the calm stretch.
    assert run(0.5)[1] is True
