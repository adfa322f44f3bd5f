"""Parses terraform/ and template.yaml (checkov's HCL parser and PyYAML, from the test venv)
and checks what grep cannot see reliably. Prints one line per finding; exit 1 on any.

  resources   an IAM statement with Resource "*" lists only actions that have no resource
              type (so "*" is the only value IAM accepts), or is a KMS key policy (there "*"
              means the key itself)
  ingress     the tasks' security group admits traffic from the ALB's group only, and the
              service gets no public IP
  secrets     no resource that keeps a secret value in Terraform state, no sensitive input
              variable, and no environment variable whose name says it holds a secret

Usage: python3 tests/checks/policy_scan.py resources|ingress|secrets
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import hcl2
import yaml

from cfn import load_template

# Actions whose IAM reference lists no resource type.
NO_RESOURCE_TYPE = {
    "ecr:GetAuthorizationToken",
    "ecs:DescribeTaskDefinition",
    "ecs:RegisterTaskDefinition",
    "xray:GetSamplingRules",
    "xray:GetSamplingStatisticSummaries",
    "xray:GetSamplingTargets",
    "xray:PutSpans",
    "xray:PutSpansForIndexing",
    "xray:PutTelemetryRecords",
    "xray:PutTraceSegments",
}
# Resource types whose state holds a secret value.
SECRET_IN_STATE = {
    "aws_secretsmanager_secret_version",
    "aws_iam_access_key",
    "aws_iam_user_login_profile",
    "random_password",
    "tls_private_key",
}
SECRET_NAME = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|PRIVATE_KEY|ACCESS_KEY|API_KEY")

ROOT = Path(__file__).resolve().parents[2]


def flat(value):
    """bc-python-hcl2 wraps attribute values in lists; unwrap to a flat list of scalars."""
    if isinstance(value, list):
        return [x for v in value for x in flat(v)]
    return [value]


def tf_files() -> list[Path]:
    return sorted(p for p in (ROOT / "terraform").rglob("*.tf") if ".terraform" not in p.parts)


def tf_blocks(kind: str):
    """(file, type, name, body) for every `kind` block (resource or data)."""
    for path in tf_files():
        with path.open() as f:
            doc = hcl2.load(f)
        for entry in doc.get(kind, []):
            for rtype, named in entry.items():
                for name, body in named.items():
                    yield path.relative_to(ROOT), rtype, name, body


def statements(node):
    """Every dict under `node` that has `actions` (statement blocks, dynamic ones too)."""
    if isinstance(node, dict):
        if "actions" in node:
            yield node
        for v in node.values():
            yield from statements(v)
    elif isinstance(node, list):
        for v in node:
            yield from statements(v)


def template() -> dict:
    return load_template(ROOT / "template.yaml")


def cfn_statements(listed):
    """Statements of a template policy; both branches of a conditional (`!If`) one."""
    for st in listed:
        if isinstance(st, dict) and "Fn::If" in st:
            yield from cfn_statements([b for b in st["Fn::If"][1:] if isinstance(b, dict) and "Action" in b])
        else:
            yield st


def check_resources() -> list[str]:
    findings = []
    for path, _, name, body in tf_blocks("data"):
        for st in statements(body):
            if "*" not in flat(st.get("resources", [])):
                continue
            key_policy = "principals" in st and all(a.startswith("kms:") for a in flat(st["actions"]))
            loose = [a for a in flat(st["actions"]) if a not in NO_RESOURCE_TYPE]
            if loose and not key_policy:
                findings.append(f"{path}: {name}: Resource \"*\" for {', '.join(loose)}")
    for rname, res in (template().get("Resources") or {}).items():
        for policy in (res.get("Properties") or {}).get("Policies") or []:
            for st in cfn_statements((policy.get("PolicyDocument") or {}).get("Statement", [])):
                resources = st.get("Resource")
                resources = resources if isinstance(resources, list) else [resources]
                actions = st.get("Action")
                actions = actions if isinstance(actions, list) else [actions]
                loose = [a for a in actions if a not in NO_RESOURCE_TYPE]
                if "*" in resources and loose:
                    findings.append(f"template.yaml: {rname}: Resource \"*\" for {', '.join(loose)}")
    return findings


def check_ingress() -> list[str]:
    findings, task_rules = [], 0
    for path, rtype, name, body in tf_blocks("resource"):
        if rtype == "aws_vpc_security_group_ingress_rule":
            target = flat(body.get("security_group_id"))[0]
            if target != "${aws_security_group.tasks.id}":
                continue
            task_rules += 1
            source = flat(body.get("referenced_security_group_id", [None]))[0]
            if source != "${aws_security_group.alb.id}" or any(
                k in body for k in ("cidr_ipv4", "cidr_ipv6", "prefix_list_id")
            ):
                findings.append(f"{path}: {name}: tasks admit traffic from something other than the ALB")
        elif rtype == "aws_security_group" and "ingress" in body:
            findings.append(f"{path}: {name}: inline ingress rules (use ingress rule resources)")
        elif rtype == "aws_ecs_service":
            for net in flat(body.get("network_configuration", [])):
                if flat(net.get("assign_public_ip", [False]))[0] is not False:
                    findings.append(f"{path}: {name}: tasks get a public IP")
    if task_rules == 0:
        findings.append("terraform: no ingress rule for the tasks' security group found")
    return findings


def env_names() -> list[tuple[str, str]]:
    names = []
    for path, _, _, body in tf_blocks("resource"):
        for env in flat(body.get("environment", [])):
            if isinstance(env, dict):
                for variables in flat(env.get("variables", [])):
                    # A merge(...) expression is a string; its names are in app-environment.
                    if isinstance(variables, dict):
                        names += [(str(path), k) for k in variables]
    app_env = ROOT / "terraform/modules/app-environment/main.tf"
    names += [(str(app_env.relative_to(ROOT)), m) for m in
              re.findall(r"^\s+([A-Z][A-Z0-9_]+)\s+=", app_env.read_text(), re.M)]
    variables = (((template().get("Globals") or {}).get("Function") or {})
                 .get("Environment") or {}).get("Variables") or {}
    names += [("template.yaml", k) for k in variables]
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for svc, spec in (compose.get("services") or {}).items():
        env = spec.get("environment") or {}
        keys = env if isinstance(env, dict) else [e.split("=", 1)[0] for e in env]
        names += [(f"docker-compose.yml ({svc})", k) for k in keys]
    return names


def check_secrets() -> list[str]:
    findings = [f"{path}: {rtype}.{name} keeps a secret value in Terraform state"
                for path, rtype, name, _ in tf_blocks("resource") if rtype in SECRET_IN_STATE]
    # A secret input would be written to state; secrets belong in Secrets Manager or SSM,
    # set outside Terraform and referenced by ARN.
    for path in tf_files():
        with path.open() as f:
            for entry in hcl2.load(f).get("variable", []):
                for name, body in entry.items():
                    if flat(body.get("sensitive", [False]))[0] is True:
                        findings.append(f"{path.relative_to(ROOT)}: variable {name} is a secret input")
    names = env_names()
    if not names:
        findings.append("no environment variables found: the scan is broken")
    # A name ending in _ARN holds a reference to a secret (DATABASE_URL_SECRET_ARN), not one.
    findings += [f"{where}: environment variable {k} looks like a secret"
                 for where, k in names if SECRET_NAME.search(k) and not k.endswith("_ARN")]
    return findings


def main() -> int:
    checks = {"resources": check_resources, "ingress": check_ingress, "secrets": check_secrets}
    if len(sys.argv) != 2 or sys.argv[1] not in checks:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    findings = checks[sys.argv[1]]()
    for f in findings:
        print(f"  {f}", file=sys.stderr)
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
