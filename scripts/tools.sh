#!/usr/bin/env bash
# Makes sure the standard tools the tests run are installed: the auditor's tools
# (sha256sum, openssl, ssh-keygen, unzip) are part of what the tests prove, and so are the
# zip readers a bundle must read the same in (unzip, Python's zipfile, Java's
# ZipInputStream, compiled at test time with javac). On a fresh Debian machine without
# them, installs them with apt-get (as root, or through sudo).
set -euo pipefail
need=()
command -v sha256sum >/dev/null || need+=(coreutils)
command -v openssl >/dev/null || need+=(openssl)
command -v ssh-keygen >/dev/null || need+=(openssh-client)
command -v unzip >/dev/null || need+=(unzip)
command -v promtool >/dev/null || need+=(prometheus) # promtool checks deploy/prometheus/alerts.yaml
command -v python3 >/dev/null || need+=(python3)
{ command -v javac >/dev/null && command -v java >/dev/null; } || need+=(default-jdk-headless)
[ ${#need[@]} -eq 0 ] && exit 0
echo "installing ${need[*]} (needed by the tests)" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
