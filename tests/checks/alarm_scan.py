"""Parses the rollback alarms of terraform/ (checkov's HCL parser) and template.yaml (PyYAML)
and checks that a bad release is rolled back whatever way it fails:

  ecs      the service rolls back (circuit breaker, deployment alarms) on the app's 5xx rate,
           the ALB's target and ELB 5xx, unhealthy targets (missing data breaching) and p99;
           the dashboard shows the same signals
  lambda   the canary (deploy-lambda.sh) watches the new version's own failed and throttled
           invocations (AWS/Lambda by FunctionName, Resource = function:alias, ExecutedVersion),
           retargeted at each version, next to the app's 5xx rate; the dashboard shows them
  sam      DeploymentPreference rolls back on the same per-version alarm and the app's 5xx rate
  loss     both modules alarm (notify only, never roll back) on the SDK's lost-telemetry counts,
           which config/ecs.yaml keeps with error.type; every ECS container's awslogs driver
           has an explicit mode; the collector sidecar is not essential but restarted, health
           checked and waited for, and a silence alarm covers a collector exporting into nothing

Each alarm's metric math is evaluated on made-up minutes: a canary failing 40% of its
invocations, and one whose init crashes (every invocation an error, no EMF at all), must
breach the default threshold; a healthy one must not.
Prints one line per finding; exit 1 on any.

Usage: python3 tests/checks/alarm_scan.py
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import hcl2

from cfn import load_template

ROOT = Path(__file__).resolve().parents[2]
ECS = ROOT / "terraform/modules/ecs-service"
LAMBDA = ROOT / "terraform/modules/lambda-function"
findings: list[str] = []


def finding(message: str) -> None:
    findings.append(message)


def one(value):
    """bc-python-hcl2 wraps attribute values (and blocks) in lists."""
    while isinstance(value, list) and len(value) == 1:
        value = value[0]
    return value


def load_module(path: Path) -> dict:
    """resources ({type: {name: body}}), locals and variables of one module."""
    module = {"resource": {}, "locals": {}, "variable": {}}
    for tf in sorted(path.glob("*.tf")):
        with tf.open() as f:
            doc = hcl2.load(f)
        for entry in doc.get("resource", []):
            for rtype, named in entry.items():
                module["resource"].setdefault(rtype, {}).update(named)
        for entry in doc.get("locals", []):
            module["locals"].update(entry)
        for entry in doc.get("variable", []):
            module["variable"].update(entry)
    return module


def resolve(module: dict, value):
    """Replaces a whole-value `${local.NAME}` by that local's value, recursively."""
    value = one(value)
    if isinstance(value, str):
        m = re.fullmatch(r"\$\{local\.([a-z0-9_]+)\}", value)
        if m and m.group(1) in module["locals"]:
            return resolve(module, module["locals"][m.group(1)])
    if isinstance(value, dict):
        return {k: resolve(module, v) for k, v in value.items() if not k.startswith("__")}
    return value


def tf_metrics(module: dict, body: dict) -> list[dict]:
    """Every metric an aws_cloudwatch_metric_alarm reads: namespace, name, dimensions, id."""
    if "metric_name" in body:
        return [{"id": None, "namespace": one(body["namespace"]), "name": one(body["metric_name"]),
                 "dimensions": resolve(module, body.get("dimensions", {}))}]
    out = []
    for query in body.get("metric_query", []):
        if "metric" in query:
            metric = one(query["metric"])
            out.append({"id": one(query["id"]), "namespace": one(metric["namespace"]),
                        "name": one(metric["metric_name"]),
                        "dimensions": resolve(module, metric.get("dimensions", {}))})
    return out


def tf_expression(body: dict) -> str | None:
    for query in body.get("metric_query", []):
        if one(query.get("return_data", False)) and "expression" in query:
            return one(query["expression"])
    return None


class Num(float):
    """A datapoint: arithmetic stays Num, and x / 0 is NaN instead of an exception, because
    metric math's IF() evaluates only the branch it takes while Python's call evaluates both."""

    def _wrap(op):
        def method(self, other):
            try:
                return Num(getattr(float, op)(self, float(other)))
            except ZeroDivisionError:
                return Num("nan")
        return method

    __add__, __radd__ = _wrap("__add__"), _wrap("__radd__")
    __sub__, __rsub__ = _wrap("__sub__"), _wrap("__rsub__")
    __mul__, __rmul__ = _wrap("__mul__"), _wrap("__rmul__")
    __truediv__, __rtruediv__ = _wrap("__truediv__"), _wrap("__rtruediv__")


def evaluate(expression: str, values: dict[str, float | None]) -> float:
    """CloudWatch metric math as these alarms use it (IF, FILL, AND, OR, + - * /, comparisons) on one
    datapoint per metric id; a missing datapoint is None."""
    python = re.sub(r"\bIF\(", "_if(", expression)
    python = re.sub(r"\bFILL\(", "_fill(", python)
    python = re.sub(r"\bAND\b", "and", re.sub(r"\bOR\b", "or", python))
    if re.search(r"[^A-Za-z0-9_ .,()+\-*/<>=]", python):
        raise ValueError(f"unexpected syntax in {expression!r}")

    def _if(cond, then, other):
        return then if cond else other

    def _fill(x, default):
        return Num(default) if x is None else x

    data = {k: None if v is None else Num(v) for k, v in values.items()}
    return eval(python, {"__builtins__": {}}, {"_if": _if, "_fill": _fill, **data})  # noqa: S307 - syntax checked above


def breaches(expression: str, threshold: float, values: dict, what: str, expect: bool) -> None:
    try:
        value = evaluate(expression, values)
    except TypeError:
        # A missing datapoint used without FILL: CloudWatch then computes nothing at all.
        finding(f"{what}: the expression yields no datapoint when a metric is missing (FILL it): {expression}")
        return
    if (value > threshold) != expect:
        finding(f"{what}: the alarm reads {value:g} against threshold {threshold:g}, "
                f"so it {'does not fire' if expect else 'fires'}")


def default(module: dict, var: str):
    return one(module["variable"][var].get("default"))


# --- ECS ---

def check_ecs() -> None:
    module = load_module(ECS)
    alarms = module["resource"].get("aws_cloudwatch_metric_alarm", {})
    service = one(module["resource"]["aws_ecs_service"]["this"])
    breaker = one(service.get("deployment_circuit_breaker", {}))
    if not (one(breaker.get("enable")) is True and one(breaker.get("rollback")) is True):
        finding("ecs-service: the deployment circuit breaker must be enabled with rollback")
    deploy_alarms = one(service.get("alarms", {}))
    if not (one(deploy_alarms.get("enable")) is True and one(deploy_alarms.get("rollback")) is True):
        finding("ecs-service: deployment alarms must be enabled with rollback")
    wired = str(resolve(module, deploy_alarms.get("alarm_names")))

    lb = {"LoadBalancer", "TargetGroup"}
    # metric -> (namespace, dimension names that must be there, treat_missing_data or None)
    required = {
        "http.server.request.duration": ("${local.metrics_namespace}", {"service.name", "http.response.status_class"}, None),
        "HTTPCode_Target_5XX_Count": ("AWS/ApplicationELB", lb, None),
        "HTTPCode_ELB_5XX_Count": ("AWS/ApplicationELB", {"LoadBalancer"}, None),
        "UnHealthyHostCount": ("AWS/ApplicationELB", lb, "breaching"),
    }
    for metric, (namespace, dims, missing) in required.items():
        found = [
            (name, body) for name, body in alarms.items()
            for m in tf_metrics(module, body)
            if m["name"] == metric and m["namespace"] == namespace and set(m["dimensions"]) == dims
            and (metric != "http.server.request.duration" or m["dimensions"].get("http.response.status_class") == "5xx")
        ]
        if not found:
            finding(f"ecs-service: no alarm on {namespace} {metric} by {sorted(dims)}")
            continue
        for name, body in found:
            if f"aws_cloudwatch_metric_alarm.{name}.alarm_name" not in wired:
                finding(f"ecs-service: alarm {name} ({metric}) does not roll deployments back (aws_ecs_service alarms)")
            treat = one(body.get("treat_missing_data"))
            if treat is None:
                finding(f"ecs-service: alarm {name} leaves treat_missing_data unset")
            if missing and treat != missing:
                finding(f"ecs-service: alarm {name} ({metric}) treats missing data as {treat}, not {missing}: "
                        "the ALB reports it every minute, silence means trouble")

    # 5xx rates: a release answering 40% 5xx fires, a healthy one does not.
    threshold = default(module, "alarm_5xx_percent")
    for name in ("server_errors", "target_5xx", "elb_5xx"):
        body = alarms.get(name)
        expression = body and tf_expression(body)
        if not expression:
            finding(f"ecs-service: alarm {name} is not a metric-math rate")
            continue
        breaches(expression, threshold, {"errors": 40, "total": 100}, f"ecs-service {name}, 40% 5xx", True)
        breaches(expression, threshold, {"errors": None, "total": 100}, f"ecs-service {name}, no 5xx", False)

    dashboard = str(one(module["resource"]["aws_cloudwatch_dashboard"]["this"]["dashboard_body"]))
    for metric in ("HTTPCode_Target_5XX_Count", "HTTPCode_ELB_5XX_Count", "UnHealthyHostCount", "http.server.request.duration"):
        if metric not in dashboard:
            finding(f"ecs-service: the dashboard does not show {metric}")


# --- Lambda (Terraform) ---

VERSION_DIMS = {"FunctionName", "Resource", "ExecutedVersion"}


def check_lambda() -> None:
    module = load_module(LAMBDA)
    alarms = module["resource"].get("aws_cloudwatch_metric_alarm", {})
    canary = str(resolve(module, "${local.canary_alarms}"))
    version_alarms = str(resolve(module, "${local.version_alarms}"))
    threshold = default(module, "alarm_5xx_percent")

    per_version = []
    for name, body in alarms.items():
        metrics = {m["id"]: m for m in tf_metrics(module, body)}
        names = {m["name"] for m in metrics.values() if m["namespace"] == "AWS/Lambda"
                 and set(m["dimensions"]) == VERSION_DIMS}
        if {"Errors", "Throttles"} <= names:
            per_version.append((name, body, metrics))
    if not per_version:
        finding("lambda-function: no alarm on AWS/Lambda Errors and Throttles by FunctionName, Resource, ExecutedVersion")
    for name, body, metrics in per_version:
        ref = f"aws_cloudwatch_metric_alarm.{name}.alarm_name"
        if ref not in canary:
            finding(f"lambda-function: alarm {name} is not in the canary's alarms (output alarm_names)")
        if ref not in version_alarms:
            finding(f"lambda-function: alarm {name} is not retargeted at the new version (output version_alarm_names)")
        for m in metrics.values():
            dims = m["dimensions"]
            if set(dims) != VERSION_DIMS:
                continue
            if dims["Resource"] != "${var.function_name}:${var.alias_name}":
                finding(f"lambda-function: alarm {name} {m['name']}: Resource is {dims['Resource']}, not function:alias")
            if "aws_lambda_function.this.version" not in dims["ExecutedVersion"]:
                finding(f"lambda-function: alarm {name} {m['name']}: ExecutedVersion is not the published version")
        own_5xx = [m for m in metrics.values() if m["name"] == "http.server.request.duration"
                   and m["dimensions"].get("http.response.status_class") == "5xx"
                   and "aws_lambda_function.this.version" in str(m["dimensions"].get("function_version"))]
        if not own_5xx or "app_5xx" not in metrics:
            finding(f"lambda-function: alarm {name} does not read the version's own 5xx (function_version)")
        if "metric_query" not in str(one(body.get("lifecycle", {})).get("ignore_changes", "")):
            finding(f"lambda-function: alarm {name} must ignore_changes = [metric_query] (the deploy retargets it)")
        check_version_math(f"lambda-function {name}", tf_expression(body), threshold)

    iam = (LAMBDA / "iam.tf").read_text()
    if "cloudwatch:PutMetricAlarm" not in iam or "aws_cloudwatch_metric_alarm.version_errors.arn" not in iam:
        finding("lambda-function: the deploy policy cannot retarget the per-version alarm (cloudwatch:PutMetricAlarm on it)")

    app = [name for name, body in alarms.items() for m in tf_metrics(module, body)
           if m["name"] == "http.server.request.duration" and m["dimensions"].get("http.response.status_class") == "5xx"]
    if not app or not all(f"aws_cloudwatch_metric_alarm.{n}.alarm_name" in canary for n in app):
        finding("lambda-function: the app's 5xx rate alarm is not watched by the canary")

    dashboard = str(one(module["resource"]["aws_cloudwatch_dashboard"]["this"]["dashboard_body"]))
    for needle in ("Errors", "Throttles", "ExecutedVersion", "http.server.request.duration"):
        if needle not in dashboard:
            finding(f"lambda-function: the dashboard does not show {needle}")

    outputs = (ROOT / "terraform/examples/lambda/outputs.tf").read_text()
    workflow = (ROOT / ".github/workflows/deploy.yml").read_text()
    if "LAMBDA_VERSION_ALARMS" not in outputs or "LAMBDA_VERSION_ALARMS" not in workflow:
        finding("examples/lambda or deploy.yml: LAMBDA_VERSION_ALARMS does not reach deploy-lambda.sh")


def check_version_math(what: str, expression: str | None, threshold: float) -> None:
    if not expression:
        finding(f"{what}: not a metric-math rate")
        return
    # 10% of 1,000 invocations a minute reach the canary.
    # app_5xx: the version's own 5xx answers (EMF by function_version); a 500 is no Lambda error.
    breaches(expression, threshold, {"errors": 40, "throttles": None, "app_5xx": None, "invocations": 100},
             f"{what}, canary failing 40%", True)
    breaches(expression, threshold, {"errors": None, "throttles": None, "app_5xx": 40, "invocations": 100},
             f"{what}, canary answering 40% 5xx", True)
    breaches(expression, threshold, {"errors": 100, "throttles": None, "app_5xx": None, "invocations": 100},
             f"{what}, canary whose init crashes", True)
    breaches(expression, threshold, {"errors": None, "throttles": 40, "app_5xx": None, "invocations": 60},
             f"{what}, canary throttled 40%", True)
    breaches(expression, threshold, {"errors": None, "throttles": None, "app_5xx": 1, "invocations": 100},
             f"{what}, healthy canary", False)
    breaches(expression, threshold, {"errors": None, "throttles": None, "app_5xx": None, "invocations": None},
             f"{what}, canary without traffic", False)


# --- SAM ---

def check_sam() -> None:
    template = load_template(ROOT / "template.yaml")
    resources = template["Resources"]
    function_name, function = next((k, v) for k, v in resources.items() if v["Type"] == "AWS::Serverless::Function")
    props = {**template.get("Globals", {}).get("Function", {}), **function["Properties"]}
    alias = props.get("AutoPublishAlias")
    listed = [a.get("Ref") for a in props.get("DeploymentPreference", {}).get("Alarms", [])]
    threshold = float(template["Parameters"]["Alarm5xxPercent"]["Default"])

    expected = [
        {"Name": "FunctionName", "Value": {"Ref": function_name}},
        {"Name": "Resource", "Value": {"Fn::Sub": f"${{{function_name}}}:{alias}"}},
        {"Name": "ExecutedVersion", "Value": {"Fn::GetAtt": [f"{function_name}.Version", "Version"]}},
    ]
    per_version, app_5xx = [], []
    for name, res in resources.items():
        if res["Type"] != "AWS::CloudWatch::Alarm":
            continue
        metrics = {m["Id"]: m["MetricStat"]["Metric"] for m in res["Properties"].get("Metrics", []) if "MetricStat" in m}
        lambda_names = set()
        for metric in metrics.values():
            dims = [{"Name": d["Name"], "Value": normalise_getatt(d["Value"])} for d in metric.get("Dimensions", [])]
            if metric["Namespace"] == "AWS/Lambda" and dims == expected:
                lambda_names.add(metric["MetricName"])
            if metric["MetricName"] == "http.server.request.duration" and {"Name": "http.response.status_class", "Value": "5xx"} in dims:
                app_5xx.append(name)
        own_5xx = any(
            m["MetricName"] == "http.server.request.duration"
            and {"Name": "function_version", "Value": {"Fn::GetAtt": [f"{function_name}.Version", "Version"]}}
            in [{"Name": d["Name"], "Value": normalise_getatt(d["Value"])} for d in m.get("Dimensions", [])]
            for m in metrics.values())
        if {"Errors", "Throttles"} <= lambda_names:
            if not own_5xx:
                finding(f"template.yaml: alarm {name} does not read the new version's own 5xx (function_version)")
            per_version.append(name)
            expression = next((m["Expression"] for m in res["Properties"]["Metrics"] if m.get("ReturnData") and "Expression" in m), None)
            check_version_math(f"template.yaml {name}", expression, threshold)
            if res["Properties"].get("TreatMissingData") is None:
                finding(f"template.yaml: alarm {name} leaves TreatMissingData unset")
    if not per_version:
        finding("template.yaml: no alarm on AWS/Lambda Errors and Throttles by FunctionName, Resource (alias), ExecutedVersion (new version)")
    for name in per_version + app_5xx:
        if name not in listed:
            finding(f"template.yaml: alarm {name} is not in DeploymentPreference Alarms")
    if not app_5xx:
        finding("template.yaml: no alarm on the app's 5xx rate")


def normalise_getatt(value):
    """`!GetAtt A.B.C` arrives as the string "A.B.C"; CloudFormation splits at the last dot."""
    if isinstance(value, dict) and isinstance(value.get("Fn::GetAtt"), str):
        head, _, attr = value["Fn::GetAtt"].rpartition(".")
        return {"Fn::GetAtt": [head, attr]}
    return value


LOSS_METRICS = (
    "otel.sdk.processor.span.processed",
    "otel.sdk.exporter.span.exported",
    "otel.sdk.exporter.metric_data_point.exported",
)


def check_telemetry_loss() -> None:
    for path in (ECS, LAMBDA):
        module = load_module(path)
        alarms = module["resource"].get("aws_cloudwatch_metric_alarm", {})
        loss = resolve(module, "${local.telemetry_loss}")
        metrics = str(loss)
        for metric in LOSS_METRICS:
            if metric not in metrics:
                finding(f"{path.name}: no telemetry-loss alarm on {metric}")
        body = alarms.get("telemetry_loss")
        if not body:
            finding(f"{path.name}: no telemetry_loss alarm")
            continue
        # The query, with the locals it is built from.
        query = str(body.get("metric_query")) + str([module["locals"].get(k) for k in ("loss_query", "loss_schema")])
        if "SELECT SUM(" not in query or "error.type" not in query:
            finding(f"{path.name}: the telemetry-loss alarm does not sum over the error.type dimension")
        if one(body.get("treat_missing_data")) != "notBreaching":
            finding(f"{path.name}: the telemetry-loss alarm must treat missing data (nothing lost) as not breaching")
        rollback = str(resolve(module, "${local.rollback_alarms}" if path == ECS else "${local.canary_alarms}"))
        if "telemetry_" in rollback:
            finding(f"{path.name}: a telemetry alarm rolls deployments back; it must only notify")
        dashboard = str(one(module["resource"]["aws_cloudwatch_dashboard"]["this"]["dashboard_body"]))
        if "local.telemetry_loss" not in dashboard:
            finding(f"{path.name}: the dashboard does not show the lost telemetry")

    template = load_template(ROOT / "template.yaml")
    resources = template["Resources"]
    listed = str([v["Properties"].get("DeploymentPreference") for v in resources.values()
                  if v["Type"] == "AWS::Serverless::Function"])
    for metric in LOSS_METRICS:
        found = [name for name, res in resources.items() if res["Type"] == "AWS::CloudWatch::Alarm"
                 and f'SELECT SUM("{metric}")' in str(res["Properties"].get("Metrics"))
                 and "error.type" in str(res["Properties"].get("Metrics"))]
        if not found:
            finding(f"template.yaml: no telemetry-loss alarm on {metric} by error.type")
        for name in found:
            if name in listed:
                finding(f"template.yaml: {name} rolls deployments back; it must only notify")

    config = (ROOT / "config/ecs.yaml").read_text()
    for metric in LOSS_METRICS:
        selector = "^" + metric.replace(".", "\\\\.") + "$"
        at = config.find(selector)
        if at < 0 or "- [service.name, error.type]" not in config[at:at + 200]:
            finding(f"config/ecs.yaml: {metric} is not kept with [service.name, error.type]")

    main_tf = (ECS / "main.tf").read_text()
    drivers = len(re.findall(r'logDriver\s*=\s*"awslogs"', main_tf))
    modes = len(re.findall(r'\bmode\s*=\s*"(non-blocking|blocking)"', main_tf))
    if drivers == 0 or modes != drivers:
        finding(f"ecs-service: {drivers} awslogs drivers, {modes} with an explicit mode")
    if "non-blocking" in main_tf and len(re.findall(r"max-buffer-size\s*=", main_tf)) != drivers:
        finding("ecs-service: a non-blocking awslogs driver without max-buffer-size")
    collector = main_tf[main_tf.find("name  = local.collector_container"):]
    if not re.search(r"essential\s*=\s*false", collector[:2000]) or "restartPolicy" not in collector[:2000] \
            or "healthCheck" not in collector:
        finding("ecs-service: the collector sidecar must be non-essential, restarted (restartPolicy) and health checked")
    if 'condition = "HEALTHY"' not in main_tf:
        finding("ecs-service: the app does not wait for a HEALTHY collector (dependsOn)")
    ecs = load_module(ECS)
    silent = ecs["resource"].get("aws_cloudwatch_metric_alarm", {}).get("telemetry_silent")
    names = {m["name"] for m in tf_metrics(ecs, silent)} if silent else set()
    if {"RequestCount", "http.server.request.duration"} - names:
        finding("ecs-service: no alarm for ALB traffic without app metrics (a collector exporting into nothing)")
    elif (e := tf_expression(silent)):
        breaches(e, 0, {"alb": 100, "app": None}, "ecs-service telemetry_silent, collector down", True)
        breaches(e, 0, {"alb": 100, "app": 100}, "ecs-service telemetry_silent, healthy", False)
        breaches(e, 0, {"alb": None, "app": None}, "ecs-service telemetry_silent, no traffic", False)


def main() -> int:
    check_ecs()
    check_lambda()
    check_sam()
    check_telemetry_loss()
    for f in findings:
        print(f"  {f}")
    print(f"  rollback and telemetry alarms: ecs-service, lambda-function, template.yaml checked, {len(findings)} findings")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
