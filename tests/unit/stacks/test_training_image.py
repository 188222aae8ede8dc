"""The region -> account table of the official SageMaker PyTorch training image."""

from __future__ import annotations

import json

from stacks.training_image import TABLE, load_table


def test_table_names_its_source_and_covers_the_main_regions():
    raw = json.loads(TABLE.read_text())
    assert raw["source"].startswith("sagemaker-core 2.27.0")
    table = load_table()
    assert table.repository == "pytorch-training"
    for region in ("us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-northeast-1"):
        assert table.registries[region] == "763104351884"
    assert all(len(account) == 12 and account.isdigit() for account in table.registries.values())


def test_tags_follow_the_sdk_format():
    table = load_table()
    assert table.tag(gpu=False) == f"{table.framework_version}-cpu-{table.py_version}"
    assert table.tag(gpu=True) == f"{table.framework_version}-gpu-{table.py_version}"
