#!/usr/bin/env bash
# Checks the deployment files: SAM template (samcheck, checkov, its inline collector config,
# its environment against terraform/modules/app-environment),
# Dockerfile (hadolint, checkov),
# collector configs (otelcolcheck), docker-compose.yml, deploy/build-binary.sh and the Lambda zip.
# Every check runs even after a failure; the exit status is 1 if any failed.
#   SKIP_LAMBDA_ZIP=1  skip the two release builds (build-binary.sh for real, cargo lambda build)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
shared="$repo/../shared/tools"
cd "$repo"

tools_bin="$(bash tests/tools.sh)"
export PATH="$tools_bin:$PATH"
py="$tools_bin/python"
# checkov otherwise fetches check guidelines from the network on every run.
export BC_SKIP_MAPPING=TRUE

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

passed=0
skipped=0
failed=()

check() {
  local name="$1"
  shift
  echo "--- $name"
  if "$@"; then
    passed=$((passed + 1))
  else
    echo "FAIL: $name" >&2
    failed+=("$name")
  fi
}

skip() {
  echo "--- $1: skipped ($2)"
  skipped=$((skipped + 1))
}

# checkov exits 0 on files it cannot parse or does not scan, so read its JSON report instead.
checkov_clean() {
  local file="$1" framework="$2" report="$tmp/checkov-$2.json"
  checkov -f "$file" --framework "$framework" --skip-download --quiet -o json >"$report" 2>"$tmp/checkov.err" || true
  "$py" - "$report" "$file" <<'EOF'
import json, sys
report, name = sys.argv[1], sys.argv[2]
try:
    data = json.load(open(report))
except ValueError:
    sys.exit(f"checkov: no JSON report for {name} (see its stderr)")
results = data.get("results", {}) if isinstance(data, dict) else {}
summary = data.get("summary", {}) if isinstance(data, dict) else {}
for c in results.get("failed_checks", []):
    print(f"  {c['check_id']} {c['resource']}: {c['check_name']}")
for f in results.get("parsing_errors", []):
    print(f"  parse error: {f}")
ok = summary.get("failed", 1) == 0 and summary.get("parsing_errors", 1) == 0
ok = ok and summary.get("passed", 0) + summary.get("skipped", 0) > 0
print(f"  checkov {name}: passed {summary.get('passed')}, failed {summary.get('failed')}, "
      f"skipped {summary.get('skipped')}, parsing errors {summary.get('parsing_errors')}")
sys.exit(0 if ok else 1)
EOF
}

# What `docker compose up` needs to show traces; `docker compose config` when the plugin exists.
compose_valid() {
  if docker compose version >/dev/null 2>&1; then
    docker compose -f docker-compose.yml config --quiet || return 1
  fi
  "$py" - docker-compose.yml <<'EOF'
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
services = doc.get("services", {})
errors = []
for name in ("app", "collector", "jaeger"):
    if name not in services:
        errors.append(f"service {name} missing")
for name, svc in services.items():
    image = svc.get("image")
    if image is not None and (":" not in image or image.endswith(":latest")):
        errors.append(f"{name}: image {image} is not pinned to a version")
app = services.get("app", {})
if "build" not in app:
    errors.append("app is not built from the Dockerfile")
env = app.get("environment", {})
if env.get("OTEL_EXPORTER_OTLP_ENDPOINT") != "http://collector:4318":
    errors.append("app: OTEL_EXPORTER_OTLP_ENDPOINT is not http://collector:4318")
if not any("config/local.yaml" in v for v in services.get("collector", {}).get("volumes", [])):
    errors.append("collector does not mount config/local.yaml")
if not any(str(p).endswith(":16686") for p in services.get("jaeger", {}).get("ports", [])):
    errors.append("jaeger UI port 16686 is not published")
for e in errors:
    print(f"  {e}")
print(f"  docker-compose.yml: {len(services)} services, {len(errors)} problems")
sys.exit(1 if errors else 0)
EOF
}

# Usage, argument errors and the arch -> triple mapping the Dockerfile relies on.
build_script_cli() {
  local script=deploy/build-binary.sh out status=0
  out="$("$script" --help)" || { echo "  --help failed"; return 1; }
  grep -q '^Usage:' <<<"$out" || { echo "  --help prints no usage"; return 1; }
  "$script" --bogus >/dev/null 2>&1 || status=$?
  [[ "$status" == 2 ]] || { echo "  unknown argument exits $status, not 2"; return 1; }
  out="$("$script" --dry-run --arch arm64 --output "$tmp/dry/axum-xray-otel")"
  grep -q -- '--target aarch64-unknown-linux-gnu' <<<"$out" || { echo "  --arch arm64 does not build aarch64"; return 1; }
  out="$("$script" --dry-run --output "$tmp/dry/axum-xray-otel")"
  grep -q -- "$tmp/dry/axum-xray-otel" <<<"$out" || { echo "  the binary is not installed at --output"; return 1; }
  [[ ! -e "$tmp/dry" ]] || { echo "  --dry-run wrote $tmp/dry"; return 1; }
  echo "  build-binary.sh: --help, argument errors and --dry-run behave"
}

# The release binary the Docker image gets, built here for the host: it must start (--help or
# check-config with a clean environment) and its healthcheck must fail with nothing listening.
build_binary_real() {
  local bin="$tmp/out/axum-xray-otel" status=0
  deploy/build-binary.sh --output "$bin" || return 1
  if env -i "$bin" --help >/dev/null 2>&1; then
    echo "  $bin --help: ok"
  elif env -i "$bin" check-config >/dev/null; then
    echo "  $bin check-config: ok"
  else
    echo "  $bin answers neither --help nor check-config"
    return 1
  fi
  # Port 1 on loopback: nothing listens there, and this check binds nothing. "Unhealthy" is
  # exit 1 (2 is a usage or config error, 101 a panic, 124 the timeout).
  timeout 20 env -i PORT=1 "$bin" healthcheck >/dev/null 2>"$tmp/healthcheck.err" || status=$?
  if [[ "$status" != 1 ]]; then
    echo "  healthcheck with nothing listening exits $status, not 1: $(grep -m 1 . "$tmp/healthcheck.err" || true)"
    return 1
  fi
  echo "  healthcheck with nothing listening: exit 1"
}

# The zip Lambda gets: bootstrap plus the collector config at OPENTELEMETRY_COLLECTOR_CONFIG_URI.
# Host target with plain cargo (no zig); --disable-optimizations keeps cargo-lambda's extra
# rustflags out, so this reuses the release build above instead of compiling everything again.
lambda_zip() {
  local zip="target/lambda/axum-xray-otel/bootstrap.zip"
  rm -f "$zip"
  cargo lambda build --release --output-format zip --compiler cargo --disable-optimizations || return 1
  "$py" - "$zip" config/lambda.yaml <<'EOF'
import sys, zipfile
path, config = sys.argv[1], sys.argv[2]
try:
    z = zipfile.ZipFile(path)
except (OSError, zipfile.BadZipFile) as e:
    sys.exit(f"  {path}: {e}")
names = set(z.namelist())
errors = [f"{n} missing" for n in ("bootstrap", "config/lambda.yaml") if n not in names]
if not errors and z.read("config/lambda.yaml") != open(config, "rb").read():
    errors.append("config/lambda.yaml differs from the repository's")
if not errors and not (z.getinfo("bootstrap").external_attr >> 16) & 0o111:
    errors.append("bootstrap is not executable")
for e in errors:
    print(f"  {path}: {e}")
print(f"  {path}: {len(names)} entries: {', '.join(sorted(names))}")
sys.exit(1 if errors else 0)
EOF
}

# sam build ships only bootstrap, so template.yaml carries config/lambda.yaml inline in an
# environment variable that OPENTELEMETRY_COLLECTOR_CONFIG_URI names (env: provider). The inline
# copy must parse to the same document, and the whole environment must fit Lambda's 4 KB
# (its JSON form, with every parameter at its longest allowed value). Writes the inline config
# to $tmp/sam-collector.yaml for otelcolcheck.
sam_collector_config() {
  "$py" - template.yaml config/lambda.yaml "$tmp/sam-collector.yaml" <<'EOF'
import json, re, sys, yaml
sys.path.insert(0, "tests/checks")
from cfn import load_template
template_path, config_path, out_path = sys.argv[1:4]
LIMIT = 4096

template = load_template(template_path)
expected = yaml.safe_load(open(config_path))
params = template.get("Parameters", {})
errors = []

def longest(param):
    if param.startswith("AWS::"):
        return 64
    # A Ref to a table is its name: DynamoDB allows at most 255 characters.
    if template.get("Resources", {}).get(param, {}).get("Type") == "AWS::DynamoDB::Table":
        return 255
    # A Ref to a queue is its URL: https://sqs.<region>.amazonaws.com/<12 digits>/<80 characters>.
    if template.get("Resources", {}).get(param, {}).get("Type") == "AWS::SQS::Queue":
        return len("https://sqs..amazonaws.com.cn//") + 64 + 12 + 80
    spec = params.get(param)
    if spec is None:
        errors.append(f"environment references unknown parameter {param}")
        return 0
    if "MaxLength" in spec:
        return int(spec["MaxLength"])
    if "AllowedValues" in spec:
        return max(len(str(v)) for v in spec["AllowedValues"])
    errors.append(f"parameter {param} has neither MaxLength nor AllowedValues: the environment size is unbounded")
    return 0

def branches(value):
    """The forms a value can take: each branch of an !If (AWS::NoValue: the key is absent)."""
    if isinstance(value, dict) and list(value) == ["Fn::If"]:
        return [b for v in value["Fn::If"][1:] for b in branches(v)]
    return [] if value == {"Ref": "AWS::NoValue"} else [value]

def worst_case(key, value):
    if isinstance(value, dict) and list(value) == ["Fn::If"]:
        return max((worst_case(key, b) for b in branches(value)), key=len, default="")
    if isinstance(value, (str, int, float, bool)):
        return str(value)
    if isinstance(value, dict) and list(value) == ["Ref"]:
        return "x" * longest(value["Ref"])
    if isinstance(value, dict) and list(value) == ["Fn::Sub"] and isinstance(value["Fn::Sub"], str):
        return re.sub(r"\$\{([^!}][^}]*)\}", lambda m: "x" * longest(m.group(1)), value["Fn::Sub"])
    errors.append(f"{key}: cannot bound the size of {value!r}")
    return ""

global_env = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
functions = {k: r for k, r in template.get("Resources", {}).items() if r.get("Type") == "AWS::Serverless::Function"}
if not functions:
    errors.append("no AWS::Serverless::Function")
for name, resource in functions.items():
    env = dict(global_env)
    env.update(resource.get("Properties", {}).get("Environment", {}).get("Variables", {}))
    # With the collector (TraceExport), the URI is the !If branch that names a variable.
    uri = next((u for u in branches(env.get("OPENTELEMETRY_COLLECTOR_CONFIG_URI")) if isinstance(u, str)), None)
    if not isinstance(uri, str) or not uri.startswith("env:"):
        errors.append(f"{name}: OPENTELEMETRY_COLLECTOR_CONFIG_URI is {uri!r}, not env:VAR (sam build ships no config file)")
    else:
        var = uri[len("env:"):]
        inline = env.get(var)
        if not isinstance(inline, str):
            errors.append(f"{name}: {var} is not a plain string in the environment")
        else:
            with open(out_path, "w") as f:
                f.write(inline)
            try:
                same = yaml.safe_load(inline) == expected
            except yaml.YAMLError as e:
                same = False
                errors.append(f"{name}: {var} is not YAML: {e}")
            if same:
                print(f"  {name}: {var} ({len(inline.encode())} bytes) parses equal to {config_path}")
            else:
                errors.append(f"{name}: {var} differs from {config_path} once parsed")
    size = len(json.dumps({k: worst_case(k, v) for k, v in env.items()}, separators=(",", ":")).encode())
    if size > LIMIT:
        errors.append(f"{name}: environment is up to {size} bytes, over Lambda's {LIMIT}")
    print(f"  {name}: environment at most {size} of {LIMIT} bytes ({len(env)} variables)")
for e in errors:
    print(f"  {e}")
sys.exit(1 if errors else 0)
EOF
}

# template.yaml's function environment must equal terraform/modules/app-environment's defaults
# (the same binary, configured the same on both deploy paths). A !Ref compares with the
# parameter's Default; !Sub values and the Lambda-only collector settings are left out.
sam_env_matches_terraform() {
  "$py" - template.yaml terraform/modules/app-environment/main.tf <<'EOF'
import re, sys
sys.path.insert(0, "tests/checks")
from cfn import load_template
template_path, tf_path = sys.argv[1:3]

template = load_template(template_path)
params = template.get("Parameters", {})
sam = template["Globals"]["Function"]["Environment"]["Variables"]
# Every setting there; a value that is an expression (var.*, ${...}) is compared by name only.
tf = {k: (v[1:-1] if re.fullmatch(r'"[^"$]*"', v) else None)
      for k, v in re.findall(r'^\s+([A-Z][A-Z0-9_]+)\s+=\s+(.+?)\s*$', open(tf_path).read(), re.M)}
lambda_only = {"OPENTELEMETRY_COLLECTOR_CONFIG_URI", "ADOT_COLLECTOR_CONFIG"}
errors = []
for key, value in sam.items():
    if key in lambda_only:
        continue
    if isinstance(value, dict) and "Ref" in value:
        value = str(params.get(value["Ref"], {}).get("Default"))
    if isinstance(value, dict):
        continue
    if key == "APP_TARGET":
        if value != "lambda":
            errors.append(f"APP_TARGET is {value!r} in template.yaml, not 'lambda'")
        continue
    if key not in tf:
        errors.append(f"{key} is set in template.yaml but not in app-environment")
    elif tf[key] is not None and str(value) != tf[key]:
        errors.append(f"{key}: template.yaml {value!r}, app-environment {tf[key]!r}")
for key in tf:
    if key not in sam:
        errors.append(f"{key} is set in app-environment but not in template.yaml")
for e in errors:
    print(f"  {e}")
print(f"  template.yaml and app-environment: {len(tf)} settings compared, {len(errors)} differences")
sys.exit(1 if errors else 0)
EOF
}

# otelcolcheck of the inline collector config that sam_collector_config extracted.
sam_collector_otelcolcheck() {
  [[ -s "$tmp/sam-collector.yaml" ]] || { echo "  no inline collector config extracted from template.yaml"; return 1; }
  "$shared/otelcolcheck/otelcolcheck" --strict --distribution adot-lambda "$tmp/sam-collector.yaml"
}

if [[ -d "$shared" ]]; then
  check "samcheck template.yaml" "$shared/samcheck/samcheck" template.yaml
else
  skip "samcheck template.yaml" "$shared not found"
fi
check "checkov template.yaml" checkov_clean template.yaml cloudformation
check "template.yaml inline collector config" sam_collector_config
check "template.yaml environment = app-environment" sam_env_matches_terraform
check "hadolint Dockerfile" hadolint Dockerfile
check "checkov Dockerfile" checkov_clean Dockerfile dockerfile
if [[ -d "$shared" ]]; then
  check "otelcolcheck config/ecs.yaml" "$shared/otelcolcheck/otelcolcheck" --strict --distribution adot-ecs config/ecs.yaml
  check "otelcolcheck config/lambda.yaml" "$shared/otelcolcheck/otelcolcheck" --strict --distribution adot-lambda config/lambda.yaml
  check "otelcolcheck config/ecs-otlphttp.yaml" "$shared/otelcolcheck/otelcolcheck" --strict --distribution adot-ecs config/ecs-otlphttp.yaml
  check "otelcolcheck config/lambda-otlphttp.yaml" "$shared/otelcolcheck/otelcolcheck" --strict --distribution adot-lambda config/lambda-otlphttp.yaml
  check "otelcolcheck config/local.yaml" "$shared/otelcolcheck/otelcolcheck" --strict --distribution contrib config/local.yaml
  check "otelcolcheck template.yaml ADOT_COLLECTOR_CONFIG" sam_collector_otelcolcheck
else
  skip "otelcolcheck config/*.yaml" "$shared not found"
fi
check "docker-compose.yml" compose_valid
check "shellcheck deploy and check scripts" shellcheck deploy/build-binary.sh tests/checks/iac.sh
check "build-binary.sh usage and dry run" build_script_cli

# These checks ask whether the scripts build a binary and a zip that start and hold what
# they must, not how small or fast fat LTO makes them: the one release build they share is
# made without it, in parallel units, which takes a fraction of the time (bench/run.sh
# measures the shipped profile).
export CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16
if [[ "${SKIP_LAMBDA_ZIP:-0}" == 1 ]]; then
  skip "release builds (build-binary.sh, cargo lambda zip)" "SKIP_LAMBDA_ZIP=1"
else
  shopt -s globstar nullglob
  sources=(src/**/*.rs)
  if ((${#sources[@]} > 0)) && grep -q healthcheck "${sources[@]}"; then
    check "build-binary.sh release build" build_binary_real
  else
    skip "build-binary.sh release build" "no healthcheck subcommand in src/ yet"
  fi
  shopt -u globstar nullglob
  check "cargo lambda zip" lambda_zip
fi

if ((${#failed[@]} > 0)); then
  echo "iac.sh: FAIL (${#failed[@]} failed: $(IFS=,; echo "${failed[*]}"); $passed passed, $skipped skipped)"
  exit 1
fi
echo "iac.sh: OK ($passed checks passed, $skipped skipped)"
