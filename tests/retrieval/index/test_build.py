from __future__ import annotations

import json
from pathlib import Path

from retrieval.index.build import build_index
from retrieval.index.search import AnswerIndex
from retrieval.models.encoder import Encoder
from tests.retrieval.helpers import write


def test_build_index_merges_duplicates_saves_and_summarises(
    encoder: Encoder, tmp_path: Path
) -> None:
    data = write(
        tmp_path / "qa.csv",
        "question,answer,intent\n"
        "Where is my order?,Track it under My orders.,order_status\n"
        "How do I reset my password?,Use the Forgot password link.,reset_password\n"
        "where is my order,Ask us.,order_status\n"
        "Can I get my money back?,Refunds take 5 working days.,refund_status\n",
    )
    summary = build_index(data, tmp_path / "idx", progress=False, encoder=encoder)
    json.dumps(summary)  # the CLI prints it as JSON
    assert summary["rows"] == 4
    assert summary["count"] == 3
    assert summary["merged"] == summary["merged_exact"] == 1
    assert summary["merge_report"][0].startswith("merged qa-")
    assert summary["index_type"] == "flat"
    assert summary["dimension"] == 384
    assert summary["seconds"] >= 0

    index = AnswerIndex.load(tmp_path / "idx", encoder)
    assert index.search("where's my parcel", k=1)[0].answer == "Track it under My orders."
    assert index.build_info["provenance"]["rows"] == 4
