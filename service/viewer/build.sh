#!/usr/bin/env bash
# Rebuild service/viewer/static/mirador.min.js from the `mirador` npm package.
#
# Mirador's UMD bundle (dist/mirador.min.js) is self-contained (React and MUI included), so it is
# copied as is and committed: the service then runs without npm or any CDN. Run this to upgrade:
#   MIRADOR_VERSION=4.0.0 service/viewer/build.sh
set -euo pipefail

version="${MIRADOR_VERSION:-4.0.0}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# npm pack checks the tarball against the registry's integrity hash.
(cd "$work" && npm pack --silent "mirador@${version}" > /dev/null && tar xzf mirador-*.tgz)
mkdir -p "$here/static"
cp "$work/package/dist/mirador.min.js" "$here/static/mirador.min.js"
cp "$work/package/LICENSE" "$here/static/MIRADOR-LICENSE.txt"
echo "mirador ${version}" > "$here/static/MIRADOR-VERSION.txt"
(cd "$here/static" && sha256sum mirador.min.js >> MIRADOR-VERSION.txt)
cat "$here/static/MIRADOR-VERSION.txt"
