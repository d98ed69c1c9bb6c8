#!/usr/bin/env bash
# Build crmbot's container image with buildah and check it for real, on a Debian machine with
# neither a Docker engine nor a reachable image registry. See docs/container.md.
#
#   sudo docs/build-image-locally.sh            # base image (once, ~3 min), image (~2 min), checks
#
# Environment (all optional):
#   IMAGE=crmbot:test                           tag of the image to build
#   BASE_IMAGE=localhost/debian-py:bookworm     local stand-in for python:3.12-slim
#   REBUILD_BASE=1                              make the base image again even if it exists
#   MIRROR=http://...                           Debian mirror (default: the one apt uses here)
#   WORK=/var/tmp/crmbot-image                  scratch folder for the base image's root fs
#   KEEP=1                                      keep the working container after the checks
#
# Not run by CI: it installs packages, needs root and takes several minutes.
set -euo pipefail

SUITE=bookworm
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
IMAGE=${IMAGE:-crmbot:test}
BASE_IMAGE=${BASE_IMAGE:-localhost/debian-py:${SUITE}}
WORK=${WORK:-/var/tmp/crmbot-image}
EXAMPLE_SETTINGS=/usr/share/crmbot/examples/crmbot.yaml

step() { printf '\n==> %s\n' "$*"; }
fail() { printf 'FAILED: %s\n' "$*" >&2; exit 1; }

debian_mirror() {
    # First URI serving the suite, from deb822 (*.sources) or one-line (*.list) apt sources.
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -e "$f" ] || continue
        awk -v suite="$SUITE" '
            function flush() { if (uri != "" && ok && !found) { print uri; found = 1 } uri = ""; ok = 0 }
            /^[[:space:]]*$/ { flush(); next }
            tolower($1) == "uris:" { uri = $2 }
            tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == suite) ok = 1 }
            END { flush() }' "$f"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -e "$f" ] || continue
        awk -v suite="$SUITE" '
            $1 == "deb" { for (i = 3; i <= NF; i++) if ($i == suite) { print $(i - 1); break } }' "$f"
    done
}

in_image() {
    # Run a command inside the working container, as the image's USER.
    buildah run --isolation chroot "$@"
}

[ "$(id -u)" -eq 0 ] || fail "run as root (debootstrap and buildah's chroot isolation need it)"

step "tools: buildah, podman, debootstrap"
if ! command -v buildah >/dev/null || ! command -v podman >/dev/null ||
    ! command -v debootstrap >/dev/null; then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        buildah podman debootstrap
fi
buildah --version

step "base image ${BASE_IMAGE}"
if [ -n "${REBUILD_BASE:-}" ] || [ -z "$(buildah images -q "$BASE_IMAGE" 2>/dev/null)" ]; then
    MIRROR=${MIRROR:-$(debian_mirror | sed -n 1p)}
    MIRROR=${MIRROR:-http://deb.debian.org/debian}
    echo "debootstrap ${SUITE} from ${MIRROR}"
    rm -rf "${WORK}/rootfs"
    mkdir -p "$WORK"
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
        "$SUITE" "${WORK}/rootfs" "$MIRROR"
    # The registries may be reached through a certificate only the host's bundle trusts.
    cp /etc/ssl/certs/ca-certificates.crt "${WORK}/rootfs/etc/ssl/certs/ca-certificates.crt"
    rm -rf "${WORK}"/rootfs/var/cache/apt/archives/*.deb "${WORK}"/rootfs/var/lib/apt/lists/*
    tar -C "${WORK}/rootfs" -c . | podman import - "$BASE_IMAGE"
    rm -rf "${WORK}/rootfs"
else
    echo "exists (REBUILD_BASE=1 to make it again)"
fi

step "build ${IMAGE} from ${REPO}"
# --format docker keeps the HEALTHCHECK (the OCI image format has no field for it).
buildah bud --isolation chroot --format docker --layers \
    --build-arg BASE_IMAGE="$BASE_IMAGE" -t "$IMAGE" "$REPO"
buildah images "$IMAGE"

CONTAINER=$(buildah from "$IMAGE")
cleanup() { [ -n "${KEEP:-}" ] || buildah rm "$CONTAINER" >/dev/null; }
trap cleanup EXIT

step "runs as a non-root user"
uid=$(in_image "$CONTAINER" -- id -u)
in_image "$CONTAINER" -- id
[ "$uid" != "0" ] || fail "the image runs as root"

step "crmbot --help"
in_image "$CONTAINER" -- crmbot --help

step "crmbot health before any run (must fail)"
if in_image "$CONTAINER" -- crmbot health --max-age 300; then
    fail "health passed with no health file"
fi

step "crmbot run --once on the example Maildir"
in_image "$CONTAINER" -- crmbot run --once --settings "$EXAMPLE_SETTINGS"

step "the store and the health file are in /var/lib/crmbot"
in_image "$CONTAINER" -- ls -l /var/lib/crmbot
in_image "$CONTAINER" -- test -s /var/lib/crmbot/crmbot.db || fail "no store in /var/lib/crmbot"

step "crmbot cases"
in_image "$CONTAINER" -- crmbot cases

step "crmbot health --max-age 300 (the HEALTHCHECK)"
in_image "$CONTAINER" -- crmbot health --max-age 300

step "crmbot run (the default CMD) stops cleanly on SIGTERM"
in_image --env CRMBOT_SETTINGS_FILE="$EXAMPLE_SETTINGS" "$CONTAINER" -- \
    timeout --preserve-status --signal TERM 5 crmbot run ||
    fail "crmbot run did not exit 0 after SIGTERM"

step "image size"
buildah images "$IMAGE"
echo "all checks passed"
