#!/usr/bin/env bash
# make deb: build/deb/libnginx-mod-http-weaveit_<version>_<arch>.deb, built
# by dpkg-buildpackage from debian/ in a copy of this tree (the checkout's
# own build/ keeps its generator path), then checked by lintian: a lintian
# error fails the build.  Prints the package's path last.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
version=$(dpkg-parsechangelog -l "$top/debian/changelog" -S Version)
arch=$(dpkg --print-architecture)
out=$top/build/deb
src=$out/libnginx-mod-http-weaveit-$version
deb=$out/libnginx-mod-http-weaveit_${version}_$arch.deb

rm -rf "$out"
mkdir -p "$src"
tar -C "$top" --exclude=./build --exclude=./var --exclude=./.git \
    --exclude=./t --exclude=./bench --exclude=node_modules -cf - . \
    | tar -C "$src" -xf -

echo "deb: building $(basename "$deb") (log: build/deb/build.log)" >&2
(cd "$src" && dpkg-buildpackage -b -uc -us) > "$out/build.log" 2>&1 || {
    tail -40 "$out/build.log" >&2
    exit 1
}

lintian --fail-on error --suppress-tags binary-without-manpage "$deb" \
    > "$out/lintian.log" 2>&1 || {
    cat "$out/lintian.log" >&2
    echo "deb: lintian found errors" >&2
    exit 1
}
sed 's/^/lintian: /' "$out/lintian.log" >&2
echo "$deb"
