"""cfn-lint on every template of both test apps (make synth does the same for the cdk.json app)."""

from __future__ import annotations

import pytest
from cfnlint.api import lint_file


@pytest.mark.parametrize("app", ["full", "iam_app"])
def test_templates_have_no_cfn_lint_finding(app, request):
    built = request.getfixturevalue(app)
    templates = sorted(built.outdir.glob("*.template.json"))
    assert [t.name for t in templates] == [
        f"{built.stacks.service.stack_name}.template.json",
        f"{built.stacks.stateful.stack_name}.template.json",
    ]
    for template in templates:
        findings = lint_file(template)
        assert [f"{m.rule.id} {m.message}" for m in findings] == [], template.name
