"""A CloudWatch dashboard and alarms per model; every alarm notifies the SNS topic.

The API's route is ``/models/{model}/predict`` for every model, so API Gateway's metrics cover all
models together; the per-model request count comes from the invoker's Powertools metrics
(namespace ``seqserve``, dimensions ``model`` and ``service``).
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.api import PREDICT_PATH, STAGE
from stacks.config import ModelConfig
from stacks.lambda_environment import METRICS_NAMESPACE
from stacks.serving import VARIANT

PERIOD = Duration.minutes(5)
# The services Powertools puts in the ``service`` dimension (POWERTOOLS_SERVICE_NAME of each Lambda).
INVOKER = "invoker"
IDLE_CHECKER = "idle-checker"


def lifecycle_metric(model: str, name: str, service: str, statistic: str = "Sum") -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map={"model": model, "service": service},
        statistic=statistic,
        period=PERIOD,
    )


def endpoint_metric(endpoint_name: str, name: str, statistic: str) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace="AWS/SageMaker",
        metric_name=name,
        dimensions_map={"EndpointName": endpoint_name, "VariantName": VARIANT},
        statistic=statistic,
        period=PERIOD,
    )


def predict_route_metric(api: apigw.RestApi, name: str, statistic: str) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace="AWS/ApiGateway",
        metric_name=name,
        dimensions_map={
            "ApiName": api.rest_api_name,
            "Stage": STAGE,
            "Resource": PREDICT_PATH,
            "Method": "POST",
        },
        statistic=statistic,
        period=PERIOD,
        label=f"{name} (all models)",
    )


class ModelMonitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        model: ModelConfig,
        endpoint_name: str,
        api: apigw.RestApi,
        state_machine: sfn.IStateMachine,
        topic: sns.ITopic,
        api_alarm: cloudwatch.IAlarm,
    ) -> None:
        super().__init__(scope, construct_id)
        notify = actions.SnsAction(topic)
        name = model.name
        self.alarms: list[cloudwatch.IAlarm] = []

        training_failed = state_machine.metric_failed(period=PERIOD, statistic="Sum")
        self._alarm(
            "TrainingFailed",
            notify,
            metric=training_failed,
            threshold=1,
            evaluation_periods=1,
            description=f"A training pipeline run of model {name} failed",
        )
        if model.serving.mode == "on_demand":
            endpoint_failed = lifecycle_metric(name, "Failures", IDLE_CHECKER)
            failed_description = f"The endpoint of model {name} failed and was deleted by the idle check"
        else:
            endpoint_failed = endpoint_metric(endpoint_name, "Invocation5XXErrors", "Sum")
            failed_description = f"The endpoint of model {name} answered 5xx"
        self._alarm(
            "EndpointFailed",
            notify,
            metric=endpoint_failed,
            threshold=1,
            evaluation_periods=1,
            description=failed_description,
        )
        if model.serving.mode == "on_demand":
            self._alarm(
                "OrphanAdopted",
                notify,
                metric=lifecycle_metric(name, "OrphansAdopted", IDLE_CHECKER),
                threshold=1,
                evaluation_periods=1,
                description=(
                    f"The endpoint of model {name} was running while its state said neither awake nor "
                    "waking; the reconciler adopted it (it is idle-deleted from now)"
                ),
            )
            self._alarm(
                "ReconcilerErrors",
                notify,
                metric=lifecycle_metric(name, "ReconcilerErrors", IDLE_CHECKER),
                threshold=1,
                evaluation_periods=3,
                description=f"The reconciler failed on model {name} in three periods in a row",
            )

        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", default_interval=Duration.days(1))
        self.dashboard.add_widgets(
            cloudwatch.TextWidget(
                markdown=f"# seqserve model `{name}` ({model.preset}, {model.serving.mode})",
                width=24,
                height=1,
            ),
            cloudwatch.GraphWidget(
                title="API requests",
                left=[
                    predict_route_metric(api, "Count", "Sum"),
                    lifecycle_metric(name, "Predictions", INVOKER),
                ],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="API 4xx / 5xx",
                left=[
                    predict_route_metric(api, "4XXError", "Sum"),
                    predict_route_metric(api, "5XXError", "Sum"),
                ],
                right=[lifecycle_metric(name, "EndpointDown", INVOKER)],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="API latency (ms)",
                left=[
                    predict_route_metric(api, "Latency", "p50"),
                    predict_route_metric(api, "Latency", "p99"),
                ],
                width=8,
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Model latency (µs)",
                left=[
                    endpoint_metric(endpoint_name, "ModelLatency", "p50"),
                    endpoint_metric(endpoint_name, "ModelLatency", "p99"),
                ],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Endpoint invocations",
                left=[endpoint_metric(endpoint_name, "Invocations", "Sum")],
                right=[endpoint_metric(endpoint_name, "Invocation5XXErrors", "Sum")],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Minutes awake, wakes and sleeps",
                left=[lifecycle_metric(name, "MinutesAwake", IDLE_CHECKER)],
                right=[
                    lifecycle_metric(name, "Wakes", IDLE_CHECKER),
                    lifecycle_metric(name, "Sleeps", IDLE_CHECKER),
                    lifecycle_metric(name, "OrphansAdopted", IDLE_CHECKER),
                    lifecycle_metric(name, "ReconcilerErrors", IDLE_CHECKER),
                ],
                width=8,
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.AlarmStatusWidget(alarms=[api_alarm, *self.alarms], title="Alarms", width=24)
        )

    def _alarm(
        self,
        construct_id: str,
        notify: actions.SnsAction,
        *,
        metric: cloudwatch.IMetric,
        threshold: float,
        evaluation_periods: int,
        description: str,
    ) -> None:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            metric=metric,
            threshold=threshold,
            evaluation_periods=evaluation_periods,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
        alarm.add_alarm_action(notify)
        self.alarms.append(alarm)


def api_error_rate_alarm(
    scope: Construct, construct_id: str, *, api: apigw.RestApi, topic: sns.ITopic
) -> cloudwatch.Alarm:
    """One alarm for the API: every model shares the predict route, so 5xx is only known for all."""
    error_rate = cloudwatch.MathExpression(
        expression="100 * IF(requests > 0, errors / requests, 0)",
        using_metrics={
            "errors": predict_route_metric(api, "5XXError", "Sum"),
            "requests": predict_route_metric(api, "Count", "Sum"),
        },
        period=PERIOD,
        label="predict 5xx (%)",
    )
    alarm = cloudwatch.Alarm(
        scope,
        construct_id,
        metric=error_rate,
        threshold=5,
        evaluation_periods=3,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        alarm_description="5% or more of predict requests answered 5xx for 15 minutes",
    )
    alarm.add_alarm_action(actions.SnsAction(topic))
    return alarm


# The ``model`` dimension the reconciler uses for what belongs to no model (lambdas/idle_checker).
APP_DIMENSION = "_app"


def reconciler_alarms(
    scope: Construct, construct_id: str, *, checker: lambda_.IFunction, topic: sns.ITopic
) -> list[cloudwatch.Alarm]:
    """App-wide: an endpoint with this app's prefix that no model owns, a failed run or listing."""
    notify = actions.SnsAction(topic)
    group = Construct(scope, construct_id)
    specs = (
        (
            "UntrackedEndpointAdopted",
            lifecycle_metric(APP_DIMENSION, "OrphansAdopted", IDLE_CHECKER),
            1,
            "An endpoint named with this app's prefix but owned by no model was running; the "
            "reconciler adopted it and deletes it after the idle time",
        ),
        (
            "ReconcilerListErrors",
            lifecycle_metric(APP_DIMENSION, "ReconcilerErrors", IDLE_CHECKER),
            3,
            "The reconciler could not list this app's endpoints in three periods in a row",
        ),
        (
            "ReconcilerRunErrors",
            checker.metric_errors(period=PERIOD, statistic="Sum"),
            3,
            "The reconciler Lambda failed (error or timeout) in three periods in a row",
        ),
    )
    alarms = []
    for alarm_id, metric, periods, description in specs:
        alarm = cloudwatch.Alarm(
            group,
            alarm_id,
            metric=metric,
            threshold=1,
            evaluation_periods=periods,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
        alarm.add_alarm_action(notify)
        alarms.append(alarm)
    return alarms
