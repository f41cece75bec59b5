#!/usr/bin/env bash
# Does edge/ run on 64-bit Raspberry Pi OS, bookworm (Python 3.11) and trixie (Python 3.13, NumPy 2)?
#
#     sudo scripts/check_pi_os.sh                 # both
#     sudo scripts/check_pi_os.sh bookworm        # one
#
# Opt-in (not part of the test suite): it builds an arm64 Debian of each release with debootstrap
# and runs it under qemu-user-static (the first build takes ~7 min for bookworm and ~30 for trixie
# on 2 cores; later runs reuse it), installs edge/requirements.txt there with pip, classifies 30
# photos (benchmarks/photo_set.py) with the int8 file, then the 28x28 inputs they became with the
# float32 file (--save-inputs, --raw: the photo pipeline is the slow part under emulation), and
# compares every answer with the same commands on this machine. Raspberry Pi OS is Debian with the Pi's own kernel and firmware
# added; Python, NumPy and the wheels pip picks are Debian's, so this is the userland a Pi runs.
#
# Under qemu, LiteRT reads /proc/cpuinfo and crashes on a host's x86 text, so the chroot is shown
# a Raspberry Pi 4's cpuinfo (bind-mounted over /proc/cpuinfo). Speed under emulation means
# nothing; only the answers are compared.
#
# Needs: root, `apt-get install qemu-user-static debootstrap binfmt-support`, the network to
# deb.debian.org and PyPI. Settings: MODELS (folder with mnist_int8.tflite and mnist_float32.tflite;
# default artifacts), MNIST_DATA_DIR (default ../shared/mnist), PI_OS_DIR (where the systems are
# kept; default /var/tmp/mnist-edge-pi-os), PYTHON (this machine's Python with numpy, Pillow,
# OpenCV and ai-edge-litert; default python3). Exit status 0 when every answer matched, 1 when
# one did not, 2 when the check could not run.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
MODELS=$(realpath -m "${MODELS:-$REPO/artifacts}")
MNIST_DATA_DIR=$(realpath -m "${MNIST_DATA_DIR:-$REPO/../shared/mnist}")
PI_OS_DIR=${PI_OS_DIR:-/var/tmp/mnist-edge-pi-os}
PYTHON=${PYTHON:-python3}
SUITES=("$@")
[ ${#SUITES[@]} -gt 0 ] || SUITES=(bookworm trixie)
VARIANTS=(int8 float32)

fail() {
    echo "error: $*" >&2
    exit 2
}

[ "$(id -u)" = 0 ] || fail "debootstrap, chroot and mount need root: sudo $0 $*"
for tool in qemu-aarch64-static debootstrap; do
    command -v "$tool" >/dev/null || fail "$tool not found: apt-get install qemu-user-static debootstrap binfmt-support"
done
if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
    fail "qemu's aarch64 binfmt handler is not registered: update-binfmts --enable qemu-aarch64 (in a container, first: mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc)"
fi
for suite in "${SUITES[@]}"; do
    case $suite in bookworm | trixie) ;; *) fail "unknown release $suite; choose bookworm or trixie" ;; esac
done
for variant in "${VARIANTS[@]}"; do
    [ -f "$MODELS/mnist_$variant.tflite" ] || fail "$MODELS/mnist_$variant.tflite not found: run mnist-train and mnist-convert --quantize all, or set MODELS"
done
[ -f "$MNIST_DATA_DIR/t10k-images-idx3-ubyte.gz" ] || fail "MNIST not found in $MNIST_DATA_DIR; set MNIST_DATA_DIR"

mkdir -p "$PI_OS_DIR"
WORK=$(mktemp -d "$PI_OS_DIR/check.XXXXXX")
MOUNTED=()
cleanup() {
    for ((i = ${#MOUNTED[@]} - 1; i >= 0; i--)); do umount -l "${MOUNTED[i]}" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

echo "30 photos and this machine's answers ($(uname -m))..."
(cd "$REPO" && "$PYTHON" -m benchmarks.photo_set "$WORK/set" --data-dir "$MNIST_DATA_DIR" --per-condition 3 \
    --conditions ink,paint,exif,ruled,squared,pencil,shadow,desk,colour_pen,marker >/dev/null)
mkdir "$WORK/photos"
find "$WORK/set" -mindepth 2 -type f \( -name '*.jpg' -o -name '*.png' \) | sort | head -n 30 |
    while read -r photo; do cp "$photo" "$WORK/photos/$(basename "$(dirname "$photo")")_$(basename "$photo")"; done
[ "$(ls "$WORK/photos" | wc -l)" = 30 ] || fail "benchmarks/photo_set.py made fewer than 30 photos"
# The int8 file reads the photos (and keeps the 28x28 inputs they became); float32 reads those inputs.
classify() {  # classify VARIANT [RUNNER...]: the answers of mnist_VARIANT.tflite, one JSON line each
    local variant=$1
    shift
    if [ "$variant" = int8 ]; then
        "$@" edge/classify.py --model "models/mnist_int8.tflite" --threads 1 --json --save-inputs inputs photos
    else
        "$@" edge/classify.py --model "models/mnist_$variant.tflite" --threads 1 --json --raw inputs
    fi
}
mkdir -p "$WORK/x86/models"
cp -r "$REPO/edge" "$WORK/photos" "$WORK/x86/"
rm -rf "$WORK/x86/edge/__pycache__"
for variant in "${VARIANTS[@]}"; do
    cp "$MODELS/mnist_$variant.tflite" "$WORK/x86/models/"
    (cd "$WORK/x86" && classify "$variant" "$PYTHON" >"$WORK/x86_$variant.jsonl") || true
done

status=0
for suite in "${SUITES[@]}"; do
    root=$PI_OS_DIR/$suite
    if [ ! -f "$root/.complete" ]; then
        echo "$suite: building an arm64 Debian with debootstrap under qemu (minutes; once)..."
        rm -rf "$root"
        debootstrap --arch=arm64 --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
            "$suite" "$root" http://deb.debian.org/debian >"$PI_OS_DIR/$suite-debootstrap.log" 2>&1 ||
            fail "$suite: debootstrap failed; see $PI_OS_DIR/$suite-debootstrap.log"
        touch "$root/.complete"
    fi
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then  # a proxy's CA this machine trusts
        mkdir -p "$root/usr/local/share/ca-certificates"
        cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
        chroot "$root" update-ca-certificates >/dev/null 2>&1 || fail "$suite: update-ca-certificates failed"
    fi
    cat >"$root/etc/fake-cpuinfo" <<'EOF'
processor	: 0
BogoMIPS	: 108.00
Features	: fp asimd evtstrm crc32 cpuid
CPU implementer	: 0x41
CPU architecture: 8
CPU variant	: 0x0
CPU part	: 0xd08
CPU revision	: 3

processor	: 1
BogoMIPS	: 108.00
Features	: fp asimd evtstrm crc32 cpuid
CPU implementer	: 0x41
CPU architecture: 8
CPU variant	: 0x0
CPU part	: 0xd08
CPU revision	: 3

Revision	: c03114
Model		: Raspberry Pi 4 Model B Rev 1.4
EOF
    mount -t proc proc "$root/proc" && MOUNTED+=("$root/proc")
    mount --bind "$root/etc/fake-cpuinfo" "$root/proc/cpuinfo" && MOUNTED+=("$root/proc/cpuinfo")
    mount --bind /dev "$root/dev" && MOUNTED+=("$root/dev")
    rm -rf "$root/check"
    mkdir -p "$root/check/models"
    cp -r "$WORK/x86/edge" "$root/check/edge"  # the copy x86 ran: edge/ may change while this runs
    cp -r "$WORK/photos" "$root/check/photos"
    for variant in "${VARIANTS[@]}"; do cp "$MODELS/mnist_$variant.tflite" "$root/check/models/"; done
    wanted=$(sha256sum "$REPO/edge/requirements.txt" | cut -d' ' -f1)
    if [ "$(cat "$root/opt/edge-venv/.requirements" 2>/dev/null)" != "$wanted" ]; then
        echo "$suite: pip install -r edge/requirements.txt under qemu..."
        chroot "$root" /bin/sh -c "rm -rf /opt/edge-venv && python3 -m venv /opt/edge-venv &&
            /opt/edge-venv/bin/pip install --disable-pip-version-check -q -r /check/edge/requirements.txt" ||
            fail "$suite: pip install -r edge/requirements.txt failed (above)"
        echo "$wanted" >"$root/opt/edge-venv/.requirements"
    fi
    chroot "$root" /opt/edge-venv/bin/python -c \
        "import platform, numpy, importlib.metadata as m; print('$suite:', platform.machine(), 'Python', platform.python_version(), 'NumPy', numpy.__version__, 'ai-edge-litert', m.version('ai-edge-litert'), 'OpenCV', m.version('opencv-python-headless'))"
    for variant in "${VARIANTS[@]}"; do
        (cd "$root/check" && classify "$variant" chroot "$root" /bin/sh -c 'cd /check && exec /opt/edge-venv/bin/python "$@"' sh \
            >"$WORK/${suite}_$variant.jsonl") || true
        if ! "$PYTHON" - "$WORK/x86_$variant.jsonl" "$WORK/${suite}_$variant.jsonl" "$suite" "$variant" <<'EOF'; then status=1; fi
import json, sys

def answers(path):
    records = [json.loads(line) for line in open(path)]
    return {r["file"].rsplit("/", 1)[-1].rsplit(".", 1)[0]: r for r in records}  # photo or its saved input

x86, arm = answers(sys.argv[1]), answers(sys.argv[2])
suite, variant = sys.argv[3], sys.argv[4]
same = [f for f in x86 if f in arm and x86[f].get("digit") == arm[f].get("digit") and x86[f].get("error") == arm[f].get("error")]
gap = max((abs(x86[f]["probability"] - arm[f]["probability"]) for f in same if "probability" in x86[f]), default=0.0)
print(f"{suite} arm64, mnist_{variant}.tflite: {len(same)}/{len(x86)} photos give the same answer as x86 "
      f"(largest probability difference {gap:.4f})")
for f in sorted(set(x86) - set(same)):
    print(f"  {f}: x86 {x86[f].get('digit', x86[f].get('error'))}, arm64 {arm.get(f, {}).get('digit', arm.get(f, {}).get('error'))}")
sys.exit(0 if len(same) == len(x86) == 30 else 1)
EOF
    done
    for ((i = ${#MOUNTED[@]} - 1; i >= 0; i--)); do umount -l "${MOUNTED[i]}"; done
    MOUNTED=()
done
exit $status
