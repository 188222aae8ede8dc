"""cdk-nag AwsSolutions suppressions: each names its rule, the finding, and why it holds for that resource."""

from __future__ import annotations

from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from stacks.model_function import ModelServingFunction
from stacks.service_stack import ServiceStack

XRAY = (
    "X-Ray PutTraceSegments/PutTelemetryRecords (added by active tracing) support no resource-level "
    "permissions; see the X-Ray IAM reference"
)
STATE_MACHINE_UNSCOPED = (
    "the state machine's X-Ray tracing and its CloudWatch Logs delivery (logs:*LogDelivery, "
    "DescribeLogGroups, PutResourcePolicy) support no resource-level permissions; the .sync training "
    "integration's sagemaker:ListTags is granted on * as in Step Functions' own generated policy"
)
BUCKET_KEY = (
    "CDK's S3 grants on the bucket encrypted with the configured key (kms_key_arn) add these KMS action "
    "groups, limited to that key"
)
PINNED_RUNTIME = (
    "Python 3.12 is the runtime the Lambda code, its tests and the Powertools 3.37 layer are pinned to"
)
TOPIC_KEY = (
    "kms:GenerateDataKey* is how KMS grants publishing to the encrypted notification topic; it is "
    "limited to that topic's key"
)
# CDK's AwsCustomResource provider function, shared by every state-item resource in the stack.
AWS_CUSTOM_RESOURCE_ID = "AWS679f53fac002430cb0da5b7982bd2287"


def _suppress(construct: Construct, *suppressions: NagPackSuppression) -> None:
    NagSuppressions.add_resource_suppressions(construct, list(suppressions), apply_to_children=True)


def _rule(rule: str, reason: str, *applies_to: str) -> NagPackSuppression:
    return NagPackSuppression(id=rule, reason=reason, applies_to=list(applies_to) or None)


def _regex(pattern: str) -> dict[str, str]:
    return {"regex": f"/{pattern}/"}


def _suppress_model_function(model_function: ModelServingFunction) -> None:
    """The Lambda-hosted model (stacks/model_function.py): it reads where its model's current artifact
    is recorded and that artifact, nothing else."""
    _suppress(model_function.function, _rule("AwsSolutions-L1", PINNED_RUNTIME))
    _suppress(
        model_function.function.role,
        _rule("AwsSolutions-IAM5", XRAY, "Resource::*"),
        NagPackSuppression(
            id="AwsSolutions-IAM5",
            reason=(
                "each training run creates the endpoint configuration and SageMaker model <endpoint "
                "name>-<run uuid> and writes its artifact under artifacts/<model>/; the function serves "
                "whichever one the state table records"
            ),
            applies_to=[
                _regex(r"^Resource::arn:(<AWS::Partition>|aws[a-z-]*):sagemaker:.*:endpoint-config/.+-\*$"),
                _regex(r"^Resource::arn:(<AWS::Partition>|aws[a-z-]*):sagemaker:.*:model/.+-\*$"),
                _regex(r"^Resource::.*/artifacts/[a-z0-9-]+/\*$"),
            ],
        ),
        _rule(
            "AwsSolutions-IAM5",
            "CDK's S3 read grant action groups, limited to this model's artifacts/ prefix or model_data",
            "Action::s3:GetObject*",
            "Action::s3:GetBucket*",
            "Action::s3:List*",
        ),
    )


def suppress_service_findings(stack: ServiceStack) -> None:
    functions = stack.functions
    for function in (functions.invoker, functions.idle_checker):
        _suppress(function, _rule("AwsSolutions-L1", PINNED_RUNTIME))
    _suppress(
        functions.invoker.role,
        _rule("AwsSolutions-IAM5", XRAY, "Resource::*"),
        NagPackSuppression(
            id="AwsSolutions-IAM5",
            reason=(
                "each training run creates the endpoint configuration <endpoint name>-<run uuid>; the "
                "invoker creates this model's endpoint from whichever one the state table records"
            ),
            applies_to=[
                _regex(r"^Resource::arn:(<AWS::Partition>|aws[a-z-]*):sagemaker:.*:endpoint-config/.+-\*$")
            ],
        ),
        NagPackSuppression(
            id="AwsSolutions-IAM5",
            reason=(
                "each training run creates the SageMaker model <endpoint name>-<run uuid> and writes its "
                "artifact under artifacts/; the invoker reads the served one's evaluation.json"
            ),
            applies_to=[
                _regex(r"^Resource::arn:(<AWS::Partition>|aws[a-z-]*):sagemaker:.*:model/.+-\*$"),
                _regex(r"^Resource::.*/artifacts/\*$"),
            ],
        ),
        _rule(
            "AwsSolutions-IAM5",
            "CDK's S3 read grant action groups, limited to the artifacts/ prefix of the app's bucket",
            "Action::s3:GetObject*",
            "Action::s3:GetBucket*",
            "Action::s3:List*",
        ),
    )
    _suppress(
        functions.idle_checker.role,
        NagPackSuppression(
            id="AwsSolutions-IAM5",
            reason=(
                "the reconciler wakes a model before its keep-warm window from whichever endpoint "
                "configuration <endpoint name>-<run uuid> its last training run created"
            ),
            applies_to=[
                _regex(r"^Resource::arn:(<AWS::Partition>|aws[a-z-]*):sagemaker:.*:endpoint-config/.+-\*$")
            ],
        ),
        _rule("AwsSolutions-IAM5", XRAY, "Resource::*"),
        _rule("AwsSolutions-IAM5", TOPIC_KEY, "Action::kms:GenerateDataKey*"),
        NagPackSuppression(
            id="AwsSolutions-IAM5",
            reason=(
                "the reconciler lists endpoints (ListEndpoints has no resource-level permission), reads "
                "the tags of those named with this app's prefix that no model owns and deletes only "
                "those carrying this deployment's seqserve:deployment tag (an aws:ResourceTag "
                "condition); it re-creates a model's endpoint from the configuration a training run recorded"
            ),
            applies_to=[
                "Resource::*",
                _regex(r"^Resource::arn:(<AWS::Partition>|aws[a-z-]*):sagemaker:.*:endpoint/[a-z0-9-]+-\*$"),
                _regex(r"^Resource::arn:(<AWS::Partition>|aws[a-z-]*):sagemaker:.*:endpoint-config/.+-\*$"),
            ],
        ),
    )
    _suppress_job_findings(stack)
    for model_function in stack.model_functions.values():
        _suppress_model_function(model_function)
    if stack.model_functions:
        _suppress(
            functions.invoker.role,
            NagPackSuppression(
                id="AwsSolutions-IAM5",
                reason=(
                    "grant_invoke covers the model's serving function and its versions (<function ARN>:*); "
                    "the invoker answers through it while the model's endpoint wakes"
                ),
                applies_to=[_regex(r"^Resource::<Model.+LambdaServingFunction[0-9A-F]+\.Arn>:\*$")],
            ),
        )
    for model in stack.models.values():
        _suppress(
            model.execution_role.role,
            _rule(
                "AwsSolutions-IAM5",
                "CDK's S3 read/write grant action groups, limited to this model's data/, artifacts/ and "
                "checkpoints/ prefixes and to the training source bundle object",
                "Action::s3:GetObject*",
                "Action::s3:GetBucket*",
                "Action::s3:List*",
                "Action::s3:DeleteObject*",
                "Action::s3:Abort*",
            ),
            NagPackSuppression(
                id="AwsSolutions-IAM5",
                reason=(
                    "SageMaker reads training data and writes artifacts and checkpoints under keys it "
                    "chooses per job, inside this model's own prefixes"
                ),
                applies_to=[_regex(r"^Resource::.*/(data|artifacts|checkpoints)/[a-z0-9-]+/\*$")],
            ),
            _rule(
                "AwsSolutions-IAM5",
                "ecr:GetAuthorizationToken and cloudwatch:PutMetricData support no resource-level "
                "permissions; PutMetricData is limited to SageMaker namespaces by condition",
                "Resource::*",
            ),
            NagPackSuppression(
                id="AwsSolutions-IAM5",
                reason="SageMaker writes one log stream per training job in /aws/sagemaker/TrainingJobs and "
                "one log group per endpoint under /aws/sagemaker/Endpoints/",
                applies_to=[
                    _regex(
                        r"^Resource::arn:(<AWS::Partition>|aws[a-z-]*):logs:.*:log-group:/aws/sagemaker/"
                        r"(TrainingJobs:|Endpoints/)\*$"
                    )
                ],
            ),
        )
        _suppress(
            model.pipeline.state_machine.role,
            _rule("AwsSolutions-IAM5", STATE_MACHINE_UNSCOPED, "Resource::*"),
            _rule("AwsSolutions-IAM5", TOPIC_KEY, "Action::kms:GenerateDataKey*"),
            NagPackSuppression(
                id="AwsSolutions-IAM5",
                reason=(
                    "every run names its training job, model and endpoint configuration <endpoint name>-<run "
                    "uuid>, so the pipeline may act only on names with this model's prefix"
                ),
                applies_to=[
                    _regex(
                        r"^Resource::arn:(<AWS::Partition>|aws[a-z-]*):sagemaker:.*:(training-job|model|endpoint-config)/.+-\*$"
                    )
                ],
            ),
        )
    _suppress(
        stack.images.copy_role,
        _rule(
            "AwsSolutions-IAM5",
            "ecr:GetAuthorizationToken supports no resource-level permissions; pulls and pushes are "
            "limited to CDK's asset repository and the seqserve repository",
            "Resource::*",
        ),
        NagPackSuppression(
            id="AwsSolutions-IAM5",
            reason="the image-copy function's name is generated by CloudFormation; its log group is matched "
            "by the stack-name prefix CDK gives it",
            applies_to=[
                _regex(
                    r"^Resource::arn:(<AWS::Partition>|aws[a-z-]*):logs:.*:log-group:/aws/lambda/.+-CustomCDKECRDeployment\*$"
                )
            ],
        ),
    )
    provider = stack.node.try_find_child(AWS_CUSTOM_RESOURCE_ID)
    if provider is not None:
        _suppress(
            provider,
            _rule(
                "AwsSolutions-IAM4",
                "CDK's AwsCustomResource provider writes its own logs with AWSLambdaBasicExecutionRole; it "
                "only runs on deploy to create the state items",
                "Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
            ),
        )
    api = stack.api.api
    _suppress(
        api,
        _rule(
            "AwsSolutions-APIG3",
            "no WAF: clients are authenticated (API key or SigV4) and throttled by the stage and usage plan, "
            "and a web ACL would add a fixed monthly cost to a service meant to cost nothing while idle",
        ),
        _rule(
            "AwsSolutions-COG4",
            "clients are services and scripts, not Cognito users: the API authenticates with "
            + ("an API key and usage plan" if stack.auth == "api_key" else "IAM (SigV4)"),
        ),
    )
    if stack.auth == "api_key":
        _suppress(
            api,
            _rule(
                "AwsSolutions-APIG4",
                "auth is the API key mode chosen in cdk.json (api.auth = api_key): every method requires "
                "a key bound to the usage plan; set api.auth = iam for SigV4",
            ),
        )


def _suppress_job_findings(stack: ServiceStack) -> None:
    """Queued predictions (stacks/job_queue.py): the runner calls and wakes endpoints as the invoker
    does, and both functions use CDK's S3 grants, limited to the jobs/ prefix."""
    functions = stack.functions
    _suppress(functions.job_runner, _rule("AwsSolutions-L1", PINNED_RUNTIME))
    job_objects = (
        NagPackSuppression(
            id="AwsSolutions-IAM5",
            reason="each queued prediction has its own jobs/<job id>/ objects, named when it is submitted",
            applies_to=[_regex(r"^Resource::.*/jobs/\*$")],
        ),
        _rule(
            "AwsSolutions-IAM5",
            "CDK's S3 grant action groups, limited to the jobs/ prefix of the data bucket",
            "Action::s3:GetObject*",
            "Action::s3:GetBucket*",
            "Action::s3:List*",
            "Action::s3:DeleteObject*",
            "Action::s3:Abort*",
        ),
    )
    if stack.kms_key_arn is not None:
        job_objects += (
            _rule("AwsSolutions-IAM5", BUCKET_KEY, "Action::kms:GenerateDataKey*", "Action::kms:ReEncrypt*"),
        )
    _suppress(functions.invoker.role, *job_objects)
    _suppress(
        functions.job_runner.role,
        *job_objects,
        _rule("AwsSolutions-IAM5", XRAY, "Resource::*"),
        NagPackSuppression(
            id="AwsSolutions-IAM5",
            reason=(
                "each training run creates the endpoint configuration <endpoint name>-<run uuid>; the "
                "job runner wakes this model's endpoint from whichever one the state table records"
            ),
            applies_to=[
                _regex(r"^Resource::arn:(<AWS::Partition>|aws[a-z-]*):sagemaker:.*:endpoint-config/.+-\*$")
            ],
        ),
    )
