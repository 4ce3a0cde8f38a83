#!/usr/bin/env bash
# Builds kube-apiserver and etcd from their Go modules into DEST (once; a no-op when both exist).
# Usage: hack/envtest/build.sh DEST
set -euo pipefail

dest=${1:?usage: build.sh DEST}
here=$(cd "$(dirname "$0")" && pwd)
if [[ -x "$dest/kube-apiserver" && -x "$dest/etcd" ]]; then
  exit 0
fi

cd "$here"
k8s_version=$(go list -m -f '{{.Version}}' k8s.io/kubernetes)   # e.g. v1.37.2
major=${k8s_version#v}; major=${major%%.*}
minor=${k8s_version#v*.}; minor=${minor%%.*}
ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X '$pkg.gitVersion=$k8s_version' -X '$pkg.gitMajor=$major' -X '$pkg.gitMinor=$minor'"
  ldflags+=" -X '$pkg.gitTreeState=clean' -X '$pkg.buildDate=1970-01-01T00:00:00Z'"
done

mkdir -p "$dest.tmp"
echo "building etcd and kube-apiserver $k8s_version into $dest (once per machine; several minutes)" >&2
CGO_ENABLED=0 go build -trimpath -o "$dest.tmp/etcd" ./etcd
CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$dest.tmp/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
rm -rf "$dest" && mv "$dest.tmp" "$dest"
