#!/usr/bin/env bash
# Drives the real `vodpack` binary with the AWS CLI (the second real client beside the Rust
# SDK): create, list, describe and delete of every resource, tags, and typed errors.
# Uses the Python venv that scripts/install-deps prepares (VODPACK_VENV).
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$here/target}"
bin="${VODPACK_BIN:-$target/debug/vodpack}"
venv="${VODPACK_VENV:-/var/cache/vodpack/venv}"
[ -x "$venv/bin/aws" ] || "$here/scripts/install-deps"
[ -x "$bin" ] || (cd "$here" && cargo build --quiet -p vodpack)

work="$(mktemp -d)"
cleanup() { [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

export AWS_ACCESS_KEY_ID=AKIDVODPACKCLITEST01 AWS_SECRET_ACCESS_KEY=cli/secret/for/tests AWS_DEFAULT_REGION=eu-west-1
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_PAGER=""
VODPACK_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID VODPACK_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY \
VODPACK_REGION=eu-west-1 VODPACK_ACCOUNT_ID=123456789012 VODPACK_LOG=warn \
  "$bin" serve --listen 127.0.0.1:0 --data-dir "$work/data" > "$work/out" 2> "$work/err" &
pid=$!
for _ in $(seq 1 100); do
  grep -q '^listening on ' "$work/out" 2>/dev/null && break
  sleep 0.1
done
endpoint="$(sed -n 's/^listening on //p' "$work/out")"
[ -n "$endpoint" ] || { echo "vodpack did not start"; cat "$work/err"; exit 1; }

passed=0
failed=0
mpv() { "$venv/bin/aws" mediapackage-vod --endpoint-url "$endpoint" --output json "$@"; }
# check NAME EXPECTED ACTUAL
check() {
  if [ "$2" == "$3" ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $1: expected [$2], got [$3]"; fi
}
# field JSON PYTHON-EXPRESSION-ON-d
field() { python3 -c "import json,sys; d=json.load(sys.stdin); print($2)" <<< "$1"; }
# expect_error NAME ERROR-CODE command...
expect_error() {
  local name="$1" code="$2"; shift 2
  local rc=0 err
  err="$("$@" 2>&1 >/dev/null)" || rc=$?
  if [ "$rc" -ne 0 ] && grep -q "$code" <<< "$err"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $name: rc=$rc, stderr: $err"; fi
}

# Packaging groups.
out="$(mpv create-packaging-group --id cli_group --tags team=video)"
check "create group id" cli_group "$(field "$out" "d['Id']")"
check "create group arn" "arn:aws:mediapackage-vod:eu-west-1:123456789012:packaging-groups/cli_group" "$(field "$out" "d['Arn']")"
check "create group has no asset count" False "$(field "$out" "'ApproximateAssetCount' in d")"
out="$(mpv describe-packaging-group --id cli_group)"
check "describe group count" 0 "$(field "$out" "d['ApproximateAssetCount']")"
check "describe group tag" video "$(field "$out" "d['Tags']['team']")"
out="$(mpv update-packaging-group --id cli_group --authorization CdnIdentifierSecret=arn:aws:secretsmanager:eu-west-1:123456789012:secret:cdn,SecretsRoleArn=arn:aws:iam::123456789012:role/cdn)"
check "update group authorization" "arn:aws:iam::123456789012:role/cdn" "$(field "$out" "d['Authorization']['SecretsRoleArn']")"
out="$(mpv configure-logs --id cli_group --egress-access-logs LogGroupName=/aws/MediaPackage/CliLogs)"
check "configure logs" /aws/MediaPackage/CliLogs "$(field "$out" "d['EgressAccessLogs']['LogGroupName']")"
mpv create-packaging-group --id cli_group_2 > /dev/null
out="$(mpv list-packaging-groups)"
check "list groups (CLI paginates)" "cli_group cli_group_2" "$(field "$out" "' '.join(g['Id'] for g in d['PackagingGroups'])")"
out="$(mpv list-packaging-groups --max-items 1)"
check "list groups page of one" 1 "$(field "$out" "len(d['PackagingGroups'])")"
check "list groups next token" True "$(field "$out" "bool(d.get('NextToken'))")"
expect_error "duplicate group" UnprocessableEntityException mpv create-packaging-group --id cli_group
expect_error "bad group id" UnprocessableEntityException mpv create-packaging-group --id "bad id"
expect_error "describe missing group" NotFoundException mpv describe-packaging-group --id missing

# Packaging configurations.
cat > "$work/hls.json" <<'JSON'
{"HlsManifests":[{"ManifestName":"main","StreamSelection":{"StreamOrder":"VIDEO_BITRATE_ASCENDING"}}],"SegmentDurationSeconds":6}
JSON
out="$(mpv create-packaging-configuration --id cli_hls --packaging-group-id cli_group --hls-package "file://$work/hls.json")"
check "create configuration" main "$(field "$out" "d['HlsPackage']['HlsManifests'][0]['ManifestName']")"
out="$(mpv create-packaging-configuration --id cli_dash --packaging-group-id cli_group --dash-package 'DashManifests=[{ManifestLayout=COMPACT}],SegmentTemplateFormat=NUMBER_WITH_TIMELINE')"
check "create dash configuration" COMPACT "$(field "$out" "d['DashPackage']['DashManifests'][0]['ManifestLayout']")"
out="$(mpv describe-packaging-configuration --id cli_hls)"
check "describe configuration" 6 "$(field "$out" "d['HlsPackage']['SegmentDurationSeconds']")"
out="$(mpv list-packaging-configurations --packaging-group-id cli_group)"
check "list configurations" "cli_hls cli_dash" "$(field "$out" "' '.join(c['Id'] for c in d['PackagingConfigurations'])")"
expect_error "two packages" UnprocessableEntityException mpv create-packaging-configuration --id x --packaging-group-id cli_group --hls-package "file://$work/hls.json" --cmaf-package "file://$work/hls.json"
expect_error "unknown group" UnprocessableEntityException mpv create-packaging-configuration --id x --packaging-group-id nope --hls-package "file://$work/hls.json"

# Assets.
out="$(mpv create-asset --id cli_asset --packaging-group-id cli_group --source-arn arn:aws:s3:::bucket/movie.smil --source-role-arn arn:aws:iam::123456789012:role/src)"
check "create asset endpoints" 2 "$(field "$out" "len(d['EgressEndpoints'])")"
check "create asset status" QUEUED "$(field "$out" "d['EgressEndpoints'][0]['Status']")"
check "create asset url" True "$(field "$out" "d['EgressEndpoints'][0]['Url'].startswith('$endpoint/out/v1/') and d['EgressEndpoints'][0]['Url'].endswith('/main.m3u8')")"
out="$(mpv describe-asset --id cli_asset)"
check "describe asset" arn:aws:s3:::bucket/movie.smil "$(field "$out" "d['SourceArn']")"
out="$(mpv list-assets --packaging-group-id cli_group)"
check "list assets" cli_asset "$(field "$out" "' '.join(a['Id'] for a in d['Assets'])")"
check "list assets is shallow" False "$(field "$out" "'EgressEndpoints' in d['Assets'][0]")"
expect_error "asset without role" "sourceRoleArn" mpv create-asset --id a2 --packaging-group-id cli_group --source-arn arn:aws:s3:::bucket/x.smil --source-role-arn nope

# Tags.
arn="arn:aws:mediapackage-vod:eu-west-1:123456789012:assets/cli_asset"
mpv tag-resource --resource-arn "$arn" --tags env=prod,owner=me
out="$(mpv list-tags-for-resource --resource-arn "$arn")"
check "tag resource" "env owner" "$(field "$out" "' '.join(sorted(d['Tags']))")"
mpv untag-resource --resource-arn "$arn" --tag-keys env owner
out="$(mpv list-tags-for-resource --resource-arn "$arn")"
check "untag resource" "" "$(field "$out" "' '.join(sorted(d['Tags']))")"
expect_error "tags of a missing resource" NotFoundException mpv list-tags-for-resource --resource-arn "arn:aws:mediapackage-vod:eu-west-1:123456789012:assets/none"

# Deletes, and the group can go once empty.
expect_error "delete non-empty group" UnprocessableEntityException mpv delete-packaging-group --id cli_group
mpv delete-asset --id cli_asset
mpv delete-packaging-configuration --id cli_hls
mpv delete-packaging-configuration --id cli_dash
mpv delete-packaging-group --id cli_group
expect_error "deleted asset" NotFoundException mpv describe-asset --id cli_asset
expect_error "deleted configuration" NotFoundException mpv describe-packaging-configuration --id cli_hls
expect_error "deleted group" NotFoundException mpv describe-packaging-group --id cli_group

# A wrong secret is refused.
expect_error "wrong secret" ForbiddenException env AWS_SECRET_ACCESS_KEY=wrong "$venv/bin/aws" mediapackage-vod --endpoint-url "$endpoint" list-assets

echo "aws-cli: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
