#!/usr/bin/env bash
# Installs what the e2e tests, the CRI conformance run and the demo need:
# Debian packages (busybox-static for the test images, libseccomp-dev for runc,
# iptables for the CNI portmap plugin) and the Go tools pinned in
# test/tools/go.mod, built into _output/tools/bin. Idempotent: a tool is rebuilt
# only when its binary is missing or its build info no longer matches the pin.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${TOOLS_BIN:-$ROOT/_output/tools/bin}
GO=${GO:-go}
TOOLS_MOD=$ROOT/test/tools

now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }
say() { printf '[tools] %s\n' "$*"; }

# --- Debian packages -------------------------------------------------------
# package -> a file it installs, so the check needs no dpkg database walk.
declare -A PKG_FILE=(
  [busybox-static]=/bin/busybox
  [libseccomp-dev]=/usr/include/seccomp.h
  [pkg-config]=/usr/bin/pkg-config
  [gcc]=/usr/bin/gcc
  [libc6-dev]=/usr/include/stdio.h
  [iptables]=/usr/sbin/iptables
)
missing=()
for p in "${!PKG_FILE[@]}"; do
  [[ -e ${PKG_FILE[$p]} ]] || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) != 0 ]]; then
    say "missing Debian packages: ${missing[*]}; run 'make tools' as root or apt-get install them" >&2
    exit 1
  fi
  t=$(now)
  say "apt-get install ${missing[*]} ..."
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  say "apt-get install done in $(took "$t")"
else
  say "Debian packages present: ${!PKG_FILE[*]}"
fi

# --- Go tools --------------------------------------------------------------
# name | package | module whose version is the pin | build tags | CGO_ENABLED |
# variable that carries the version string (set with -X, as upstream's Makefiles do) |
# how: "build", or "test" for a package that is a Go test binary (critest is
# cri-tools' cmd/critest built with `go test -c`, as its Makefile does)
CNI=github.com/containernetworking/plugins
TOOLS=(
  "containerd|github.com/containerd/containerd/v2/cmd/containerd|github.com/containerd/containerd/v2||1|github.com/containerd/containerd/v2/version.Version|build"
  "containerd-shim-runc-v2|github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2|github.com/containerd/containerd/v2||1|github.com/containerd/containerd/v2/version.Version|build"
  "ctr|github.com/containerd/containerd/v2/cmd/ctr|github.com/containerd/containerd/v2||1|github.com/containerd/containerd/v2/version.Version|build"
  "crictl|sigs.k8s.io/cri-tools/cmd/crictl|sigs.k8s.io/cri-tools||0|sigs.k8s.io/cri-tools/pkg/version.Version|build"
  "critest|sigs.k8s.io/cri-tools/cmd/critest|sigs.k8s.io/cri-tools||0|sigs.k8s.io/cri-tools/pkg/version.Version|test"
  "runc|github.com/opencontainers/runc|github.com/opencontainers/runc|seccomp|1||build"
  "cni/bridge|$CNI/plugins/main/bridge|$CNI||0|$CNI/pkg/utils/buildversion.BuildVersion|build"
  "cni/host-local|$CNI/plugins/ipam/host-local|$CNI||0|$CNI/pkg/utils/buildversion.BuildVersion|build"
  "cni/loopback|$CNI/plugins/main/loopback|$CNI||0|$CNI/pkg/utils/buildversion.BuildVersion|build"
  "cni/portmap|$CNI/plugins/meta/portmap|$CNI||0|$CNI/pkg/utils/buildversion.BuildVersion|build"
)

# The CNI plugins go in their own directory, containerd's CNI bin_dirs: a
# plugin named "bridge" on the daemons' PATH would shadow iproute2's.
mkdir -p "$BIN" "$BIN/cni"
cd "$TOOLS_MOD"
declare -A PIN=()
while read -r mod ver; do PIN[$mod]=$ver; done < <(
  "$GO" list -m -f '{{.Path}} {{.Version}}' github.com/containerd/containerd/v2 sigs.k8s.io/cri-tools github.com/opencontainers/runc "$CNI")

# built_with prints what binary $1 was built from: "VERSION|TAGS|LDFLAGS",
# VERSION being that of module $2; nothing when the binary is absent.
built_with() {
  [[ -x $1 ]] || return 0
  "$GO" version -m "$1" 2>/dev/null | awk -v m="$2" -F'\t' '
    ($2 == "dep" || $2 == "mod") && $3 == m { v = $4 }
    $2 == "build" && $3 ~ /^-tags=/ { t = substr($3, 7) }
    $2 == "build" && $3 ~ /^-ldflags=/ { l = substr($3, 10); gsub(/^"|"$/, "", l) }
    END { if (v != "") print v "|" t "|" l }'
}

total=$(now)
for entry in "${TOOLS[@]}"; do
  IFS='|' read -r name pkg mod tags cgo versionvar how <<<"$entry"
  ldflags=${versionvar:+-X $versionvar=${PIN[$mod]}}
  want="${PIN[$mod]}|$tags|$ldflags"
  have=$(built_with "$BIN/$name" "$mod")
  if [[ $have == "$want" ]]; then
    say "$name ${PIN[$mod]} up to date"
    continue
  fi
  t=$(now)
  say "building $name ${PIN[$mod]}${tags:+ (tags: $tags)}${have:+ (was ${have%%|*}, rebuilding)} ..."
  verb=build
  [[ $how == test ]] && verb="test -c"
  # shellcheck disable=SC2086 # verb is one or two words
  CGO_ENABLED=$cgo "$GO" $verb ${tags:+-tags "$tags"} ${ldflags:+-ldflags "$ldflags"} \
    -o "$BIN/$name" "$pkg"
  say "built $name in $(took "$t")"
done
say "tools ready in $BIN ($(took "$total"))"
