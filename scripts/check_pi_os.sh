#!/usr/bin/env bash
# Does edge/ run on Raspberry Pi OS? 64-bit bookworm (Python 3.11), 64-bit trixie (Python 3.13,
# NumPy 2), and 32-bit bookworm (armhf: Pi Zero, 1, 2, 3 on 32-bit images), under emulation.
#
#     sudo MODELS=artifacts scripts/check_pi_os.sh                   # bookworm trixie armhf
#     sudo MODELS=artifacts scripts/check_pi_os.sh bookworm          # one
#
# Opt-in (not part of the test suite). It builds a Debian of each release with debootstrap and
# runs it under qemu-user-static (the first build takes ~7 min for bookworm, ~30 for trixie and
# ~15 for armhf on 2 cores; later runs reuse it), then compares edge/classify.py's answers there
# with the same commands on this machine:
# - bookworm, trixie (arm64): pip install -r edge/requirements.txt, then 30 photos
#   (benchmarks/photo_set.py) with the int8 file, and the 28x28 inputs they became with the
#   float32 file (--save-inputs, --raw: the photo pipeline is the slow part under emulation).
# - armhf: no ai-edge-litert or tflite-runtime wheel exists there, so the runtime is Debian's
#   python3-pyarmnn (Arm NN) in a venv made with --system-site-packages; pip install -r
#   edge/requirements.txt must succeed (its markers leave out what armhf cannot install). The
#   float32 file as mnist-convert writes it (Flatten as one constant RESHAPE, convert/fold_flatten.py)
#   must give this machine's answers on the 30 inputs; the int8 file must be refused in one line
#   (exit 2, no traceback), and so must a machine with no runtime at all.
# Raspberry Pi OS is Debian with the Pi's own kernel and firmware added; Python, NumPy and the
# packages are Debian's, so this is the userland a Pi runs. Speed under emulation means nothing.
#
# Under qemu, LiteRT reads /proc/cpuinfo and crashes on a host's x86 text, so the chroot is shown
# a Raspberry Pi's cpuinfo (bind-mounted over /proc/cpuinfo).
#
# Needs: root, `apt-get install qemu-user-static debootstrap binfmt-support`, the network to
# deb.debian.org and PyPI. Settings: MODELS (folder with mnist_int8.tflite and mnist_float32.tflite;
# default artifacts), MNIST_DATA_DIR (default ../shared/mnist), PI_OS_DIR (where the systems are
# kept; default /var/tmp/mnist-edge-pi-os), PYTHON (this machine's Python with numpy, Pillow,
# OpenCV and ai-edge-litert; default python3). Exit status 0 when every check passed, 1 when one
# did not, 2 when the check could not run.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
MODELS=$(realpath -m "${MODELS:-$REPO/artifacts}")
MNIST_DATA_DIR=$(realpath -m "${MNIST_DATA_DIR:-$REPO/../shared/mnist}")
PI_OS_DIR=${PI_OS_DIR:-/var/tmp/mnist-edge-pi-os}
PYTHON=${PYTHON:-python3}
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(bookworm trixie armhf)

fail() {
    echo "error: $*" >&2
    exit 2
}

qemu_of() {  # the qemu binfmt handler a target needs
    if [ "$1" = armhf ]; then echo arm; else echo aarch64; fi
}

[ "$(id -u)" = 0 ] || fail "debootstrap, chroot and mount need root: sudo $0 $*"
for target in "${TARGETS[@]}"; do
    case $target in bookworm | trixie | armhf) ;; *) fail "unknown target $target; choose bookworm, trixie or armhf" ;; esac
    qemu=$(qemu_of "$target")
    command -v "qemu-$qemu-static" >/dev/null || fail "qemu-$qemu-static not found: apt-get install qemu-user-static binfmt-support"
    [ -e "/proc/sys/fs/binfmt_misc/qemu-$qemu" ] ||
        fail "qemu's $qemu binfmt handler is not registered: update-binfmts --enable qemu-$qemu (in a container, first: mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc)"
done
command -v debootstrap >/dev/null || fail "debootstrap not found: apt-get install debootstrap"
for variant in int8 float32; do
    [ -f "$MODELS/mnist_$variant.tflite" ] || fail "$MODELS/mnist_$variant.tflite not found: run mnist-train and mnist-convert --quantize all, or set MODELS"
done
[ -f "$MNIST_DATA_DIR/t10k-images-idx3-ubyte.gz" ] || fail "MNIST not found in $MNIST_DATA_DIR; set MNIST_DATA_DIR"

mkdir -p "$PI_OS_DIR"
WORK=$(mktemp -d "$PI_OS_DIR/check.XXXXXX")
MOUNTED=()
unmount_all() {
    for ((i = ${#MOUNTED[@]} - 1; i >= 0; i--)); do umount -l "${MOUNTED[i]}" 2>/dev/null || true; done
    MOUNTED=()
}
cleanup() {
    unmount_all
    rm -rf "$WORK"
}
trap cleanup EXIT

# classify VARIANT RUNNER...: the answers of models/mnist_VARIANT.tflite, one JSON line each. The
# int8 file reads the photos (and keeps the 28x28 inputs they became); the others read those inputs.
classify() {
    local variant=$1
    shift
    if [ "$variant" = int8 ]; then
        "$@" edge/classify.py --model models/mnist_int8.tflite --threads 1 --json --save-inputs inputs photos
    else
        "$@" edge/classify.py --model "models/mnist_$variant.tflite" --threads 1 --json --raw inputs
    fi
}

# compare X86_JSONL OTHER_JSONL LABEL: the same answer (digit, or the same error) for every photo or input?
compare() {
    "$PYTHON" - "$@" <<'EOF'
import json, sys

def answers(path):
    records = [json.loads(line) for line in open(path)]
    return {r["file"].rsplit("/", 1)[-1].rsplit(".", 1)[0]: r for r in records}  # photo or its saved input

x86, other = answers(sys.argv[1]), answers(sys.argv[2])
label = sys.argv[3]
same = [f for f in x86 if f in other and x86[f].get("digit") == other[f].get("digit") and x86[f].get("error") == other[f].get("error")]
gap = max((abs(x86[f]["probability"] - other[f]["probability"]) for f in same if "probability" in x86[f]), default=0.0)
print(f"{label}: {len(same)}/{len(x86)} give the same answer as x86 (largest probability difference {gap:.4f})")
for f in sorted(set(x86) - set(same)):
    print(f"  {f}: x86 {x86[f].get('digit', x86[f].get('error'))}, here {other.get(f, {}).get('digit', other.get(f, {}).get('error'))}")
sys.exit(0 if x86 and len(same) == len(x86) else 1)
EOF
}

# refused LABEL RUNNER...: the command must end with exit status 2 and one "error: ..." line, no traceback.
refused() {
    local label=$1 rc=0
    shift
    "$@" >/dev/null 2>"$WORK/refused.txt" || rc=$?
    if [ $rc = 2 ] && [ "$(wc -l <"$WORK/refused.txt")" = 1 ] && grep -q '^error: ' "$WORK/refused.txt"; then
        echo "$label: refused in one line (exit 2): $(cut -c1-220 "$WORK/refused.txt")"
    else
        echo "$label: FAILED, exit $rc, expected exit 2 and one error line; it wrote:"
        sed 's/^/  | /' "$WORK/refused.txt" | tail -n 15
        return 1
    fi
}

echo "30 photos and this machine's answers ($(uname -m))..."
(cd "$REPO" && "$PYTHON" -m benchmarks.photo_set "$WORK/set" --data-dir "$MNIST_DATA_DIR" --per-condition 3 \
    --conditions ink,paint,exif,ruled,squared,pencil,shadow,desk,colour_pen,marker >/dev/null)
mkdir "$WORK/photos"
find "$WORK/set" -mindepth 2 -type f \( -name '*.jpg' -o -name '*.png' \) | sort | head -n 30 |
    while read -r photo; do cp "$photo" "$WORK/photos/$(basename "$(dirname "$photo")")_$(basename "$photo")"; done
[ "$(ls "$WORK/photos" | wc -l)" = 30 ] || fail "benchmarks/photo_set.py made fewer than 30 photos"
mkdir -p "$WORK/x86/models"
cp -r "$REPO/edge" "$WORK/photos" "$WORK/x86/"
rm -rf "$WORK/x86/edge/__pycache__"
cp "$MODELS/mnist_int8.tflite" "$MODELS/mnist_float32.tflite" "$WORK/x86/models/"
for variant in int8 float32; do  # int8 first: it writes the inputs float32 reads
    (cd "$WORK/x86" && classify "$variant" "$PYTHON" >"$WORK/x86_$variant.jsonl") || true
done
[ "$(wc -l <"$WORK/x86_int8.jsonl")" = 30 ] || fail "edge/classify.py answered fewer than 30 photos on this machine (PYTHON=$PYTHON)"

# build_root SUITE ARCH ROOT: a minimal Debian with Python, made once (debootstrap's second stage
# runs under qemu, which is what takes the minutes).
build_root() {
    local suite=$1 arch=$2 root=$3
    [ -f "$root/.complete" ] && return 0
    echo "$(basename "$root"): building a $arch Debian $suite with debootstrap under qemu (minutes; once)..."
    rm -rf "$root"
    debootstrap --arch="$arch" --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
        "$suite" "$root" http://deb.debian.org/debian >"$root-debootstrap.log" 2>&1 ||
        fail "$suite $arch: debootstrap failed; see $root-debootstrap.log"
    touch "$root/.complete"
}

# enter_root ROOT CPUINFO: the network, a Pi's cpuinfo, /proc and /dev, and a fresh /check with
# the copy of edge/ that x86 ran (edge/ may change while this runs), the photos and the models.
enter_root() {
    local root=$1 cpuinfo=$2
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then  # a proxy's CA this machine trusts
        mkdir -p "$root/usr/local/share/ca-certificates"
        cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
        chroot "$root" update-ca-certificates >/dev/null 2>&1 || fail "$root: update-ca-certificates failed"
    fi
    printf '%s\n' "$cpuinfo" >"$root/etc/fake-cpuinfo"
    mount -t proc proc "$root/proc" && MOUNTED+=("$root/proc")
    mount --bind "$root/etc/fake-cpuinfo" "$root/proc/cpuinfo" && MOUNTED+=("$root/proc/cpuinfo")
    mount --bind /dev "$root/dev" && MOUNTED+=("$root/dev")
    rm -rf "$root/check"
    cp -r "$WORK/x86" "$root/check"
    rm -rf "$root/check/inputs"
}

# pip_install ROOT [VENV_OPTIONS]: edge/requirements.txt in /opt/edge-venv, again only when it changed.
pip_install() {
    local root=$1 venv_options=${2:-} wanted
    wanted=$(cat "$REPO/edge/requirements.txt" <(echo "$venv_options") | sha256sum | cut -d' ' -f1)
    [ "$(cat "$root/opt/edge-venv/.requirements" 2>/dev/null)" = "$wanted" ] && return 0
    echo "$(basename "$root"): pip install -r edge/requirements.txt under qemu..."
    chroot "$root" /bin/sh -c "rm -rf /opt/edge-venv && python3 -m venv $venv_options /opt/edge-venv &&
        /opt/edge-venv/bin/pip install --disable-pip-version-check -q -r /check/edge/requirements.txt" ||
        fail "$(basename "$root"): pip install -r edge/requirements.txt failed (above)"
    echo "$wanted" >"$root/opt/edge-venv/.requirements"
}

in_root() {  # in_root ROOT ARGS...: the venv's Python in /check inside ROOT
    local root=$1
    shift
    chroot "$root" /bin/sh -c 'cd /check && exec /opt/edge-venv/bin/python "$@"' sh "$@"
}

PI4_CPUINFO=$(
    for cpu in 0 1 2 3; do
        printf 'processor\t: %s\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\n' $cpu
        printf 'CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n'
    done
    printf 'Revision\t: c03114\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n'
)
PI3_CPUINFO_32BIT=$(
    for cpu in 0 1 2 3; do
        printf 'processor\t: %s\nmodel name\t: ARMv7 Processor rev 4 (v7l)\nBogoMIPS\t: 38.40\n' $cpu
        printf 'Features\t: half thumb fastmult vfp edsp neon vfpv3 tls vfpv4 idiva idivt vfpd32 lpae evtstrm crc32\n'
        printf 'CPU implementer\t: 0x41\nCPU architecture: 7\nCPU variant\t: 0x0\nCPU part\t: 0xd03\nCPU revision\t: 4\n\n'
    done
    printf 'Hardware\t: BCM2835\nRevision\t: a02082\nModel\t\t: Raspberry Pi 3 Model B Rev 1.2\n'
)

check_arm64() {  # check_arm64 SUITE: the 64-bit image, with pip's wheels
    local suite=$1 root=$PI_OS_DIR/$1 result=0
    build_root "$suite" arm64 "$root"
    enter_root "$root" "$PI4_CPUINFO"
    pip_install "$root"
    in_root "$root" -c "import platform, numpy, importlib.metadata as m; print('$suite:', platform.machine(), 'Python', platform.python_version(), 'NumPy', numpy.__version__, 'ai-edge-litert', m.version('ai-edge-litert'), 'OpenCV', m.version('opencv-python-headless'))"
    for variant in int8 float32; do
        (cd "$root/check" && classify "$variant" in_root "$root" >"$WORK/${suite}_$variant.jsonl") || true
        compare "$WORK/x86_$variant.jsonl" "$WORK/${suite}_$variant.jsonl" "$suite arm64, mnist_$variant.tflite" || result=1
    done
    unmount_all
    return $result
}

check_armhf() {  # 32-bit bookworm: Debian's pyarmnn, NumPy and Pillow; pip adds nothing it cannot install
    local root=$PI_OS_DIR/bookworm-armhf result=0
    build_root bookworm armhf "$root"
    # pyarmnn does not pull in a backend; the reference one (CpuRef) is armhf's only CPU backend in Debian.
    if [ ! -f "$root/.pyarmnn-cpuref" ]; then
        echo "bookworm-armhf: apt-get install python3-pyarmnn libarmnn-cpuref-backend22 python3-numpy python3-pil under qemu..."
        chroot "$root" /bin/sh -c 'apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
            --no-install-recommends python3-pyarmnn libarmnn-cpuref-backend22 python3-numpy python3-pil' \
            >"$root-apt.log" 2>&1 || fail "bookworm-armhf: apt-get install failed; see $root-apt.log"
        touch "$root/.pyarmnn-cpuref"
    fi
    enter_root "$root" "$PI3_CPUINFO_32BIT"
    # Arm NN lists its backend folder with 32-bit readdir; on this host's ext4, whose directory
    # offsets are 64-bit hashes, qemu-arm answers EOVERFLOW and Arm NN aborts ("Value too large
    # for defined data type"). A Pi's own 32-bit kernel hands 32-bit processes 32-bit offsets, so
    # only emulation needs the folder on a tmpfs.
    local backends=$root/usr/lib/arm-linux-gnueabihf/armnn22
    cp -a "$backends" "$WORK/armnn22"
    mount -t tmpfs tmpfs "$backends" && MOUNTED+=("$backends")
    cp -a "$WORK/armnn22/." "$backends/"
    cp -r "$WORK/x86/inputs" "$root/check/inputs"  # no OpenCV here: read the inputs x86 made from the photos
    pip_install "$root" --system-site-packages
    in_root "$root" -c "import platform, numpy, PIL, pyarmnn; print('bookworm armhf:', platform.machine(), 'Python', platform.python_version(), 'NumPy', numpy.__version__, 'Pillow', PIL.__version__, 'Arm NN', pyarmnn.ARMNN_VERSION)" 2>/dev/null
    (cd "$root/check" && classify float32 in_root "$root" >"$WORK/armhf_float32.jsonl") || true
    compare "$WORK/x86_float32.jsonl" "$WORK/armhf_float32.jsonl" \
        "bookworm armhf, pyarmnn, mnist_float32.tflite as converted, 28x28 inputs" || result=1
    refused "bookworm armhf, pyarmnn, mnist_int8.tflite" \
        in_root "$root" edge/classify.py --model models/mnist_int8.tflite --raw inputs || result=1
    # No runtime at all: pyarmnn hidden (None in sys.modules makes its import fail as if absent).
    refused "bookworm armhf, no runtime installed" in_root "$root" -c \
        "import sys; sys.modules['pyarmnn'] = None; sys.path.insert(0, '.'); from edge.classify import main; sys.exit(main(['--model', 'models/mnist_float32.tflite', '--raw', 'inputs']))" ||
        result=1
    unmount_all
    return $result
}

status=0
for target in "${TARGETS[@]}"; do
    if [ "$target" = armhf ]; then
        check_armhf || status=1
    else
        check_arm64 "$target" || status=1
    fi
done
exit $status
