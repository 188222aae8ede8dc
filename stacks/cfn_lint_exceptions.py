"""cfn-lint exceptions, each on the resources it concerns, with its rule and reason here.

W3005 (redundant DependsOn): CDK makes every Lambda function and state machine depend on its whole
role construct (role and policy), so the template lists the role in DependsOn although Fn::GetAtt on
it already orders the deploy. The DependsOn on the role's policy is the one that matters and CDK
offers no way to drop only the role, so the check is turned off on exactly those resources.
"""

from __future__ import annotations

from aws_cdk import CfnResource, Stack

REDUNDANT_ROLE_DEPENDENCY = "W3005"
ROLE_USERS = ("AWS::Lambda::Function", "AWS::StepFunctions::StateMachine")


def ignore_redundant_role_dependencies(stack: Stack) -> None:
    for construct in stack.node.find_all():
        if isinstance(construct, CfnResource) and construct.cfn_resource_type in ROLE_USERS:
            construct.add_metadata("cfn-lint", {"config": {"ignore_checks": [REDUNDANT_ROLE_DEPENDENCY]}})
