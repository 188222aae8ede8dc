"""Names the Lambdas and IAM policies rely on: deterministic, lowercase, within SageMaker's limits."""

from __future__ import annotations

import re

from stacks.naming import (
    MAX_BASE,
    endpoint_prefix,
    idle_rule_name,
    sagemaker_base,
    service_stack_name,
    stateful_stack_name,
)

SAGEMAKER_NAME = re.compile(r"^[a-z0-9](-*[a-z0-9])*$")


def test_short_names_read_as_stack_and_model():
    assert sagemaker_base("seqserve-service", "circrna") == "seqserve-service-circrna"
    assert idle_rule_name("seqserve-service") == "seqserve-service-idle-check"


def test_long_names_are_cut_with_a_hash_that_keeps_them_apart():
    one = sagemaker_base("a-rather-long-stack-service", "protein-localization-v1")
    two = sagemaker_base("a-rather-long-stack-service", "protein-localization-v2")
    assert one != two
    for name in (one, two):
        assert len(name) <= MAX_BASE
        assert SAGEMAKER_NAME.match(name)
    # A training run appends "-" and a 36-character UUID; the result must still be a valid SageMaker name.
    assert len(f"{one}-{'0' * 36}") <= 63


def test_names_are_deterministic_and_lowercase():
    assert sagemaker_base("SeqServe-Service", "circrna") == sagemaker_base("SeqServe-Service", "circrna")
    assert sagemaker_base("SeqServe-Service", "circrna") == "seqserve-service-circrna"


def test_rule_names_fit_eventbridge():
    assert len(idle_rule_name("x" * 200)) <= 64


def test_stack_names_come_from_the_prefix(full):
    assert full.stacks.service.stack_name == service_stack_name("seqserve") == "seqserve-service"
    assert full.stacks.stateful.stack_name == stateful_stack_name("seqserve") == "seqserve-stateful"


def test_every_base_starts_with_the_lowercase_prefix_even_when_cut():
    # interfaces.md #5: ListEndpoints(NameContains=<prefix>) finds exactly this app's endpoints.
    for prefix in ("seqserve", "SeqServe", "My-Company-Seqserve1", "x" * 20):
        for model in ("circrna", "protein-localization-v1", "m" * 32):
            base = sagemaker_base(service_stack_name(prefix), model)
            assert base.startswith(endpoint_prefix(prefix)), (prefix, model, base)
            assert endpoint_prefix(prefix) == f"{prefix.lower()}-"
            assert len(base) <= MAX_BASE and SAGEMAKER_NAME.match(base)
