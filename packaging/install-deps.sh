#!/bin/sh
# Installs the Debian packages listed in build-deps.txt (and in the
# lists named as arguments, e.g. bench-deps.txt) that are missing.
# As root it runs apt-get; otherwise it prints the exact command to run.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
lists="$here/build-deps.txt"
for l in "$@"; do
	lists="$lists $here/$l"
done
missing=""
for pkg in $(cat $lists | grep -v '^#'); do
	status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
	case "$status" in
	*"ok installed"*) ;;
	*) missing="$missing $pkg" ;;
	esac
done
[ -z "$missing" ] && exit 0
cmd="apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" -ne 0 ]; then
	echo "missing build dependencies; run as root:" >&2
	echo "  apt-get update && $cmd" >&2
	exit 1
fi
echo "installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
$cmd
