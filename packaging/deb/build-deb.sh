#!/bin/sh
# Builds the Debian package from the tree `make deb` installed into
# BUILD/deb/debian/sentinel (PREFIX=/usr), with dpkg-deb alone (no
# debhelper).  Runtime library dependencies come from dpkg-shlibdeps
# (dpkg-dev), which maps every shared library the six binaries need to
# the package that ships it, with the minimal version their symbols
# require.  Prints the path of the .deb as its last line.
#
#   sh packaging/deb/build-deb.sh BUILD VERSION
set -eu
build=$1
version=$2
here=$(cd "$(dirname "$0")" && pwd)
work=$(cd "$build" && pwd)/deb
root=$work/debian/sentinel
arch=$(dpkg --print-architecture)

for tool in dpkg-deb dpkg-shlibdeps; do
	command -v $tool >/dev/null || {
		echo "make deb: $tool not found (apt-get install dpkg-dev)" >&2
		exit 1
	}
done

# dpkg-shlibdeps reads debian/control (only to know the package exists).
mkdir -p "$work/debian" "$root/DEBIAN"
printf 'Source: sentinel\n\nPackage: sentinel\nArchitecture: any\n' \
	>"$work/debian/control"
shlibs=$(cd "$work" && dpkg-shlibdeps -O \
	"$root/usr/bin/sentinel" "$root/usr/bin/sentinel-cli" \
	"$root"/usr/libexec/sentinel/sentinel-*) 
depends=${shlibs#shlibs:Depends=}

# Every file under /etc is a conffile: dpkg keeps a file the admin
# changed and asks (or keeps it, with --force-confold) on upgrade.
(cd "$root" && find etc -type f | sort | sed 's|^|/|') >"$root/DEBIAN/conffiles"
for s in postinst prerm postrm; do
	install -m 0755 "$here/$s" "$root/DEBIAN/$s"
done
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat >"$root/DEBIAN/control" <<CONTROL
Package: sentinel
Version: $version
Architecture: $arch
Maintainer: LLM-Sentinel developers <sentinel@example.com>
Installed-Size: $size
Depends: $depends, passwd, procps
Section: net
Priority: optional
Homepage: https://github.com/llm-sentinel/sentinel
Description: LLM-Sentinel telemetry, anomaly detection and alerting
 A small set of C daemons (ingestd, detectd, stored, alertd) under one
 supervisor, sentinel: LLM applications send one telemetry event per
 model call over HTTP; Sentinel stores them in sqlite, runs detectors
 over them and routes alerts to email, Slack, webhooks and PagerDuty.
 Runs as the system user sentinel under systemd (sentinel.service).
CONTROL
deb=$work/sentinel_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zgzip --build "$root" "$deb" >/dev/null
echo "$deb"
