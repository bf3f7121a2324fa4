#!/usr/bin/env bash
# Builds what the single-node Kubernetes of test/cluster runs, beside the e2e
# tools (hack/tools.sh): etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubelet and kubectl from k8s.io/kubernetes as pinned in
# test/tools/kube/go.mod, into _output/tools/bin (the CNI plugins the node's
# pods need come from hack/tools.sh, in _output/tools/bin/cni). Idempotent: a
# binary is rebuilt only when its build info no longer matches the pin. A cold build takes 10-20 minutes on 2 cores: the
# elapsed time is printed every 30 seconds.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${TOOLS_BIN:-$ROOT/_output/tools/bin}
GO=${GO:-go}

now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }
say() { printf '[cluster-tools] %s\n' "$*"; }

# built_with prints "VERSION|LDFLAGS" of binary $1 built from module $2.
built_with() {
  [[ -x $1 ]] || return 0
  "$GO" version -m "$1" 2>/dev/null | awk -v m="$2" -F'\t' '
    ($2 == "dep" || $2 == "mod") && $3 == m { v = $4 }
    $2 == "build" && $3 ~ /^-ldflags=/ { l = substr($3, 10); gsub(/^"|"$/, "", l) }
    END { if (v != "") print v "|" l }'
}

# build NAME PKG MODULE VERSION LDFLAGS OUTDIR: go build in the current module,
# with a heartbeat so that a long cold build shows it is alive.
build() {
  local name=$1 pkg=$2 mod=$3 ver=$4 ldflags=$5 out=$6
  local have
  have=$(built_with "$out/$name" "$mod")
  if [[ $have == "$ver|$ldflags" ]]; then
    say "$name $ver up to date"
    return
  fi
  local t
  t=$(now)
  say "building $name $ver${have:+ (was ${have%%|*}, rebuilding)} ..."
  (while sleep 30; do say "  ... $name: $(took "$t") so far"; done) &
  local beat=$!
  local rc=0
  "$GO" build ${ldflags:+-ldflags "$ldflags"} -o "$out/$name" "$pkg" || rc=$?
  kill "$beat" 2>/dev/null || true
  wait "$beat" 2>/dev/null || true
  if ((rc != 0)); then
    say "building $name failed" >&2
    return $rc
  fi
  say "built $name in $(took "$t")"
}

mkdir -p "$BIN"
total=$(now)

# --- Kubernetes and etcd ----------------------------------------------------
cd "$ROOT/test/tools/kube"
KUBE=$("$GO" list -m -f '{{.Version}}' k8s.io/kubernetes)
ETCD=$("$GO" list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)
minor=${KUBE#v1.}
minor=${minor%%.*}
# What upstream's build stamps into the binaries (kubectl version, the
# node's kubeletVersion, the API server's /version).
KLD="-X k8s.io/component-base/version.gitVersion=$KUBE -X k8s.io/component-base/version.gitMajor=1"
KLD+=" -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
for c in kubectl kube-apiserver kube-controller-manager kube-scheduler kubelet; do
  build "$c" "k8s.io/kubernetes/cmd/$c" k8s.io/kubernetes "$KUBE" "$KLD" "$BIN"
done
build etcd go.etcd.io/etcd/server/v3 go.etcd.io/etcd/server/v3 "$ETCD" "" "$BIN"

say "cluster tools ready in $BIN ($(took "$total"))"
