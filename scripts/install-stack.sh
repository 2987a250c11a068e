#!/usr/bin/env bash
# Idempotent install of the real stack wsgilab drives: Debian's Apache + mod_wsgi, uWSGI, gunicorn,
# RabbitMQ, eventlet and oslo.messaging, headless Chromium for the HTML reports' tests, plus the
# peers the tests and benchmarks use.
# Takes about a second when everything is already present.
set -euo pipefail

pkgs=(apache2 apache2-utils libapache2-mod-wsgi-py3 rabbitmq-server
      python3-eventlet python3-oslo.messaging python3-oslo.config
      uwsgi-core uwsgi-plugin-python3 gunicorn iproute2 procps curl
      chromium fonts-dejavu-core iptables)
# chromium (headless) opens the HTML reports in the tests of internal/htmlreport; a font so
# that the report's text renders in its screenshots. iptables: the failover scenario's blackhole
# and reset faults (a DROP / REJECT rule on lo, scoped to one private broker's AMQP port).
if [ "${1:-}" = "--with-peers" ]; then
  pkgs+=(nginx-light wrk hey util-linux)
fi

missing=()
for p in "${pkgs[@]}"; do
  st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$st" = "install ok installed" ] || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-stack: missing packages (${missing[*]}) and not root; install them with apt-get" >&2
  exit 1
fi

echo "install-stack: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Some images ship /etc/apt/apt.conf.d/docker-clean, which deletes downloaded .debs between
# dpkg calls and breaks multi-package installs ("cannot stat pathname"). Pointing apt at an
# empty parts dir avoids it without editing /etc.
parts=$(mktemp -d)
trap 'rm -rf "$parts"' EXIT
# Debian's maintainer scripts would start the system-wide apache2 and rabbitmq-server; wsgilab
# runs its own private instances, so keep the system services from starting (and holding ports).
policy_created=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  policy_created=1
fi
trap 'rm -rf "$parts"; [ $policy_created = 1 ] && rm -f /usr/sbin/policy-rc.d' EXIT
apt-get -o Dir::Etc::Parts="$parts" update -qq
apt-get -o Dir::Etc::Parts="$parts" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-stack: done" >&2
