#!/usr/bin/env bash
# Builds one test-environment component from its published Go modules into a
# version-keyed cache directory. Called by test/env/control-plane.ts (which
# holds the pinned versions); usable by hand too:
#
#   test/env/build.sh k8s  v1.37.2  <out-dir>   # kube-apiserver + kubectl
#   test/env/build.sh etcd v3.6.16  <out-dir>   # etcd
#   test/env/build.sh helm v3.22.0  <out-dir>   # helm
#
# Idempotent: <out-dir>/.complete is written only after a successful build,
# and a second run with the marker present does nothing. Safe when two runs
# race: the build holds an exclusive flock on <out-dir>.lock and re-checks
# the marker once it has the lock.
#
# kube-apiserver cannot be `go install`ed (kubernetes' go.mod replaces its
# staging modules with ./staging paths), so we build it from a small wrapper
# module that requires k8s.io/kubernetes and replaces every k8s.io staging
# module (read from kubernetes' own go.mod) with its published v0.Y.Z.
# etcd gets its own wrapper module so its gRPC/otel versions do not clash.
# The whole script is one compound command ({ ...; exit; }): bash parses it completely before
# running it, so editing or checking out this file during a long build cannot corrupt that build.
{
set -euo pipefail

# The only newer toolchain we may fetch, used only when a module needs it.
readonly NEWER_TOOLCHAIN=go1.27.3

die() {
  echo "testenv build: error: $*" >&2
  exit 1
}
step() { echo "testenv build: [$component $version] $*" >&2; }

[[ $# -eq 3 ]] || die "usage: $0 k8s|etcd|helm <version> <out-dir>"
component=$1
version=$2
out=$3
[[ $version =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "version must look like vX.Y.Z, got '$version'"

if [[ -f $out/.complete ]]; then
  step "already built in $out"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  die "Go is not installed ('go' is not on PATH). Building $component $version from the Go module
  proxy needs the Go toolchain (1.26 or newer; Debian's golang-go is too old). Install Go, or point
  KUBEBUILDER_ASSETS (or TEST_ASSET_KUBE_APISERVER and TEST_ASSET_ETCD) at ready binaries."
fi
command -v flock >/dev/null 2>&1 || die "'flock' (util-linux) is needed to serialise concurrent builds"

mkdir -p "$(dirname "$out")"
exec 9>"$out.lock"
if ! flock -n 9; then
  step "another build holds $out.lock; waiting for it"
  flock 9
fi
if [[ -f $out/.complete ]]; then
  step "built meanwhile by another run in $out"
  exit 0
fi

# Parallelism for a 2-core / 24 GiB machine: at most 2 package builds at once
# (go build -p); the compiler itself uses GOMAXPROCS.
cores=$(nproc 2>/dev/null || echo 2)
jobs=$((cores < 4 ? cores : 4))
export CGO_ENABLED=0
export GOFLAGS="-mod=mod -buildvcs=false"
# Never fetch a toolchain behind our back; choose_toolchain() may opt in.
export GOTOOLCHAIN=local

local_go=$(go env GOVERSION)
local_go=${local_go#go}

# version_gt A B: true when Go version A > B
version_gt() {
  [[ $1 != "$2" && $(printf '%s\n%s\n' "$1" "$2" | sort -V | tail -n1) == "$1" ]]
}

# choose_toolchain <go-line>: switch to NEWER_TOOLCHAIN when the module needs
# a newer Go than the machine has.
choose_toolchain() {
  local need=$1
  if version_gt "$need" "$local_go"; then
    step "module needs go $need, machine has go $local_go: using GOTOOLCHAIN=$NEWER_TOOLCHAIN"
    export GOTOOLCHAIN=$NEWER_TOOLCHAIN
  fi
}

# go_line <go.mod>: the module's `go` directive
go_line() { awk '$1 == "go" { print $2; exit }' "$1"; }

# module_gomod <module@version>: path of that version's go.mod in the module cache
module_gomod() {
  go mod download -json "$1" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p'
}

tmp_out="$out.partial"
rm -rf "$tmp_out"
mkdir -p "$tmp_out"
work="$out.work"
rm -rf "$work"
mkdir -p "$work"
start=$(date +%s)
build_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)

case $component in
  k8s)
    step "downloading k8s.io/kubernetes@$version (module metadata)"
    k8s_gomod=$(module_gomod "k8s.io/kubernetes@$version")
    [[ -f $k8s_gomod ]] || die "could not download k8s.io/kubernetes@$version from $(go env GOPROXY)"
    major_minor=${version#v}
    major=${major_minor%%.*}
    minor=${major_minor#*.}
    minor=${minor%%.*}
    staging_version="v0.${version#v1.}"
    go_req=$(go_line "$k8s_gomod")
    choose_toolchain "$go_req"
    mapfile -t staging < <(sed -n 's#^[[:space:]]*\(k8s\.io/[^[:space:]]*\)[[:space:]]*=>[[:space:]]*\./staging/.*#\1#p' "$k8s_gomod")
    [[ ${#staging[@]} -gt 10 ]] || die "found only ${#staging[@]} staging modules in $k8s_gomod"
    step "wrapper module replaces ${#staging[@]} staging modules with $staging_version"
    {
      echo "module eatr.local/testenv/k8s"
      echo
      echo "go $go_req"
      awk '$1 == "godebug" { print }' "$k8s_gomod"
      echo
      echo "tool ("
      echo "	k8s.io/kubernetes/cmd/kube-apiserver"
      echo "	k8s.io/kubernetes/cmd/kubectl"
      echo ")"
      echo
      echo "require k8s.io/kubernetes $version"
      echo
      echo "replace ("
      for m in "${staging[@]}"; do echo "	$m => $m $staging_version"; done
      echo ")"
    } >"$work/go.mod"
    step "resolving dependencies (go mod tidy; downloads a few hundred MB on a cold module cache)"
    (cd "$work" && go mod tidy)
    ldflags="-s -w"
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
      ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date"
    done
    step "compiling kube-apiserver and kubectl (the long step: about 5-10 min cold on 2 cores)"
    (cd "$work" && go build -p "$jobs" -trimpath -tags selinux,notest -ldflags "$ldflags" \
      -o "$tmp_out/" k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl)
    "$tmp_out/kube-apiserver" --version >&2
    ;;
  etcd)
    step "downloading go.etcd.io/etcd/server/v3@$version (module metadata)"
    etcd_gomod=$(module_gomod "go.etcd.io/etcd/server/v3@$version")
    [[ -f $etcd_gomod ]] || die "could not download go.etcd.io/etcd/server/v3@$version"
    go_req=$(go_line "$etcd_gomod")
    choose_toolchain "$go_req"
    {
      echo "module eatr.local/testenv/etcd"
      echo
      echo "go $go_req"
      echo
      echo "tool go.etcd.io/etcd/server/v3"
      echo
      echo "require go.etcd.io/etcd/server/v3 $version"
    } >"$work/go.mod"
    step "resolving dependencies (go mod tidy)"
    (cd "$work" && go mod tidy)
    step "compiling etcd"
    (cd "$work" && go build -p "$jobs" -trimpath \
      -ldflags "-s -w" \
      -o "$tmp_out/etcd" go.etcd.io/etcd/server/v3)
    "$tmp_out/etcd" --version >&2
    ;;
  helm)
    step "downloading helm.sh/helm/v3@$version (module metadata)"
    helm_gomod=$(module_gomod "helm.sh/helm/v3@$version")
    [[ -f $helm_gomod ]] || die "could not download helm.sh/helm/v3@$version"
    choose_toolchain "$(go_line "$helm_gomod")"
    # Helm's Makefile sets, besides its version, the Kubernetes version `helm template` and `helm lint`
    # assume without --kube-version: the k8s.io/client-go minor it builds with (v0.37.0 -> v1.37.0).
    # Without these flags a go-installed helm assumes v1.20.0. (The git commit is not in the module zip.)
    client_go=$(awk '$1 == "k8s.io/client-go" { print $2; exit }' "$helm_gomod")
    [[ $client_go =~ ^v([0-9]+)\.([0-9]+)\. ]] || die "no k8s.io/client-go version in $helm_gomod (got '$client_go')"
    kube_major=$((BASH_REMATCH[1] + 1))
    kube_minor=${BASH_REMATCH[2]}
    ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$version"
    ldflags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
    for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
      ldflags+=" -X $pkg.k8sVersionMajor=$kube_major -X $pkg.k8sVersionMinor=$kube_minor"
    done
    step "compiling helm (go install; default Kubernetes version v$kube_major.$kube_minor.0 from client-go $client_go)"
    (cd "$work" && GOFLAGS=-buildvcs=false GOBIN="$tmp_out" go install -p "$jobs" -trimpath \
      -ldflags "$ldflags" "helm.sh/helm/v3/cmd/helm@$version")
    "$tmp_out/helm" version --short >&2
    # -X silently ignores a variable that does not exist: check what `helm template` assumes.
    mkdir -p "$work/probe/templates"
    printf 'apiVersion: v2\nname: probe\nversion: 0.1.0\n' >"$work/probe/Chart.yaml"
    printf 'kubeVersion: {{ .Capabilities.KubeVersion.Version }}\n' >"$work/probe/templates/probe.yaml"
    assumed=$(HELM_CONFIG_HOME="$work/home" HELM_CACHE_HOME="$work/home" HELM_DATA_HOME="$work/home" \
      "$tmp_out/helm" template probe "$work/probe" | sed -n 's/^kubeVersion: //p')
    [[ $assumed == "v$kube_major.$kube_minor.0" ]] ||
      die "helm template assumes Kubernetes '$assumed', expected v$kube_major.$kube_minor.0 (the ldflags did not apply)"
    step "helm template assumes Kubernetes $assumed"
    ;;
  *)
    die "unknown component '$component' (expected k8s, etcd or helm)"
    ;;
esac

printf '%s %s built %s in %ss with %s\n' "$component" "$version" "$build_date" \
  "$(($(date +%s) - start))" "$(go env GOVERSION)" >"$tmp_out/.complete.tmp"
rm -rf "$out"
mv "$tmp_out" "$out"
mv "$out/.complete.tmp" "$out/.complete"
rm -rf "$work"
step "done in $(($(date +%s) - start))s -> $out"
exit 0
}
